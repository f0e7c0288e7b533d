"""API keys: stored hashed only, scoped, revocable, and marking when they were last used."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditLog
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke
from tests.factories import CustomerFactory


def bearer(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def test_api_key_create_returns_a_plaintext_that_authenticates(org):
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read", "write"])
    assert plaintext.startswith(f"cops_{key.prefix}_")
    assert api_key_authenticate(plaintext) == key


def test_api_key_row_holds_no_trace_of_the_plaintext_or_its_secret(org):
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    secret = plaintext.split("_", 2)[2]
    row = model_to_dict(ApiKey.objects.get(pk=key.pk))
    audit_rows = list(AuditLog.objects.for_org(org).values())
    stored = repr(row) + repr(audit_rows)
    assert plaintext not in stored
    assert secret not in stored
    assert len(row["key_digest"]) == 64


def test_api_key_digest_is_sha256_of_the_plaintext(org):
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    assert key.key_digest == hashlib.sha256(plaintext.encode()).hexdigest()


def test_api_key_create_refuses_unknown_scopes(org):
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(org=org, name="x", scopes=["read", "admin"])
    assert list(excinfo.value.message_dict) == ["scopes"]
    assert not ApiKey.objects.exists()


def test_api_key_create_refuses_no_scopes(org):
    with pytest.raises(ValidationError):
        api_key_create(org=org, name="x", scopes=[])
    assert not ApiKey.objects.exists()


def test_api_key_create_refuses_a_blank_name(org):
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(org=org, name="  ", scopes=["read"])
    assert list(excinfo.value.message_dict) == ["name"]


def test_api_key_whose_secret_contains_underscores_still_authenticates(org):
    """token_urlsafe secrets may contain "_"; only the first two separate the parts."""
    key, _ = api_key_create(org=org, name="shop sync", scopes=["read"])
    plaintext = f"cops_{key.prefix}_with_under_scores"
    ApiKey.objects.filter(pk=key.pk).update(key_digest=hashlib.sha256(plaintext.encode()).hexdigest())
    assert api_key_authenticate(plaintext) == key


@pytest.mark.parametrize("plaintext", ["", "cops", "cops_x", "nope_abcd_efgh", "cops_00000000_wrong"])
def test_api_key_authenticate_refuses_malformed_or_unknown_keys(org, plaintext):
    api_key_create(org=org, name="shop sync", scopes=["read"])
    assert api_key_authenticate(plaintext) is None


def test_api_key_authenticate_refuses_the_right_prefix_with_a_wrong_secret(org):
    _, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    assert api_key_authenticate(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None


def test_first_use_sets_last_used_at(org):
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    assert key.last_used_at is None
    assert bearer(plaintext).get("/api/v1/customers/").status_code == 200
    key.refresh_from_db()
    assert timezone.now() - key.last_used_at < datetime.timedelta(seconds=10)


def test_use_after_more_than_a_minute_moves_last_used_at(org):
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    long_ago = timezone.now() - datetime.timedelta(hours=3)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=long_ago)
    bearer(plaintext).get("/api/v1/customers/")
    key.refresh_from_db()
    assert key.last_used_at > long_ago + datetime.timedelta(hours=2)


def test_use_within_a_minute_does_not_write_last_used_at_again(org):
    """Saves a write per request for busy integrations; a minute's precision is enough to spot unused keys."""
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    recently = timezone.now() - datetime.timedelta(seconds=20)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=recently)
    bearer(plaintext).get("/api/v1/customers/")
    key.refresh_from_db()
    assert key.last_used_at == recently


def test_revoked_key_is_refused_with_401(org):
    key, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    api_key_revoke(key=key)
    response = bearer(plaintext).get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json() == {"detail": "The API key is unknown or has been revoked.", "errors": {}}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_revoking_records_when_in_the_audit_trail(org):
    key, _ = api_key_create(org=org, name="shop sync", scopes=["read"])
    api_key_revoke(key=key)
    entry = AuditLog.objects.for_org(org).get(action="api_key.revoke")
    assert entry.before == {"revoked_at": None}
    assert entry.after == {"revoked_at": key.revoked_at.isoformat()}


def test_revoking_twice_keeps_the_first_revocation_time(org):
    key, _ = api_key_create(org=org, name="shop sync", scopes=["read"])
    first = api_key_revoke(key=key).revoked_at
    assert api_key_revoke(key=key).revoked_at == first
    assert AuditLog.objects.for_org(org).filter(action="api_key.revoke").count() == 1


def test_unknown_key_is_refused_with_401(db):
    response = bearer("cops_deadbeef_not-a-real-secret").get("/api/v1/customers/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("header", ["Bearer", "Bearer one two"])
def test_a_malformed_bearer_header_is_refused_with_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Send the header as 'Authorization: Bearer <api key>'."


def test_a_blank_authorization_header_is_a_401_not_a_500(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="   ")
    assert client.get("/api/v1/customers/").status_code == 401


def test_the_bearer_scheme_name_is_case_insensitive(org):
    _, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {plaintext}")
    assert client.get("/api/v1/customers/").status_code == 200


def test_a_key_sees_only_its_own_organization(org, other_org):
    CustomerFactory(organization=org, external_id="MINE")
    CustomerFactory(organization=other_org, external_id="THEIRS")
    _, plaintext = api_key_create(org=org, name="shop sync", scopes=["read"])
    rows = bearer(plaintext).get("/api/v1/customers/").json()["results"]
    assert [row["external_id"] for row in rows] == ["MINE"]
