"""The executive overview in a real browser, on a demo organization with two months of nightly runs and the
playbook's targets.

An executive (a viewer) reads it in English and in Simplified Chinese; an admin adds a target. Screenshots go to
var/screenshots/overview-*.png for a person to look at.
"""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from crm.demo import demo_organization_seed
from crm.demo_data import simulate_demo
from reporting import nightly
from reporting.models import Target
from tests.e2e.test_reports import log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def overview_demo():
    """The demo shop, scored every fourth night for the last 60 days, with the playbook's targets."""
    today = timezone.localdate()
    org = demo_organization_seed(slug="demo", data=simulate_demo(customers=400, seed=7, today=today)).org
    for nights_back in range(60, 0, -4):
        job = nightly.run_nightly(org=org, as_of=today - datetime.timedelta(days=nights_back))
        assert job.status == "succeeded", job.error
    job = nightly.run_nightly(org=org, as_of=today - datetime.timedelta(days=1))
    assert job.status == "succeeded", job.error
    call_command("seed_demo_targets", "--org", "demo", stdout=io.StringIO())
    return org


def test_an_executive_reads_the_overview_in_english_and_chinese(page, overview_demo, screenshot):
    log_in(page, "viewer1@demo.custops.local")
    page.get_by_role("link", name="Reports").click()

    expect(page.locator("#kpi-revenue strong")).not_to_have_text("—")
    expect(page.locator("#kpi-revenue svg.kpi-spark")).to_be_visible()
    expect(page.locator("#kpi-revenue .kpi-change")).to_be_visible()
    expect(page.locator("#target-table tbody tr")).to_have_count(Target.objects.for_org(overview_demo).count())
    expect(page.locator("#target-table .target-status").first).to_be_visible()
    expect(page.locator("#movers-table tbody tr").first).to_be_visible()
    expect(page.locator("#add-target")).to_have_count(0)  # executives read; admins set targets
    screenshot("overview-viewer-en")

    page.select_option("#overview-period", "90")
    page.select_option("#overview-channel", index=1)
    page.locator("#overview-apply").click()
    expect(page.locator("#overview-channel-note")).to_contain_text("not per channel")
    expect(page.locator("#overview-channel-figures")).to_be_visible()
    screenshot("overview-viewer-channel-en")

    page.locator("#language-switcher button[value='zh-hans']").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.goto("/reports/")
    expect(page.locator("#kpi-revenue svg.kpi-spark")).to_be_visible()
    expect(page.locator("#target-table tbody tr").first).to_be_visible()
    screenshot("overview-viewer-zh")


def test_an_admin_adds_a_target_and_sees_its_progress(page, overview_demo, screenshot):
    log_in(page, "admin1@demo.custops.local")
    page.goto("/reports/")
    page.locator("#add-target").click()

    page.get_by_label("Name").fill("Active customers up a fifth")
    page.get_by_label("Metric").select_option("active_customers")
    page.get_by_label("Baseline value").fill("100")
    page.get_by_label("Target value").fill("120")
    page.get_by_label("Deadline").fill((timezone.localdate() + datetime.timedelta(days=180)).isoformat())
    screenshot("overview-admin-target-form-en")
    page.locator("#save-target").click()

    expect(page.locator("#messages")).to_contain_text("Target added.")
    row = page.locator("#target-table tbody tr", has_text="Active customers up a fifth")
    expect(row).to_be_visible()
    expect(row.locator(".target-status")).not_to_be_empty()
    expect(row.get_by_role("link", name="Edit")).to_be_visible()
    screenshot("overview-admin-en")
