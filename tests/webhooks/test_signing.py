"""Signature, body and headers, checked against an independent implementation written out here."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from webhooks import services, signing
from webhooks.models import EventType, WebhookDelivery

pytestmark = pytest.mark.django_db


def independent_verify(secret: str, header: str, body: bytes, now: float) -> bool:
    """What a receiver writes from the docs alone: split the header, check the age, recompute the HMAC."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(fields["t"])
    if now - timestamp > 300:
        return False
    mac = hmac.new(secret.encode("utf-8"), msg=(str(timestamp) + ".").encode("utf-8") + body, digestmod=hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), fields["v1"])


def test_a_delivered_request_carries_the_documented_body_headers_and_a_valid_signature(org, receiver, queued):
    endpoint = services.endpoint_create(org=org, url=receiver.url)
    event = services.event_emit(org=org, event_type=EventType.ORDER_CREATED, payload={"order_ids": [7]})
    delivery = WebhookDelivery.objects.get(event=event)

    services.delivery_attempt(delivery_id=delivery.pk)

    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["custops-event-id"] == str(event.event_id)
    assert headers["custops-event-type"] == "order.created"
    assert independent_verify(endpoint.secret, headers["custops-signature"], request.body, time.time())
    assert headers["custops-signature"].startswith("t=")
    body = json.loads(request.body)
    assert body == {
        "id": str(event.event_id),
        "type": "order.created",
        "created_at": body["created_at"],
        "organization": "acme",
        "data": {"order_ids": [7]},
    }


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_fail_verification():
    body = b'{"id":"x"}'
    now = int(time.time())
    header = signing.signature_header("whsec_abc", now, body)
    assert independent_verify("whsec_abc", header, body, now)
    assert signing.signature_verify(secret="whsec_abc", header=header, body=body, now=now)
    assert not independent_verify("whsec_abc", header, body + b" ", now)
    assert not signing.signature_verify(secret="whsec_abc", header=header, body=body + b" ", now=now)
    assert not signing.signature_verify(secret="whsec_other", header=header, body=body, now=now)
    assert not independent_verify("whsec_abc", header, body, now + 301)
    assert not signing.signature_verify(secret="whsec_abc", header=header, body=body, now=now + 301)
    assert signing.signature_verify(secret="whsec_abc", header=header, body=body, now=now + 299)


def test_every_attempt_sends_the_same_body_and_event_id_with_a_fresh_signature(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)
    receiver.plan = [500]
    event = services.event_emit(org=org, event_type=EventType.CUSTOMER_CREATED, payload={"customer_ids": [1]})
    delivery = WebhookDelivery.objects.get(event=event)
    services.delivery_attempt(delivery_id=delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    services.delivery_attempt(delivery_id=delivery.pk)

    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Custops-Event-Id"] == second.headers["Custops-Event-Id"] == str(event.event_id)
