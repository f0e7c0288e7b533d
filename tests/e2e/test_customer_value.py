"""The "Customers and value" page in a real browser, on a demo organization scored by a real nightly run.

A marketer reads the RFM grid, the tier pyramid (and may start a tier campaign from it), the stage flow and the
value distribution; a viewer reads the same page in Simplified Chinese without the campaign links. Screenshots
go to var/screenshots/customers-*.png for a person to look at.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_reports import log_in, scored_demo  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_reads_the_customer_mix_and_starts_a_tier_campaign(page, scored_demo, screenshot):  # noqa: F811
    log_in(page, "marketer1@demo.custops.local")
    page.goto("/reports/")
    page.locator(".report-nav").get_by_role("link", name="Customers and value").click()
    expect(page.get_by_role("heading", name="Customers and value", level=1)).to_be_visible()

    expect(page.locator("#rfm-grid tbody tr")).to_have_count(5)
    expect(page.locator("#rfm-grid td")).to_have_count(25)
    expect(page.locator("#tier-pyramid li")).to_have_count(3)
    expect(page.locator("#tier-pyramid li").first).to_contain_text("High value")
    expect(page.locator("#stage-flow-chart canvas")).to_be_visible()
    expect(page.locator("#value-distribution-chart canvas")).to_be_visible()
    expect(page.locator("#stage-transitions tbody tr").first).to_be_visible()
    page.wait_for_timeout(600)  # let Chart.js finish its entry animation before the screenshot
    screenshot("customers-marketer-en")

    page.locator("#stage-flow-chart summary").click()
    expect(page.locator("#stage-flow-chart table")).to_be_visible()

    page.locator("#tier-pyramid li[data-tier='mid']").get_by_role("button", name="Start tier campaign").click()
    page.wait_for_url("**/campaigns/new/?tier=mid")
    expect(page.locator("form")).not_to_have_count(0)


def test_a_viewer_reads_the_customer_mix_in_chinese_without_campaign_links(page, scored_demo, screenshot):  # noqa: F811
    log_in(page, "viewer1@demo.custops.local")
    page.goto("/reports/customers/")
    expect(page.locator(".tier-campaign-link")).to_have_count(0)
    page.wait_for_timeout(600)
    screenshot("customers-viewer-en")

    page.locator("#language-switcher button[value='zh-hans']").click()
    page.goto("/reports/customers/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#rfm-grid td")).to_have_count(25)
    expect(page.locator("#stage-flow-chart canvas")).to_be_visible()
    page.wait_for_timeout(600)
    screenshot("customers-viewer-zh")

    page.goto("/reports/models/clv/")
    expect(page.locator("#calibration-chart canvas")).to_be_visible()
    page.wait_for_timeout(600)
    screenshot("customers-clv-model-zh")
