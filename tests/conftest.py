"""Fixtures shared by every test: two organizations with members of each role, and API clients."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import api_key_create
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture
def org(db):
    return OrganizationFactory(slug="acme", name="Acme Retail")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(slug="globex", name="Globex Shops")


@pytest.fixture
def member_factory(db):
    def make(org, role: str = Role.OPS, **user_fields):
        user = UserFactory(**user_fields)
        MembershipFactory(user=user, organization=org, role=role)
        return user

    return make


@pytest.fixture
def ops_user(org, member_factory):
    return member_factory(org, Role.OPS)


@pytest.fixture
def admin_user(org, member_factory):
    return member_factory(org, Role.ADMIN)


@pytest.fixture
def viewer_user(org, member_factory):
    return member_factory(org, Role.VIEWER)


@pytest.fixture
def marketer_user(org, member_factory):
    return member_factory(org, Role.MARKETER)


@pytest.fixture
def api_key_client():
    """An API client authenticated with a fresh key: ``api_key_client(org, scopes)``."""

    def make(org, scopes=("read", "write")):
        _, plaintext = api_key_create(org=org, name="test integration", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        return client

    return make


@pytest.fixture
def write_api(org, api_key_client):
    return api_key_client(org, ("read", "write"))


@pytest.fixture
def read_api(org, api_key_client):
    return api_key_client(org, ("read",))


@pytest.fixture
def session_api():
    """An API client logged in as ``user`` through the session: ``session_api(user)``."""

    def make(user):
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def default_language():
    """Start every test in the default language.

    Django keeps the active language per thread, and LocaleMiddleware does not reset it after a response,
    so one test's request in zh-hans would otherwise translate the messages the next test asserts on.
    """
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
