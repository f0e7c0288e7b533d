"""The Retention page in a real browser: churn trend against the playbook target, D1/D7/D30, cohort curves and
heatmap with the channel filter, the way on to the at-risk list. Screenshots in English and Simplified Chinese go
to var/screenshots/retention-*.png.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.demo import demo_organization_seed
from crm.demo_data import simulate_demo
from crm.models import Channel
from reporting import nightly
from reporting.models import Target
from reporting.services import alert_rules_for
from tests.e2e.test_reports import log_in

pytestmark = pytest.mark.django_db(transaction=True)

CHARTS = ("churn-chart", "first-event-chart", "cohort-curves-chart")
CHARTS_DRAWN = "ids => ids.every(id => document.querySelector('#' + id + ' canvas')?.custopsChart !== undefined)"


@pytest.fixture
def retention_demo():
    today = timezone.localdate()
    org = demo_organization_seed(slug="demo", data=simulate_demo(customers=2000, seed=7, today=today)).org
    alert_rules_for(org)  # the monthly churn alert at its default threshold
    yesterday = today - datetime.timedelta(days=1)
    job = nightly.run_nightly(org=org, as_of=yesterday)
    assert job.status == "succeeded", job.error
    Target.objects.create(
        organization=org,
        metric="monthly_churn_rate",
        name="Monthly churn from 8% to 6%",
        baseline_value=Decimal("0.08"),
        baseline_date=yesterday,
        target_value=Decimal("0.06"),
        deadline=yesterday + datetime.timedelta(days=365),
    )
    return org


def _charts_drawn(page) -> None:
    page.wait_for_function(CHARTS_DRAWN, arg=list(CHARTS))


def test_a_viewer_reads_retention_in_english_and_chinese(page, retention_demo, screenshot):
    log_in(page, "viewer1@demo.custops.local")
    page.goto("/reports/")
    page.locator(".report-nav").get_by_role("link", name="Retention").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Retention")
    _charts_drawn(page)
    expect(page.locator("#churn-summary")).to_contain_text("Monthly churn from 8% to 6%")
    expect(page.locator("#cohort-table td.heat").first).to_be_visible()
    screenshot("retention-en")

    page.locator("#churn-chart summary").click()
    expect(page.locator("#churn-chart table tbody tr").first).to_be_visible()
    screenshot("retention-churn-table-en")

    channel = Channel.objects.for_org(retention_demo).order_by("name").first()
    page.select_option("#cohort-channel", channel.code)
    expect(page.locator("#cohort-channel")).to_have_value(channel.code)
    assert f"channel={channel.code}" in page.url
    _charts_drawn(page)
    screenshot("retention-channel-en")

    page.locator("#language-switcher button[value='zh-hans']").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.goto("/reports/cohorts/")
    _charts_drawn(page)
    expect(page.locator("#cohort-table td.heat").first).to_be_visible()
    screenshot("retention-zh-hans")


def test_ops_go_from_retention_to_the_at_risk_list(page, retention_demo, screenshot):
    log_in(page, "ops1@demo.custops.local")
    page.goto("/reports/cohorts/")
    page.locator("#at-risk-link").click()
    page.wait_for_url("**/reports/at-risk/")
    expect(page.locator("#at-risk-filters")).to_be_visible()
