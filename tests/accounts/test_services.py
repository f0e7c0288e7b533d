"""Account services: organizations, memberships, and the audit trail they write."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLog, Membership, Organization, Role
from accounts.services import SYSTEM, Actor, membership_set, organization_create
from tests.factories import OrganizationFactory, UserFactory


def test_organization_create_applies_the_playbook_defaults(db):
    org = organization_create(slug="acme", name="Acme Retail")
    assert (org.time_zone, org.currency, org.churn_window_days, org.activation_window_days) == ("UTC", "CNY", 90, 30)


def test_organization_create_records_the_creation_by_the_system(db):
    org = organization_create(slug="acme", name="Acme Retail", time_zone="Asia/Shanghai")
    entry = AuditLog.objects.for_org(org).get()
    assert (entry.action, entry.actor_label, entry.object_id) == ("organization.create", "system", str(org.pk))
    assert entry.after["time_zone"] == "Asia/Shanghai"


def test_organization_create_refuses_a_taken_slug(db):
    OrganizationFactory(slug="acme")
    with pytest.raises(ValidationError) as excinfo:
        organization_create(slug="acme", name="Another Acme")
    assert excinfo.value.message_dict == {"slug": ["An organization with the slug acme already exists."]}
    assert Organization.objects.count() == 1


def test_organization_create_refuses_an_unknown_time_zone(db):
    with pytest.raises(ValidationError) as excinfo:
        organization_create(slug="acme", name="Acme", time_zone="Mars/Olympus")
    assert list(excinfo.value.message_dict) == ["time_zone"]
    assert not Organization.objects.exists()


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", "€€€"])
def test_organization_create_refuses_a_currency_that_is_not_an_iso_code(db, currency):
    with pytest.raises(ValidationError) as excinfo:
        organization_create(slug="acme", name="Acme", currency=currency)
    assert list(excinfo.value.message_dict) == ["currency"]
    assert not Organization.objects.exists()


def test_organization_create_refuses_a_slug_with_spaces(db):
    with pytest.raises(ValidationError) as excinfo:
        organization_create(slug="acme retail", name="Acme")
    assert list(excinfo.value.message_dict) == ["slug"]


def test_organization_create_refuses_an_unknown_setting(db):
    with pytest.raises(ValidationError) as excinfo:
        organization_create(slug="acme", name="Acme", colour="red")
    assert excinfo.value.message_dict == {"colour": ["Unknown field."]}


def test_membership_set_adds_a_member_with_the_role(org):
    user = UserFactory()
    membership = membership_set(org=org, user=user, role=Role.MARKETER)
    assert (membership.user, membership.organization, membership.role) == (user, org, "marketer")


def test_membership_set_changes_the_role_and_records_the_old_one(org, admin_user):
    user = UserFactory()
    membership_set(org=org, user=user, role=Role.VIEWER)
    membership_set(org=org, user=user, role=Role.OPS, actor=Actor(user=admin_user))
    entry = AuditLog.objects.for_org(org).get(action="membership.update")
    assert (entry.before["role"], entry.after["role"], entry.actor_user) == ("viewer", "ops", admin_user)
    assert Membership.objects.get(user=user, organization=org).role == "ops"


def test_membership_set_refuses_an_unknown_role(org):
    user = UserFactory()
    with pytest.raises(ValidationError) as excinfo:
        membership_set(org=org, user=user, role="owner")
    assert excinfo.value.message_dict == {"role": ["Unknown role owner; choose one of admin, ops, marketer, viewer."]}
    assert not Membership.objects.filter(user=user).exists()


def test_actor_label_prefers_the_user_then_the_key_then_the_label(db):
    user = UserFactory(email="li@example.com")
    assert Actor(user=user).display == "li@example.com"
    assert Actor(label="import job").display == "import job"
    assert SYSTEM.display == "system"
