"""The production topology without Docker: gunicorn, a Celery worker and beat against PostgreSQL and Redis."""

from __future__ import annotations

import json
import urllib.request

import pytest

from accounts.services import api_key_create
from reporting.models import JobRun, JobStatus
from tests.factories import CustomerFactory
from tests.integration.conftest import BIN, free_port, start_celery_beat

pytestmark = pytest.mark.integration


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_gunicorn_worker_and_beat_serve_the_product_together(
    org, real_services, start_process, celery_worker, tmp_path
):
    """Pages and the API answer through gunicorn, beat starts on the real schedule, and the worker runs tasks.

    Gunicorn runs with the production config module: its two processes' metrics add up in one /metrics.
    """
    port = free_port()
    metrics_dir = tmp_path / "web-metrics"
    web = start_process(
        "gunicorn",
        [
            str(BIN / "gunicorn"),
            "-c",
            "python:config.gunicorn_conf",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        {**real_services, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "CUSTOPS_METRICS_TOKEN": "topology-token"},
    )
    web.wait_for_output("Booting worker", timeout=60)
    beat = start_celery_beat(start_process, real_services, web.log_path.parent)
    CustomerFactory(organization=org, external_id="TOPO-1", name="Topology Tester")
    _, key = api_key_create(org=org, name="topology", scopes=["read"])
    base = f"http://127.0.0.1:{port}"

    status, body = _get(f"{base}/health/")
    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}

    status, body = _get(f"{base}/accounts/login/")
    assert status == 200 and b"login-form" in body

    status, body = _get(f"{base}/api/v1/customers/?external_id=TOPO-1", {"Authorization": f"Bearer {key}"})
    assert status == 200
    assert [c["name"] for c in json.loads(body)["results"]] == ["Topology Tester"]

    status, body = _get(f"{base}/health/live/")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = _get(f"{base}/health/ready/")
    assert status == 200, body
    assert json.loads(body)["checks"]["database"] == {"status": "ok"}

    for _ in range(6):  # spread over both gunicorn processes
        assert _get(f"{base}/api/v1/customers/", {"Authorization": f"Bearer {key}"})[0] == 200
    assert _get(f"{base}/metrics")[0] == 403
    status, body = _get(f"{base}/metrics", {"Authorization": "Bearer topology-token"})
    assert status == 200
    count = 'custops_http_request_duration_seconds_count{method="GET",route="api:customer-list",status_class="2xx"}'
    assert f"{count} 7.0" in body.decode(), body.decode()[-3000:]
    assert "Topology Tester" not in web.output() and "TOPO-1" not in web.output()

    from reporting.tasks import nightly_for_org

    job_id = nightly_for_org.delay(org.pk, "2026-01-31", "topology-test").get(timeout=60)
    assert JobRun.objects.get(pk=job_id).status == JobStatus.SUCCEEDED
    assert beat.process.poll() is None, beat.output()
