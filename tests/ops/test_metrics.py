"""/metrics: request latency by route name, task outcomes, and nothing without the token."""

from __future__ import annotations

import pytest
from celery import shared_task, signals
from celery.exceptions import Retry
from prometheus_client import REGISTRY

from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TOKEN = "a-metrics-token-for-tests"


@shared_task(bind=True, max_retries=1, name="tests.ops.outcome_probe")
def outcome_probe(self, mode: str) -> str:
    """Succeeds, fails, or retries once and then succeeds, as told."""
    if mode == "fail":
        raise ValueError("told to fail")
    if mode == "retry" and self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"


def _request_count(route: str, method: str = "GET", status_class: str = "2xx") -> float:
    value = REGISTRY.get_sample_value(
        "custops_http_request_duration_seconds_count",
        {"route": route, "method": method, "status_class": status_class},
    )
    return value or 0.0


def _task_count(task: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("custops_celery_tasks_total", {"task": task, "outcome": outcome}) or 0.0


@pytest.fixture
def metrics_token(settings):
    settings.CUSTOPS_METRICS_TOKEN = TOKEN
    return TOKEN


def test_metrics_are_off_without_a_token(client, settings):
    settings.CUSTOPS_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_metrics_need_the_bearer_token(client, metrics_token):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"custops_http_request_duration_seconds_bucket" in response.content


def test_a_request_is_counted_under_its_route_name_not_its_path(client, org, read_api, metrics_token):
    customer = CustomerFactory(organization=org, email="route.label@example.com")
    before = _request_count("api:customer-detail")

    assert read_api.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    assert read_api.get("/api/v1/customers/999999999/").status_code == 404

    assert _request_count("api:customer-detail") == before + 1
    assert _request_count("api:customer-detail", status_class="4xx") >= 1
    exposition = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert 'route="api:customer-detail"' in exposition
    assert "/api/v1/customers/" not in exposition and str(customer.pk) + "/" not in exposition


def test_unmatched_paths_and_odd_methods_share_one_label_each(client, metrics_token):
    before = _request_count("unmatched", status_class="4xx")
    client.get("/no-such-page-1234/")
    client.get("/no-such-page-5678/")
    assert _request_count("unmatched", status_class="4xx") == before + 2

    before_odd = _request_count("health-live", method="other", status_class="4xx")
    assert client.generic("PROPFIND", "/health/live/").status_code == 405  # the probes answer GET and HEAD only
    assert _request_count("health-live", method="other", status_class="4xx") == before_odd + 1


def test_task_outcomes_are_counted_by_task_name():
    name = "tests.ops.outcome_probe"
    before = {outcome: _task_count(name, outcome) for outcome in ("success", "failure", "retry")}

    assert outcome_probe.delay("ok").get() == "done"
    with pytest.raises(ValueError, match="told to fail"):
        outcome_probe.delay("fail")
    with pytest.raises(Retry):  # eager tasks propagate their retry to the caller
        outcome_probe.delay("retry")

    assert _task_count(name, "success") == before["success"] + 1
    assert _task_count(name, "failure") == before["failure"] + 1
    assert _task_count(name, "retry") == before["retry"] + 1
    durations = REGISTRY.get_sample_value(
        "custops_celery_task_duration_seconds_count", {"task": name, "outcome": "success"}
    )
    assert durations is not None and durations >= 1


def test_a_revoked_task_is_counted():
    """Celery sends task_revoked in the worker that drops the message; the receiver counts it by task name."""
    name = "tests.ops.outcome_probe"
    before = _task_count(name, "revoked")

    signals.task_revoked.send(sender=outcome_probe, request=None, terminated=False, signum=None, expired=True)

    assert _task_count(name, "revoked") == before + 1
