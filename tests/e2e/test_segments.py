"""A marketer builds a nested segment in the browser, watches the live count, saves it and reads it back.

Screenshots of the builder, the detail page (after two nightly refreshes, so the size history has a line), the
list and the customer page's segments panel go to var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role
from segmentation.models import CustomerScore, Segment
from segmentation.services import segment_memberships_refresh
from tests.factories import (
    TEST_PASSWORD,
    CustomerFactory,
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

NESTED = {
    "all": [
        {"field": "tier", "op": "eq", "value": "high"},
        {"any": [{"field": "orders_count", "op": "gte", "value": 2}, {"field": "at_risk", "op": "eq", "value": True}]},
    ]
}


@pytest.fixture
def shop(transactional_db):
    """Three high-tier customers (one buying often, one at risk, one neither) and a mid-tier one."""
    acme = OrganizationFactory(slug="acme", name="Acme Retail")
    marketer = UserFactory(email="mia@example.com", first_name="Mia", last_name="Zhou")
    MembershipFactory(user=marketer, organization=acme, role=Role.MARKETER)
    today = timezone.localdate()
    people = {}
    for external_id, name, tier, orders, at_risk, value in (
        ("H-1", "Hu Lan", "high", 3, False, "3200"),
        ("H-2", "Han Mei", "high", 1, True, "2900"),
        ("H-3", "He Jun", "high", 1, False, "2500"),
        ("M-1", "Ma Tao", "mid", 5, True, "800"),
    ):
        customer = CustomerFactory(organization=acme, external_id=external_id, name=name)
        for n in range(orders):
            OrderFactory(customer=customer, ordered_at=timezone.now() - datetime.timedelta(days=10 + 20 * n))
        CustomerScore.objects.create(
            organization=acme, customer=customer, as_of=today, tier=tier, stage="growing", at_risk=at_risk,
            customer_value=Decimal(value), purchase_days=orders,
        )  # fmt: skip
        people[external_id] = customer
    return {"acme": acme, "marketer": marketer, "people": people}


def log_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#current-user")).to_be_visible()
    # The page's deferred scripts (custops.js: auto-submitting selects, confirmations) run just before this.
    page.wait_for_load_state("domcontentloaded")


def condition(page, path: str):
    return page.locator(f'.rule-condition[data-path="{path}"]')


def test_a_marketer_builds_a_nested_segment_with_a_live_count_and_saves_it(page, shop, screenshot):
    log_in(page, "mia@example.com")
    page.locator("#main-nav").get_by_role("link", name="Segments").click()
    expect(page.locator("#segments-empty")).to_be_visible()
    page.locator("#new-segment").click()

    # The builder starts from "all of: tier is high" and counts it.
    expect(page.locator("#preview-count")).to_have_text("3")
    page.get_by_label("Name").fill("High value, active or slipping")

    page.locator('[data-path="rules"] > .rule-group-actions .rule-add-group').click()
    group = page.locator('.rule-group[data-path="rules.all[1]"]')
    group.locator(":scope > .rule-group-head select").select_option("any")
    first = condition(page, "rules.all[1].any[0]")
    first.locator("select.rule-field").select_option("orders_count")
    # A number condition without a number yet: the error shows next to the condition, keyed by its path.
    expect(first.locator(".rule-error")).to_contain_text("orders_count takes a number")
    expect(page.locator("#preview-errors")).to_contain_text("rules.all[1].any[0].value")
    first.locator("select.rule-op").select_option("gte")
    first.locator("input.rule-value").fill("2")
    expect(page.locator("#preview-count")).to_have_text("1")
    expect(first.locator(".rule-error")).to_be_empty()

    page.locator('[data-path="rules.all[1]"] > .rule-group-actions .rule-add-condition').click()
    second = condition(page, "rules.all[1].any[1]")
    second.locator("select.rule-field").select_option("at_risk")
    expect(second.locator("select.rule-value")).to_have_value("true")
    expect(page.locator("#preview-count")).to_have_text("2")
    expect(page.locator("#preview-sample")).to_contain_text("Hu Lan")
    expect(page.locator("#preview-sample")).not_to_contain_text("He Jun")
    assert json.loads(page.locator("#id_rules").input_value()) == NESTED
    screenshot("segment-builder-en")

    # The same rules as JSON, and back.
    page.locator("#json-toggle").check()
    expect(page.locator("#id_rules")).to_be_visible()
    expect(page.locator("#rule-builder")).to_be_hidden()
    page.locator("#json-toggle").uncheck()
    expect(condition(page, "rules.all[1].any[1]").locator("select.rule-field")).to_have_value("at_risk")

    page.locator("#save-segment").click()
    expect(page.locator("#segment-name")).to_have_text("High value, active or slipping")
    expect(page.locator("#live-size")).to_have_text("2")
    expect(page.locator("#segment-rules")).to_contain_text("Any of")
    expect(page.locator("#segment-rules")).to_contain_text("Completed orders ≥ 2")
    segment = Segment.objects.get(organization=shop["acme"])
    assert segment.rules == NESTED

    page.locator("#explain-customer").fill("H-3")
    page.locator("#explain-form button[type=submit]").click()
    expect(page.locator("#explain-answer")).to_contain_text("not in the segment")
    expect(page.locator("#explain-answer .is-unmet")).not_to_have_count(0)

    page.locator("#snapshot-form input[name=name]").fill("Spring audience")
    page.locator("#take-snapshot").click()
    expect(page.locator("#messages")).to_contain_text("Snapshot “Spring audience” taken: 2 customers.")

    # Two nightly refreshes, the second after H-3 started buying again: the size history gets its line.
    org = shop["acme"]
    today = timezone.localdate()
    segment_memberships_refresh(org=org, as_of=today - datetime.timedelta(days=2))
    OrderFactory(customer=shop["people"]["H-3"], ordered_at=timezone.now() - datetime.timedelta(days=1))
    segment_memberships_refresh(org=org, as_of=today - datetime.timedelta(days=1))
    page.reload()
    expect(page.locator("#nightly-size")).to_have_text("3")
    expect(page.locator("#size-history svg.sparkline polyline")).to_be_visible()
    screenshot("segment-detail-en")

    page.locator("#main-nav").get_by_role("link", name="Segments").click()
    expect(page.locator("#segment-table")).to_contain_text("High value, active or slipping")
    expect(page.locator("#segment-table svg.sparkline")).to_have_count(1)
    screenshot("segment-list-en")

    page.goto(f"/customers/{shop['people']['H-3'].pk}/")
    panel = page.locator("#segments-card")
    expect(panel).to_contain_text("High value, active or slipping")
    expect(panel.locator(".badge.segment-in")).to_have_count(1)
    panel.locator("summary .badge").first.click()
    expect(panel.locator(".rule-tree").first).to_contain_text("Completed orders ≥ 2")
    screenshot("segment-customer-panel-en")
