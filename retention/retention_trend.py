"""A year of retention history rebuilt each night from the purchase and event history (no Django).

The KPI snapshot (``reporting/kpis.py``) holds one value per nightly run, so a trend read from the snapshots is
only as long as the nights that have been run. The same definitions evaluated at past dates give the history at
once, from the orders and events the night reads anyway:

- **monthly churn rate** of a calendar month (DESIGN.md §4, the KPI ``monthly_churn_rate`` with the calendar
  month as the period): customers who had bought and were not churned at the month's start (the end of the day
  before its first day) and are churned at its end, divided by all customers who had bought and were not churned
  at its start. Churned on day t: the last purchase day on or before t is more than the churn window before t.
  The last 12 complete months are given, and the current month to date (``complete: false``, its end is the
  as-of date) unless the as-of date is the last day of its month.
- **D1/D7/D30 retention** per month of first event (DESIGN.md §4, the KPIs ``d1_retention`` …): of the customers
  whose first event falls in the month, the share with an event on exactly day k after their first event. A month
  is measured for k only when it is old enough: its last day plus k is on or before the as-of date, so every
  member has had the chance to come back on day k. Younger months are ``None`` (not measured yet), never 0. The
  last 12 complete months are given.

Where the definitions coincide, these equal the KPI of the snapshot: the churn of a 30-day month evaluated as of
its last day is the snapshot's ``monthly_churn_rate`` of that day (the KPI's period is the 30 days ending on the
as-of date), and the D-k of a 30-day month is the snapshot's ``dk_retention`` as of the month's last day plus k.

Decisions, and why:

- Calendar months in the organization's time zone (the day numbers the night reads), like the cohort matrix, so
  the trend lines up with the monthly target and the cohort heatmap.
- Every ratio is ``None`` when its denominator is zero: "no data" must not read as 0%.
- The current month's churn is month to date: it rises as the month goes on, so it is flagged, not mixed in.
- Vectorised over customers: the loop runs over the 14 month boundaries, each a pass over sorted arrays; rows
  older than the first month's start minus the churn window cannot change any result and are dropped first.
- Rows dated after the as-of date are ignored, so a re-run "as of" a past date gives that night's history.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

TREND_MONTHS = 12
"""Complete calendar months in the trend."""

RETENTION_DAYS: tuple[int, ...] = (1, 7, 30)
"""The k of D-k retention (the same as the KPIs')."""

EPOCH = datetime.date(1970, 1, 1)
"""Day number 0."""

_NO_DAY = np.iinfo(np.int64).min // 2
"""Stands for "no purchase day yet"; far below any real day, and safe to subtract from."""


def day_to_date(day: int) -> datetime.date:
    return EPOCH + datetime.timedelta(days=int(day))


def date_to_day(date: datetime.date) -> int:
    return (date - EPOCH).days


def _month_first_day(year: int, month: int) -> int:
    return date_to_day(datetime.date(year, month, 1))


def _months_back(date: datetime.date, count: int) -> tuple[int, int]:
    """(year, month) ``count`` months before ``date``'s month."""
    index = date.year * 12 + date.month - 1 - count
    return index // 12, index % 12 + 1


def trend_months(as_of: int, months: int = TREND_MONTHS) -> list[tuple[int, int, bool]]:
    """``(first_day, last_day, complete)`` of the months of the trend, oldest first.

    The ``months`` complete calendar months ending on or before ``as_of``, then the as-of month to date when the
    as-of date is not its month's last day (``complete`` False, ``last_day`` = ``as_of``).
    """
    as_of_date = day_to_date(as_of)
    as_of_month_complete = (as_of_date + datetime.timedelta(days=1)).month != as_of_date.month
    newest_complete = 0 if as_of_month_complete else 1
    result = []
    for back in range(newest_complete + months - 1, newest_complete - 1, -1):
        year, month = _months_back(as_of_date, back)
        next_year, next_month = _months_back(as_of_date, back - 1)
        result.append((_month_first_day(year, month), _month_first_day(next_year, next_month) - 1, True))
    if not as_of_month_complete:
        result.append((_month_first_day(as_of_date.year, as_of_date.month), as_of, False))
    return result


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else float(numerator) / float(denominator)


def _sorted_rows(
    frame: pd.DataFrame, as_of: int, keep_from: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``customer_id`` and ``day`` rows with ``keep_from <= day <= as_of``, sorted by (customer, day).

    The nightly frames arrive sorted; that is checked, not trusted, and sorted only when they are not.
    """
    customer_ids = frame["customer_id"].to_numpy(dtype=np.int64)
    days = frame["day"].to_numpy(dtype=np.int64)
    keep = days <= as_of
    if keep_from is not None:
        keep &= days >= keep_from
    if not keep.all():
        customer_ids, days = customer_ids[keep], days[keep]
    if len(days) > 1:
        same = customer_ids[1:] == customer_ids[:-1]
        in_order = (customer_ids[1:] > customer_ids[:-1]) | (same & (days[1:] >= days[:-1]))
        if not in_order.all():
            order = np.lexsort((days, customer_ids))
            customer_ids, days = customer_ids[order], days[order]
    return customer_ids, days


def _group_starts(customer_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    is_start = np.ones(len(customer_ids), dtype=bool)
    is_start[1:] = customer_ids[1:] != customer_ids[:-1]
    return np.flatnonzero(is_start)


def monthly_churn(*, as_of: int, purchase_days: pd.DataFrame, churn_window_days: int) -> list[dict[str, Any]]:
    """The monthly churn rate of each month of :func:`trend_months` (see the module docstring)."""
    months = trend_months(as_of)
    window = int(churn_window_days)
    # Whether a customer is churned at a boundary t depends only on their purchase days in [t - window, t].
    customer_ids, days = _sorted_rows(purchase_days, as_of, keep_from=months[0][0] - 1 - window)
    starts = _group_starts(customer_ids)
    boundaries = [months[0][0] - 1] + [last for _, last, _ in months]
    last_on_or_before: list[npt.NDArray[np.int64]] = []
    for boundary in boundaries:
        if len(days) == 0:
            last_on_or_before.append(np.empty(0, dtype=np.int64))
            continue
        last_on_or_before.append(np.maximum.reduceat(np.where(days <= boundary, days, _NO_DAY), starts))
    result = []
    for index, (first, last, complete) in enumerate(months):
        start = first - 1
        at_start, at_end = last_on_or_before[index], last_on_or_before[index + 1]
        not_churned_at_start = at_start >= start - window  # also false for "no purchase yet" (_NO_DAY)
        churned_at_end = last - at_end > window
        base = int(not_churned_at_start.sum())
        churned = int((not_churned_at_start & churned_at_end).sum())
        result.append(
            {
                "month": day_to_date(first).isoformat(),
                "start": day_to_date(start).isoformat(),
                "end": day_to_date(last).isoformat(),
                "complete": complete,
                "customers_at_start": base,
                "churned": churned,
                "rate": _ratio(churned, base),
            }
        )
    return result


def first_event_retention(*, as_of: int, event_days: pd.DataFrame) -> list[dict[str, Any]]:
    """D1/D7/D30 retention of the customers first seen in each complete month of :func:`trend_months`."""
    months = [(first, last) for first, last, complete in trend_months(as_of) if complete]
    customer_ids, days = _sorted_rows(event_days, as_of)
    if len(days):
        starts = _group_starts(customer_ids)
        counts = np.diff(np.append(starts, len(days)))
        first_days = days[starts]
        since_first = days - np.repeat(first_days, counts)
        group_of_row = np.repeat(np.arange(len(starts)), counts)
    else:
        first_days = np.empty(0, dtype=np.int64)
        since_first = np.empty(0, dtype=np.int64)
        group_of_row = np.empty(0, dtype=np.intp)
    firsts = np.array([first for first, _ in months], dtype=np.int64)
    lasts = np.array([last for _, last in months], dtype=np.int64)
    # Month of each customer's first event as an index into ``months`` (-1: outside the trend).
    position = np.searchsorted(firsts, first_days, side="right") - 1
    inside = (position >= 0) & (first_days <= lasts[np.clip(position, 0, len(months) - 1)])
    month_index = np.where(inside, position, -1)
    sizes = np.bincount(month_index[inside], minlength=len(months))
    retained: dict[int, npt.NDArray[np.int64]] = {}
    for k in RETENTION_DAYS:
        # Event days of a customer are distinct, so each customer has at most one row on day k.
        groups = group_of_row[since_first == k]
        groups = groups[month_index[groups] >= 0]
        retained[k] = np.bincount(month_index[groups], minlength=len(months))
    result = []
    for index, (first, last) in enumerate(months):
        row: dict[str, Any] = {"month": day_to_date(first).isoformat(), "customers": int(sizes[index])}
        for k in RETENTION_DAYS:
            old_enough = last + k <= as_of
            row[f"d{k}_retained"] = int(retained[k][index]) if old_enough else None
            row[f"d{k}"] = _ratio(int(retained[k][index]), int(sizes[index])) if old_enough else None
        result.append(row)
    return result


def compute_retention_trend(
    *, as_of: int, purchase_days: pd.DataFrame, event_days: pd.DataFrame, churn_window_days: int
) -> dict[str, Any]:
    """Both histories as plain JSON-ready data: ``{"churn": [...], "first_event_retention": [...]}``.

    ``purchase_days`` has one row per customer and purchase day (``customer_id``, ``day``; other columns are
    ignored), ``event_days`` one row per customer and day with an event; days are day numbers in the
    organization's time zone, as in ``reporting/kpis.py``.
    """
    return {
        "churn": monthly_churn(as_of=as_of, purchase_days=purchase_days, churn_window_days=churn_window_days),
        "first_event_retention": first_event_retention(as_of=as_of, event_days=event_days),
    }
