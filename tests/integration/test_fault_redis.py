"""Redis stops for 30 seconds and comes back empty; the product keeps answering and loses nothing.

gunicorn, a Celery worker and beat run against this test's PostgreSQL database and a Redis server of the test's
own (so stopping it disturbs nobody else). Redis keeps nothing on disk here, so when it comes back every queued
message and cached value is gone: what must survive lives in PostgreSQL, and beat's sweeps re-send it.

During the outage the API still creates customers (rate limits fail open, the cache misses, the webhook
messages that cannot be queued stay due in the database), reads still answer, and the health probe says what is
down. Afterwards the worker and beat are still running, and every customer's ``customer.created`` webhook
reaches the receiver exactly once.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter

import pytest

from accounts.services import api_key_create
from tests.integration.conftest import BIN, free_port, start_celery_beat, start_celery_worker
from tests.webhooks.conftest import start_receiver
from webhooks import services
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 30


def _request(url: str, *, key: str, data: dict | None = None) -> tuple[int, dict]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(
        url, data=body, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _wait_for(condition, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


def test_redis_down_for_30_seconds_loses_no_customer_and_no_webhook(org, real_services, start_process, receiver):
    redis_port = free_port()

    def start_redis():
        redis = start_process(
            f"redis-{time.monotonic_ns()}",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            real_services,
        )
        redis.wait_for_output("Ready to accept connections", timeout=30)
        return redis

    env = {
        **real_services,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        # Local settings queue tasks on the broker as production does (the test settings run them eagerly).
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",  # the receiver listens on 127.0.0.1
        "WEBHOOK_RETRY_DUE_GRACE_SECONDS": "5",
    }
    redis = start_redis()
    worker = start_celery_worker(start_process, env, "worker")
    beat = start_celery_beat(start_process, env, worker.log_path.parent)
    web_port = free_port()
    web = start_process(
        "gunicorn",
        [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{web_port}", "--workers", "2"],
        env,
    )
    web.wait_for_output("Booting worker", timeout=60)
    services.endpoint_create(org=org, url=receiver.url, event_types=["customer.created"])
    _, key = api_key_create(org=org, name="outage", scopes=["read", "write"])
    base = f"http://127.0.0.1:{web_port}"

    status, body = _request(f"{base}/api/v1/customers/", key=key, data={"external_id": "R-0", "name": "Before"})
    assert status == 201, body
    _wait_for(lambda: len(receiver.requests) == 1, timeout=60, what="the first webhook")

    redis.stop()
    stopped_at = time.monotonic()
    for number in range(1, 4):
        started = time.monotonic()
        status, body = _request(
            f"{base}/api/v1/customers/", key=key, data={"external_id": f"R-{number}", "name": "During"}
        )
        assert status == 201, body
        assert time.monotonic() - started < 10  # a missing Redis costs seconds at most, not a hung request
    status, body = _request(f"{base}/api/v1/customers/?ordering=external_id", key=key)
    assert status == 200 and [row["external_id"] for row in body["results"]] == ["R-0", "R-1", "R-2", "R-3"]
    health = urllib.request.Request(f"{base}/health/")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(health, timeout=20)
    assert refused.value.code == 503
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))

    start_redis()  # empty: whatever was queued or cached is gone
    _wait_for(
        lambda: not WebhookDelivery.objects.for_org(org).exclude(status=DeliveryStatus.SUCCEEDED).exists(),
        timeout=150,
        what=f"every webhook delivered after Redis came back\n{worker.output()[-3000:]}\n{beat.output()[-3000:]}",
        every=1,
    )

    received = Counter(json.loads(request.body)["id"] for request in receiver.requests)
    assert len(received) == 4 and set(received.values()) == {1}  # every event, each exactly once
    created = sorted(json.loads(request.body)["data"]["customer"]["external_id"] for request in receiver.requests)
    assert created == ["R-0", "R-1", "R-2", "R-3"]
    assert "Connection to broker lost" in worker.output()  # the worker did see the outage, and rode it out
    assert worker.process.poll() is None, worker.output()[-3000:]
    assert beat.process.poll() is None, beat.output()[-3000:]
    with urllib.request.urlopen(health, timeout=20) as response:
        assert response.status == 200
