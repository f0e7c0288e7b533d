"""Delivery: back-off schedule, abandonment after 24 h, automatic disabling with an e-mail, redelivery, leases."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from accounts.models import Role
from webhooks import services, signing, tasks
from webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
GRACE = datetime.timedelta(seconds=121)  # WEBHOOK_RETRY_DUE_GRACE_SECONDS (120) and a second


def _emit(org, event_type=EventType.CUSTOMER_CREATED):
    event = services.event_emit(org=org, event_type=event_type, payload={"customer_ids": [1]})
    return WebhookDelivery.objects.get(event=event)


def _make_due(delivery, *, created_ago: datetime.timedelta | None = None) -> None:
    now = timezone.now()
    changes = {"next_attempt_at": now - datetime.timedelta(seconds=1)}
    if created_ago is not None:
        changes["created_at"] = now - created_ago
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)


def test_the_back_off_doubles_from_one_minute_and_is_capped_at_one_hour():
    delays = [signing.retry_delay_seconds(n, base=60, cap=3600) for n in range(1, 10)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_a_failed_attempt_is_logged_and_scheduled_by_the_back_off(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    receiver.plan = [500, 503]
    delivery = _emit(org)

    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1 and delivery.last_response_code == 500
    assert 55 <= (delivery.next_attempt_at - timezone.now()).total_seconds() <= 60

    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # not due yet: nothing sent
    _make_due(delivery)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_response_code == 503
    assert 115 <= (delivery.next_attempt_at - timezone.now()).total_seconds() <= 120
    log = list(WebhookDeliveryAttempt.objects.filter(delivery=delivery).order_by("attempted_at"))
    assert [(a.response_code, a.succeeded) for a in log] == [(500, False), (503, False)]
    assert all(a.error and a.duration_ms >= 0 for a in log)

    _make_due(delivery)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.delivered_at and delivery.last_error == ""
    assert delivery.next_attempt_at is None and len(receiver.requests) == 3


@override_settings(WEBHOOK_TIMEOUT_SECONDS=0.5)
def test_no_answer_within_the_timeout_is_a_failure(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    receiver.plan = [("sleep", 2)]
    delivery = _emit(org)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_response_code is None and "0.5 seconds" in delivery.last_error


def test_a_redirect_or_a_4xx_is_a_failure_too(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    receiver.plan = [302]
    delivery = _emit(org)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_response_code == 302


def test_the_last_retry_is_at_the_24_hour_deadline_then_the_delivery_is_abandoned(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    receiver.default = 500
    delivery = _emit(org)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=9)  # the back-off is at its 1 h cap by now
    _make_due(delivery, created_ago=24 * HOUR - datetime.timedelta(minutes=10))
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at == delivery.created_at + 24 * HOUR  # capped at the deadline, not +1 h

    _make_due(delivery, created_ago=24 * HOUR + datetime.timedelta(seconds=1))
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ABANDONED and delivery.next_attempt_at is None


def test_an_endpoint_whose_every_delivery_failed_for_24_hours_is_disabled_and_the_admins_are_emailed(
    org, receiver, queued, member_factory, django_capture_on_commit_callbacks
):
    admin = member_factory(org, Role.ADMIN, email="boss@acme.example")
    member_factory(org, Role.OPS, email="ops@acme.example")
    endpoint = services.endpoint_create(org=org, url=receiver.url)
    receiver.default = 500
    old = _emit(org)
    younger = _emit(org, EventType.ORDER_CREATED)
    _make_due(old, created_ago=25 * HOUR)

    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_attempt(delivery_id=old.pk)

    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at and "24 hours" in endpoint.disabled_reason
    younger.refresh_from_db()
    assert younger.status == DeliveryStatus.FAILED and younger.next_attempt_at is None
    [message] = mail.outbox
    assert message.to == [admin.email]
    assert endpoint.url in message.body and "disabled" in message.subject
    assert services.event_emit(org=org, event_type=EventType.CUSTOMER_CREATED, payload={}) is None


def test_an_abandoned_delivery_does_not_disable_an_endpoint_that_received_something_since(org, receiver, queued):
    endpoint = services.endpoint_create(org=org, url=receiver.url)
    old = _emit(org)
    recent = _emit(org)
    services.delivery_attempt(delivery_id=recent.pk)  # 200
    receiver.default = 500
    _make_due(old, created_ago=25 * HOUR)
    services.delivery_attempt(delivery_id=old.pk)
    old.refresh_from_db()
    endpoint.refresh_from_db()
    assert old.status == DeliveryStatus.ABANDONED and endpoint.is_active and not mail.outbox


def test_redelivery_sends_the_same_event_again_as_a_new_delivery(
    org, receiver, queued, django_capture_on_commit_callbacks
):
    services.endpoint_create(org=org, url=receiver.url)
    delivery = _emit(org)
    services.delivery_attempt(delivery_id=delivery.pk)
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        again = services.delivery_redeliver(delivery=delivery)

    assert queued == [again.pk] and again.redelivery_of == delivery and again.event_id == delivery.event_id
    services.delivery_attempt(delivery_id=again.pk)
    first, second = receiver.requests
    assert first.body == second.body and first.headers["Custops-Event-Id"] == second.headers["Custops-Event-Id"]


def test_a_disabled_endpoint_cannot_be_redelivered_to_or_tested(org, receiver, queued):
    endpoint = services.endpoint_create(org=org, url=receiver.url)
    delivery = _emit(org)
    services.endpoint_update(endpoint=endpoint, is_active=False)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    with pytest.raises(ValidationError):
        services.delivery_redeliver(delivery=delivery)
    with pytest.raises(ValidationError):
        services.endpoint_test_send(endpoint=endpoint)
    services.endpoint_update(endpoint=endpoint, is_active=True)
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None and endpoint.disabled_reason == ""


def test_a_test_event_goes_to_that_endpoint_only_whatever_it_subscribes_to(org, receiver, queued):
    endpoint = services.endpoint_create(org=org, url=receiver.url, event_types=["order.created"])
    services.endpoint_create(org=org, url=receiver.url + "/other")
    delivery = services.endpoint_test_send(endpoint=endpoint)
    services.delivery_attempt(delivery_id=delivery.pk)
    [request] = receiver.requests
    assert request.headers["Custops-Event-Type"] == "webhook.test" and request.headers.get("Host")


def test_a_leased_delivery_is_not_sent_by_a_second_worker_until_the_lease_lapses(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    delivery = _emit(org)
    now = timezone.now()
    assert services._claim(delivery.pk, now) is not None  # worker A took it, then died
    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # worker B: leased, nothing sent
    assert services.deliveries_retry_due() == []
    assert receiver.requests == []

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        claimed_until=now - datetime.timedelta(seconds=1), next_attempt_at=now - GRACE
    )
    assert services.deliveries_retry_due() == [delivery.pk]  # the beat task finds the dead worker's delivery
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 1


def test_the_retry_due_task_queues_due_unleased_pending_deliveries_only(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    due = _emit(org)
    later = _emit(org)
    WebhookDelivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + HOUR)
    done = _emit(org)
    services.delivery_attempt(delivery_id=done.pk)
    WebhookDelivery.objects.filter(pk=due.pk).update(next_attempt_at=timezone.now() - GRACE)
    queued.clear()

    assert tasks.retry_due() == 1
    assert queued == [due.pk]


def test_endpoint_validation(org):
    with pytest.raises(ValidationError) as bad_type:
        services.endpoint_create(org=org, url="https://example.com/hook", event_types=["customer.exploded"])
    assert "event_types" in bad_type.value.message_dict
    with pytest.raises(ValidationError) as bad_url:
        services.endpoint_create(org=org, url="ftp://example.com/hook")
    assert "url" in bad_url.value.message_dict
    endpoint = services.endpoint_create(org=org, url="https://example.com/hook", event_types=["order.created"] * 2)
    assert endpoint.event_types == ["order.created"] and endpoint.secret.startswith("whsec_")
    assert WebhookEndpoint.objects.for_org(org).count() == 1
