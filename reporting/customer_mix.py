"""The customer mix of one night: RFM grid, tiers, value distribution and lifecycle stage flow (no Django).

Arrays and frames in, plain JSON-ready dicts out, so the nightly step can store them as they are and tests can
check them by hand. Money is rounded to cents only at the end (sums are taken on the unrounded values).

Choices, and why:

- RFM grid: recency score (rows, 5 = most recent, on top) against frequency score (columns, 1..5), both the
  nightly quintile scores of buying customers; customers who never bought have no RFM score and are left out.
  Each cell carries the customers in it and the sum of their customer value.
- Value distribution: customer value is heavily right-skewed (a few customers are worth hundreds of times the
  median), so equal-width bins would put nearly everyone in the first bar. Bin edges follow the 1-2-5 series
  (…, 10, 20, 50, 100, 200, …): equal steps on a log axis, round numbers a reader can quote. The first bin starts
  at 0 (or at the lowest value if any is negative) and the last edge is the first series number above the
  highest value; bins are [low, high). When that gives more than ``MAX_VALUE_BINS`` bins the series thins to
  1-10 (powers of ten).
- Stage flow: the stage of every contact at each of the last ``FLOW_MONTHS`` calendar month-ends on or before
  the as-of day (a month still running has no month-end yet), computed from the purchase history with the rules
  of :mod:`retention.lifecycle` exactly as the nightly scores compute today's stage. A contact counts from its
  contact day (the earlier of its creation and its first purchase day); before that it has no stage, and its
  first stage shows as a transition from ``""`` ("new contact"). Transitions compare each month-end with the one
  before it and include customers who stayed in the same stage, so every row of the matrix adds up to the
  previous month's count.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from retention.lifecycle import NO_STAGE, STAGES, lifecycle_stages

EPOCH = datetime.date(1970, 1, 1)
RFM_SCORES = (1, 2, 3, 4, 5)
TIERS = ("high", "mid", "potential")
"""Tier codes, highest first (segmentation.models.Tier)."""
FLOW_MONTHS = 12
MAX_VALUE_BINS = 16
_SERIES_125 = (1.0, 2.0, 5.0)


def _money(value: float) -> float:
    return round(float(value), 2)


def rfm_grid(r_score: npt.ArrayLike, f_score: npt.ArrayLike, customer_value: npt.ArrayLike) -> dict:
    """Customers and summed customer value per (recency score, frequency score) cell.

    Rows with a score outside 1..5 (customers without a purchase score 0) are left out. Cells come row by row,
    recency 5 first, frequency 1..5 within a row: the order the heatmap is read in.
    """
    r = np.asarray(r_score, dtype=np.int64)
    f = np.asarray(f_score, dtype=np.int64)
    value = np.nan_to_num(np.asarray(customer_value, dtype=np.float64))
    scored = (r >= 1) & (r <= 5) & (f >= 1) & (f <= 5)
    index = (r[scored] - 1) * 5 + (f[scored] - 1)
    counts = np.bincount(index, minlength=25)
    values = np.bincount(index, weights=value[scored], minlength=25)
    cells = [
        {
            "r": r_value,
            "f": f_value,
            "customers": int(counts[(r_value - 1) * 5 + f_value - 1]),
            "value": _money(values[(r_value - 1) * 5 + f_value - 1]),
        }
        for r_value in reversed(RFM_SCORES)
        for f_value in RFM_SCORES
    ]
    return {"cells": cells, "customers": int(counts.sum()), "value": _money(values.sum())}


def tier_mix(tier: npt.ArrayLike, customer_value: npt.ArrayLike) -> list[dict]:
    """Per tier (high first): customers, summed value, and their shares of all tiered customers and value.

    Customers without a tier (no purchase yet) are outside the shares: the pyramid is of buying customers.
    Shares are ``None`` when there is nobody (or no value) to share.
    """
    tiers = np.asarray(tier, dtype=str)
    value = np.nan_to_num(np.asarray(customer_value, dtype=np.float64))
    rows = []
    for code in TIERS:
        members = tiers == code
        rows.append({"tier": code, "customers": int(members.sum()), "value": float(value[members].sum())})
    total_customers = sum(row["customers"] for row in rows)
    total_value = sum(row["value"] for row in rows)
    for row in rows:
        row["customer_share"] = row["customers"] / total_customers if total_customers else None
        row["value_share"] = row["value"] / total_value if total_value > 0 else None
        row["value"] = _money(row["value"])
    return rows


def _series_edges(low: float, high: float, steps: tuple[float, ...]) -> list[float]:
    """Series numbers (``steps`` x powers of ten) from the largest one <= ``low`` to the first one > ``high``."""
    decade = math.floor(math.log10(low))
    candidates: list[float] = []
    while not candidates or candidates[-1] <= high:
        candidates.extend(float(f"{step * 10.0**decade:.6g}") for step in steps)
        decade += 1
    start = max(i for i, edge in enumerate(candidates) if edge <= low) if candidates[0] <= low else 0
    stop = next(i for i, edge in enumerate(candidates) if edge > high)
    return candidates[start : stop + 1]


def value_bins(customer_value: npt.ArrayLike) -> list[dict]:
    """A histogram of customer value on 1-2-5 edges (see the module docstring): ``low, high, customers, value``.

    Empty input gives no bins. NaN values are left out.
    """
    value = np.asarray(customer_value, dtype=np.float64)
    value = value[~np.isnan(value)]
    if value.size == 0:
        return []
    top = float(value.max())
    positive = value[value > 0]
    if positive.size == 0:
        edges = [min(float(value.min()), 0.0), max(top, 0.0) + 1.0]
    else:
        # The lowest edge above 0 sits at the 1st percentile of the positive values, so a handful of tiny
        # values does not add a string of near-empty bars.
        floor_value = float(np.quantile(positive, 0.01))
        series = _series_edges(floor_value, top, _SERIES_125)
        if len(series) > MAX_VALUE_BINS:
            series = _series_edges(floor_value, top, (1.0,))
        start = min(float(value.min()), 0.0)
        edges = [start] + [edge for edge in series if edge > start]
    edges_array = np.asarray(edges)
    index = np.clip(np.searchsorted(edges_array, value, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(index, minlength=len(edges) - 1)
    sums = np.bincount(index, weights=value, minlength=len(edges) - 1)
    return [
        {"low": edges[i], "high": edges[i + 1], "customers": int(counts[i]), "value": _money(sums[i])}
        for i in range(len(edges) - 1)
    ]


def month_ends(as_of: datetime.date, months: int = FLOW_MONTHS) -> list[datetime.date]:
    """The last ``months`` calendar month-ends on or before ``as_of``, oldest first."""
    first_of_next = (as_of + datetime.timedelta(days=1)).replace(day=1)
    ends = []
    cursor = first_of_next
    while len(ends) < months:
        end = cursor - datetime.timedelta(days=1)
        if end <= as_of:
            ends.append(end)
        cursor = end.replace(day=1)
    return list(reversed(ends))


def _day_number(day: datetime.date) -> int:
    return (day - EPOCH).days


def _comeback_rows(row_customer: np.ndarray, row_day: np.ndarray, churn_window_days: int) -> np.ndarray:
    """True on purchase days that follow a gap of more than the churn window (the customer came back)."""
    gaps = np.diff(row_day, prepend=row_day[:1])
    same_customer = np.r_[False, row_customer[1:] == row_customer[:-1]] if row_day.size else np.zeros(0, bool)
    return same_customer & (gaps > churn_window_days)


def _group_bounds(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row index of each run of equal keys."""
    if not sorted_keys.size:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return starts, np.r_[starts[1:], sorted_keys.size] - 1


def _stages_from_rows(
    n: int,
    contact_days: np.ndarray,
    row_customer: np.ndarray,
    row_day: np.ndarray,
    comeback_row: np.ndarray,
    day: int,
    churn_window_days: int,
) -> npt.NDArray[np.str_]:
    on_or_before = row_day <= day
    counts = np.bincount(row_customer[on_or_before], minlength=n)
    first = np.zeros(n, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    comeback = np.full(n, -1, dtype=np.int64)
    # Rows are sorted by customer then day: a customer's first kept row is its first purchase day, its last
    # kept row the latest one on or before ``day``.
    kept_customer, kept_day = row_customer[on_or_before], row_day[on_or_before]
    starts, ends = _group_bounds(kept_customer)
    first[kept_customer[starts]] = kept_day[starts]
    last[kept_customer[ends]] = kept_day[ends]
    back = on_or_before & comeback_row
    back_customer, back_day = row_customer[back], row_day[back]
    _, back_ends = _group_bounds(back_customer)
    comeback[back_customer[back_ends]] = back_day[back_ends]

    buyer = counts > 0
    first_age = np.where(buyer, day - first, np.nan)
    last_age = np.where(buyer, day - last, np.nan)
    comeback_age = np.where(buyer & (comeback >= 0), day - comeback, np.nan)
    stages = lifecycle_stages(first_age, last_age, counts, comeback_age, churn_window_days=churn_window_days)
    return np.where(contact_days <= day, stages, NO_STAGE)


def stage_flow(
    *,
    as_of: datetime.date,
    contacts: pd.DataFrame,
    purchase_days: pd.DataFrame,
    churn_window_days: int,
    months: int = FLOW_MONTHS,
) -> dict:
    """Stage counts at each of the last ``months`` month-ends, and the transitions into each from the one before.

    ``contacts``: ``customer_id, created_day`` (day numbers since 1970-01-01; the contact day). ``purchase_days``:
    ``customer_id, day`` (one row per purchase day, any order). Customers with purchase days but no contact row
    count from their first purchase day. Returns ``{"stages": [...], "months": [{"month_end", "counts",
    "transitions": [{"from", "to", "customers"}]}]}``, oldest month first; ``from`` is ``""`` for customers who
    were not contacts at the previous month-end.
    """
    days = purchase_days[["customer_id", "day"]].sort_values(["customer_id", "day"], kind="stable")
    row_ids = days["customer_id"].to_numpy(np.int64)
    row_day = days["day"].to_numpy(np.int64)
    contact_ids = contacts["customer_id"].to_numpy(np.int64)
    customer_ids = np.union1d(contact_ids, row_ids)
    contact_days = np.full(customer_ids.size, np.iinfo(np.int64).max, dtype=np.int64)
    contact_days[np.searchsorted(customer_ids, contact_ids)] = contacts["created_day"].to_numpy(np.int64)
    row_customer = np.searchsorted(customer_ids, row_ids)
    if row_customer.size:
        first_purchase = np.full(customer_ids.size, np.iinfo(np.int64).max, dtype=np.int64)
        first_purchase[row_customer[::-1]] = row_day[::-1]
        contact_days = np.minimum(contact_days, first_purchase)
    comeback_row = _comeback_rows(row_customer, row_day, churn_window_days)

    ends = month_ends(as_of, months + 1)
    codes = (*STAGES, NO_STAGE)
    width = len(codes)
    previous: np.ndarray | None = None
    out = []
    for end in ends:
        stages = _stages_from_rows(
            customer_ids.size, contact_days, row_customer, row_day, comeback_row, _day_number(end), churn_window_days
        )
        current = np.full(stages.size, width - 1, dtype=np.int64)
        for position, code in enumerate(STAGES):
            current[stages == code] = position
        if previous is not None:
            pairs = np.bincount(previous * width + current, minlength=width * width).reshape(width, width)
            counts = np.bincount(current, minlength=width)
            out.append(
                {
                    "month_end": end.isoformat(),
                    "counts": {code: int(counts[i]) for i, code in enumerate(STAGES)},
                    "transitions": [
                        {"from": codes[i], "to": codes[j], "customers": int(pairs[i, j])}
                        for i in range(width)
                        for j in range(len(STAGES))
                        if pairs[i, j]
                    ],
                }
            )
        previous = current
    return {"stages": list(STAGES), "months": out}


def score_breakdown(
    tier: npt.ArrayLike, stage: npt.ArrayLike, customer_value: npt.ArrayLike, at_risk: npt.ArrayLike | None = None
) -> dict:
    """Customers and summed customer value per tier and per stage, over every scored customer, and per tier
    among those flagged at risk (``at_risk``: the at-risk list's count).

    The scores page's summary tables, precomputed so the page does not group a million score rows per visit.
    Values are rounded to cents one by one before summing, as the stored scores are, so the sums equal a
    ``SUM`` over the score table. Keys sort like the table's ``ORDER BY`` (customers without a tier have "").
    """
    value = np.round(np.nan_to_num(np.asarray(customer_value, dtype=np.float64)), 2)
    tiers = np.asarray(tier).astype(str)
    flagged = np.zeros(tiers.size, dtype=bool) if at_risk is None else np.asarray(at_risk, dtype=bool)
    result = {}
    for name, field, codes, keep in (
        ("tier", "tier", tiers, slice(None)),
        ("stage", "stage", np.asarray(stage).astype(str), slice(None)),
        ("at_risk", "tier", tiers, flagged),
    ):
        keys, inverse = np.unique(codes[keep], return_inverse=True)
        counts = np.bincount(inverse, minlength=keys.size)
        sums = np.bincount(inverse, weights=value[keep], minlength=keys.size)
        result[name] = [
            {field: str(key), "customers": int(counts[i]), "value": _money(sums[i])} for i, key in enumerate(keys)
        ]
    return result


def customer_mix(
    *,
    as_of: datetime.date,
    scores: pd.DataFrame,
    contacts: pd.DataFrame,
    purchase_days: pd.DataFrame,
    churn_window_days: int,
) -> dict:
    """Every part of the night's snapshot: ``rfm_grid``, ``tiers``, ``value_bins``, ``stage_flow``,
    ``score_breakdown``.

    ``scores`` has one row per scored customer with ``r_score, f_score, tier, customer_value, purchase_days``
    (the nightly score frame); value figures are of buying customers (``purchase_days > 0``).
    """
    buyers = scores[scores["purchase_days"] > 0]
    value = buyers["customer_value"].to_numpy(np.float64)
    return {
        "rfm_grid": rfm_grid(buyers["r_score"].to_numpy(), buyers["f_score"].to_numpy(), value),
        "tiers": tier_mix(buyers["tier"].astype(str).to_numpy(), value),
        "value_bins": value_bins(value),
        "stage_flow": stage_flow(
            as_of=as_of, contacts=contacts, purchase_days=purchase_days, churn_window_days=churn_window_days
        ),
        "score_breakdown": score_breakdown(
            scores["tier"].astype(str).to_numpy(),
            scores["stage"].astype(str).to_numpy(),
            scores["customer_value"],
            scores["at_risk"].to_numpy(bool),
        ),
    }
