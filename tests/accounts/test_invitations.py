"""Invitations: one answer for every address, mail failures recoverable, the home organization kept."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _invite(client, email: str, role: str = "ops"):
    return client.post(reverse("accounts:organization-members"), {"email": email, "role": role}, follow=True)


def test_inviting_an_existing_account_looks_the_same_as_inviting_a_new_one(client, org, admin_user, other_org):
    existing = UserFactory(email="someone@globex.example", last_login=timezone.now())
    MembershipFactory(user=existing, organization=other_org, role=Role.OPS)
    client.force_login(admin_user)

    for_existing = _invite(client, "someone@globex.example")
    for_new = _invite(client, "nobody@example.com")

    message_existing = [str(m) for m in for_existing.context["messages"]]
    message_new = [str(m) for m in for_new.context["messages"]]
    assert message_existing == ["Invitation sent to someone@globex.example."]
    assert message_new == ["Invitation sent to nobody@example.com."]
    assert [m.to for m in mail.outbox] == [["someone@globex.example"], ["nobody@example.com"]]
    assert "/accounts/login/" in mail.outbox[0].body  # someone who already signs in is sent to sign in
    assert "/accounts/reset/" in mail.outbox[1].body  # a new person chooses a password first


def test_a_mail_failure_keeps_the_member_and_the_link_can_be_sent_again(client, org, admin_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    client.force_login(admin_user)

    response = _invite(client, "new@example.com")

    assert response.status_code == 200
    assert "could not be sent" in " ".join(str(m) for m in response.context["messages"])
    membership = Membership.objects.get(organization=org, user__email="new@example.com")

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client.post(reverse("accounts:membership-invitation", args=[membership.pk]))
    assert [m.to for m in mail.outbox] == [["new@example.com"]]


def test_invitation_email_is_plain_text_without_html_escapes(client, admin_user, org):
    org.name = "Smith & O'Brien"
    org.save()
    client.force_login(admin_user)
    _invite(client, "new@example.com")
    assert "Smith & O'Brien" in mail.outbox[0].body
    assert "&amp;" not in mail.outbox[0].body


def test_being_invited_elsewhere_does_not_change_where_a_person_lands(client):
    zeta = OrganizationFactory(name="Zeta Home")
    acme = OrganizationFactory(name="Acme Stranger")
    person = UserFactory()
    MembershipFactory(user=person, organization=zeta, role=Role.OPS)
    later = MembershipFactory(user=person, organization=acme, role=Role.VIEWER)
    Membership.objects.filter(pk=later.pk).update(created_at=timezone.now() + datetime.timedelta(minutes=5))
    client.force_login(person)

    response = client.get(reverse("home"))

    assert response.wsgi_request.organization == zeta


def test_organization_names_with_line_breaks_are_refused(client, org, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Evil\nBcc: x@evil.example",
        "time_zone": "UTC",
        "currency": "cny",
        "churn_window_days": 90,
        "activation_window_days": 30,
        "at_risk_threshold": "0.5",
        "gross_margin": "0.3",
        "annual_discount_rate": "0.1",
        "nightly_hour": 2,
        "high_tier_share": "0.1",
        "mid_tier_share": "0.3",
        "campaign_frequency_cap": 3,
        "quiet_hours_start": 21,
        "quiet_hours_end": 8,
    }
    response = client.post(reverse("accounts:organization-settings"), data)
    assert set(response.context["form"].errors) == {"name", "currency"}
    org.refresh_from_db()
    assert org.name == "Acme Retail"


def test_email_addresses_are_stored_lower_case_and_unique_ignoring_case(db):
    user = UserFactory(email="Mixed.Case@Example.COM")
    user.refresh_from_db()
    assert user.email == "mixed.case@example.com"
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="MIXED.case@example.com")
