"""The channels pages in a real browser: league table, quadrant, 70/30 split, recommendation, channel detail.

The demo shop (2,000 customers, so most channels have enough new customers to judge) gets one more channel that
spent money in the last 90 days without bringing a customer, so the recommendation has something to cut and the
blended-CAC estimate something to move. Screenshots in English and Simplified Chinese go to var/screenshots/.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.demo import demo_organization_seed
from crm.demo_data import simulate_demo
from crm.models import Channel, ChannelSpend
from reporting import nightly
from tests.e2e.test_reports import log_in

pytestmark = pytest.mark.django_db(transaction=True)

CHARTS_DRAWN = "ids => ids.every(id => document.querySelector('#' + id + ' canvas')?.custopsChart !== undefined)"


@pytest.fixture
def channel_demo():
    today = timezone.localdate()
    org = demo_organization_seed(slug="demo", data=simulate_demo(customers=2000, seed=7, today=today)).org
    billboards = Channel.objects.create(organization=org, code="billboards", name="Billboards", kind="paid")
    ChannelSpend.objects.create(
        organization=org, channel=billboards, date=today - datetime.timedelta(days=20), amount=Decimal("3000.00")
    )
    job = nightly.run_nightly(org=org, as_of=today - datetime.timedelta(days=1))
    assert job.status == "succeeded", job.error
    return org


def _charts_drawn(page, *chart_ids: str) -> None:
    page.wait_for_function(CHARTS_DRAWN, arg=list(chart_ids))


def test_an_executive_reads_the_channel_league_and_budget_advice_in_english_and_chinese(page, channel_demo, screenshot):
    log_in(page, "viewer1@demo.custops.local")
    page.goto("/reports/channels/")

    expect(page.locator("#channel-table tbody tr")).to_have_count(Channel.objects.for_org(channel_demo).count())
    _charts_drawn(page, "channel-quadrant-chart", "channel-split-chart")
    billboards = page.locator("#advice-table tbody tr[data-channel=billboards]")
    expect(billboards.locator(".channel-action")).to_have_text("Cut")
    expect(billboards.locator(".advice-reason")).to_contain_text("without a single new customer")
    expect(page.locator("#blended-after")).not_to_have_text("—")
    expect(page.locator("#blended-assumption")).to_contain_text("Assumption")
    screenshot("channels-en")

    page.locator("#channel-table thead").get_by_role("link", name="CAC", exact=True).click()
    expect(page.locator("#channel-table th[aria-sort=ascending]")).to_contain_text("CAC")
    page.locator("#channel-table thead").get_by_role("link", name="CAC", exact=True).click()
    expect(page.locator("#channel-table th[aria-sort=descending]")).to_contain_text("CAC")
    assert "sort=cac" in page.url and "dir=desc" in page.url
    cacs = page.locator("#channel-table tbody tr td:nth-child(4)").all_inner_texts()
    values = [float(text.replace(",", "")) for text in cacs if text != "—"]
    assert values == sorted(values, reverse=True)
    screenshot("channels-sorted-by-cac-en")

    page.select_option("#channel-period", "month")
    expect(page.get_by_role("columnheader", name="Month", exact=True)).to_be_visible()

    page.goto("/reports/channels/")
    page.locator("#advice-table tbody tr").first.get_by_role("link").click()
    expect(page.locator("#channel-action")).to_be_visible()
    expect(page.locator("#channel-months tbody tr").first).to_be_visible()
    _charts_drawn(
        page,
        "channel-spend-chart",
        "channel-new-chart",
        "channel-cac-chart",
        "channel-ltv-cac-chart",
        "channel-conversion-chart",
    )
    screenshot("channels-detail-en")

    page.locator("#language-switcher button[value='zh-hans']").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    _charts_drawn(page, "channel-spend-chart", "channel-conversion-chart")
    screenshot("channels-detail-zh-hans")
    page.goto("/reports/channels/")
    expect(page.locator("#advice-table tbody tr").first).to_be_visible()
    _charts_drawn(page, "channel-quadrant-chart", "channel-split-chart")
    screenshot("channels-zh-hans")


def test_an_unknown_sort_shows_the_error_and_the_page(page, channel_demo, screenshot):
    log_in(page, "marketer1@demo.custops.local")
    response = page.goto("/reports/channels/?sort=password")

    assert response.status == 400
    expect(page.locator("#sort-error")).to_contain_text("Cannot sort by")
    expect(page.locator("#channel-table tbody tr").first).to_be_visible()
