"""Idempotency-Key on API writes: replay, mismatch, concurrency, what is stored, expiry, scope (config/api/idempotency.py)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdempotencyKey, IdempotencyKeyState, Role
from accounts.services import api_key_create
from accounts.tasks import purge_idempotency_keys
from config.api.idempotency import IdempotencyGate
from config.api.urls import api_v1_patterns
from crm import api as crm_api
from crm.models import Customer

URL = "/api/v1/customers/"


def post(client, data, key, url=URL):
    return client.post(url, data, format="json", headers={"Idempotency-Key": key})


def customers(org):
    return Customer.objects.for_org(org).count()


def test_same_key_and_body_replays_the_stored_answer_without_running_the_view(org, write_api):
    first = post(write_api, {"name": "Ada", "email": "ada@example.com"}, "k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    again = post(write_api, {"email": "ada@example.com", "name": "Ada"}, "k-1")  # other key order: same body

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == first["Content-Type"]
    assert again.content == first.content
    assert customers(org) == 1
    row = IdempotencyKey.objects.for_org(org).get()
    assert row.state == IdempotencyKeyState.DONE and row.response_status == 201


def test_same_key_with_another_body_or_path_is_a_409_naming_the_header(org, write_api):
    assert post(write_api, {"name": "Ada"}, "k-2").status_code == 201

    other_body = post(write_api, {"name": "Bob"}, "k-2")
    other_path = post(write_api, {"name": "Ada"}, "k-2", url=URL + "?x=1")

    for response in (other_body, other_path):
        assert response.status_code == 409
        body = response.json()
        assert set(body) == {"detail", "errors"}
        assert list(body["errors"]) == ["Idempotency-Key"]
    assert customers(org) == 1


def test_without_the_header_nothing_is_stored_and_reads_ignore_it(org, write_api):
    assert write_api.post(URL, {"name": "Ada"}, format="json").status_code == 201
    assert write_api.post(URL, {"name": "Ada"}, format="json").status_code == 201
    read = write_api.get(URL, headers={"Idempotency-Key": "not valid because it has spaces"})
    assert read.status_code == 200
    assert customers(org) == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_a_400_naming_the_header(org, write_api, key):
    response = post(write_api, {"name": "Ada"}, key)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["Idempotency-Key"]
    assert customers(org) == 0


def test_the_longest_key_is_accepted(org, write_api):
    assert post(write_api, {"name": "Ada"}, "~" * 255).status_code == 201


def test_client_errors_are_stored_and_replayed(org, write_api):
    first = post(write_api, {"name": "Ada", "email": "not an address"}, "k-400")
    assert first.status_code == 400

    again = post(write_api, {"name": "Ada", "email": "not an address"}, "k-400")

    assert again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_server_errors_are_not_stored_so_the_key_can_be_retried(org, write_api, monkeypatch):
    original = crm_api.CustomerViewSet.create_service

    def broken(**kwargs):
        raise RuntimeError("database fell over")

    monkeypatch.setattr(crm_api.CustomerViewSet, "create_service", broken)
    client = write_api
    client.raise_request_exception = False
    assert post(client, {"name": "Ada"}, "k-500").status_code == 500
    assert not IdempotencyKey.objects.exists()

    monkeypatch.setattr(crm_api.CustomerViewSet, "create_service", original)
    retry = post(client, {"name": "Ada"}, "k-500")
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert customers(org) == 1


def test_refusals_about_the_caller_are_not_stored(org, read_api, write_api):
    assert post(read_api, {"name": "Ada"}, "k-403").status_code == 403
    assert not IdempotencyKey.objects.exists()


def test_keys_older_than_a_day_are_ignored_and_purged(org, write_api):
    assert post(write_api, {"name": "Ada"}, "k-old").status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    reused = post(write_api, {"name": "Someone else"}, "k-old")  # a new request, not a mismatch

    assert reused.status_code == 201
    assert "Idempotent-Replayed" not in reused
    assert customers(org) == 2
    assert post(write_api, {"name": "Someone else"}, "k-old")["Idempotent-Replayed"] == "true"

    assert post(write_api, {"name": "Old"}, "k-older").status_code == 201
    IdempotencyKey.objects.filter(key="k-older").update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-old"]


def test_the_same_key_string_is_independent_per_organization_and_credential(
    org, other_org, write_api, api_key_client, session_api, member_factory
):
    other_org_key = api_key_client(other_org)
    second_key = api_key_client(org)
    person = session_api(member_factory(org, Role.OPS))

    responses = [post(client, {"name": "Ada"}, "shared") for client in (write_api, other_org_key, second_key, person)]

    assert [r.status_code for r in responses] == [201, 201, 201, 201]
    assert not any(r.has_header("Idempotent-Replayed") for r in responses)
    assert customers(org) == 3 and customers(other_org) == 1
    assert post(person, {"name": "Ada"}, "shared")["Idempotent-Replayed"] == "true"


def test_patch_and_delete_honour_the_key_too(org, write_api):
    created = write_api.post(URL, {"name": "Ada"}, format="json").json()
    detail = f"{URL}{created['id']}/"

    assert (
        write_api.patch(detail, {"name": "Ada L."}, format="json", headers={"Idempotency-Key": "p"}).status_code == 200
    )
    replayed = write_api.patch(detail, {"name": "Ada L."}, format="json", headers={"Idempotency-Key": "p"})
    assert replayed["Idempotent-Replayed"] == "true"

    assert write_api.delete(detail, headers={"Idempotency-Key": "d"}).status_code == 204
    again = write_api.delete(detail, headers={"Idempotency-Key": "d"})
    assert again.status_code == 204  # not the 404 a plain retry would get
    assert again["Idempotent-Replayed"] == "true"


def test_a_request_still_running_blocks_its_duplicate_until_its_lease_ends(org, write_api, settings):
    assert post(write_api, {"name": "Ada"}, "k-run").status_code == 201
    IdempotencyKey.objects.update(state=IdempotencyKeyState.IN_PROGRESS, claimed_at=timezone.now())

    blocked = post(write_api, {"name": "Ada"}, "k-run")

    assert blocked.status_code == 409
    assert blocked["Retry-After"] == "1"
    assert list(blocked.json()["errors"]) == ["Idempotency-Key"]

    # The worker that claimed it died: after the lease a retry runs the view again.
    IdempotencyKey.objects.update(
        claimed_at=timezone.now() - timedelta(seconds=settings.CUSTOPS_IDEMPOTENCY_LEASE_SECONDS)
    )
    taken_over = post(write_api, {"name": "Ada"}, "k-run")
    assert taken_over.status_code == 201
    assert "Idempotent-Replayed" not in taken_over
    assert IdempotencyKey.objects.get().state == IdempotencyKeyState.DONE


def test_multipart_uploads_are_the_same_request_whatever_their_boundary(org, api_key_client):
    client = api_key_client(org)
    body = b"external_id,name\nc1,Ada\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    def upload():
        file = SimpleUploadedFile("customers.csv", body, content_type="text/csv")
        return client.post(
            "/api/v1/imports/",
            {"kind": "customers", "file": file},
            format="multipart",
            headers={"Idempotency-Key": "u"},
        )

    first = upload()
    assert first.status_code in (201, 202), first.content
    assert upload()["Idempotent-Replayed"] == "true"


def _api_views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = pattern.callback
            yield prefix + str(pattern.pattern), getattr(view, "cls", None), getattr(view, "initkwargs", {})


def test_every_api_route_passes_through_the_gate():
    for route, cls, initkwargs in _api_views(api_v1_patterns):
        assert cls is not None, route
        view = cls(**{k: v for k, v in initkwargs.items() if k != "suffix"})
        assert any(isinstance(t, IdempotencyGate) for t in view.get_throttles()), route


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks of concurrent inserts need PostgreSQL")
def test_concurrent_duplicates_run_the_view_exactly_once(org, monkeypatch):
    _, plaintext = api_key_create(org=org, name="racer", scopes=["read", "write"])
    original = crm_api.CustomerViewSet.create_service

    def slow_create(**kwargs):
        time.sleep(1.0)  # long enough for every duplicate to arrive while the first still runs
        return original(**kwargs)

    monkeypatch.setattr(crm_api.CustomerViewSet, "create_service", slow_create)
    start = threading.Barrier(6)
    results: list = []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        try:
            start.wait()
            response = post(client, {"name": "Ada"}, "race")
            results.append((response.status_code, response.get("Idempotent-Replayed"), response.get("Retry-After")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ran = [r for r in results if r[0] == 201 and r[1] is None]
    waited = [r for r in results if r[0] == 409]
    assert len(results) == 6 and len(ran) == 1, results
    # The others arrived while it ran (409, retry in 1 s) or, on a slow machine, after it ended (a replay).
    assert all(r == (409, None, "1") or r == (201, "true", None) for r in results if r not in ran), results
    assert waited, results
    assert customers(org) == 1
    assert IdempotencyKey.objects.get().state == IdempotencyKeyState.DONE
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert post(client, {"name": "Ada"}, "race")["Idempotent-Replayed"] == "true"


def test_beat_purges_old_keys_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["idempotency-keys-purge"]
    assert entry["task"] == purge_idempotency_keys.name == "accounts.tasks.purge_idempotency_keys"
