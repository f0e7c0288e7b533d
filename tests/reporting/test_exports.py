"""Report tables download as CSV and XLSX (typed, formula-safe, translated, filtered) and as an executive PDF."""

from __future__ import annotations

import csv
import datetime
import io
import os
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook
from pypdf import PdfReader

from accounts.models import Role
from accounts.services import organization_update
from reporting import export_views, exports
from reporting.exports import DATE, INTEGER, MONEY, SHARE, Column, Table
from reporting.models import Alert, AlertKind, ChannelMetric, JobRun, JobStatus, KpiSnapshot, MetricPeriod
from segmentation.models import CustomerScore, Stage, Tier
from tests.factories import ChannelFactory, CustomerFactory

pytestmark = pytest.mark.django_db

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
AS_OF = datetime.date(2026, 11, 1)


def _csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if isinstance(response, StreamingHttpResponse) else response.content
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _sheet(response):
    return load_workbook(io.BytesIO(response.content)).active


def _export(client, table: str, fmt: str, params: dict | None = None, **headers):
    return client.get(reverse(f"reporting:export-{table}-{fmt}"), params or {}, **headers)


@pytest.fixture
def channel_metric(org):
    channel = ChannelFactory(organization=org, code="search", name="Search ads")
    return ChannelMetric.objects.create(
        organization=org,
        as_of=AS_OF,
        channel=channel,
        period=MetricPeriod.TRAILING_90,
        period_start=AS_OF - datetime.timedelta(days=89),
        period_end=AS_OF,
        spend=Decimal("12345.67"),
        new_customers=40,
        contacts=100,
        converted_contacts=25,
        conversion=0.25,
        cac=Decimal("308.64"),
        mean_customer_value=Decimal("900.00"),
        ltv_cac=2.916,
        roi=-0.125,
        payback_months=7.5,
        repeat_rate_90d=0.3,
    )


def _score(org, *, name: str, email: str, tier: str, value: str, stage: str = Stage.GROWING) -> CustomerScore:
    customer = CustomerFactory(organization=org, name=name, email=email)
    return CustomerScore.objects.create(
        organization=org,
        customer=customer,
        as_of=AS_OF,
        purchase_days=3,
        last_purchase_on=AS_OF - datetime.timedelta(days=5),
        revenue=Decimal(value),
        customer_value=Decimal(value),
        tier=tier,
        stage=stage,
        p_alive=0.9,
        churn_probability=0.1,
    )


# The shared writers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_csv_cell_starting_with_a_formula_character_is_neutralized(start):
    table = Table("t", [Column("name")], [[f'{start}HYPERLINK("http://x")']])

    (_header, row) = list(csv.reader(io.StringIO(exports.csv_text(table).lstrip("\ufeff"))))

    assert row == [f'\'{start}HYPERLINK("http://x")']


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_xlsx_cell_starting_with_a_formula_character_is_text_not_a_formula(start):
    table = Table("t", [Column("name")], [[f"{start}1+1"]])

    cell = load_workbook(io.BytesIO(exports.xlsx_bytes(table))).active["A2"]

    # XML reads a stored carriage return back as a line feed; the leading quote is what matters.
    assert cell.value == f"'{start}1+1".replace("\r", "\n")
    assert cell.data_type == "s"


def test_negative_numbers_stay_numbers_not_neutralized_text():
    table = Table("t", [Column("roi", SHARE), Column("amount", MONEY)], [[-0.125, Decimal("-3.50")]])

    sheet = load_workbook(io.BytesIO(exports.xlsx_bytes(table))).active
    (row,) = list(csv.reader(io.StringIO(exports.csv_text(table).lstrip("\ufeff"))))[1:]

    assert sheet["A2"].value == -0.125 and sheet["A2"].data_type == "n"
    assert sheet["B2"].value == -3.5 and sheet["B2"].data_type == "n"
    assert row == ["-0.125", "-3.50"]


def test_xlsx_keeps_numbers_as_numbers_and_dates_as_dates_with_formats():
    table = Table(
        "Channels",
        [Column("day", DATE), Column("count", INTEGER), Column("spend", MONEY), Column("share", SHARE)],
        [[datetime.date(2026, 1, 31), 7, Decimal("1234.5"), 0.25]],
    )

    sheet = load_workbook(io.BytesIO(exports.xlsx_bytes(table))).active

    day, count, spend, share = sheet[2]
    assert day.is_date and day.value == datetime.datetime(2026, 1, 31)
    assert count.value == 7 and count.number_format == "#,##0"
    assert spend.value == 1234.5 and spend.number_format == "#,##0.00"
    assert share.value == 0.25 and share.number_format == "0.0%"


def test_xlsx_refuses_timestamps_with_a_time_zone():
    table = Table("t", [Column("at")], [[timezone.now()]])

    with pytest.raises(ValueError, match="time zone"):
        exports.xlsx_bytes(table)


def test_xlsx_sheet_title_drops_characters_excel_forbids():
    table = Table("Scores: [high]/all of them, a long title", [Column("x")], [])

    assert load_workbook(io.BytesIO(exports.xlsx_bytes(table))).active.title == "Scores   high  all of them, a l"


# The downloads --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", export_views.EXPORT_TABLES)
@pytest.mark.parametrize("fmt", export_views.EXPORT_FORMATS)
def test_every_member_role_can_download_every_table(client, org, member_factory, table, fmt):
    for role in Role.values:
        client.force_login(member_factory(org, role))
        response = _export(client, table, fmt)
        assert response.status_code == 200, (role, table, fmt)
        assert response["Content-Disposition"].startswith(f'attachment; filename="acme-{table}-')


def test_channel_csv_is_named_with_the_org_slug_and_local_date_and_keeps_plain_numbers(
    client, org, viewer_user, channel_metric
):
    client.force_login(viewer_user)

    response = _export(client, "channels", "csv")

    today = timezone.localdate(timezone=datetime.UTC).isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="acme-channels-{today}.csv"'
    header, row = _csv_rows(response)
    assert header[:3] == ["Channel", "Channel code", "Period start"]
    assert row[:6] == ["Search ads", "search", "2026-08-04", "2026-11-01", "12345.67", "40"]
    assert row[header.index("ROI")] == "-0.125"


def test_channel_xlsx_has_typed_cells(client, org, viewer_user, channel_metric):
    client.force_login(viewer_user)

    sheet = _sheet(_export(client, "channels", "xlsx"))

    header = [cell.value for cell in sheet[1]]
    row = dict(zip(header, sheet[2], strict=True))
    assert row["Spend"].value == 12345.67 and row["Spend"].data_type == "n"
    assert row["New customers"].value == 40
    assert row["Period start"].is_date
    assert row["Conversion"].value == 0.25 and row["Conversion"].number_format == "0.0%"


def test_headers_follow_the_users_language(client, org, viewer_user, channel_metric):
    client.force_login(viewer_user)

    response = _export(client, "channels", "xlsx", HTTP_ACCEPT_LANGUAGE="zh-hans")

    with translation.override("zh-hans"):
        expected = [translation.gettext("Channel"), translation.gettext("Channel code")]
    assert expected[0] == "渠道"
    assert [cell.value for cell in _sheet(response)[1]][:2] == expected


def test_score_export_takes_the_pages_filters(client, org, viewer_user):
    _score(org, name="Hana", email="hana@example.com", tier=Tier.HIGH, value="900")
    _score(org, name="Mo", email="mo@example.com", tier=Tier.MID, value="300")
    client.force_login(viewer_user)

    rows = _csv_rows(_export(client, "scores", "csv", {"tier": Tier.HIGH, "page": "2"}))

    assert [row[1] for row in rows[1:]] == ["Hana"]
    assert rows[1][rows[0].index("Tier")] == "High value"


def test_viewers_get_customer_names_and_emails_by_default(client, org, viewer_user):
    """Viewers read the customer pages, so unless the organization says otherwise their exports name customers."""
    _score(org, name="Hana", email="hana@example.com", tier=Tier.HIGH, value="900")
    client.force_login(viewer_user)

    header, row = _csv_rows(_export(client, "scores", "csv"))

    assert header[:4] == ["External id", "Name", "E-mail", "Phone"]
    assert row[1:3] == ["Hana", "hana@example.com"]


def test_viewers_of_an_organization_that_withholds_pii_get_the_scores_without_names_or_emails(client, org, viewer_user):
    organization_update(org=org, viewers_export_customer_pii=False)
    score = _score(org, name="Hana", email="hana@example.com", tier=Tier.HIGH, value="900")
    client.force_login(viewer_user)

    for fmt in ("csv", "xlsx"):
        response = _export(client, "scores", fmt)
        text = (
            "\n".join(",".join(r) for r in _csv_rows(response))
            if fmt == "csv"
            else repr([[c.value for c in r] for r in _sheet(response).iter_rows()])
        )
        assert "Hana" not in text and "hana@example.com" not in text
        assert score.customer.external_id in text
        assert "E-mail" not in text and "Name" not in text


def test_withholding_pii_from_viewers_leaves_other_roles_exports_whole(client, org, ops_user):
    organization_update(org=org, viewers_export_customer_pii=False)
    _score(org, name="Hana", email="hana@example.com", tier=Tier.HIGH, value="900")
    client.force_login(ops_user)

    header, row = _csv_rows(_export(client, "scores", "csv"))

    assert header[:4] == ["External id", "Name", "E-mail", "Phone"]
    assert row[1:3] == ["Hana", "hana@example.com"]


def test_customer_named_like_a_formula_is_neutralized_in_both_score_exports(client, org, admin_user):
    _score(org, name='=HYPERLINK("http://evil.example","x")', email="x@example.com", tier=Tier.HIGH, value="1")
    client.force_login(admin_user)

    (_, csv_row) = _csv_rows(_export(client, "scores", "csv"))
    sheet = _sheet(_export(client, "scores", "xlsx"))

    assert csv_row[1] == '\'=HYPERLINK("http://evil.example","x")'
    assert sheet["B2"].value == '\'=HYPERLINK("http://evil.example","x")' and sheet["B2"].data_type == "s"


def test_large_score_csv_streams_and_holds_every_row(client, org, viewer_user, monkeypatch):
    monkeypatch.setattr(export_views, "CSV_STREAM_ABOVE", 2)
    for index in range(3):
        _score(org, name=f"c{index}", email=f"c{index}@example.com", tier=Tier.MID, value=str(100 + index))
    client.force_login(viewer_user)

    response = _export(client, "scores", "csv")

    assert isinstance(response, StreamingHttpResponse)
    assert [row[1] for row in _csv_rows(response)[1:]] == ["c2", "c1", "c0"]


def test_xlsx_over_the_row_cap_sends_back_to_the_page_with_a_message(client, org, viewer_user, monkeypatch):
    monkeypatch.setattr(export_views, "XLSX_MAX_ROWS", 1)
    for index in range(2):
        _score(org, name=f"c{index}", email=f"c{index}@example.com", tier=Tier.MID, value="1")
    client.force_login(viewer_user)

    response = _export(client, "scores", "xlsx", {"tier": Tier.MID})

    assert response.status_code == 302
    assert response["Location"] == reverse("reporting:score-list") + "?tier=mid"
    page = client.get(response["Location"]).content.decode()
    assert "XLSX exports stop at 1" in page and "download the CSV" in page


def test_alert_and_job_exports_write_local_times_and_labels(client, org, viewer_user):
    org.time_zone = "Asia/Shanghai"
    org.save()
    acknowledged = datetime.datetime(2026, 11, 2, 1, 30, tzinfo=datetime.UTC)
    Alert.objects.create(
        organization=org,
        kind=AlertKind.CAC_SPIKE,
        raised_on=AS_OF,
        subject="search",
        value=0.4,
        threshold=0.2,
        message="CAC of search rose 40%",
        acknowledged_at=acknowledged,
        acknowledged_by_label="Ann",
    )
    JobRun.objects.create(
        organization=org,
        as_of=AS_OF,
        status=JobStatus.SUCCEEDED,
        started_at=acknowledged,
        finished_at=acknowledged + datetime.timedelta(seconds=90),
        row_counts={"scores": 12},
    )
    client.force_login(viewer_user)

    alerts = _sheet(_export(client, "alerts", "xlsx", {"show": "all"}))
    jobs = _csv_rows(_export(client, "jobs", "csv"))

    assert [c.value for c in alerts[2]][1:3] == ["CAC spike", "search"]
    assert alerts["G2"].value == datetime.datetime(2026, 11, 2, 9, 30)
    assert jobs[1][:6] == ["2026-11-02 09:30:00", "2026-11-02 09:31:30", "2026-11-01", "nightly", "Succeeded", "90.0"]
    assert jobs[1][6] == "scores: 12"


def test_exports_of_another_organization_show_nothing_of_it(client, org, other_org, member_factory, channel_metric):
    _score(org, name="Secret Hana", email="hana@example.com", tier=Tier.HIGH, value="900")
    Alert.objects.create(organization=org, kind=AlertKind.CAC_SPIKE, raised_on=AS_OF, message="Secret alert")
    client.force_login(member_factory(other_org, Role.ADMIN))

    for table in export_views.EXPORT_TABLES:
        rows = _csv_rows(_export(client, table, "csv", {"show": "all"}))
        assert rows[1:] == [], table
        sheet = _sheet(_export(client, table, "xlsx", {"show": "all"}))
        assert sheet.max_row == 1, table
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(client.get(_pdf_url()).content)).pages)
    assert "Acme" not in text and "Secret" not in text and "Search ads" not in text


# The executive PDF ----------------------------------------------------------------------------------------------


def _pdf_url() -> str:
    return reverse("reporting:export-executive-pdf")


@pytest.fixture
def kpi_history(org):
    start = AS_OF - datetime.timedelta(days=89)
    for offset in range(90):
        day = start + datetime.timedelta(days=offset)
        KpiSnapshot.objects.create(
            organization=org,
            day=day,
            values={
                "revenue": 10000.0 + offset * 100,
                "new_customers": 40 + offset,
                "monthly_churn_rate": 0.08 - offset * 0.0002,
                "nps": 42.0,
                "cac": None,
            },
        )


def _pdf_text(response) -> str:
    assert response["Content-Type"] == "application/pdf"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def test_executive_pdf_names_the_org_and_shows_kpi_values_definitions_channels_and_alerts(
    client, org, viewer_user, kpi_history, channel_metric
):
    Alert.objects.create(organization=org, kind=AlertKind.CAC_SPIKE, raised_on=AS_OF, message="CAC of search rose")
    client.force_login(viewer_user)

    response = client.get(_pdf_url())

    assert response["Content-Disposition"].startswith('attachment; filename="acme-executive-report-')
    text = _pdf_text(response)
    assert "Acme Retail" in text
    assert "2026-11-01" in text
    assert "18,900.00" in text  # revenue on the last day
    assert "+700.00" in text  # against 7 days earlier
    assert "129" in text  # new customers
    assert "Sum of the amounts of all purchase days" in text
    assert "Search ads" in text and "12,345.67" in text
    assert "CAC of search rose" in text


def test_executive_pdf_renders_chinese_when_the_user_reads_chinese(client, org, viewer_user, kpi_history):
    if exports.find_cjk_font() is None:
        reason = "no CJK font installed (Debian fonts-wqy-microhei)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires this: {reason}")
        pytest.skip(reason)
    org.name = "上海零售"
    org.save()
    client.force_login(viewer_user)

    text = _pdf_text(client.get(_pdf_url(), HTTP_ACCEPT_LANGUAGE="zh-hans"))

    with translation.override("zh-hans"):
        revenue = translation.gettext("Revenue")
    assert revenue == "收入"
    assert "上海零售" in text and revenue in text


def test_executive_pdf_without_a_cjk_font_still_downloads_in_helvetica(org):
    with translation.override("zh-hans"):
        report = export_views.executive_report(org=org)
    body = exports.executive_pdf(report, font_path=None)

    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert "Acme Retail" in text


def test_executive_pdf_before_the_first_nightly_run_says_so(client, org, viewer_user):
    client.force_login(viewer_user)

    assert "No figures yet" in _pdf_text(client.get(_pdf_url()))


def test_report_pages_link_their_downloads(client, org, viewer_user):
    client.force_login(viewer_user)

    for page, table in (
        ("channel-report", "channels"),
        ("cohort-report", "cohorts"),
        ("clv-model", "clv-calibration"),
        ("alert-list", "alerts"),
        ("job-list", "jobs"),
    ):
        body = client.get(reverse(f"reporting:{page}"), {"show": "all"}).content.decode()
        assert reverse(f"reporting:export-{table}-csv") + "?show=all" in body, page
        assert reverse(f"reporting:export-{table}-xlsx") in body, page


def test_export_links_include_offers_the_executive_pdf_for_the_overview(rf, org):
    html = render_to_string("reporting/includes/export_links.html", {"table": "executive"}, request=rf.get("/"))

    assert reverse("reporting:export-executive-pdf") in html and "CSV" not in html
