"""A real worker reports itself: heartbeats the web's readiness reads, task outcomes on its metrics port, JSON logs."""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.tasks import purge_idempotency_keys
from config.observability.heartbeat import HEARTBEAT_KEY, broker_client
from tests.integration.conftest import free_port, start_celery_worker

pytestmark = pytest.mark.integration

TOKEN = "worker-metrics-token-for-tests"
TASK = "accounts.tasks.purge_idempotency_keys"


def _scrape(port: int, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _task_outcomes(exposition: str) -> dict[str, float]:
    outcomes: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "custops_celery_tasks_total" and sample.labels["task"] == TASK:
                outcomes[sample.labels["outcome"]] = sample.value
    return outcomes


def _wait_for_outcomes(port: int, expected: dict[str, float], timeout: float = 30) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    outcomes: dict[str, float] = {}
    while time.monotonic() < deadline:
        outcomes = _task_outcomes(_scrape(port)[1])
        if all(outcomes.get(name, 0) >= count for name, count in expected.items()):
            return outcomes
        time.sleep(0.2)
    return outcomes


@pytest.fixture
def observed_worker(real_services, start_process, tmp_path):
    """A solo worker with its metrics port, a multiprocess directory, JSON logs and frequent heartbeats."""
    from config.celery_app import app

    client = broker_client()
    client.delete(HEARTBEAT_KEY)
    app.control.purge()
    metrics_dir = tmp_path / "worker-metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from a previous run")
    port = free_port()
    env = {
        **real_services,
        "CUSTOPS_METRICS_TOKEN": TOKEN,
        "CUSTOPS_WORKER_METRICS_PORT": str(port),
        "CUSTOPS_WORKER_METRICS_ADDRESS": "127.0.0.1",
        "CUSTOPS_WORKER_HEARTBEAT_WRITE_SECONDS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_FORMAT": "json",
    }
    worker = start_celery_worker(start_process, env, "observed-worker")
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield worker, port
    app.conf.task_always_eager = previous
    client.delete(HEARTBEAT_KEY)


def test_worker_heartbeat_makes_readiness_report_a_live_worker(observed_worker):
    worker, _ = observed_worker

    body = Client().get("/health/ready/").json()

    assert body["checks"]["worker"]["status"] == "ok", body
    assert body["checks"]["worker"]["workers"] == 1
    assert body["checks"]["worker"]["age_seconds"] < 30
    assert body["checks"]["broker"] == {"status": "ok"}

    worker.stop()  # a clean shutdown removes the worker's heartbeat
    assert not broker_client().hgetall(HEARTBEAT_KEY)
    assert Client().get("/health/ready/").json()["checks"]["worker"]["status"] == "stale"


def test_worker_task_outcomes_show_on_its_metrics_port(observed_worker):
    from config.celery_app import app

    worker, port = observed_worker
    assert _scrape(port, token=None)[0] == 403
    assert _scrape(port, token="wrong")[0] == 403

    assert isinstance(purge_idempotency_keys.delay().get(timeout=60), int)
    failed = app.send_task(TASK, args=["an argument the task does not take"])
    with pytest.raises(TypeError):
        failed.get(timeout=60)
    purge_idempotency_keys.apply_async(expires=timezone.now() - datetime.timedelta(minutes=1))

    outcomes = _wait_for_outcomes(port, {"success": 1, "failure": 1, "revoked": 1})
    assert outcomes == {"success": 1, "failure": 1, "revoked": 1}, worker.output()[-3000:]
    status, exposition = _scrape(port)
    assert status == 200
    assert f'custops_celery_task_duration_seconds_count{{outcome="success",task="{TASK}"}} 1.0' in exposition

    succeeded = [
        json.loads(line)
        for line in worker.output().splitlines()
        if line.startswith("{") and "succeeded in" in line and TASK in line
    ]
    assert succeeded, worker.output()[-3000:]
    assert succeeded[0]["task_name"] == TASK and succeeded[0]["task_id"]
    assert succeeded[0]["logger"] == "celery.app.trace"
