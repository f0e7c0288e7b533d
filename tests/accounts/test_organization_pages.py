"""Organization admins manage settings, members and API keys from the web; no one else can."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, AuditLog, Membership, Role
from accounts.services import api_key_authenticate, api_key_create
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ["accounts:organization-settings", "accounts:organization-members", "accounts:organization-api-keys"]


@pytest.mark.parametrize("role", [Role.OPS, Role.MARKETER, Role.VIEWER])
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_only_admins_reach_the_organization_pages(client, org, member_factory, role, page):
    client.force_login(member_factory(org, role))
    assert client.get(reverse(page)).status_code == 403
    assert client.post(reverse(page), {}).status_code == 403


def test_admin_sees_the_organization_link_and_others_do_not(client, org, admin_user, ops_user):
    client.force_login(admin_user)
    assert reverse("accounts:organization-settings") in client.get(reverse("home")).content.decode()
    client.force_login(ops_user)
    assert reverse("accounts:organization-settings") not in client.get(reverse("home")).content.decode()


def test_admin_saves_settings(client, org, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Acme Retail CN",
        "time_zone": "Asia/Shanghai",
        "currency": "CNY",
        "churn_window_days": 120,
        "activation_window_days": 30,
        "at_risk_threshold": "0.6",
        "gross_margin": "0.35",
        "annual_discount_rate": "0.08",
        "nightly_hour": 3,
        "high_tier_share": "0.1",
        "mid_tier_share": "0.3",
        "campaign_frequency_cap": 3,
        "quiet_hours_start": 21,
        "quiet_hours_end": 8,
    }
    response = client.post(reverse("accounts:organization-settings"), data)
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.time_zone, org.churn_window_days, org.nightly_hour) == (
        "Acme Retail CN",
        "Asia/Shanghai",
        120,
        3,
    )
    assert AuditLog.objects.for_org(org).filter(action="organization.update", actor_user=admin_user).exists()


def test_bad_settings_are_shown_next_to_their_field_and_nothing_changes(client, org, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Acme",
        "time_zone": "UTC",
        "currency": "CNY",
        "churn_window_days": 3,
        "activation_window_days": 30,
        "at_risk_threshold": "1.7",
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
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"churn_window_days", "at_risk_threshold"}
    org.refresh_from_db()
    assert org.churn_window_days == 90


def test_admin_invites_a_new_person_who_gets_an_email(client, org, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:organization-members"), {"email": "newbie@example.com", "role": "marketer"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(organization=org, user__email="newbie@example.com")
    assert membership.role == Role.MARKETER
    assert mail.outbox[0].to == ["newbie@example.com"]
    assert "/accounts/reset/" in mail.outbox[0].body


def test_inviting_an_existing_member_shows_the_error(client, org, admin_user, ops_user):
    client.force_login(admin_user)
    response = client.post(reverse("accounts:organization-members"), {"email": ops_user.email, "role": "ops"})
    assert response.status_code == 200
    assert "already a member" in response.content.decode()
    assert not mail.outbox


def test_admin_changes_a_role_and_removes_a_member(client, org, admin_user, ops_user):
    client.force_login(admin_user)
    membership = Membership.objects.get(organization=org, user=ops_user)
    client.post(reverse("accounts:membership-role", args=[membership.pk]), {"role": "viewer"})
    assert Membership.objects.get(pk=membership.pk).role == Role.VIEWER
    client.post(reverse("accounts:membership-remove", args=[membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_the_last_admin_cannot_remove_themself_and_is_told_why(client, org, admin_user):
    client.force_login(admin_user)
    membership = Membership.objects.get(organization=org, user=admin_user)
    response = client.post(reverse("accounts:membership-remove", args=[membership.pk]), follow=True)
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_another_organizations_membership_and_key_are_404(client, org, other_org, admin_user):
    stranger = MembershipFactory(user=UserFactory(), organization=other_org, role=Role.OPS)
    key, _ = api_key_create(org=other_org, name="theirs", scopes=["read"])
    client.force_login(admin_user)
    assert client.post(reverse("accounts:membership-role", args=[stranger.pk]), {"role": "admin"}).status_code == 404
    assert client.post(reverse("accounts:membership-remove", args=[stranger.pk])).status_code == 404
    assert client.post(reverse("accounts:apikey-revoke", args=[key.pk])).status_code == 404
    assert Membership.objects.get(pk=stranger.pk).role == Role.OPS
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_admin_creates_a_key_shown_once_that_works_and_then_revokes_it(client, org, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:organization-api-keys"), {"name": "shop sync", "scopes": ["read", "write"]}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = response.context["new_key_plaintext"]
    assert plaintext in response.content.decode()
    key = api_key_authenticate(plaintext)
    assert key is not None and key.organization == org and key.scopes == ["read", "write"]

    listing = client.get(reverse("accounts:organization-api-keys")).content.decode()
    assert plaintext not in listing
    assert "shop sync" in listing

    client.post(reverse("accounts:apikey-revoke", args=[key.pk]))
    assert api_key_authenticate(plaintext) is None


def test_a_key_needs_a_name_and_a_scope(client, org, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("accounts:organization-api-keys"), {"name": "", "scopes": []})
    assert set(response.context["form"].errors) == {"name", "scopes"}
    assert not ApiKey.objects.for_org(org).exists()
