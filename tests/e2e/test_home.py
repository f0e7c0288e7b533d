"""The home page by role and the at-risk list, in a real browser on a demo organization scored by a nightly run.

An ops user opens their home, goes to the at-risk list, takes three unassigned customers with a win-back task,
and finds those tasks on their home. Screenshots in English and Simplified Chinese go to var/screenshots/.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from accounts.timekeeping import organization_time_zone
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Variant
from crm.models import Customer, Task, TaskStatus
from reporting.at_risk import WIN_BACK_TITLE
from segmentation.models import Segment, SegmentSize
from tests.e2e.test_reports import log_in, scored_demo  # noqa: F401 (the fixture is used by name)

pytestmark = pytest.mark.django_db(transaction=True)

OPS = "ops1@demo.custops.local"


def test_ops_user_takes_three_at_risk_customers_and_finds_the_tasks_on_their_home(page, scored_demo, screenshot):  # noqa: F811
    ops = User.objects.get(email=OPS)
    # ops1 cleared the inbox yesterday: the home then lists exactly what this test adds.
    Task.objects.filter(owner=ops, status=TaskStatus.OPEN).update(status=TaskStatus.DONE)
    log_in(page, OPS)
    expect(page.locator("#my-tasks")).to_contain_text("Nothing to follow up")
    expect(page.locator("#my-at-risk")).to_be_visible()
    expect(page.locator("#home-jobs")).to_contain_text("Succeeded")
    screenshot("home-ops-en")

    page.goto("/reports/at-risk/?owner=unassigned")
    expect(page.locator("h1")).to_have_text("At-risk customers")
    rows = page.locator("#at-risk-table tbody tr")
    expect(rows.first.locator("input[name=customer]")).to_be_visible()
    screenshot("at-risk-en")

    owned = Customer.objects.filter(owner=ops).count()
    page.locator("#bulk-assign").check()
    page.locator("#apply-all").click()
    expect(page.locator("#bulk-confirm")).to_contain_text("customers match the filter")
    screenshot("at-risk-confirm-en")
    page.locator("#bulk-confirm").get_by_role("button", name="Cancel").click()
    expect(page.locator("#bulk-confirm")).to_have_count(0)
    assert Customer.objects.filter(owner=ops).count() == owned  # asked, not done

    picked = [int(rows.nth(index).locator("input[name=customer]").get_attribute("value")) for index in range(3)]
    for index in range(3):
        rows.nth(index).locator("input[name=customer]").check()
    page.locator("#bulk-assign").check()
    expect(page.locator("#bulk-owner")).to_have_value(str(ops.pk))
    page.locator("#bulk-task").check()
    page.locator("#bulk-due").fill("2")
    screenshot("at-risk-selected-en")
    page.locator("#apply-selected").click()

    expect(page.locator("#messages")).to_contain_text(
        "3 customers handled; 3 owners changed; 3 win-back tasks created."
    )
    screenshot("at-risk-done-en")
    assert set(Customer.objects.filter(pk__in=picked).values_list("owner", flat=True)) == {ops.pk}

    page.locator("#main-nav").get_by_role("link", name="Home").click()
    tasks = page.locator("#my-tasks tbody tr")
    expect(tasks).to_have_count(3)
    expect(tasks.first).to_contain_text(str(WIN_BACK_TITLE))
    today = timezone.localdate(timezone=organization_time_zone(scored_demo))
    due = (today + datetime.timedelta(days=2)).isoformat()
    expect(tasks.first).to_contain_text(due)
    screenshot("home-ops-after-en")

    page.locator("#language-switcher button[value='zh-hans']").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#my-tasks tbody tr")).to_have_count(3)
    screenshot("home-ops-zh-hans")
    page.goto("/reports/at-risk/")
    expect(page.locator("#at-risk-table tbody tr").first).to_be_visible()
    screenshot("at-risk-zh-hans")


def _marketing_history(org) -> None:
    """A segment sized for 31 nights and a launched campaign with deliveries, so the marketing blocks have rows."""
    today = timezone.localdate(timezone=organization_time_zone(org))
    segment = Segment.objects.create(
        organization=org, name="High value", rules={"field": "tier", "op": "eq", "value": "high"}
    )
    for nights_ago in range(31):
        day = today - datetime.timedelta(days=nights_ago + 1)
        SegmentSize.objects.create(organization=org, segment=segment, day=day, size=40 - nights_ago // 3)
    campaign = Campaign.objects.create(
        organization=org,
        name="Spring win-back",
        status=CampaignStatus.SENT,
        launched_at=timezone.now() - datetime.timedelta(days=3),
    )
    variant = Variant.objects.create(organization=org, campaign=campaign, position=1, name="10% off")
    for index, customer in enumerate(Customer.objects.for_org(org).order_by("pk")[:60]):
        holdout = index % 5 == 0
        Delivery.objects.create(
            organization=org,
            campaign=campaign,
            customer=customer,
            variant=None if holdout else variant,
            status=DeliveryStatus.HOLDOUT if holdout else DeliveryStatus.SENT,
            assigned_at=campaign.launched_at,
        )


@pytest.mark.parametrize("role", ["marketer", "viewer", "admin"])
def test_each_role_sees_its_own_home(page, scored_demo, screenshot, role):  # noqa: F811
    _marketing_history(scored_demo)
    log_in(page, f"{role}1@demo.custops.local")
    if role == "viewer":
        expect(page.locator("#home-summary")).to_be_visible()
        expect(page.locator("#my-tasks")).to_have_count(0)
        page.locator("#executive-overview-link").click()
        expect(page).to_have_url(f"{page.url.split('/reports/')[0]}/reports/")
        page.go_back()
    else:
        expect(page.locator("#segment-trends")).to_contain_text("High value")
        expect(page.locator("#campaign-uplift")).to_contain_text("Spring win-back")
    if role == "admin":
        expect(page.locator("#my-at-risk")).to_be_visible()
    screenshot(f"home-{role}-en")
    page.locator("#language-switcher button[value='zh-hans']").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".app-footer")).to_be_visible()
    screenshot(f"home-{role}-zh-hans")
