"""Reads for the channel pages and the channel-budget API: the league table, its sorting, the budget plan.

Everything comes from the nightly ``ChannelMetric`` rows (one trailing-90-day row per channel, plus calendar
months): a few hundred rows per organization, never orders or customers. The maths lives in the pure
:mod:`reporting.channel_budget`; this module turns rows into its inputs and its answers into words and plain data,
so the page and the API say the same thing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Organization
from reporting import channel_budget, selectors
from reporting.channel_budget import BudgetPlan, ChannelAdvice, ChannelFigures, Reason
from reporting.models import ChannelMetric, MetricPeriod
from reporting.templatetags.custops_format import money_with_currency

#: Sortable league-table columns: URL value → (header, value of a row). Text columns sort by name/month.
LEAGUE_COLUMNS: dict[str, tuple[Any, Callable[[ChannelMetric], Any]]] = {
    "channel": (gettext_lazy("Channel"), lambda m: m.channel.name.lower()),
    "month": (gettext_lazy("Month"), lambda m: m.period_start),
    "spend": (gettext_lazy("Spend"), lambda m: m.spend),
    "new_customers": (gettext_lazy("New customers"), lambda m: m.new_customers),
    "cac": (gettext_lazy("CAC"), lambda m: m.cac),
    "conversion": (gettext_lazy("Conversion"), lambda m: m.conversion),
    "mean_customer_value": (gettext_lazy("Mean customer value"), lambda m: m.mean_customer_value),
    "ltv_cac": (gettext_lazy("LTV/CAC"), lambda m: m.ltv_cac),
    "roi": (gettext_lazy("ROI"), lambda m: m.roi),
    "payback_months": (gettext_lazy("Payback (months)"), lambda m: m.payback_months),
    "repeat_rate_90d": (gettext_lazy("90-day repeat"), lambda m: m.repeat_rate_90d),
}
#: Where a column's first click sorts descending (bigger is the interesting end) or ascending (cheaper is better).
FIRST_DIRECTION = {"channel": "asc", "month": "desc", "cac": "asc", "payback_months": "asc"}
DEFAULT_SORT = {MetricPeriod.TRAILING_90: ("spend", "desc"), MetricPeriod.MONTH: ("channel", "asc")}
"""Without ``?sort=``: the biggest budgets first; months grouped by channel, newest month first."""
DIRECTIONS = ("asc", "desc")

ACTION_LABELS = {"grow": gettext_lazy("Grow"), "hold": gettext_lazy("Hold"), "cut": gettext_lazy("Cut")}
CLASS_LABELS = {
    "core": gettext_lazy("Core"),
    "testing": gettext_lazy("Testing"),
    "unpaid": gettext_lazy("No spend"),
}


class SortError(ValueError):
    """A ``sort`` or ``dir`` parameter the league table does not know."""


@dataclass(frozen=True)
class LeagueSort:
    column: str
    direction: str


def league_sort_from(params, *, period: str) -> LeagueSort:
    """The validated ``?sort=&dir=``; raises :class:`SortError` naming the bad value (never a silent guess)."""
    default_column, default_direction = DEFAULT_SORT.get(period, DEFAULT_SORT[MetricPeriod.TRAILING_90])
    column = params.get("sort") or default_column
    columns = league_columns(period)
    if column not in columns:
        raise SortError(
            _("Cannot sort by “%(column)s”: choose one of %(columns)s.")
            % {"column": column, "columns": ", ".join(columns)}
        )
    direction = params.get("dir") or (FIRST_DIRECTION.get(column, "desc") if params.get("sort") else default_direction)
    if direction not in DIRECTIONS:
        raise SortError(
            _("The sort direction must be “asc” or “desc”, not “%(direction)s”.") % {"direction": direction}
        )
    return LeagueSort(column, direction)


def league_columns(period: str) -> list[str]:
    return [c for c in LEAGUE_COLUMNS if c != "month" or period == MetricPeriod.MONTH]


def league_sorted(metrics: Sequence[ChannelMetric], sort: LeagueSort) -> list[ChannelMetric]:
    """Rows in the asked order; undefined values (no spend, no customers) always last, whichever the direction."""
    value_of = LEAGUE_COLUMNS[sort.column][1]
    defined = [m for m in metrics if value_of(m) is not None]
    undefined = [m for m in metrics if value_of(m) is None]
    defined.sort(key=lambda m: m.period_start, reverse=True)
    defined.sort(key=lambda m: m.channel.name.lower())
    defined.sort(key=value_of, reverse=sort.direction == "desc")
    return defined + undefined


def league_headers(*, period: str, sort: LeagueSort, query: dict[str, str]) -> list[dict[str, Any]]:
    """One header per column: its label, the link that sorts by it (toggling when already sorted) and aria-sort."""
    from urllib.parse import urlencode

    headers = []
    for column in league_columns(period):
        if column == sort.column:
            direction = "asc" if sort.direction == "desc" else "desc"
            aria = "ascending" if sort.direction == "asc" else "descending"
        else:
            direction = FIRST_DIRECTION.get(column, "desc")
            aria = None
        headers.append(
            {
                "column": column,
                "label": LEAGUE_COLUMNS[column][0],
                "href": "?" + urlencode({**query, "sort": column, "dir": direction}),
                "aria_sort": aria,
            }
        )
    return headers


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def figures_of(metric: ChannelMetric) -> ChannelFigures:
    return ChannelFigures(
        code=metric.channel.code,
        name=metric.channel.name,
        spend=float(metric.spend),
        new_customers=metric.new_customers,
        cac=_float(metric.cac),
        mean_customer_value=_float(metric.mean_customer_value),
        ltv_cac=metric.ltv_cac,
        payback_months=metric.payback_months,
        conversion=metric.conversion,
        roi=metric.roi,
    )


@dataclass(frozen=True)
class ChannelBudget:
    plan: BudgetPlan
    as_of: datetime.date | None
    metrics: list[ChannelMetric]


def channel_budget_for(*, org: Organization, trailing: Sequence[ChannelMetric] | None = None) -> ChannelBudget:
    """The budget plan from the organization's trailing-90-day rows (pass them when already read)."""
    metrics = (
        list(trailing)
        if trailing is not None
        else selectors.channel_metrics_list(org=org, period=MetricPeriod.TRAILING_90)
    )
    plan = channel_budget.plan_budget(figures_of(m) for m in metrics)
    return ChannelBudget(plan=plan, as_of=metrics[0].as_of if metrics else None, metrics=metrics)


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _months(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def reason_text(reason: Reason, *, currency: str = "") -> str:
    """The reason for an action in the reader's language, with the measured numbers and the threshold crossed."""
    v = reason.values
    words = {
        "ltv": _ratio(v.get("ltv_cac")),
        "payback": _months(v.get("payback")),
        "new": v.get("new_customers"),
        "min": v.get("min_new_customers"),
        "spend": money_with_currency(v.get("spend"), currency),
        "blended": money_with_currency(v.get("blended_cac"), currency),
        "threshold": v.get("threshold"),
        "ltv_min": f"{v['ltv_threshold']:g}×" if v.get("ltv_threshold") is not None else "—",
        "payback_max": f"{v['payback_threshold']:g}" if v.get("payback_threshold") is not None else "—",
    }
    if isinstance(words["threshold"], float):
        words["threshold"] = f"{words['threshold']:g}"
    texts = {
        "grow": _(
            "LTV/CAC %(ltv)s (≥ %(ltv_min)s) and payback in %(payback)s months (≤ %(payback_max)s): customers are "
            "worth well over their cost and pay it back quickly."
        ),
        "ltv_cac_between": _(
            "LTV/CAC %(ltv)s pays for itself but is below %(threshold)s×: keep the budget and work on CAC or "
            "customer value."
        ),
        "payback_between": _(
            "LTV/CAC %(ltv)s is healthy, but payback takes %(payback)s months (more than %(threshold)s): keep the "
            "budget until it pays back faster."
        ),
        "ltv_cac_below_cut": _(
            "LTV/CAC %(ltv)s is below %(threshold)s×: each new customer is worth less than they cost."
        ),
        "payback_above_cut": _(
            "Payback takes %(payback)s months (more than %(threshold)s): the money comes back too late to re-spend."
        ),
        "spend_without_customers": _(
            "%(spend)s spent without a single new customer: more than the blended CAC (%(blended)s)."
        ),
        "no_customers_anywhere": _(
            "%(spend)s spent and no new customer from any channel in 90 days, so there is no blended CAC to judge "
            "it by: check that customers carry their acquisition channel before cutting."
        ),
        "too_early_no_customers": _(
            "No new customer yet for %(spend)s of spend (less than the blended CAC): too early to judge; keep testing."
        ),
        "too_few_customers": ngettext(
            "Only %(new)s new customer in 90 days (fewer than %(min)s): not enough evidence yet; keep testing at "
            "this budget.",
            "Only %(new)s new customers in 90 days (fewer than %(min)s): not enough evidence yet; keep testing at "
            "this budget.",
            v.get("new_customers") or 0,
        ),
        "ltv_cac_undefined": _("LTV/CAC cannot be measured yet (no customer value): keep the budget."),
        "payback_undefined": _("Payback cannot be measured yet (no margin from these customers): keep the budget."),
        "unpaid_with_customers": ngettext(
            "No spend: %(new)s new customer came without budget, so there is nothing to move.",
            "No spend: %(new)s new customers came without budget, so there is nothing to move.",
            v.get("new_customers") or 0,
        ),
        "idle": _("No spend and no new customers in the last 90 days."),
    }
    return texts[reason.code] % words


def split_text(split: channel_budget.Split) -> str:
    texts = {
        # xgettext:no-python-format
        "on_policy": _("On policy: core channels take about 70% of paid spend."),
        # xgettext:no-python-format
        "core_under": _("Below policy: core channels take less than 65% of paid spend; move budget to them."),
        # xgettext:no-python-format
        "core_over": _("Above policy: core channels take more than 75% of paid spend; keep about 30% for testing."),
        "no_spend": _("No paid spend in the last 90 days."),
    }
    return texts[split.status]


def _money(value: float | None) -> str | None:
    return None if value is None else str(Decimal(str(round(value, 2))).quantize(Decimal("0.01")))


def _split_data(split: channel_budget.Split) -> dict[str, Any]:
    return {
        "core_spend": _money(split.core_spend),
        "testing_spend": _money(split.testing_spend),
        "core_share": split.core_share,
        "testing_share": split.testing_share,
        "core_channels": split.core_channels,
        "testing_channels": split.testing_channels,
        "policy_status": split.status,
    }


def advice_data(advice: ChannelAdvice, *, currency: str = "") -> dict[str, Any]:
    figures = advice.figures
    return {
        "code": figures.code,
        "name": figures.name,
        "channel_class": advice.channel_class,
        "core_rank": advice.core_rank,
        "action": advice.action,
        "reason_code": advice.reason.code,
        "reason": reason_text(advice.reason, currency=currency),
        "spend": _money(figures.spend),
        "new_customers": figures.new_customers,
        "cac": _money(figures.cac),
        "ltv_cac": figures.ltv_cac,
        "payback_months": figures.payback_months,
        "proposed_change": _money(advice.proposed_change),
        "proposed_spend": _money(advice.proposed_spend),
        "expected_customer_change": round(advice.expected_customer_change, 2),
    }


def budget_data(budget: ChannelBudget, *, currency: str = "") -> dict[str, Any]:
    """The plan as plain data: the API's body, and what the page's numbers are checked against."""
    plan = budget.plan
    effect = plan.effect
    return {
        "as_of": budget.as_of,
        "currency": currency,
        "policy": {
            "core_share": channel_budget.CORE_TARGET_SHARE,
            "share_tolerance": channel_budget.SHARE_TOLERANCE,
            "core_channels_min": channel_budget.CORE_MIN_CHANNELS,
            "core_channels_max": channel_budget.CORE_MAX_CHANNELS,
            "min_new_customers": channel_budget.MIN_NEW_CUSTOMERS,
            "grow_min_ltv_cac": channel_budget.GROW_MIN_LTV_CAC,
            "grow_max_payback_months": channel_budget.GROW_MAX_PAYBACK_MONTHS,
            "cut_below_ltv_cac": channel_budget.CUT_BELOW_LTV_CAC,
            "cut_above_payback_months": channel_budget.CUT_ABOVE_PAYBACK_MONTHS,
            "shift_share": effect.shift_share,
        },
        "split": {**_split_data(plan.split), "summary": split_text(plan.split)},
        "split_if_followed": _split_data(plan.split_after),
        "blended_cac": {
            "before": _money(effect.cac_before),
            "after": _money(effect.cac_after),
            "change": _money(effect.change),
            "relative_change": effect.relative_change,
            "moved_spend": _money(effect.moved_spend),
            "saved_spend": _money(effect.saved_spend),
            "customers_lost": round(effect.customers_lost, 2),
            "customers_gained": round(effect.customers_gained, 2),
            "assumption": assumption_text(effect.shift_share),
        },
        "channels": [advice_data(advice, currency=currency) for advice in plan.channels],
    }


def assumption_text(shift_share: float) -> str:
    return _(
        "Assumption: %(share)s of each cut channel's spend over the last 90 days moves to the grow channels, in "
        "proportion to their spend; every channel gains or loses customers at its measured CAC (constant marginal "
        "CAC, optimistic for the growing channels). With no channel to grow, the money is saved instead."
    ) % {"share": f"{shift_share:.0%}"}
