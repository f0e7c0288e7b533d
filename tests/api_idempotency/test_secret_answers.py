"""Answers that carry a secret shown once are never stored nor replayed (config/api/idempotency.py)."""

from __future__ import annotations

import pytest

from accounts.models import IdempotencyKey, IdempotencyKeyState
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"


def test_a_webhook_create_answer_with_its_secret_is_not_stored_and_its_replay_is_a_409(org, write_api):
    body = {"url": "https://shop.example/hook"}
    first = write_api.post(URL, body, format="json", headers={"Idempotency-Key": "wh-1"})
    assert first.status_code == 201 and first.json()["secret"]

    row = IdempotencyKey.objects.get(key="wh-1")
    assert row.state == IdempotencyKeyState.DONE
    assert bytes(row.response_body) == b"" and first.json()["secret"].encode() not in bytes(row.response_body)

    again = write_api.post(URL, body, format="json", headers={"Idempotency-Key": "wh-1"})
    assert again.status_code == 409
    assert "cannot be replayed" in again.json()["detail"] and "secret" not in again.json()
    assert WebhookEndpoint.objects.for_org(org).count() == 1  # the view did not run again


def test_other_writes_of_the_webhook_api_are_still_replayed(org, write_api):
    endpoint_id = write_api.post(URL, {"url": "https://shop.example/hook"}, format="json").json()["id"]
    change = {"description": "shop"}
    first = write_api.patch(f"{URL}{endpoint_id}/", change, format="json", headers={"Idempotency-Key": "wh-2"})
    again = write_api.patch(f"{URL}{endpoint_id}/", change, format="json", headers={"Idempotency-Key": "wh-2"})
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
