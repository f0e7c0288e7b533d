"""The Retention page (``/reports/cohorts/``): churn trend against the target, D1/D7/D30 by month of first event,
cohort retention curves and the cohort heatmap, with a way on to the at-risk list.

Everything comes from the nightly tables: the trend from ``RetentionTrend`` (the last year rebuilt each night
from the purchase and event history, :mod:`retention.retention_trend`), the curves and the heatmap from
``CohortCell``. The KPI snapshots are not used for the trend: they only go back as many nights as have been run.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.decorators import organization_required
from accounts.models import Organization
from crm.models import Channel
from reporting import charts, selectors
from reporting.models import AlertKind, AlertRule, Target
from reporting.target_progress import expected_progress
from retention.models import RetentionTrend
from retention.selectors import latest_retention_trend

CHURN_METRIC = "monthly_churn_rate"
"""The KPI code a churn target is set on (``reporting/kpis.py``)."""

CURVE_COHORTS = 6
"""Acquisition months drawn as retention curves: the most recent ones (more lines are no longer readable)."""

RETENTION_HORIZONS = (1, 7, 30)

FUTURE_MONTHS = 24
"""Most months drawn ahead of the measured ones for a target's path (a target years away is cut there)."""


def _month_label(iso: str) -> str:
    """``"2026-04-01"`` → ``"2026-04"``: read the same way in both languages."""
    return iso[:7]


def churn_target(*, org: Organization, as_of: datetime.date | None) -> Target | None:
    """The organization's target on monthly churn: the one whose deadline is next, else the latest one."""
    targets = list(Target.objects.for_org(org).filter(metric=CHURN_METRIC).order_by("deadline", "id"))
    if not targets:
        return None
    if as_of is not None:
        upcoming = [target for target in targets if target.deadline >= as_of]
        if upcoming:
            return upcoming[0]
    return targets[-1]


def target_path(target: Target, ends: list[datetime.date]) -> list[float | None]:
    """The target's value at each day of ``ends`` on its straight path from the baseline to the deadline.

    The same linear path the target's progress is measured against (:mod:`reporting.target_progress`); None
    before the baseline date (there was no target yet), the target value from the deadline on.
    """
    baseline, goal = float(target.baseline_value), float(target.target_value)
    path: list[float | None] = []
    for end in ends:
        if end < target.baseline_date:
            path.append(None)
            continue
        share = expected_progress(baseline_date=target.baseline_date, deadline=target.deadline, as_of=end)
        path.append(baseline + (goal - baseline) * share)
    return path


def future_month_ends(after: datetime.date, until: datetime.date) -> list[datetime.date]:
    """Last days of the months after ``after``'s month up to ``until``'s month, at most ``FUTURE_MONTHS`` of them.

    A target usually starts about now and runs a year: its path is mostly ahead of the measured months.
    """
    ends: list[datetime.date] = []
    year, month = after.year, after.month
    while len(ends) < FUTURE_MONTHS:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if datetime.date(year, month, 1) > until:
            break
        following = datetime.date(year + 1, 1, 1) if month == 12 else datetime.date(year, month + 1, 1)
        ends.append(following - datetime.timedelta(days=1))
    return ends


def churn_chart(trend: RetentionTrend, target: Target | None, threshold: Decimal | None) -> dict:
    """Monthly churn of the complete months, the month to date apart, the target's path dashed, the alert line.

    With a target, the months up to its deadline follow the measured ones (churn not known yet), so the whole
    path from the baseline to the deadline is drawn.
    """
    months = trend.churn
    labels = [_month_label(row["month"]) for row in months]
    ends = [datetime.date.fromisoformat(row["end"]) for row in months]
    future = future_month_ends(ends[-1], target.deadline) if target is not None and ends else []
    labels += [end.strftime("%Y-%m") for end in future]
    padding = [None] * len(future)
    series_list = [
        charts.series(_("Monthly churn"), [row["rate"] if row["complete"] else None for row in months] + padding),
        charts.series(_("Month to date"), [None if row["complete"] else row["rate"] for row in months] + padding),
    ]
    if target is not None:
        series_list.append(
            charts.series(
                _("Target: %(name)s") % {"name": target.name}, target_path(target, ends + future), dashed=True
            )
        )
    guides = []
    if threshold is not None:
        guides.append({"axis": "y", "value": threshold, "label": _("Alert threshold")})
    return charts.chart(
        "line",
        title=_("Monthly churn rate"),
        labels=labels,
        series_list=series_list,
        x_label=_("Month"),
        y_label=_("Churn rate"),
        y_unit="percent",
        guides=guides,
    )


def first_event_chart(trend: RetentionTrend) -> dict:
    months = trend.first_event_retention
    return charts.chart(
        "line",
        title=_("D1, D7 and D30 retention by month of first event"),
        labels=[_month_label(row["month"]) for row in months],
        series_list=[
            charts.series(_("D%(days)s retention") % {"days": k}, [row[f"d{k}"] for row in months])
            for k in RETENTION_HORIZONS
        ],
        x_label=_("Month of first event"),
        y_label=_("Retention"),
        y_unit="percent",
    )


def cohort_curves_chart(rows: list[dict]) -> dict:
    """One line per recent acquisition month: the share buying k months after acquisition.

    A cohort with only its acquisition month (this month's) is left out: a lone point at 100% says nothing.
    """
    recent = [row for row in rows if len(row["cells"]) > 1][-CURVE_COHORTS:]
    width = max((len(row["cells"]) for row in recent), default=0)
    return charts.chart(
        "line",
        title=_("Cohort retention curves"),
        labels=[str(k) for k in range(width)],
        series_list=[
            charts.series(row["month"].strftime("%Y-%m"), [cell.retention for cell in row["cells"]]) for row in recent
        ],
        x_label=_("Months since acquisition"),
        y_label=_("Retention"),
        y_unit="percent",
    )


def _churn_alert_threshold(org: Organization) -> Decimal | None:
    rule = AlertRule.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN, enabled=True).first()
    return rule.threshold if rule is not None else None


@require_safe
@organization_required
def retention_report(request: HttpRequest) -> HttpResponse:
    """Churn trend vs target, D1/D7/D30, cohort curves and heatmap (filterable by channel), link to at-risk."""
    org = request.organization
    channels = list(Channel.objects.for_org(org).order_by("name"))
    code = request.GET.get("channel", "")
    channel = next((c for c in channels if c.code == code), None)
    show = request.GET.get("show", "retention")
    if show not in ("retention", "revenue"):
        show = "retention"
    rows = selectors.cohort_matrix(org=org, channel=channel)
    trend = latest_retention_trend(org=org)
    context = {
        "rows": rows,
        "months": range(max((len(row["cells"]) for row in rows), default=0)),
        "channels": channels,
        "channel": channel,
        "show": show,
        "trend": trend,
        "curves_chart": cohort_curves_chart(rows) if rows else None,
    }
    if trend is not None:
        target = churn_target(org=org, as_of=trend.as_of)
        threshold = _churn_alert_threshold(org)
        complete = [row for row in trend.churn if row["complete"]]
        context.update(
            {
                "target": target,
                "threshold": threshold,
                "latest_churn": complete[-1] if complete else None,
                "churn_chart": churn_chart(trend, target, threshold),
                "first_event_chart": first_event_chart(trend),
            }
        )
    return render(request, "reporting/cohort_report.html", context)
