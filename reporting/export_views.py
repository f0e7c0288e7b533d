"""Downloads of the report tables (CSV, XLSX) and the executive report (PDF).

Every member may export every report of their organization, with the page's own filters. The customer
scores export carries names, e-mail addresses and phone numbers only when
:func:`accounts.permissions.may_export_customer_pii` allows it: every role by default, and not viewers once the
organization switches ``viewers_export_customer_pii`` off.

Each table is built here from the same selectors as its page; ``reporting/exports.py`` writes the files.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.decorators import organization_required
from accounts.models import Organization
from accounts.permissions import may_export_customer_pii
from crm.models import Channel
from reporting import exports, selectors
from reporting.channel_portfolio import ACTION_LABELS, CLASS_LABELS, channel_budget_for, reason_text
from reporting.digest import digest_kpi_tiles
from reporting.exports import BOOLEAN, DATE, DATETIME, INTEGER, MONEY, NUMBER, SHARE, Column, Table
from reporting.kpis import KPI_DEFINITIONS
from reporting.models import JobStatus, MetricPeriod
from retention.models import ClvModelReport
from retention.selectors import latest_retention_trend
from segmentation import selectors as score_selectors
from segmentation.models import RfmSegment, Stage, Tier

logger = logging.getLogger(__name__)

#: Above this many rows a CSV streams (no size known in advance); below, it is sent whole with its length.
CSV_STREAM_ABOVE = 5_000
#: Largest XLSX export. openpyxl writes about 4,000 full score rows a second (its XML writer is pure Python), so
#: this keeps a download near 12 s, well inside a worker's 30 s timeout; CSV has no limit.
XLSX_MAX_ROWS = 50_000
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The tables that can be exported, with the page whose filters they take (URL names in ``reporting:``).
EXPORT_TABLES = {
    "channels": "channel-report",
    "channel-budget": "channel-report",
    "rfm-grid": "customer-value",
    "tiers": "customer-value",
    "value-distribution": "customer-value",
    "stage-flow": "customer-value",
    "churn-trend": "cohort-report",
    "first-event-retention": "cohort-report",
    "cohorts": "cohort-report",
    "scores": "score-list",
    "clv-calibration": "clv-model",
    "alerts": "alert-list",
    "jobs": "job-list",
}
EXPORT_FORMATS = ("csv", "xlsx")


def _local(value: datetime.datetime | None) -> datetime.datetime | None:
    """A timestamp in the organization's time zone, without the zone (spreadsheets have none)."""
    return timezone.localtime(value).replace(tzinfo=None) if value is not None else None


# Tables ---------------------------------------------------------------------------------------------------------


def channel_table(*, org: Organization, period: str) -> Table:
    metrics = selectors.channel_metrics_list(org=org, period=period)
    columns = [
        Column(_("Channel")),
        Column(_("Channel code")),
        Column(_("Period start"), DATE),
        Column(_("Period end"), DATE),
        Column(_("Spend"), MONEY),
        Column(_("New customers"), INTEGER),
        Column(_("Contacts created"), INTEGER),
        Column(_("Contacts converted within 30 days"), INTEGER),
        Column(_("Conversion"), SHARE),
        Column(_("CAC"), MONEY),
        Column(_("Mean customer value"), MONEY),
        Column(_("LTV/CAC"), NUMBER),
        Column(_("ROI"), SHARE),
        Column(_("Payback (months)"), NUMBER),
        Column(_("90-day repeat"), SHARE),
    ]
    rows = [
        [
            m.channel.name,
            m.channel.code,
            m.period_start,
            m.period_end,
            m.spend,
            m.new_customers,
            m.contacts,
            m.converted_contacts,
            m.conversion,
            m.cac,
            m.mean_customer_value,
            m.ltv_cac,
            m.roi,
            m.payback_months,
            m.repeat_rate_90d,
        ]
        for m in metrics
    ]
    return Table(_("Channels"), columns, rows)


def cohort_table(*, org: Organization, channel: Channel | None) -> Table:
    """One row per cohort and month since acquisition (the page's heatmap, long form: easy to pivot)."""
    columns = [
        Column(_("Cohort"), DATE),
        Column(_("Months since acquisition"), INTEGER),
        Column(_("Customers in the cohort"), INTEGER),
        Column(_("Customers buying in the month"), INTEGER),
        Column(_("Retention"), SHARE),
        Column(_("Revenue"), MONEY),
        Column(_("Cumulative revenue per customer"), MONEY),
    ]
    rows = [
        [
            row["month"],
            cell.months_since,
            cell.cohort_size,
            cell.active_customers,
            cell.retention,
            cell.revenue,
            cell.cumulative_revenue_per_customer,
        ]
        for row in selectors.cohort_matrix(org=org, channel=channel)
        for cell in row["cells"]
    ]
    return Table(_("Cohorts"), columns, rows)


SCORE_FIELDS = (
    "customer__external_id",
    "tier",
    "stage",
    "at_risk",
    "rfm_segment",
    "r_score",
    "f_score",
    "m_score",
    "purchase_days",
    "first_purchase_on",
    "last_purchase_on",
    "revenue",
    "predicted_value",
    "customer_value",
    "p_alive",
    "churn_probability",
)
PII_FIELDS = ("customer__name", "customer__email", "customer__phone")


def score_table(*, scores: QuerySet, with_pii: bool) -> Table:
    """The filtered scores, most valuable first, read in chunks so a million rows never sit in memory."""
    columns = [Column(_("External id"))]
    if with_pii:
        columns += [Column(_("Name")), Column(_("E-mail")), Column(_("Phone"))]
    columns += [
        Column(_("Tier")),
        Column(_("Stage")),
        Column(_("At risk"), BOOLEAN),
        Column(_("RFM segment")),
        Column("R", INTEGER),
        Column("F", INTEGER),
        Column("M", INTEGER),
        Column(_("Purchase days"), INTEGER),
        Column(_("First purchase"), DATE),
        Column(_("Last purchase"), DATE),
        Column(_("Revenue"), MONEY),
        Column(_("Predicted 12 m"), MONEY),
        Column(_("Customer value"), MONEY),
        Column(_("P(alive)"), SHARE),
        Column(_("Churn probability"), SHARE),
    ]
    # Labels resolved now, in the request's language: a streamed body is written after the view returned.
    tiers = {value: str(label) for value, label in Tier.choices}
    stages = {value: str(label) for value, label in Stage.choices}
    segments = {value: str(label) for value, label in RfmSegment.choices}
    fields = SCORE_FIELDS[:1] + (PII_FIELDS if with_pii else ()) + SCORE_FIELDS[1:]
    first_label = 1 + (len(PII_FIELDS) if with_pii else 0)

    def rows():
        for values in scores.values_list(*fields).iterator(chunk_size=5_000):
            row = list(values)
            row[first_label] = tiers.get(row[first_label], "")
            row[first_label + 1] = stages.get(row[first_label + 1], row[first_label + 1])
            row[first_label + 3] = segments.get(row[first_label + 3], "")
            yield row

    return Table(_("Customer scores"), columns, rows())


def clv_calibration_table(*, org: Organization) -> Table:
    report = ClvModelReport.objects.for_org(org).order_by("-as_of").first()
    buckets = (report.calibration or {}).get("buckets", []) if report else []
    columns = [
        Column(_("As of"), DATE),
        Column(_("Repeat purchase days before")),
        Column(_("Customers"), INTEGER),
        Column(_("Predicted (mean)"), NUMBER),
        Column(_("Actual (mean)"), NUMBER),
    ]
    rows = [[report.as_of, b["frequency"], b["customers"], b["predicted"], b["actual"]] for b in buckets]
    return Table(_("Value model calibration"), columns, rows)


def alert_table(*, org: Organization, only_open: bool) -> Table:
    columns = [
        Column(_("Raised"), DATE),
        Column(_("Kind")),
        Column(_("Subject")),
        Column(_("Measured value"), NUMBER),
        Column(_("Threshold"), NUMBER),
        Column(_("What happened")),
        Column(_("Acknowledged"), DATETIME),
        Column(_("Acknowledged by")),
    ]
    rows = [
        [
            alert.raised_on,
            alert.get_kind_display(),
            alert.subject,
            alert.value,
            alert.threshold,
            alert.localized_message,
            _local(alert.acknowledged_at),
            alert.acknowledged_by_label or (alert.acknowledged_by.email if alert.acknowledged_by else ""),
        ]
        for alert in selectors.alerts_list(org=org, only_open=only_open)
    ]
    return Table(_("Alerts"), columns, rows)


def job_table(*, org: Organization, status: str) -> Table:
    columns = [
        Column(_("Started"), DATETIME),
        Column(_("Finished"), DATETIME),
        Column(_("As of"), DATE),
        Column(_("Kind")),
        Column(_("Status")),
        Column(_("Duration (s)"), NUMBER),
        Column(_("Rows")),
        Column(_("Triggered by")),
        Column(_("Error")),
    ]
    rows = [
        [
            _local(run.started_at),
            _local(run.finished_at),
            run.as_of,
            run.kind,
            run.get_status_display(),
            run.duration_seconds,
            "; ".join(f"{step}: {count}" for step, count in (run.row_counts or {}).items()),
            run.triggered_by,
            run.error,
        ]
        for run in selectors.job_runs_list(org=org, status=status)
    ]
    return Table(_("Nightly jobs"), columns, rows)


def channel_budget_table(*, org: Organization) -> Table:
    """The budget advice per channel, as on the channels page (last 90 days)."""
    budget = channel_budget_for(org=org)
    columns = [
        Column(_("Channel")),
        Column(_("Channel code")),
        Column(_("Class")),
        Column(_("Action")),
        Column(_("Reason")),
        Column(_("Spend, 90 days"), MONEY),
        Column(_("New customers"), INTEGER),
        Column(_("CAC"), MONEY),
        Column(_("LTV/CAC"), NUMBER),
        Column(_("Payback (months)"), NUMBER),
        Column(_("Proposed change"), MONEY),
        Column(_("Proposed spend"), MONEY),
    ]
    rows = [
        [
            advice.figures.name,
            advice.figures.code,
            str(CLASS_LABELS.get(advice.channel_class, advice.channel_class)),
            str(ACTION_LABELS.get(advice.action, advice.action)),
            reason_text(advice.reason, currency=org.currency),
            advice.figures.spend,
            advice.figures.new_customers,
            advice.figures.cac,
            advice.figures.ltv_cac,
            advice.figures.payback_months,
            advice.proposed_change,
            advice.proposed_spend,
        ]
        for advice in budget.plan.channels
    ]
    return Table(_("Channel budget"), columns, rows)


def _mix(org: Organization) -> dict:
    snapshot = selectors.latest_customer_mix(org=org)
    return {
        "as_of": snapshot.as_of if snapshot else None,
        "rfm_grid": snapshot.rfm_grid if snapshot else {},
        "tiers": snapshot.tiers if snapshot else [],
        "value_bins": snapshot.value_bins if snapshot else [],
        "stage_flow": snapshot.stage_flow if snapshot else {},
    }


def rfm_grid_table(*, org: Organization) -> Table:
    columns = [
        Column(_("Recency score"), INTEGER),
        Column(_("Frequency score"), INTEGER),
        Column(_("Customers"), INTEGER),
        Column(_("Customer value"), MONEY),
    ]
    cells = _mix(org)["rfm_grid"].get("cells", [])
    rows = [[cell["r"], cell["f"], cell["customers"], cell["value"]] for cell in cells]
    return Table(_("RFM grid"), columns, rows)


def tier_table(*, org: Organization) -> Table:
    labels = dict(Tier.choices)
    columns = [
        Column(_("Tier")),
        Column(_("Customers"), INTEGER),
        Column(_("Customer value"), MONEY),
        Column(_("Share of customers"), SHARE),
        Column(_("Share of value"), SHARE),
    ]
    rows = [
        [
            str(labels.get(row["tier"], row["tier"])),
            row["customers"],
            row["value"],
            row.get("customer_share"),
            row.get("value_share"),
        ]
        for row in _mix(org)["tiers"]
    ]
    return Table(_("Tiers"), columns, rows)


def value_distribution_table(*, org: Organization) -> Table:
    columns = [
        Column(_("Customer value from"), MONEY),
        Column(_("Customer value below"), MONEY),
        Column(_("Customers"), INTEGER),
        Column(_("Customer value"), MONEY),
    ]
    rows = [[row["low"], row["high"], row["customers"], row["value"]] for row in _mix(org)["value_bins"]]
    return Table(_("Value distribution"), columns, rows)


def stage_flow_table(*, org: Organization) -> Table:
    """One row per month-end and move (stage at the month-end before → stage at this one), long form."""
    labels = dict(Stage.choices)
    labels[""] = _("New contact")
    columns = [
        Column(_("Month end"), DATE),
        Column(_("Stage at the month-end before")),
        Column(_("Stage at this month-end")),
        Column(_("Customers"), INTEGER),
    ]
    rows = [
        [
            datetime.date.fromisoformat(month["month_end"]),
            str(labels.get(move["from"], move["from"])),
            str(labels.get(move["to"], move["to"])),
            move["customers"],
        ]
        for month in _mix(org)["stage_flow"].get("months", [])
        for move in month["transitions"]
    ]
    return Table(_("Stage flow"), columns, rows)


def churn_trend_table(*, org: Organization) -> Table:
    trend = latest_retention_trend(org=org)
    columns = [
        Column(_("Month"), DATE),
        Column(_("Complete month"), BOOLEAN),
        Column(_("Customers at the start"), INTEGER),
        Column(_("Customers churned"), INTEGER),
        Column(_("Monthly churn"), SHARE),
    ]
    rows = [
        [
            datetime.date.fromisoformat(row["month"]),
            row["complete"],
            row["customers_at_start"],
            row["churned"],
            row["rate"],
        ]
        for row in (trend.churn if trend else [])
    ]
    return Table(_("Monthly churn"), columns, rows)


def first_event_retention_table(*, org: Organization) -> Table:
    trend = latest_retention_trend(org=org)
    columns = [
        Column(_("First seen in"), DATE),
        Column(_("Customers"), INTEGER),
        Column(_("D1 retention"), SHARE),
        Column(_("D7 retention"), SHARE),
        Column(_("D30 retention"), SHARE),
    ]
    rows = [
        [datetime.date.fromisoformat(row["month"]), row["customers"], row.get("d1"), row.get("d7"), row.get("d30")]
        for row in (trend.first_event_retention if trend else [])
    ]
    return Table(_("D1/D7/D30 retention"), columns, rows)


def _choice(value: str, choices) -> str:
    return value if value in choices else ""


def _scores_queryset(request: HttpRequest) -> QuerySet:
    """The score list page's filters, read the same way as the page reads them."""
    return score_selectors.scores_list(
        org=request.organization,
        tier=_choice(request.GET.get("tier", ""), Tier.values),
        stage=_choice(request.GET.get("stage", ""), Stage.values),
        segment=_choice(request.GET.get("segment", ""), RfmSegment.values),
        at_risk={"yes": True, "no": False}.get(request.GET.get("at_risk", "")),
    )


def build_table(request: HttpRequest, table: str) -> tuple[Table, int | None]:
    """The table for ``table`` with the page's filters, and its row count when it may be large."""
    org = request.organization
    if table == "channels":
        period = request.GET.get("period", MetricPeriod.TRAILING_90)
        return channel_table(
            org=org, period=period if period in MetricPeriod.values else MetricPeriod.TRAILING_90
        ), None
    if table == "channel-budget":
        return channel_budget_table(org=org), None
    simple = {
        "rfm-grid": rfm_grid_table,
        "tiers": tier_table,
        "value-distribution": value_distribution_table,
        "stage-flow": stage_flow_table,
        "churn-trend": churn_trend_table,
        "first-event-retention": first_event_retention_table,
    }
    if table in simple:
        return simple[table](org=org), None
    if table == "cohorts":
        code = request.GET.get("channel", "")
        channel = Channel.objects.for_org(org).filter(code=code).first() if code else None
        return cohort_table(org=org, channel=channel), None
    if table == "scores":
        scores = _scores_queryset(request)
        count = scores.count()
        return score_table(scores=scores, with_pii=may_export_customer_pii(request.membership)), count
    if table == "clv-calibration":
        return clv_calibration_table(org=org), None
    if table == "alerts":
        return alert_table(org=org, only_open=request.GET.get("show", "open") != "all"), None
    if table == "jobs":
        status = request.GET.get("status", "")
        return job_table(org=org, status=status if status in JobStatus.values else ""), None
    raise ValueError(f"unknown export table {table!r}")


def export_filename(org: Organization, name: str, extension: str) -> str:
    """``<org slug>-<report>-<local date>.<ext>``: sorts by organization and day in a downloads folder."""
    return f"{org.slug}-{name}-{timezone.localdate().isoformat()}.{extension}"


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_safe
@organization_required
def table_export(request: HttpRequest, table: str, fmt: str) -> HttpResponse:
    """One report table as CSV or XLSX, with the filters of the page it came from."""
    built, count = build_table(request, table)
    filename = export_filename(request.organization, table, fmt)
    if fmt == "csv":
        if count is not None and count > CSV_STREAM_ABOVE:
            response = StreamingHttpResponse(exports.csv_lines(built), content_type="text/csv; charset=utf-8")
        else:
            response = HttpResponse(exports.csv_text(built), content_type="text/csv; charset=utf-8")
        return _attachment(response, filename)
    if count is not None and count > XLSX_MAX_ROWS:
        messages.error(
            request,
            _(
                "This table has %(rows)s rows; XLSX exports stop at %(limit)s. Narrow the filters, or download the "
                "CSV, which has no limit."
            )
            % {"rows": f"{count:,}", "limit": f"{XLSX_MAX_ROWS:,}"},
        )
        query = request.GET.urlencode()
        return redirect(reverse(f"reporting:{EXPORT_TABLES[table]}") + (f"?{query}" if query else ""))
    response = HttpResponse(exports.xlsx_bytes(built, max_rows=XLSX_MAX_ROWS), content_type=XLSX_CONTENT_TYPE)
    return _attachment(response, filename)


# The executive report -------------------------------------------------------------------------------------------

#: Days of KPI history drawn in the PDF's charts.
EXECUTIVE_CHART_DAYS = 90
#: KPIs drawn as charts in the executive report.
EXECUTIVE_CHARTS = ("revenue", "monthly_churn_rate")


def executive_report(*, org: Organization) -> exports.ExecutiveReport:
    """The executive report's content, in the active language."""
    snapshot = selectors.latest_kpi_snapshot(org=org)
    as_of = snapshot.day if snapshot else None
    codes = tuple(kpi.code for kpi in KPI_DEFINITIONS)
    kpis = []
    charts = []
    if snapshot is not None:
        _snapshot, tiles = digest_kpi_tiles(org=org, day=snapshot.day, codes=codes)
        kpis = [exports.KpiLine(t.label, t.value_text, t.change_text, t.definition) for t in tiles]
        history = selectors.kpi_history(org=org, until=snapshot.day, days=EXECUTIVE_CHART_DAYS)
        labels = {kpi.code: _(kpi.label) for kpi in KPI_DEFINITIONS}
        for code in EXECUTIVE_CHARTS:
            unit = next(kpi.unit for kpi in KPI_DEFINITIONS if kpi.code == code)
            points = [(s.day, s.values.get(code)) for s in history]
            if unit == "share":
                points = [(day, value * 100 if value is not None else None) for day, value in points]
            charts.append(
                exports.Series(
                    title=_("%(kpi)s, last %(days)s days") % {"kpi": labels[code], "days": EXECUTIVE_CHART_DAYS}
                    + (" (%)" if unit == "share" else f" ({org.currency})" if unit == "money" else ""),
                    points=points,
                    value_format="{:,.1f}" if unit == "share" else "{:,.0f}",
                )
            )
    channels = channel_table(org=org, period=MetricPeriod.TRAILING_90)
    # The PDF's page is narrow: the league table's main columns only.
    keep = [0, 4, 5, 9, 8, 11, 12, 13]
    channels = Table(
        _("Channels, trailing 90 days (amounts in %(currency)s)") % {"currency": org.currency},
        [channels.columns[i] for i in keep],
        [[row[i] for i in keep] for row in channels.rows],
    )
    alerts = [
        (alert.raised_on.isoformat(), str(alert.get_kind_display()), alert.localized_message)
        for alert in selectors.alerts_list(org=org, only_open=True)[:30]
    ]
    subtitle = (
        _("KPIs as of %(day)s, each against 7 days earlier; amounts in %(currency)s.")
        % {"day": as_of.isoformat(), "currency": org.currency}
        if as_of
        else _("No figures yet: they appear after the first nightly run.")
    )
    return exports.ExecutiveReport(
        title=_("Executive report"),
        organization=org.name,
        subtitle=subtitle,
        kpi_heading=_("KPIs"),
        kpi_columns=(_("KPI"), _("Value"), _("7-day change")),
        kpis=kpis,
        charts_heading=_("Trends"),
        charts=charts,
        channels=channels,
        alerts_heading=_("Open alerts"),
        alerts=alerts,
        no_alerts=_("No open alert."),
        empty_chart=_("No figures for this period."),
        footer=_("custops · generated %(when)s") % {"when": timezone.localtime().strftime("%Y-%m-%d %H:%M %Z")},
    )


@require_safe
@organization_required
def executive_pdf(request: HttpRequest) -> HttpResponse:
    """The executive report as a PDF: KPIs with their definitions, trends, channels and open alerts."""
    org = request.organization
    font = exports.find_cjk_font(getattr(settings, "CUSTOPS_PDF_FONT", None))
    if font is None:
        logger.warning("no CJK font found for the executive PDF; Chinese text will not render (fonts-wqy-microhei)")
    body = exports.executive_pdf(executive_report(org=org), font_path=font)
    response = HttpResponse(body, content_type="application/pdf")
    return _attachment(response, export_filename(org, "executive-report", "pdf"))
