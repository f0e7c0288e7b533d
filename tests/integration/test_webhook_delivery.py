"""Webhooks reach a receiver that fails, times out and then recovers: every event delivered, none lost.

A real Celery worker (solo pool, Redis broker, the test's PostgreSQL database) runs ``webhooks.tasks.deliver``
against an ``http.server`` receiver in this process. The worker gets a compressed schedule through the
environment (1 s back-off base, 2 s cap, 1 s timeout, 3 s lease) so the whole bad day fits in seconds.
A delivery whose worker died mid-attempt is simulated by a lapsed lease and recovered by ``retry_due``, the
task beat runs every minute.
"""

from __future__ import annotations

import datetime
import json
import time
from collections import defaultdict

import pytest
from django.utils import timezone

from tests.integration.conftest import start_celery_worker
from tests.webhooks.conftest import start_receiver
from webhooks import services, signing, tasks
from webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookDeliveryAttempt

pytestmark = pytest.mark.integration

WORKER_SETTINGS = {
    # The test settings pin eager Celery, under which a worker's delayed retry would run inline at once; the local
    # settings queue it on the broker as production does.
    "DJANGO_SETTINGS_MODULE": "config.settings.local",
    "DJANGO_DEBUG": "false",
    "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "WEBHOOK_RETRY_BASE_SECONDS": "1",
    "WEBHOOK_RETRY_MAX_SECONDS": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "1",
    "WEBHOOK_CLAIM_LEASE_SECONDS": "3",
    "WEBHOOK_RETRY_DUE_GRACE_SECONDS": "2",
    # The receiver listens on 127.0.0.1, which the SSRF guard refuses in production.
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
}


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_worker(real_services, start_process):
    from config.celery_app import app

    app.control.purge()
    worker = start_celery_worker(start_process, {**real_services, **WORKER_SETTINGS}, "webhook-worker")
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield worker
    app.conf.task_always_eager = previous


def _wait_until_settled(worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists():
            return
        time.sleep(0.3)
    states = list(WebhookDelivery.objects.values_list("pk", "status", "attempts", "last_error"))
    raise AssertionError(f"deliveries still pending after {timeout}s: {states}\n{worker.output()[-6000:]}")


def test_every_event_reaches_a_receiver_that_fails_times_out_and_recovers(org, receiver, webhook_worker):
    endpoint = services.endpoint_create(org=org, url=receiver.url)
    # The first four requests get a 500, the next three are answered after the 1 s timeout, then all 200.
    receiver.plan = [500] * 4 + [("sleep", 1.6)] * 3

    emitted = []
    for n in range(6):
        event = services.event_emit(org=org, event_type=EventType.ORDER_CREATED, payload={"order_ids": [n]})
        emitted.append(str(event.event_id))

    _wait_until_settled(webhook_worker)

    deliveries = list(WebhookDelivery.objects.all())
    assert {d.status for d in deliveries} == {DeliveryStatus.SUCCEEDED}, webhook_worker.output()[-3000:]
    assert sum(d.attempts for d in deliveries) >= 6 + 4 + 3  # every failure was retried
    assert WebhookDeliveryAttempt.objects.filter(response_code=500).count() == 4
    assert WebhookDeliveryAttempt.objects.filter(response_code__isnull=True, error__contains="seconds").count() == 3

    by_id: dict[str, list] = defaultdict(list)
    for request in receiver.requests:
        by_id[request.headers["Custops-Event-Id"]].append(request)
        assert signing.signature_verify(
            secret=endpoint.secret, header=request.headers["Custops-Signature"], body=request.body, now=time.time()
        )
    assert set(by_id) == set(emitted)  # none lost, nothing foreign
    for event_id, copies in by_id.items():
        assert {json.loads(copy.body)["id"] for copy in copies} == {event_id}  # duplicates carry the same id
        assert len({copy.body for copy in copies}) == 1
    assert sum(len(copies) for copies in by_id.values()) == len(receiver.requests) >= 6 + 4 + 3


def test_a_delivery_whose_worker_died_mid_attempt_is_sent_by_the_retry_due_task(org, receiver, webhook_worker):
    services.endpoint_create(org=org, url=receiver.url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "_enqueue_after_commit", lambda ids: None)  # the worker "dies" before it starts
        event = services.event_emit(org=org, event_type=EventType.CUSTOMER_CREATED, payload={"customer_ids": [1]})
    delivery = WebhookDelivery.objects.get(event=event)
    # It had claimed the delivery, then died: the lease is still held for a moment.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() + datetime.timedelta(seconds=2))

    tasks.retry_due.delay()  # beat, while the lease holds: nothing to do yet
    time.sleep(2.5)
    assert receiver.requests == []
    tasks.retry_due.delay()  # beat, a minute later: the lease has lapsed
    _wait_until_settled(webhook_worker, timeout=30)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    [request] = receiver.requests
    assert request.headers["Custops-Event-Id"] == str(event.event_id)


def test_a_worker_killed_mid_post_leaves_the_delivery_to_the_next_one_with_the_same_event_id(
    org, receiver, real_services, start_process
):
    """SIGKILL while the receiver holds the request: the lease lapses, beat re-queues, a new worker sends it again."""
    from config.celery_app import app

    services.endpoint_create(org=org, url=receiver.url)
    receiver.plan = [("sleep", 0.8)]  # the first request is answered late (within the 1 s timeout): time to kill
    app.control.purge()
    app.conf.task_always_eager = False
    try:
        first = start_celery_worker(start_process, {**real_services, **WORKER_SETTINGS}, "webhook-worker-1")
        event = services.event_emit(org=org, event_type=EventType.ORDER_CREATED, payload={"order_ids": [7]})
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert receiver.requests, first.output()[-3000:]
        first.process.kill()  # mid-POST: the receiver has the request, the worker never sees the answer
        first.process.wait(timeout=10)
        delivery = WebhookDelivery.objects.get(event=event)
        assert delivery.status == DeliveryStatus.PENDING  # nothing recorded it as sent

        second = start_celery_worker(start_process, {**real_services, **WORKER_SETTINGS}, "webhook-worker-2")
        time.sleep(3.5)  # the dead worker's lease (3 s here) lapses
        tasks.retry_due.delay()  # what beat sends every minute
        _wait_until_settled(second, timeout=60)
    finally:
        app.conf.task_always_eager = True

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    ids = [request.headers["Custops-Event-Id"] for request in receiver.requests]
    assert ids == [str(event.event_id)] * 2  # sent twice, once per worker: the receiver de-duplicates by this id
    assert len({request.body for request in receiver.requests}) == 1
