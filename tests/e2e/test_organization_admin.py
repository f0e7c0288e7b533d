"""An organization admin invites a colleague, creates an API key (shown once) and revokes it, in the browser."""

from __future__ import annotations

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership, Role
from accounts.services import api_key_authenticate
from tests.e2e.test_pages import log_in
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def acme_admin(transactional_db):
    acme = OrganizationFactory(slug="acme", name="Acme Retail")
    admin = UserFactory(email="ada@example.com", first_name="Ada", last_name="Admin")
    MembershipFactory(user=admin, organization=acme, role=Role.ADMIN)
    return acme


def test_admin_invites_a_colleague_and_manages_api_keys(page, acme_admin, screenshot):
    log_in(page, "ada@example.com")
    page.locator("#main-nav").get_by_role("link", name="Organization").click()
    expect(page.get_by_label("Churn window (days)")).to_have_value("90")
    screenshot("organization-settings-en")

    page.locator("#organization-tabs").get_by_role("link", name="Members").click()
    page.get_by_label("E-mail").fill("new.colleague@example.com")
    page.get_by_label("Role").first.select_option("ops")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#messages")).to_contain_text("Invitation sent to new.colleague@example.com")
    expect(page.locator("#member-table")).to_contain_text("new.colleague@example.com")
    assert Membership.objects.get(user__email="new.colleague@example.com").role == Role.OPS
    assert [m.to for m in mail.outbox] == [["new.colleague@example.com"]]
    screenshot("organization-members-en")

    page.locator("#organization-tabs").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("shop sync")
    page.get_by_label("Write").check()
    page.get_by_role("button", name="Create key").click()
    plaintext = page.locator("#new-key-value").inner_text().strip()
    assert api_key_authenticate(plaintext) is not None
    screenshot("organization-api-keys-en")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#messages")).to_contain_text("revoked")
    assert api_key_authenticate(plaintext) is None
    expect(page.locator("#new-key")).to_have_count(0)
