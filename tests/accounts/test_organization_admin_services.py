"""What an organization admin does: invite people, change roles, remove members, edit settings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Membership, Role, User
from accounts.services import (
    Actor,
    invitation_send,
    member_invite,
    membership_remove,
    membership_set,
    organization_update,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_invite_creates_an_account_and_the_emailed_link_lets_the_person_choose_a_password(org, admin_user):
    membership, created = member_invite(
        org=org, email=" New.Person@Example.com ", role=Role.OPS, actor=Actor(user=admin_user)
    )
    invitation_send(membership=membership, base_url="http://testserver", invited_by=admin_user)

    assert created is True
    assert membership.user.email == "new.person@example.com"
    assert membership.role == Role.OPS
    (message,) = mail.outbox
    assert message.to == ["new.person@example.com"]
    assert org.name in message.subject
    link = next(line for line in message.body.splitlines() if line.startswith("http://testserver/"))
    client = Client()
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-fresh-passphrase-42", "new_password2": "a-fresh-passphrase-42"},
    )
    assert response.status_code == 302
    signed_in = client.post(
        reverse("accounts:login"), {"username": "new.person@example.com", "password": "a-fresh-passphrase-42"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == reverse("home")


def test_invite_adds_an_existing_account_without_creating_another(org, other_org, member_factory):
    person = member_factory(other_org, Role.VIEWER)
    membership, created = member_invite(org=org, email=person.email.upper(), role=Role.MARKETER)
    assert created is False
    assert membership.user == person
    assert User.objects.filter(email=person.email).count() == 1


def test_invite_rejects_existing_members_and_bad_addresses(org, ops_user):
    with pytest.raises(ValidationError) as already:
        member_invite(org=org, email=ops_user.email, role=Role.OPS)
    assert "already a member" in str(already.value.message_dict["email"])
    with pytest.raises(ValidationError) as bad:
        member_invite(org=org, email="not-an-address", role=Role.OPS)
    assert "email" in bad.value.message_dict
    with pytest.raises(ValidationError) as role:
        member_invite(org=org, email="fine@example.com", role="overlord")
    assert "role" in role.value.message_dict
    assert not User.objects.filter(email="fine@example.com").exists()


def test_the_last_admin_can_be_neither_demoted_nor_removed(org, admin_user):
    membership = Membership.objects.get(organization=org, user=admin_user)
    with pytest.raises(ValidationError, match="at least one admin"):
        membership_set(org=org, user=admin_user, role=Role.VIEWER)
    with pytest.raises(ValidationError, match="at least one admin"):
        membership_remove(membership=membership)
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN


def test_an_admin_can_step_down_once_another_admin_exists(org, admin_user, member_factory):
    member_factory(org, Role.ADMIN)
    membership_set(org=org, user=admin_user, role=Role.VIEWER)
    assert Membership.objects.get(organization=org, user=admin_user).role == Role.VIEWER


def test_removing_a_member_is_audited_and_keeps_the_account(org, admin_user, ops_user):
    membership = Membership.objects.get(organization=org, user=ops_user)
    membership_remove(membership=membership, actor=Actor(user=admin_user))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.filter(pk=ops_user.pk).exists()
    entry = AuditLog.objects.for_org(org).get(action="membership.delete")
    assert entry.before == {"user": ops_user.email, "role": Role.OPS}
    assert entry.actor_user == admin_user


def test_organization_update_changes_settings_and_records_before_and_after(org, admin_user):
    organization_update(org=org, actor=Actor(user=admin_user), churn_window_days=60, gross_margin=Decimal("0.45"))
    org.refresh_from_db()
    assert org.churn_window_days == 60
    assert org.gross_margin == Decimal("0.45")
    entry = AuditLog.objects.for_org(org).get(action="organization.update")
    assert entry.before["churn_window_days"] == 90
    assert entry.after["churn_window_days"] == 60


def test_organization_update_rejects_bad_values_and_unknown_fields_and_changes_nothing(org):
    with pytest.raises(ValidationError) as bad:
        organization_update(org=org, time_zone="Mars/Olympus", gross_margin=Decimal("1.5"))
    assert set(bad.value.message_dict) == {"time_zone", "gross_margin"}
    with pytest.raises(ValidationError) as unknown:
        organization_update(org=org, slug="renamed")
    assert "slug" in unknown.value.message_dict
    org.refresh_from_db()
    assert (org.time_zone, org.slug, org.gross_margin) == ("UTC", "acme", Decimal("0.300"))


def test_a_deactivated_admin_does_not_count_as_the_remaining_admin(org, admin_user):
    dormant = UserFactory(is_active=False)
    MembershipFactory(user=dormant, organization=org, role=Role.ADMIN)
    with pytest.raises(ValidationError, match="at least one admin"):
        membership_set(org=org, user=admin_user, role=Role.OPS)
