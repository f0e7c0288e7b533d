"""The report pages in a real browser, on a demo organization scored by a real nightly run.

A viewer (executives read reports) walks through every report page; screenshots in English and Simplified
Chinese go to var/screenshots/ for a person to look at.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.demo import DEMO_PASSWORD, demo_organization_seed
from crm.demo_data import simulate_demo
from reporting import nightly
from reporting.models import AlertKind, AlertRule
from reporting.services import alert_rules_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scored_demo():
    today = timezone.localdate()
    report = demo_organization_seed(slug="demo", data=simulate_demo(customers=400, seed=7, today=today))
    org = report.org
    alert_rules_for(org)
    # Monthly churn above 0 fires, so the alerts page has something to acknowledge.
    AlertRule.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN).update(threshold=0)
    job = nightly.run_nightly(org=org, as_of=today - datetime.timedelta(days=1))
    assert job.status == "succeeded", job.error
    return org


def log_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#current-user")).to_be_visible()
    # The page's deferred scripts (custops.js: auto-submitting selects, confirmations) run just before this.
    page.wait_for_load_state("domcontentloaded")


def test_a_viewer_reads_every_report_page(page, scored_demo, screenshot):
    log_in(page, "viewer1@demo.custops.local")
    page.get_by_role("link", name="Reports").click()
    expect(page.locator("#kpi-revenue strong")).not_to_have_text("—")
    expect(page.locator("#kpi-definitions")).to_be_visible()
    screenshot("reports-kpis-en")

    page.locator(".report-nav").get_by_role("link", name="Channels").click()
    expect(page.locator("#channel-table tbody tr")).not_to_have_count(0)
    page.select_option("#channel-period", "month")
    expect(page.get_by_role("columnheader", name="Month", exact=True)).to_be_visible()
    screenshot("reports-channels-en")

    page.locator(".report-nav").get_by_role("link", name="Retention").click()
    expect(page.locator("#cohort-table td.heat").first).to_be_visible()
    screenshot("reports-cohorts-en")

    page.locator(".report-nav").get_by_role("link", name="Customer scores").click()
    expect(page.locator("#tier-breakdown")).to_contain_text("High value")
    page.select_option("#f-tier", "high")
    page.locator("#score-filters button[type=submit]").click()
    expect(page.locator("#score-count")).to_contain_text("customers")
    screenshot("reports-scores-en")
    page.locator("#score-table tbody tr a").first.click()
    expect(page.locator("#scores")).to_contain_text("High value")
    screenshot("customer-with-scores-en")

    page.goto("/reports/models/clv/")
    expect(page.locator("#bgnbd-params")).to_be_visible()
    expect(page.locator("#calibration-chart canvas")).to_be_visible()
    screenshot("reports-clv-model-en")

    page.locator(".report-nav").get_by_role("link", name="Alerts").click()
    expect(page.locator("#alert-table")).to_contain_text("Monthly churn")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)  # viewers only read
    screenshot("reports-alerts-viewer-en")


def test_an_ops_user_acknowledges_an_alert_and_reads_the_reports_in_chinese(page, scored_demo, screenshot):
    log_in(page, "ops1@demo.custops.local")
    page.goto("/reports/alerts/")
    page.get_by_role("button", name="Acknowledge").first.click()
    expect(page.locator("#messages")).to_contain_text("Alert acknowledged")
    expect(page.locator("#alert-table")).to_contain_text("No open alert")

    page.locator("#language-switcher button[value='zh-hans']").click()
    page.goto("/reports/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    screenshot("reports-kpis-zh")
    page.goto("/reports/models/clv/")
    screenshot("reports-clv-model-zh")
