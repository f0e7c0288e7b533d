"""create_org and create_api_key: each prints what it did and fails with a clear message on bad input."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, Organization
from accounts.services import api_key_authenticate
from tests.factories import OrganizationFactory


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_org_creates_the_organization_and_says_so(db):
    output = run("create_org", "acme", "--name", "Acme Retail", "--time-zone", "Asia/Shanghai", "--currency", "USD")
    org = Organization.objects.get(slug="acme")
    assert (org.name, org.time_zone, org.currency) == ("Acme Retail", "Asia/Shanghai", "USD")
    assert output == f"Created organization acme (Acme Retail), id {org.pk}.\n"


def test_create_org_fails_on_a_taken_slug(db):
    OrganizationFactory(slug="acme")
    with pytest.raises(CommandError, match=re.escape("slug: An organization with the slug acme already exists.")):
        run("create_org", "acme", "--name", "Acme again")


def test_create_org_fails_on_an_unknown_time_zone(db):
    with pytest.raises(CommandError, match="time_zone: Unknown time zone Mars/Olympus"):
        run("create_org", "acme", "--name", "Acme", "--time-zone", "Mars/Olympus")
    assert not Organization.objects.exists()


def test_create_org_fails_on_a_lowercase_currency(db):
    with pytest.raises(CommandError, match="currency: Use a three-letter ISO 4217 code"):
        run("create_org", "acme", "--name", "Acme", "--currency", "usd")


def test_create_org_requires_a_name(db):
    with pytest.raises(CommandError, match="--name"):
        run("create_org", "acme")


def test_create_api_key_prints_a_working_key_once(org):
    output = run("create_api_key", "--org", "acme", "--name", "shop sync", "--scopes", "read,write")
    plaintext = output.splitlines()[1]
    key = api_key_authenticate(plaintext)
    assert key is not None
    assert (key.organization, key.name, key.scopes) == (org, "shop sync", ["read", "write"])
    assert output.splitlines()[0] == "API key 'shop sync' for acme (scopes: read, write):"
    assert "cannot be shown again" in output.splitlines()[2]


def test_create_api_key_defaults_to_the_read_scope(org):
    run("create_api_key", "--org", "acme", "--name", "dashboard")
    assert ApiKey.objects.get().scopes == ["read"]


def test_create_api_key_fails_for_an_unknown_organization(db):
    with pytest.raises(CommandError, match="No organization with slug 'nope'"):
        run("create_api_key", "--org", "nope", "--name", "x")


def test_create_api_key_fails_on_an_unknown_scope(org):
    with pytest.raises(CommandError, match=re.escape("scopes: Scopes must be one or more of read, write.")):
        run("create_api_key", "--org", "acme", "--name", "x", "--scopes", "read,admin")
    assert not ApiKey.objects.exists()


def test_create_api_key_fails_on_empty_scopes(org):
    with pytest.raises(CommandError, match="scopes"):
        run("create_api_key", "--org", "acme", "--name", "x", "--scopes", " , ")
