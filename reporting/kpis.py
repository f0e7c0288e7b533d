"""KPI definitions and their computation from plain frames (no Django): the single source of truth for what each
KPI means.

The nightly run builds the input frames from the database (DESIGN.md §3) and stores what :func:`compute_kpis`
returns as the organization's KPI snapshot; pages, the API, alerts and targets read the snapshot and label it from
:data:`KPI_DEFINITIONS`, so a KPI is defined here once and shown everywhere with the same words.

Days are day numbers: whole calendar days since 1970-01-01 in the organization's time zone. A purchase day is a
distinct calendar day with at least one completed order; its amount is the day's total. The period is the
``period_days`` days ending on the as-of date, the as-of date included (``as_of - period_days + 1`` to ``as_of``);
the period's start ``S`` is the day before its first day (``as_of - period_days``), the last day "before the
period". The definitions below say "30 days" because that is the period every snapshot uses.

A customer is churned on day t when they have a purchase day on or before t and the last one is more than the
churn window before t (``t - last > churn_window_days``): exactly the window since the last purchase day is not
yet churned, one day more is.

=======================  =============================================================================
code                     definition
=======================  =============================================================================
revenue                  Sum of the amounts of all purchase days in the 30 days ending on the as-of date.
new_customers            Customers whose first purchase day falls in the 30 days ending on the as-of date.
active_customers         Customers with at least one purchase day in the 30 days ending on the as-of date.
arpu                     Revenue in the 30 days ending on the as-of date divided by the active customers of
                         those 30 days.
repeat_purchase_rate     Active customers of the 30 days ending on the as-of date who had bought before those
                         days or bought on at least two days within them, divided by all active customers of
                         those days.
monthly_churn_rate       Customers who had bought and were not churned on the day before the 30 days ending on
                         the as-of date and are churned on the as-of date, divided by all customers who had
                         bought and were not churned on that day before.
high_value_retention     High-tier customers on the day before the 30 days ending on the as-of date who are not
                         churned on the as-of date, divided by all high-tier customers on that day before.
nps                      Percentage of promoters (score 9-10) minus percentage of detractors (score 0-6) among
                         the NPS answers given in the 30 days ending on the as-of date, from -100 to 100.
csat                     Mean of the CSAT answers given in the 30 days ending on the as-of date, each divided
                         by its survey's maximum score, as a share from 0 to 1.
d1_retention             Customers whose day 1 after their first event falls in the 30 days ending on the
                         as-of date and who had an event on that day, divided by all customers whose day 1
                         falls in those days.
d7_retention             Customers whose day 7 after their first event falls in the 30 days ending on the
                         as-of date and who had an event on that day, divided by all customers whose day 7
                         falls in those days.
d30_retention            Customers whose day 30 after their first event falls in the 30 days ending on the
                         as-of date and who had an event on that day, divided by all customers whose day 30
                         falls in those days.
activation_rate          Contacts whose activation window (the organization's, default 30 days) ended in the
                         30 days ending on the as-of date and who made their first purchase within it, divided
                         by all those contacts.
cac                      Channel spend dated in the 30 days ending on the as-of date divided by the new
                         customers of those days.
ltv_cac                  Mean customer value (revenue to date plus predicted 12-month value) of all buying
                         customers on the as-of date divided by CAC.
buying_customers         Customers with at least one purchase day on or before the as-of date.
churned_customers        Buying customers whose last purchase day is more than the churn window before the
                         as-of date.
=======================  =============================================================================

Decisions, and why:

- Every ratio is ``None`` when its denominator is zero (no active customers, no answers, an empty cohort, no new
  customers, no high-tier customers): "no data" must not read as 0% or as a perfect score.
- CSAT is normalised to a share of each survey's maximum (DESIGN.md says "on the survey's own scale"): answers on
  a 1-5 and a 1-10 survey can then be averaged and compared over time when an organization changes its survey.
  The mean raw score is returned as well, under ``csat_mean_score``, for showing on the survey's own scale.
- NPS uses the raw 0-10 score, whatever ``scale_max`` says: NPS is defined on 0-10.
- High-value retention leaves out ids of the start's high tier that have no purchase day on or before the as-of
  date: a high-tier customer has bought by definition, so such an id is stale history (a merged or deleted
  customer), and counting it as churned would lower the rate for a reason that has nothing to do with retention.
- D-k retention looks at the cohort whose day k falls in the period (first event day f with
  ``f + k`` in the period), so D1, D7 and D30 of one snapshot are all measured on the same 30 days of activity
  and every cohort member has had the chance to come back on day k.
- LTV/CAC uses all buying customers' mean value over the organization-wide CAC of the period: the per-channel
  version, with each channel's own customers, is in :mod:`reporting.channel_metrics`.
- Rows dated after the as-of date are ignored, so a snapshot re-run "as of" a past date gives the same numbers
  however much data arrived since.
- Everything is vectorised over sorted arrays (no per-customer Python loop): a million customers with eight
  million purchase days take a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

DEFAULT_PERIOD_DAYS = 30
"""Length of the KPI period in days."""

NPS_PROMOTER_MIN = 9
"""Lowest NPS score that counts as a promoter."""

NPS_DETRACTOR_MAX = 6
"""Highest NPS score that counts as a detractor."""

RETENTION_DAYS: tuple[int, ...] = (1, 7, 30)
"""The k of the Dk retention KPIs."""

_NO_DAY = np.iinfo(np.int64).min // 2
"""Stands for "no such day" in day arrays; far below any real day, and safe to subtract from."""


def gettext_noop(text: str) -> str:
    """Marks a label or definition for the translation catalogue; pages translate it when they show it.

    Named like Django's marker so that ``makemessages`` finds the strings, while this module stays free of Django.
    """
    return text


@dataclass(frozen=True)
class KpiDefinition:
    """What a KPI means, in one place: pages, API, alerts and exports all label KPIs from these."""

    code: str
    label: str
    unit: str
    """One of ``count``, ``money``, ``share`` (0-1), ``ratio`` or ``score``."""
    definition: str
    higher_is_better: bool


KPI_DEFINITIONS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "revenue",
        gettext_noop("Revenue"),
        "money",
        gettext_noop("Sum of the amounts of all purchase days in the 30 days ending on the as-of date."),
        True,
    ),
    KpiDefinition(
        "new_customers",
        gettext_noop("New customers"),
        "count",
        gettext_noop("Customers whose first purchase day falls in the 30 days ending on the as-of date."),
        True,
    ),
    KpiDefinition(
        "active_customers",
        gettext_noop("Active customers"),
        "count",
        gettext_noop("Customers with at least one purchase day in the 30 days ending on the as-of date."),
        True,
    ),
    KpiDefinition(
        "arpu",
        gettext_noop("ARPU"),
        "money",
        gettext_noop(
            "Revenue in the 30 days ending on the as-of date divided by the active customers of those 30 days."
        ),
        True,
    ),
    KpiDefinition(
        "repeat_purchase_rate",
        gettext_noop("Repeat-purchase rate"),
        "share",
        gettext_noop(
            "Active customers of the 30 days ending on the as-of date who had bought before those days or bought on at "
            "least two days within them, divided by all active customers of those days."
        ),
        True,
    ),
    KpiDefinition(
        "monthly_churn_rate",
        gettext_noop("Monthly churn rate"),
        "share",
        gettext_noop(
            "Customers who had bought and were not churned on the day before the 30 days ending on the as-of date and "
            "are churned on the as-of date, divided by all customers who had bought and were not churned on that day "
            "before."
        ),
        False,
    ),
    KpiDefinition(
        "high_value_retention",
        gettext_noop("High-value retention"),
        "share",
        gettext_noop(
            "High-tier customers on the day before the 30 days ending on the as-of date who are not churned on the "
            "as-of date, divided by all high-tier customers on that day before."
        ),
        True,
    ),
    KpiDefinition(
        "nps",
        gettext_noop("NPS"),
        "score",
        gettext_noop(
            "Percentage of promoters (score 9-10) minus percentage of detractors (score 0-6) among the NPS answers "
            "given in the 30 days ending on the as-of date, from -100 to 100."
        ),
        True,
    ),
    KpiDefinition(
        "csat",
        gettext_noop("CSAT"),
        "share",
        gettext_noop(
            "Mean of the CSAT answers given in the 30 days ending on the as-of date, each divided by its survey's "
            "maximum score, as a share from 0 to 1."
        ),
        True,
    ),
    KpiDefinition(
        "d1_retention",
        gettext_noop("D1 retention"),
        "share",
        gettext_noop(
            "Customers whose day 1 after their first event falls in the 30 days ending on the as-of date and "
            "who had an event on that day, divided by all customers whose day 1 falls in those days."
        ),
        True,
    ),
    KpiDefinition(
        "d7_retention",
        gettext_noop("D7 retention"),
        "share",
        gettext_noop(
            "Customers whose day 7 after their first event falls in the 30 days ending on the as-of date and "
            "who had an event on that day, divided by all customers whose day 7 falls in those days."
        ),
        True,
    ),
    KpiDefinition(
        "d30_retention",
        gettext_noop("D30 retention"),
        "share",
        gettext_noop(
            "Customers whose day 30 after their first event falls in the 30 days ending on the as-of date and "
            "who had an event on that day, divided by all customers whose day 30 falls in those days."
        ),
        True,
    ),
    KpiDefinition(
        "activation_rate",
        gettext_noop("Activation rate"),
        "share",
        gettext_noop(
            "Contacts whose activation window (the organization's, default 30 days) ended in the 30 days ending on "
            "the as-of date and who made their first purchase within it, divided by all those contacts."
        ),
        True,
    ),
    KpiDefinition(
        "cac",
        gettext_noop("CAC"),
        "money",
        gettext_noop(
            "Channel spend dated in the 30 days ending on the as-of date divided by the new customers of those days."
        ),
        False,
    ),
    KpiDefinition(
        "ltv_cac",
        gettext_noop("LTV/CAC"),
        "ratio",
        gettext_noop(
            "Mean customer value (revenue to date plus predicted 12-month value) of all buying customers on the "
            "as-of date divided by CAC."
        ),
        True,
    ),
    KpiDefinition(
        "buying_customers",
        gettext_noop("Buying customers"),
        "count",
        gettext_noop("Customers with at least one purchase day on or before the as-of date."),
        True,
    ),
    KpiDefinition(
        "churned_customers",
        gettext_noop("Churned customers"),
        "count",
        gettext_noop("Buying customers whose last purchase day is more than the churn window before the as-of date."),
        False,
    ),
)
"""Every KPI of the snapshot, in display order."""

KPI_BY_CODE: dict[str, KpiDefinition] = {kpi.code: kpi for kpi in KPI_DEFINITIONS}


@dataclass(frozen=True)
class PurchaseHistory:
    """Purchase days on or before the as-of date, sorted by (customer, day), with per-customer summaries.

    Rows of one customer are contiguous, so per-customer reductions are ``np.<ufunc>.reduceat`` over
    ``group_starts`` instead of a hash group-by: several times faster on millions of rows.
    """

    customer_ids: npt.NDArray[np.int64]
    """Per row."""
    days: npt.NDArray[np.int64]
    """Per row."""
    amounts: npt.NDArray[np.float64]
    """Per row."""
    group_starts: npt.NDArray[np.intp]
    """Index of each buyer's first row."""
    buyers: npt.NDArray[np.int64]
    """Distinct customer ids, ascending; one per group."""
    first_days: npt.NDArray[np.int64]
    """Per buyer."""
    last_days: npt.NDArray[np.int64]
    """Per buyer."""
    purchase_day_counts: npt.NDArray[np.int64]
    """Per buyer: the number of purchase days (rows)."""

    def last_day_on_or_before(self, day: int) -> npt.NDArray[np.int64]:
        """Per buyer, the last purchase day on or before ``day``; ``_NO_DAY`` for a buyer with none yet."""
        if len(self.days) == 0:
            return np.empty(0, dtype=np.int64)
        masked = np.where(self.days <= day, self.days, _NO_DAY)
        return np.maximum.reduceat(masked, self.group_starts)

    def count_in(self, first_day: int, last_day: int) -> npt.NDArray[np.int64]:
        """Per buyer, the number of purchase days from ``first_day`` to ``last_day`` inclusive."""
        if len(self.days) == 0:
            return np.empty(0, dtype=np.int64)
        inside = ((self.days >= first_day) & (self.days <= last_day)).astype(np.int64)
        return np.add.reduceat(inside, self.group_starts)


def purchase_history(purchase_days: pd.DataFrame, as_of: int) -> PurchaseHistory:
    """Sort and summarise ``purchase_days`` (customer_id, day, amount) up to ``as_of``.

    The caller sends rows sorted by (customer_id, day); that is checked, not trusted, and the rows are sorted only
    when they are not, which keeps the common case free of an eight-million-row sort.
    """
    customer_ids = purchase_days["customer_id"].to_numpy(dtype=np.int64)
    days = purchase_days["day"].to_numpy(dtype=np.int64)
    amounts = purchase_days["amount"].to_numpy(dtype=np.float64)
    on_or_before = days <= as_of
    if not on_or_before.all():
        customer_ids, days, amounts = customer_ids[on_or_before], days[on_or_before], amounts[on_or_before]
    if len(days) > 1:
        same_customer = customer_ids[1:] == customer_ids[:-1]
        in_order = (customer_ids[1:] > customer_ids[:-1]) | (same_customer & (days[1:] >= days[:-1]))
        if not in_order.all():
            order = np.lexsort((days, customer_ids))
            customer_ids, days, amounts = customer_ids[order], days[order], amounts[order]
    is_group_start = np.ones(len(days), dtype=bool)
    is_group_start[1:] = customer_ids[1:] != customer_ids[:-1]
    group_starts = np.flatnonzero(is_group_start)
    purchase_day_counts = np.diff(np.append(group_starts, len(days)))
    return PurchaseHistory(
        customer_ids=customer_ids,
        days=days,
        amounts=amounts,
        group_starts=group_starts,
        buyers=customer_ids[group_starts],
        first_days=days[group_starts],
        last_days=days[group_starts + purchase_day_counts - 1],
        purchase_day_counts=purchase_day_counts,
    )


def churned_on(last_days: npt.NDArray[np.int64], day: int, churn_window_days: int) -> npt.NDArray[np.bool_]:
    """Per buyer, churned on ``day``: has a purchase day on or before it, the last more than the window before."""
    return (last_days != _NO_DAY) & (day - last_days > churn_window_days)


def _ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` as a plain float, ``None`` when the denominator is zero (undefined, not 0)."""
    if denominator == 0:
        return None
    return float(numerator) / float(denominator)


def _first_event_retention(event_days: pd.DataFrame, as_of: int, period_first_day: int) -> dict[str, float | None]:
    """D1/D7/D30 retention: of customers whose day k after their first event falls in the period, the share with
    an event on exactly that day."""
    customer_ids = event_days["customer_id"].to_numpy(dtype=np.int64)
    days = event_days["day"].to_numpy(dtype=np.int64)
    on_or_before = days <= as_of
    if not on_or_before.all():
        customer_ids, days = customer_ids[on_or_before], days[on_or_before]
    result: dict[str, float | None] = {f"d{k}_retention": None for k in RETENTION_DAYS}
    if len(days) == 0:
        return result
    codes, _ = pd.factorize(customer_ids)
    first_per_customer = np.full(codes.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_per_customer, codes, days)
    days_since_first = days - first_per_customer[codes]
    for k in RETENTION_DAYS:
        in_cohort = (first_per_customer + k >= period_first_day) & (first_per_customer + k <= as_of)
        cohort_size = int(in_cohort.sum())
        # A customer can have at most one row on day k (event days are distinct), but count customers, not rows.
        retained = np.unique(codes[days_since_first == k])
        retained_count = int(in_cohort[retained].sum())
        result[f"d{k}_retention"] = _ratio(retained_count, cohort_size)
    return result


def _feedback_kpis(feedback: pd.DataFrame, period_first_day: int, as_of: int) -> dict[str, float | None]:
    """NPS (points, -100 to 100), CSAT (share of each survey's maximum) and the mean raw CSAT score."""
    days = feedback["day"].to_numpy(dtype=np.int64)
    in_period = (days >= period_first_day) & (days <= as_of)
    kinds = feedback["kind"].to_numpy(dtype=object)[in_period]
    scores = feedback["score"].to_numpy(dtype=np.float64)[in_period]
    scale_maxima = feedback["scale_max"].to_numpy(dtype=np.float64)[in_period]

    nps_scores = scores[kinds == "nps"]
    nps: float | None = None
    if len(nps_scores):
        promoters = int((nps_scores >= NPS_PROMOTER_MIN).sum())
        detractors = int((nps_scores <= NPS_DETRACTOR_MAX).sum())
        nps = 100.0 * (promoters - detractors) / len(nps_scores)

    is_csat = (kinds == "csat") & (scale_maxima > 0)
    csat_scores, csat_maxima = scores[is_csat], scale_maxima[is_csat]
    csat: float | None = None
    csat_mean_score: float | None = None
    if len(csat_scores):
        csat = float(np.mean(csat_scores / csat_maxima))
        csat_mean_score = float(np.mean(csat_scores))
    return {"nps": nps, "csat": csat, "csat_mean_score": csat_mean_score}


def _activation_rate(
    customers: pd.DataFrame, history: PurchaseHistory, *, as_of: int, period_days: int, window: int
) -> float | None:
    """Of the contacts whose activation window ended in the period (each had all of it), the share who bought
    within it: contact day c with c + window in the period, first purchase day f with c <= f <= c + window."""
    contact_days = customers["created_day"].to_numpy(dtype=np.int64)
    window_end = contact_days + window
    observed = (window_end >= as_of - period_days + 1) & (window_end <= as_of)
    if not observed.any():
        return None
    ids = customers["customer_id"].to_numpy(dtype=np.int64)[observed]
    positions = np.searchsorted(history.buyers, ids)
    bought = positions < len(history.buyers)
    bought[bought] = history.buyers[positions[bought]] == ids[bought]
    first = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
    first[bought] = history.first_days[positions[bought]]
    contact = contact_days[observed]
    activated = (first >= contact) & (first <= contact + window)
    return _ratio(int(activated.sum()), len(ids))


def compute_kpis(
    *,
    as_of: int,
    purchase_days: pd.DataFrame,
    customers: pd.DataFrame,
    spend: pd.DataFrame,
    event_days: pd.DataFrame,
    feedback: pd.DataFrame,
    scores: pd.DataFrame,
    high_tier_at_start: npt.ArrayLike | None,
    churn_window_days: int,
    gross_margin: float,
    activation_window_days: int = 30,
    period_days: int = DEFAULT_PERIOD_DAYS,
) -> dict[str, float | int | None]:
    """Every KPI of :data:`KPI_DEFINITIONS` as of ``as_of``, plus ``csat_mean_score``.

    Counts are ints, everything else a float or ``None`` when undefined (see the module docstring).
    ``gross_margin`` is part of the common input of the nightly reports; no KPI here needs it (customer value in
    ``scores`` already carries the margin).
    """
    del gross_margin  # A shared input of the nightly reports, not needed for these KPIs.
    period_first_day = as_of - period_days + 1
    period_start = as_of - period_days

    history = purchase_history(purchase_days, as_of)
    in_period = (history.days >= period_first_day) & (history.days <= as_of)
    revenue = float(history.amounts[in_period].sum())
    days_in_period = history.count_in(period_first_day, as_of)
    active = days_in_period > 0
    active_customers = int(active.sum())
    repeat_buyers = int((active & ((history.first_days < period_first_day) | (days_in_period >= 2))).sum())
    new_customers = int(((history.first_days >= period_first_day) & (history.first_days <= as_of)).sum())

    churned_now = churned_on(history.last_days, as_of, churn_window_days)
    last_at_start = history.last_day_on_or_before(period_start)
    not_churned_at_start = (last_at_start != _NO_DAY) & ~churned_on(last_at_start, period_start, churn_window_days)
    became_churned = int((not_churned_at_start & churned_now).sum())

    high_value_retention: float | None = None
    if high_tier_at_start is not None:
        high_ids = np.unique(np.asarray(high_tier_at_start, dtype=np.int64))
        positions = np.searchsorted(history.buyers, high_ids)
        found = positions < len(history.buyers)
        found[found] = history.buyers[positions[found]] == high_ids[found]
        high_positions = positions[found]
        high_value_retention = _ratio(int((~churned_now[high_positions]).sum()), len(high_positions))

    spend_days = spend["day"].to_numpy(dtype=np.int64)
    spend_in_period = (spend_days >= period_first_day) & (spend_days <= as_of)
    period_spend = float(spend["amount"].to_numpy(dtype=np.float64)[spend_in_period].sum())
    cac = _ratio(period_spend, new_customers)
    customer_values = scores["customer_value"].to_numpy(dtype=np.float64)
    mean_customer_value = float(customer_values.mean()) if len(customer_values) else None
    ltv_cac = None if mean_customer_value is None or not cac else mean_customer_value / cac

    kpis: dict[str, float | int | None] = {
        "revenue": revenue,
        "new_customers": new_customers,
        "active_customers": active_customers,
        "arpu": _ratio(revenue, active_customers),
        "repeat_purchase_rate": _ratio(repeat_buyers, active_customers),
        "monthly_churn_rate": _ratio(became_churned, int(not_churned_at_start.sum())),
        "high_value_retention": high_value_retention,
        "cac": cac,
        "ltv_cac": ltv_cac,
        "buying_customers": len(history.buyers),
        "churned_customers": int(churned_now.sum()),
    }
    kpis["activation_rate"] = _activation_rate(
        customers, history, as_of=as_of, period_days=period_days, window=activation_window_days
    )
    kpis.update(_feedback_kpis(feedback, period_first_day, as_of))
    kpis.update(_first_event_retention(event_days, as_of, period_first_day))
    return kpis
