"""The channel pages: the league table with the budget recommendation, and one channel's monthly trend.

Both read the nightly ``ChannelMetric`` rows only (see :mod:`reporting.channel_portfolio`), so they stay fast on
any organization; the rules behind core/testing and grow/hold/cut are in :mod:`reporting.channel_budget` and are
spelled out on the page next to the numbers they produce.
"""

from __future__ import annotations

import statistics

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from accounts.decorators import organization_required
from crm.models import Channel
from reporting import channel_budget, charts, selectors
from reporting.channel_portfolio import (
    ACTION_LABELS,
    CLASS_LABELS,
    DEFAULT_SORT,
    LeagueSort,
    SortError,
    assumption_text,
    channel_budget_for,
    league_headers,
    league_sort_from,
    league_sorted,
    reason_text,
    split_text,
)
from reporting.models import MetricPeriod

DETAIL_MONTHS = 12


def _quadrant_chart(plan: channel_budget.BudgetPlan, currency: str) -> dict:
    """CAC against mean customer value of the paid channels, core and testing apart, with median guides."""
    points: dict[str, list[dict]] = {"core": [], "testing": []}
    for advice in plan.channels:
        figures = advice.figures
        if advice.channel_class in points and figures.cac is not None and figures.mean_customer_value is not None:
            points[advice.channel_class].append(
                {"x": figures.cac, "y": figures.mean_customer_value, "label": figures.name}
            )
    every = points["core"] + points["testing"]
    guides = []
    if every:
        guides = [
            {"axis": "x", "value": statistics.median(p["x"] for p in every), "label": _("median CAC")},
            {"axis": "y", "value": statistics.median(p["y"] for p in every), "label": _("median customer value")},
        ]
    return charts.chart(
        "scatter",
        title=_("CAC against customer value (last 90 days)"),
        series_list=[
            charts.series(CLASS_LABELS["core"], points["core"]),
            charts.series(CLASS_LABELS["testing"], points["testing"]),
        ],
        x_label=_("CAC"),
        y_label=_("Mean customer value"),
        x_unit="money",
        y_unit="money",
        currency=currency,
        guides=guides,
    )


def _split_chart(plan: channel_budget.BudgetPlan) -> dict:
    now, after = plan.split, plan.split_after
    return charts.chart(
        "bar",
        title=_("Share of paid spend: core and testing"),
        labels=[_("Last 90 days"), _("Policy"), _("If the advice is followed")],
        series_list=[
            charts.series(CLASS_LABELS["core"], [now.core_share, now.target_core_share, after.core_share]),
            charts.series(CLASS_LABELS["testing"], [now.testing_share, 1 - now.target_core_share, after.testing_share]),
        ],
        x_label=_("Budget"),
        y_label=_("Share of paid spend"),
        y_unit="percent",
        stacked=True,
    )


def _advice_rows(plan: channel_budget.BudgetPlan, currency: str) -> list[dict]:
    return [
        {
            "advice": advice,
            "action_label": ACTION_LABELS[advice.action],
            "class_label": CLASS_LABELS[advice.channel_class],
            "reason": reason_text(advice.reason, currency=currency),
        }
        for advice in plan.channels
    ]


@require_safe
@organization_required
def channel_report(request: HttpRequest) -> HttpResponse:
    """League table (sortable on the server), quadrant chart, the 70/30 split and the budget recommendation."""
    org = request.organization
    currency = org.currency
    period = request.GET.get("period", MetricPeriod.TRAILING_90)
    if period not in MetricPeriod.values:
        period = MetricPeriod.TRAILING_90
    sort_error = ""
    try:
        sort = league_sort_from(request.GET, period=period)
    except SortError as error:
        sort_error, sort = str(error), LeagueSort(*DEFAULT_SORT[period])
    metrics = selectors.channel_metrics_list(org=org, period=period)
    budget = channel_budget_for(org=org, trailing=metrics if period == MetricPeriod.TRAILING_90 else None)
    plan = budget.plan
    advice = {a.code: a for a in plan.channels}
    rows = [{"metric": m, "advice": advice.get(m.channel.code)} for m in league_sorted(metrics, sort)]
    context = {
        "metrics": metrics,
        "rows": rows,
        "period": period,
        "periods": MetricPeriod.choices,
        "as_of": metrics[0].as_of if metrics else budget.as_of,
        "sort": sort,
        "sort_error": sort_error,
        "headers": league_headers(period=period, sort=sort, query={"period": period}),
        "plan": plan,
        "budget_as_of": budget.as_of,
        "advice_rows": _advice_rows(plan, currency),
        "split_summary": split_text(plan.split),
        "assumption": assumption_text(plan.effect.shift_share),
        "quadrant_chart": _quadrant_chart(plan, currency),
        "split_chart": _split_chart(plan),
        "policy": channel_budget,
    }
    return render(request, "reporting/channel_report.html", context, status=400 if sort_error else 200)


#: The detail page's monthly charts: (id, title, series label, ChannelMetric field, unit, kind). One unit per
#: chart: the chart format has a single value axis, so spend and new customers are drawn side by side.
TREND_CHARTS = (
    ("channel-spend-chart", gettext_lazy("Spend per month"), gettext_lazy("Spend"), "spend", "money", "bar"),
    (
        "channel-new-chart",
        gettext_lazy("New customers per month"),
        gettext_lazy("New customers"),
        "new_customers",
        "number",
        "bar",
    ),
    ("channel-cac-chart", gettext_lazy("CAC per month"), gettext_lazy("CAC"), "cac", "money", "line"),
    ("channel-ltv-cac-chart", gettext_lazy("LTV/CAC per month"), gettext_lazy("LTV/CAC"), "ltv_cac", "ratio", "line"),
    (
        "channel-conversion-chart",
        gettext_lazy("Conversion per month"),
        gettext_lazy("Conversion"),
        "conversion",
        "percent",
        "line",
    ),
)


def _month_chart(months: list, title, label, attribute: str, unit: str, currency: str, kind: str) -> dict:
    return charts.chart(
        kind,
        title=title,
        labels=[m.period_start.strftime("%Y-%m") for m in months],
        series_list=[charts.series(label, [getattr(m, attribute) for m in months])],
        x_label=_("Month"),
        y_label=label,
        y_unit=unit,
        currency=currency,
    )


@require_safe
@organization_required
def channel_detail(request: HttpRequest, code: str) -> HttpResponse:
    """One channel's monthly trend (last twelve months) and its current recommendation."""
    org = request.organization
    channel = Channel.objects.for_org(org).filter(code=code).first()
    if channel is None:
        raise Http404(_("No such channel."))
    currency = org.currency
    figures = selectors.channel_metrics_of(org=org, channel=channel, months=DETAIL_MONTHS)
    months = list(reversed(figures["months"]))
    budget = channel_budget_for(org=org)
    advice = budget.plan.advice_of(channel.code)
    trend_charts = [
        (chart_id, _month_chart(months, title, label, attribute, unit, currency, kind))
        for chart_id, title, label, attribute, unit, kind in TREND_CHARTS
    ]
    context = {
        "channel": channel,
        "trailing": figures["trailing"],
        "months": figures["months"],
        "trend_charts": trend_charts,
        "advice": advice,
        "action_label": ACTION_LABELS[advice.action] if advice else "",
        "class_label": CLASS_LABELS[advice.channel_class] if advice else "",
        "reason": reason_text(advice.reason, currency=currency) if advice else "",
        "as_of": budget.as_of,
    }
    return render(request, "reporting/channel_detail.html", context)
