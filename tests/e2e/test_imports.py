"""Importing a CSV file in a real browser: upload, preview, confirm, read the summary, fix the rejected rows.

The file is what Excel writes on a Chinese system: GBK, Chinese names, one bad row and a column custops does not
use. Screenshots land in var/screenshots/ (imports-list-en, import-preview-en, import-summary-en,
import-summary-zh-hans, ...) for a person to look at.
"""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role
from crm.imports.pipeline import progress_cache_key
from crm.models import Customer, ImportJob, ImportKind, ImportStatus
from tests.factories import TEST_PASSWORD, ChannelFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.e2e

CUSTOMERS_CSV = (
    "external_id,name,email,phone,channel,created_at,consent_email,备注\r\n"
    "C-2001,王小明,wang.xm@example.com,+86 138 0000 2001,wechat,2025-03-01,是,老客户\r\n"
    "C-2002,李娜,li.na@example.com,+86 139 0000 2002,wechat,2025/03/02,否,\r\n"
    "C-2003,张伟,zhang.wei(at)example.com,+86 137 0000 2003,wechat,20250303,是,邮箱写错了\r\n"
    "C-2004,陈静,chen.jing@example.com,,wechat,2025-03-04 09:30,yes,\r\n"
)
BAD_LINE = 4


@pytest.fixture
def shop(transactional_db, settings, tmp_path):
    """Acme in Shanghai time with a WeChat channel, an ops user and a viewer; uploads go to a temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    acme = OrganizationFactory(slug="acme", name="Acme Retail", time_zone="Asia/Shanghai")
    ChannelFactory(organization=acme, code="wechat", name="WeChat ads")
    ops = UserFactory(email="olivia@example.com", first_name="Olivia", last_name="Chen")
    MembershipFactory(user=ops, organization=acme, role=Role.OPS)
    viewer = UserFactory(email="victor@example.com", first_name="Victor", last_name="Li")
    MembershipFactory(user=viewer, organization=acme, role=Role.VIEWER)
    return {"acme": acme, "ops": ops, "viewer": viewer}


@pytest.fixture
def gbk_file(tmp_path):
    path = tmp_path / "customers-gbk.csv"
    path.write_bytes(CUSTOMERS_CSV.encode("gbk"))
    return path


def log_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#current-user")).to_be_visible()
    # The page's deferred scripts (custops.js: auto-submitting selects, confirmations) run just before this.
    page.wait_for_load_state("domcontentloaded")


def upload(page, path, kind: str = "Customers") -> None:
    page.locator("#main-nav").get_by_role("link", name="Imports").click()
    page.get_by_label("What the file holds").select_option(label=kind)
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#import-preview")).to_be_visible()


def count(page, name: str):
    return page.locator(f"#count-{name} .value")


def page_overflow(page) -> int:
    """How many pixels the page is wider than the window (a table that does not scroll in its card shows here)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_ops_user_imports_a_gbk_file_reads_the_rejections_and_reimports_it_unchanged(page, shop, gbk_file, screenshot):
    log_in(page, "olivia@example.com")
    page.locator("#main-nav").get_by_role("link", name="Imports").click()
    expect(page.locator("h1")).to_have_text("Imports")
    expect(page.locator("#import-upload-form")).to_be_visible()
    expect(page.locator("#import-table")).to_contain_text("No imports yet.")
    screenshot("imports-list-empty-en")

    # Upload: nothing is written yet; the preview shows the rows, the encoding and the ignored column.
    upload(page, gbk_file)
    preview = page.locator("#import-preview")
    expect(preview).to_contain_text("GB18030")
    expect(preview).to_contain_text("comma")
    expect(page.locator("#preview-table tbody tr")).to_have_count(4)
    expect(page.locator("#preview-table")).to_contain_text("王小明")
    expect(page.locator("#preview-table")).to_contain_text("老客户")
    ignored = preview.locator(".tag.ignored")
    expect(ignored).to_have_count(1)
    expect(ignored).to_contain_text("备注")
    expect(preview.locator(".tag.used")).to_have_count(7)
    assert not Customer.objects.for_org(shop["acme"]).exists()
    assert page_overflow(page) <= 0
    screenshot("import-preview-en")

    # Confirm: the summary counts, the warning about the ignored column, the rejected row with line and reason.
    page.get_by_role("button", name="Import this file").click()
    summary = page.locator("#import-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Imported")
    expect(count(page, "total")).to_have_text("4")
    expect(count(page, "created")).to_have_text("3")
    expect(count(page, "updated")).to_have_text("0")
    expect(count(page, "unchanged")).to_have_text("0")
    expect(count(page, "rejected")).to_have_text("1")
    expect(summary.locator(".import-warnings")).to_contain_text("'备注'")
    rejected = page.locator("#rejection-table tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.locator("td").nth(0)).to_have_text(str(BAD_LINE))
    expect(rejected.locator("td").nth(1)).to_have_text("C-2003")
    expect(rejected.locator("td").nth(2)).to_have_text("email")
    expect(rejected.locator("td").nth(3)).to_contain_text("Enter a valid email address.")
    assert page_overflow(page) <= 0
    screenshot("import-summary-en")

    wang = Customer.objects.for_org(shop["acme"]).get(external_id="C-2001")
    assert (wang.name, wang.email, wang.consent_email, wang.channel.code) == (
        "王小明",
        "wang.xm@example.com",
        True,
        "wechat",
    )
    chen = Customer.objects.for_org(shop["acme"]).get(external_id="C-2004")
    assert chen.created_at == datetime.datetime(2025, 3, 4, 1, 30, tzinfo=datetime.UTC)  # 09:30 in Shanghai
    assert not Customer.objects.for_org(shop["acme"]).filter(external_id="C-2003").exists()

    # The rejected rows download as a CSV a spreadsheet opens: the row as it was, then line, column and reason.
    with page.expect_download() as download_info:
        page.locator("#download-rejections").click()
    download = download_info.value
    assert re.fullmatch(r"import-\d+-rejected-rows\.csv", download.suggested_filename)
    body = download.path().read_bytes().decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0] == [
        "external_id",
        "name",
        "email",
        "phone",
        "channel",
        "created_at",
        "consent_email",
        "line",
        "column",
        "reason",
    ]
    assert len(rows) == 2
    assert rows[1][:3] == ["C-2003", "张伟", "zhang.wei(at)example.com"]
    assert rows[1][-3:-1] == [str(BAD_LINE), "email"]
    assert "valid email" in rows[1][-1]

    # The same file again: nothing changes, the bad row is still refused.
    upload(page, gbk_file)
    page.get_by_role("button", name="Import this file").click()
    expect(page.locator("#import-summary")).to_be_visible()
    expect(count(page, "created")).to_have_text("0")
    expect(count(page, "updated")).to_have_text("0")
    expect(count(page, "unchanged")).to_have_text("3")
    expect(count(page, "rejected")).to_have_text("1")
    screenshot("import-summary-again-en")
    assert Customer.objects.for_org(shop["acme"]).count() == 3

    page.locator("#main-nav").get_by_role("link", name="Imports").click()
    history = page.locator("#import-table tbody tr")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("customers-gbk.csv")
    expect(history.first).to_contain_text("Succeeded")
    screenshot("imports-list-en")

    # The summary in Simplified Chinese.
    page.locator("#language-switcher").get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator("#import-table tbody tr").last.get_by_role("link").click()
    expect(page.locator("#import-summary")).to_be_visible()
    expect(count(page, "created")).to_have_text("3")
    assert page_overflow(page) <= 0
    screenshot("import-summary-zh-hans")
    page.locator('#main-nav a[href="/imports/"]').click()
    screenshot("imports-list-zh-hans")


def test_viewer_reads_the_import_history_but_cannot_upload_or_start(page, shop, gbk_file, screenshot):
    finished = ImportJob.objects.create(
        organization=shop["acme"],
        kind=ImportKind.CUSTOMERS,
        status=ImportStatus.SUCCEEDED,
        original_filename="customers-march.csv",
        stored_path=str(gbk_file),
        file_size=gbk_file.stat().st_size,
        created_by=shop["ops"],
        created_by_label="Olivia Chen",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        encoding="gb18030",
        delimiter=",",
        rows_total=4,
        rows_created=3,
        rows_rejected=1,
    )
    queued = ImportJob.objects.create(
        organization=shop["acme"],
        kind=ImportKind.CUSTOMERS,
        original_filename="customers-april.csv",
        stored_path=str(gbk_file),
        file_size=gbk_file.stat().st_size,
        created_by=shop["ops"],
        created_by_label="Olivia Chen",
    )
    log_in(page, "victor@example.com")
    expect(page.locator("#main-nav").get_by_role("link", name="Imports")).to_have_count(0)

    # No link, but the history is readable by URL: a viewer may see what was imported, and when, and by whom.
    page.goto("/imports/")
    expect(page.locator("h1")).to_have_text("Imports")
    expect(page.locator("#import-upload-form")).to_have_count(0)
    expect(page.locator("#import-table tbody tr")).to_have_count(2)
    screenshot("imports-list-viewer-en")

    page.get_by_role("link", name="customers-april.csv").click()
    expect(page.locator("#import-preview")).to_be_visible()
    expect(page.locator("#preview-table")).to_contain_text("王小明")
    expect(page.get_by_role("button", name="Import this file")).to_have_count(0)

    page.goto(f"/imports/{finished.pk}/")
    expect(page.locator("#import-summary")).to_be_visible()
    expect(count(page, "created")).to_have_text("3")

    # Starting the queued import by hand (with a valid CSRF token) is refused by role, and it stays queued.
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    response = page.request.post(f"/imports/{queued.pk}/start/", headers={"X-CSRFToken": token})
    assert response.status == 403
    assert 'id="error-403"' in response.text()
    queued.refresh_from_db()
    assert (queued.status, queued.started_at) == (ImportStatus.QUEUED, None)


def test_a_wide_file_scrolls_inside_its_card_and_long_reasons_wrap(page, shop, tmp_path, screenshot):
    extra = [f"survey_question_{n:02d}" for n in range(1, 19)]
    header = ["external_id", "name", "email", "created_at", *extra]
    lines = [",".join(header)]
    for n in range(1, 13):
        answers = [f"a rather long free-text answer number {n}-{q}" for q in range(1, 19)]
        created = "31/12/2024 25:61" if n == 3 else f"2025-01-{n:02d}"
        lines.append(",".join([f"C-{n:04d}", f"Customer {n}", f"c{n}@example.com", created, *answers]))
    wide = tmp_path / "survey-export.csv"
    wide.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")

    log_in(page, "olivia@example.com")
    upload(page, wide)
    expect(page.locator("#import-preview .tag.ignored")).to_have_count(len(extra))
    expect(page.locator("#preview-format")).to_have_text("UTF-8 with BOM · comma")
    assert page_overflow(page) <= 0, "the preview table pushes the page sideways instead of scrolling in its card"
    scroller = page.locator("#preview-table").locator("xpath=..")
    assert scroller.evaluate("node => node.scrollWidth > node.clientWidth")
    screenshot("import-preview-wide-en")

    page.get_by_role("button", name="Import this file").click()
    expect(count(page, "created")).to_have_text("11")
    expect(page.locator(".import-warnings li:visible")).to_have_count(5)
    expect(page.locator(".import-warnings details summary")).to_have_text(f"{len(extra) - 5} more warnings")
    reason = page.locator("#rejection-table td.reason")
    expect(reason).to_contain_text("'31/12/2024 25:61' is not a valid date and time")
    assert page_overflow(page) <= 0, "a long rejection reason pushes the page sideways"
    screenshot("import-summary-wide-en")


def test_a_file_without_a_required_column_cannot_be_started_and_a_failed_job_says_why(page, shop, tmp_path, screenshot):
    orders = tmp_path / "orders.csv"
    orders.write_text("order_no,amount\nA-1,12.50\n")
    log_in(page, "olivia@example.com")
    upload(page, orders, kind="Orders")
    expect(page.locator("#import-preview .form-errors")).to_contain_text(
        "external_id, customer_external_id, ordered_at"
    )
    expect(page.get_by_role("button", name="Import this file")).to_have_count(0)
    screenshot("import-preview-missing-columns-en")

    failed = ImportJob.objects.for_org(shop["acme"]).get()
    ImportJob.objects.filter(pk=failed.pk).update(
        status=ImportStatus.FAILED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        error="The file's encoding is not recognized: line 2 is neither UTF-8 nor GB18030/GBK.",
    )
    page.reload()
    expect(page.locator("#import-summary")).to_contain_text("Import failed")
    expect(page.locator("#import-error")).to_contain_text("encoding is not recognized")
    expect(page.locator("#count-created")).to_have_count(0)
    screenshot("import-failed-en")


def test_a_running_import_shows_progress_then_its_summary(page, shop, gbk_file, screenshot):
    job = ImportJob.objects.create(
        organization=shop["acme"],
        kind=ImportKind.ORDERS,
        status=ImportStatus.RUNNING,
        original_filename="orders-2025.csv",
        stored_path=str(gbk_file),
        file_size=48_000_000,
        created_by=shop["ops"],
        created_by_label="Olivia Chen",
        started_at=timezone.now(),
    )
    cache.set(progress_cache_key(job.pk), {"rows": 240_000, "bytes_read": 18_000_000, "bytes_total": 48_000_000})
    try:
        log_in(page, "olivia@example.com")
        page.goto(f"/imports/{job.pk}/")
        expect(page.locator("#import-running")).to_contain_text("240,000 rows read")
        expect(page.locator("#import-progress")).to_have_attribute("value", "0.375")
        screenshot("import-progress-en")

        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.SUCCEEDED, finished_at=timezone.now(), rows_total=640_000, rows_created=640_000
        )
        expect(page.locator("#import-summary")).to_be_visible(timeout=5_000)
        expect(count(page, "created")).to_have_text("640,000")
    finally:
        cache.delete(progress_cache_key(job.pk))
