"""Acquisition-channel metrics per calendar month and for the trailing 90 days, from plain frames (no Django).

The nightly run stores one row per channel and period; the channel pages and the API read them. Inputs are the
frames of :func:`reporting.kpis.compute_kpis` (day numbers in the organization's time zone); a customer belongs to
the channel that first touched them (``customers.channel_id``, 0 for none).

Periods: every calendar month from the month of the earliest data (first spend, contact or purchase day on or
before the as-of date) through the month containing the as-of date, whose row ends on the as-of date; plus one
``trailing_90d`` row for ``as_of - 89`` to ``as_of``. Per channel c and period P:

=====================  =======================================================================================
spend                  sum of c's spend rows dated in P
new_customers          customers of c whose first purchase day is in P
contacts               customers of c created in P
converted_contacts     of those contacts, the ones whose first purchase day is 0 to 30 days after their creation
                       day (and on or before the as-of date)
conversion             converted_contacts / contacts
cac                    spend / new_customers (0 when there are new customers and no spend)
mean_customer_value    mean customer value of P's new customers of c
ltv_cac                mean_customer_value / cac
roi                    (margin value of P's new customers of c - spend) / spend, a customer's margin value being
                       gross margin x revenue to date + predicted value (12 m); the predicted value is a
                       margin already, so the margin is not applied to it twice
payback_months         cac / mean monthly margin of P's new customers of c, a customer's monthly margin being
                       gross margin x revenue to date / max(tenure in months, 1), tenure in months =
                       (as-of date - first purchase day + 1) / 30.4375
repeat_rate_90d        of P's new customers of c whose first purchase day is at least 90 days before the as-of
                       date, the share with a second purchase day at most 90 days after the first
=====================  =======================================================================================

Decisions, and why:

- Undefined values (a zero denominator) are ``None`` in object columns, not NaN: the rows go straight into the
  database, where "undefined" is NULL, and NaN would be stored as a number.
- Conversion of the last 30 days' contacts is still maturing: a contact created 10 days ago has had 10 of their 30
  days to convert, so the latest months' conversion rises as the days pass. It is not extrapolated; the page says
  so.
- The value of a period's new customers is their customer value *today* (``scores``), not the value they had at
  the end of the period: the ROI and LTV/CAC of an old month then improve as its customers keep buying, which is
  what a channel's return means.
- Customers missing from ``scores`` are left out of the value means and add nothing to the value sums (the
  nightly scores cover every buyer, so this only guards against a stale score table).
- Rows are produced exactly for ``channel_ids`` (the channels that exist): a channel with no data gets zero counts
  and ``None`` ratios, and data of channel 0 or of a channel not listed is ignored.
- ``repeat_rate_90d`` only counts customers whose whole 90-day follow-up window has been seen, so a young month is
  not penalised for repeat purchases that have not had time to happen.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from reporting.kpis import purchase_history

TRAILING_DAYS = 90
"""Length of the ``trailing_90d`` period."""

CONVERSION_WINDOW_DAYS = 30
"""A contact converts when their first purchase day is at most this many days after their creation day."""

REPEAT_WINDOW_DAYS = 90
"""``repeat_rate_90d`` looks for a second purchase day at most this many days after the first."""

DAYS_PER_MONTH = 30.4375
"""Mean length of a calendar month (365.25 / 12), for tenure in months."""

MONTH = "month"
TRAILING_90D = "trailing_90d"

COLUMNS: tuple[str, ...] = (
    "channel_id",
    "period",
    "period_start",
    "period_end",
    "spend",
    "new_customers",
    "contacts",
    "converted_contacts",
    "conversion",
    "cac",
    "mean_customer_value",
    "ltv_cac",
    "roi",
    "payback_months",
    "repeat_rate_90d",
)
"""Columns of :func:`compute_channel_metrics`, in order."""

_NO_PERIOD = -1
"""Period (and channel) index of a row that is in none."""

_NEVER = np.iinfo(np.int64).max // 2
"""Purchase day of a customer who has none (yet); later than any real day, and safe to subtract from."""


def _month_of(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Calendar month number (months since 1970-01) of each day number."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _first_day_of_month(months: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Day number of the first day of each calendar month number."""
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _positions_in(
    sorted_keys: npt.NDArray[np.int64], values: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Index of each value in ``sorted_keys`` and whether it is there at all (the index is 0 where it is not)."""
    positions = np.searchsorted(sorted_keys, values)
    found = positions < len(sorted_keys)
    found[found] = sorted_keys[positions[found]] == values[found]
    return np.where(found, positions, 0), found


def _period_of(
    days: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Index of the period holding each day, for sorted non-overlapping periods; ``_NO_PERIOD`` outside them."""
    index = np.searchsorted(starts, days, side="right") - 1
    inside = index >= 0
    inside[inside] = days[inside] <= ends[index[inside]]
    return np.where(inside, index, _NO_PERIOD)


def _sum_by(
    channel_index: npt.NDArray[np.int64],
    period_index: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64] | None,
    channel_count: int,
    period_count: int,
) -> npt.NDArray[np.float64]:
    """A channel x period table of summed ``weights`` (row counts when None), skipping rows with no channel or
    period."""
    keep = (channel_index >= 0) & (period_index >= 0)
    flat = channel_index[keep] * period_count + period_index[keep]
    kept_weights = None if weights is None else weights[keep]
    totals = np.bincount(flat, weights=kept_weights, minlength=channel_count * period_count)
    return totals.reshape(channel_count, period_count)


def _count_where(
    channel_index: npt.NDArray[np.int64],
    period_index: npt.NDArray[np.int64],
    mask: npt.NDArray[np.bool_],
    shape: tuple[int, int],
) -> npt.NDArray[np.float64]:
    """A channel x period table counting the rows where ``mask`` holds."""
    return _sum_by(channel_index, np.where(mask, period_index, _NO_PERIOD), None, *shape)


def _sum_where(
    channel_index: npt.NDArray[np.int64],
    period_index: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    shape: tuple[int, int],
) -> npt.NDArray[np.float64]:
    """A channel x period table summing ``values``, NaN values skipped."""
    present = ~np.isnan(values)
    return _sum_by(channel_index, np.where(present, period_index, _NO_PERIOD), np.where(present, values, 0.0), *shape)


def _divide(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Element-wise ratio, NaN where the denominator is zero or either side is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1.0), np.nan)


def compute_channel_metrics(
    *,
    as_of: int,
    purchase_days: pd.DataFrame,
    customers: pd.DataFrame,
    spend: pd.DataFrame,
    scores: pd.DataFrame,
    gross_margin: float,
    channel_ids: list[int],
) -> pd.DataFrame:
    """One row per channel of ``channel_ids`` and period (calendar months, then ``trailing_90d``), columns
    :data:`COLUMNS`; definitions in the module docstring."""
    history = purchase_history(purchase_days, as_of)
    listed_channels = np.array(sorted(set(channel_ids)), dtype=np.int64)

    # One entry per contact of a listed channel: creation day, first and second purchase day, today's scores.
    customer_ids = customers["customer_id"].to_numpy(dtype=np.int64)
    created_days = customers["created_day"].to_numpy(dtype=np.int64)
    channel_index, is_listed = _positions_in(listed_channels, customers["channel_id"].to_numpy(dtype=np.int64))
    keep = is_listed & (created_days <= as_of)
    customer_ids, created_days, channel_index = customer_ids[keep], created_days[keep], channel_index[keep]

    buyer_index, has_bought = _positions_in(history.buyers, customer_ids)
    has_second = history.purchase_day_counts >= 2
    buyer_second_days = np.full(len(history.buyers), _NEVER, dtype=np.int64)
    buyer_second_days[has_second] = history.days[history.group_starts[has_second] + 1]
    first_days = np.full(len(customer_ids), _NEVER, dtype=np.int64)
    first_days[has_bought] = history.first_days[buyer_index[has_bought]]
    second_days = np.full(len(customer_ids), _NEVER, dtype=np.int64)
    second_days[has_bought] = buyer_second_days[buyer_index[has_bought]]

    scored = scores.set_index("customer_id")[["customer_value", "revenue"]].reindex(pd.Index(customer_ids))
    customer_values = scored["customer_value"].to_numpy(dtype=np.float64)
    # Customer value = revenue + predicted value, and the predicted value is already margin (retention/value.py).
    margin_values = customer_values - (1.0 - gross_margin) * scored["revenue"].to_numpy(dtype=np.float64)
    revenues = scored["revenue"].to_numpy(dtype=np.float64)
    tenure_months = np.where(has_bought, as_of - first_days + 1, 0) / DAYS_PER_MONTH
    monthly_margins = gross_margin * revenues / np.maximum(tenure_months, 1.0)
    days_to_convert = np.where(has_bought, first_days - created_days, -1)
    converted = (days_to_convert >= 0) & (days_to_convert <= CONVERSION_WINDOW_DAYS)
    repeat_eligible = has_bought & (as_of - first_days >= REPEAT_WINDOW_DAYS)
    repeated = repeat_eligible & (second_days - first_days <= REPEAT_WINDOW_DAYS)

    spend_days = spend["day"].to_numpy(dtype=np.int64)
    spend_on_or_before = spend_days <= as_of
    spend_days = spend_days[spend_on_or_before]
    spend_amounts = spend["amount"].to_numpy(dtype=np.float64)[spend_on_or_before]
    spend_channels = spend["channel_id"].to_numpy(dtype=np.int64)[spend_on_or_before]
    spend_channel_index, spend_listed = _positions_in(listed_channels, spend_channels)
    spend_channel_index = np.where(spend_listed, spend_channel_index, _NO_PERIOD)

    # Calendar months from the earliest data (any channel) through the as-of month.
    all_created_days = customers["created_day"].to_numpy(dtype=np.int64)
    earliest_candidates = [
        int(days.min())
        for days in (spend_days, all_created_days[all_created_days <= as_of], history.first_days)
        if len(days)
    ]
    earliest = min([*earliest_candidates, as_of])
    months = np.arange(_month_of(np.array([earliest]))[0], _month_of(np.array([as_of]))[0] + 1, dtype=np.int64)
    month_starts = _first_day_of_month(months)
    month_ends = np.append(month_starts[1:] - 1, as_of)

    frames = []
    for period, starts, ends in (
        (MONTH, month_starts, month_ends),
        (TRAILING_90D, np.array([as_of - TRAILING_DAYS + 1]), np.array([as_of])),
    ):
        shape = (len(listed_channels), len(starts))
        first_period = np.where(has_bought, _period_of(first_days, starts, ends), _NO_PERIOD)
        created_period = _period_of(created_days, starts, ends)

        period_spend = _sum_by(spend_channel_index, _period_of(spend_days, starts, ends), spend_amounts, *shape)
        new_customers = _count_where(channel_index, first_period, has_bought, shape)
        contacts = _sum_by(channel_index, created_period, None, *shape)
        converted_contacts = _count_where(channel_index, created_period, converted, shape)
        value_sum = _sum_where(channel_index, first_period, customer_values, shape)
        margin_sum = _sum_where(channel_index, first_period, margin_values, shape)
        mean_customer_value = _divide(
            value_sum, _count_where(channel_index, first_period, ~np.isnan(customer_values), shape)
        )
        mean_monthly_margin = _divide(
            _sum_where(channel_index, first_period, monthly_margins, shape),
            _count_where(channel_index, first_period, ~np.isnan(monthly_margins), shape),
        )
        cac = _divide(period_spend, new_customers)
        frames.append(
            pd.DataFrame(
                {
                    "channel_id": np.repeat(listed_channels, shape[1]),
                    "period": period,
                    "period_start": np.tile(starts, shape[0]),
                    "period_end": np.tile(ends, shape[0]),
                    "spend": period_spend.ravel(),
                    "new_customers": new_customers.ravel().astype(np.int64),
                    "contacts": contacts.ravel().astype(np.int64),
                    "converted_contacts": converted_contacts.ravel().astype(np.int64),
                    "conversion": _divide(converted_contacts, contacts).ravel(),
                    "cac": cac.ravel(),
                    "mean_customer_value": mean_customer_value.ravel(),
                    "ltv_cac": _divide(mean_customer_value, cac).ravel(),
                    "roi": _divide(margin_sum - period_spend, period_spend).ravel(),
                    "payback_months": _divide(cac, mean_monthly_margin).ravel(),
                    "repeat_rate_90d": _divide(
                        _count_where(channel_index, first_period, repeated, shape),
                        _count_where(channel_index, first_period, repeat_eligible, shape),
                    ).ravel(),
                }
            )
        )

    result = pd.concat(frames, ignore_index=True)
    result = result.sort_values(["channel_id", "period", "period_start"], kind="stable", ignore_index=True)
    for column in ("conversion", "cac", "mean_customer_value", "ltv_cac", "roi", "payback_months", "repeat_rate_90d"):
        values = result[column].to_numpy(dtype=np.float64)
        result[column] = pd.Series([None if np.isnan(value) else float(value) for value in values], dtype=object)
    return result.loc[:, list(COLUMNS)]
