"""Liveness answers without dependencies; readiness fails only when the web cannot serve and warns when work lags."""

from __future__ import annotations

import datetime
import json
import os
import time

import pytest
from django.conf import settings
from django.utils import timezone

from config.observability.heartbeat import HEARTBEAT_KEY, broker_client, heartbeat_record
from reporting.models import JobRun, JobStatus

pytestmark = pytest.mark.django_db

#: Nothing listens on port 1; the password must never appear in an answer.
DEAD_REDIS = "redis://:s3cret-password@127.0.0.1:1/0"


def _need_redis() -> None:
    if settings.REDIS_URL:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI requires REDIS_URL for the readiness checks against a real Redis")
    pytest.skip("needs REDIS_URL=redis://... (the no-Redis readiness is tested by the other tests here)")


@pytest.fixture
def no_redis(settings):
    """The embedded setup of the demo: no REDIS_URL, a local-memory cache, tasks run eagerly."""
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://localhost/"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def heartbeats():
    """A clean heartbeat hash on the real broker, removed afterwards."""
    _need_redis()
    client = broker_client()
    client.delete(HEARTBEAT_KEY)
    yield client
    client.delete(HEARTBEAT_KEY)


def _nightly(org, *, hours_ago: float, status: str = JobStatus.SUCCEEDED) -> JobRun:
    finished = timezone.now() - datetime.timedelta(hours=hours_ago)
    return JobRun.objects.create(
        organization=org,
        as_of=finished.date(),
        status=status,
        started_at=finished - datetime.timedelta(minutes=5),
        finished_at=finished,
    )


def test_liveness_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_liveness_answers_while_redis_is_down(client, settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CELERY_BROKER_URL = DEAD_REDIS
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    assert client.get("/health/live/").status_code == 200


def test_readiness_without_redis_reports_it_not_configured_and_is_ready(client, no_redis):
    response = client.get("/health/ready/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "cache": "not configured",
        "broker": "not configured",
        "worker": "not configured",
        "nightly": "ok",
    }
    assert body["checks"]["nightly"]["organizations"] == 0


def test_readiness_reports_redis_down_as_degraded_and_names_only_the_exception_class(client, settings):
    """The web serves through a Redis outage (docs/reliability.md), so it stays in rotation: 200, "degraded"."""
    settings.REDIS_URL = DEAD_REDIS
    settings.CELERY_BROKER_URL = DEAD_REDIS
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}

    response = client.get("/health/ready/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["cache"] == {"status": "error", "error": "ConnectionError"}
    assert body["checks"]["broker"] == {"status": "error", "error": "ConnectionError"}
    assert body["checks"]["worker"]["status"] == "error"
    text = response.content.decode()
    assert "s3cret" not in text and "127.0.0.1" not in text and "refused" not in text.lower()


def test_readiness_reports_an_old_nightly_run_as_stale_without_failing(client, org, other_org, no_redis, settings):
    settings.CUSTOPS_READY_NIGHTLY_MAX_AGE_HOURS = 26
    _nightly(org, hours_ago=2)
    _nightly(other_org, hours_ago=30)
    _nightly(other_org, hours_ago=1, status=JobStatus.FAILED)  # a failed run does not refresh the figures

    response = client.get("/health/ready/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    nightly = body["checks"]["nightly"]
    assert (nightly["status"], nightly["organizations"], nightly["stale_organizations"]) == ("stale", 2, 1)
    assert 29.9 * 3600 < nightly["age_seconds"] < 30.1 * 3600
    assert nightly["max_age_seconds"] == 26 * 3600


def test_readiness_counts_an_organization_whose_runs_all_failed_as_stale(client, org, no_redis):
    _nightly(org, hours_ago=1, status=JobStatus.FAILED)

    nightly = client.get("/health/ready/").json()["checks"]["nightly"]

    assert (nightly["status"], nightly["stale_organizations"], nightly["age_seconds"]) == ("stale", 1, None)


def test_readiness_with_fresh_nightly_runs_is_ok(client, org, other_org, no_redis):
    _nightly(org, hours_ago=30)
    _nightly(org, hours_ago=3)
    _nightly(other_org, hours_ago=20)

    body = client.get("/health/ready/").json()

    assert body["status"] == "ok"
    assert body["checks"]["nightly"]["stale_organizations"] == 0
    assert 19.9 * 3600 < body["checks"]["nightly"]["age_seconds"] < 20.1 * 3600


def test_readiness_with_redis_checks_cache_and_broker_and_warns_without_a_worker(client, heartbeats):
    response = client.get("/health/ready/")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["cache"] == {"status": "ok"}
    assert checks["broker"] == {"status": "ok"}
    assert checks["worker"] == {
        "status": "stale",
        "age_seconds": None,
        "workers": 0,
        "max_age_seconds": settings.CUSTOPS_READY_WORKER_MAX_AGE_SECONDS,
    }
    assert response.json()["status"] == "degraded"


def test_readiness_reports_the_age_of_the_newest_worker_heartbeat(client, heartbeats, settings):
    settings.CUSTOPS_READY_WORKER_MAX_AGE_SECONDS = 60
    heartbeat_record(worker="old@host", now=time.time() - 600)

    worker = client.get("/health/ready/").json()["checks"]["worker"]
    assert (worker["status"], worker["workers"]) == ("stale", 0)
    assert 599 <= worker["age_seconds"] <= 605

    heartbeat_record(worker="new@host", now=time.time() - 5)

    worker = client.get("/health/ready/").json()["checks"]["worker"]
    assert (worker["status"], worker["workers"]) == ("ok", 1)
    assert 4 <= worker["age_seconds"] <= 10


def test_heartbeats_older_than_a_day_are_pruned(heartbeats):
    heartbeat_record(worker="gone@host", now=time.time() - 2 * 24 * 3600)
    heartbeat_record(worker="here@host")

    assert set(heartbeats.hgetall(HEARTBEAT_KEY)) == {b"here@host"}


DEAD_DATABASE_PROBE = """
import json
from django.test import Client
response = Client().get("/health/ready/")
print("READY", response.status_code, json.dumps(response.json()))
"""


def test_readiness_answers_503_when_the_database_is_down():
    """Only a dead database takes the web out of rotation; the answer names the exception class, not the server."""
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": "postgres://custops:s3cret-password@127.0.0.1:1/custops",  # nothing listens on port 1
    }
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", DEAD_DATABASE_PROBE],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = next((line for line in result.stdout.splitlines() if line.startswith("READY ")), None)
    assert line is not None, result.stdout + result.stderr
    _, status, body = line.split(" ", 2)
    assert status == "503"
    answer = json.loads(body)
    assert answer["status"] == "unavailable"
    assert answer["checks"]["database"] == {"status": "error", "error": "OperationalError"}
    assert "s3cret" not in body and "127.0.0.1" not in body
