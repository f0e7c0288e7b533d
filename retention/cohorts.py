"""Acquisition-month cohorts: retention and revenue by month since the first purchase, on plain frames (no Django).

A cohort is the customers whose first purchase day falls in one calendar month (acquisition by first purchase,
DESIGN.md §4). For each cohort, and each calendar month from the cohort's month through the month containing the
as-of date, the nightly run stores one row:

================================  ===============================================================================
cohort_month                      day number of the first day of the cohort's month
channel_id                        the customers' acquisition channel (0: no channel); 0 for every row when the
                                  cohorts are not split by channel
months_since                      calendar months since the cohort month (0 = the acquisition month)
cohort_size                       customers in the cohort
active_customers                  customers of the cohort with at least one purchase day in that month
retention                         active_customers / cohort_size
revenue                           sum of the cohort's purchase-day amounts in that month
cumulative_revenue_per_customer   the cohort's revenue from its month through that month / cohort_size
================================  ===============================================================================

Inputs are those of :func:`reporting.kpis.compute_kpis`: ``purchase_days`` (customer_id, day, amount; one row per
customer and purchase day) and ``customers`` (customer_id, created_day, channel_id).

Decisions, and why:

- Months are calendar months in the organization's time zone, not 30-day blocks, so "month 1" of a January cohort
  is February: the matrix lines up with the monthly reports and with how people read a cohort chart.
- The as-of month is included although it is partial: it is the month the team acts on. Its retention rises as the
  month goes on, like any month-to-date figure.
- Every cohort gets a row for every month up to the as-of month, with zeros when nobody bought, so a gap in the
  chart is a real zero and not missing data. Months with no first purchase make no cohort and have no rows.
- Month 0 retention is 1.0 by construction (every member bought in the acquisition month); it is kept in the table
  so the curve starts at 100% and the month's revenue is shown.
- A buyer missing from ``customers`` is counted under channel 0 (no channel) rather than dropped, so the split by
  channel always sums back to the overall cohorts.
- Rows dated after the as-of date are ignored, so a re-run "as of" a past date reproduces that night's matrix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

NO_CHANNEL = 0
"""``channel_id`` of customers with no acquisition channel, and of every row of the unsplit matrix."""

COLUMNS: tuple[str, ...] = (
    "cohort_month",
    "channel_id",
    "months_since",
    "cohort_size",
    "active_customers",
    "retention",
    "revenue",
    "cumulative_revenue_per_customer",
)
"""Columns of :func:`compute_cohorts`, in order."""


def _month_of(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Calendar month number (months since 1970-01) of each day number."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _first_day_of_month(months: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Day number of the first day of each calendar month number."""
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _sorted_by_customer_and_day(
    customer_ids: npt.NDArray[np.int64], days: npt.NDArray[np.int64], amounts: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The rows in (customer, day) order. The caller sends them that way; that is checked, not trusted, and they
    are sorted only when they are not, which keeps the common case free of an eight-million-row sort."""
    if len(days) > 1:
        same_customer = customer_ids[1:] == customer_ids[:-1]
        in_order = (customer_ids[1:] > customer_ids[:-1]) | (same_customer & (days[1:] >= days[:-1]))
        if not in_order.all():
            order = np.lexsort((days, customer_ids))
            return customer_ids[order], days[order], amounts[order]
    return customer_ids, days, amounts


def _empty_cohorts() -> pd.DataFrame:
    """The result with no cohort at all, with the right columns and dtypes."""
    dtypes = {
        "cohort_month": np.int64,
        "channel_id": np.int64,
        "months_since": np.int64,
        "cohort_size": np.int64,
        "active_customers": np.int64,
        "retention": np.float64,
        "revenue": np.float64,
        "cumulative_revenue_per_customer": np.float64,
    }
    return pd.DataFrame({column: np.empty(0, dtype=dtype) for column, dtype in dtypes.items()})


def compute_cohorts(
    *,
    as_of: int,
    purchase_days: pd.DataFrame,
    customers: pd.DataFrame,
    by_channel: bool,
) -> pd.DataFrame:
    """The cohort matrix as of ``as_of`` (columns :data:`COLUMNS`), split by acquisition channel when
    ``by_channel``; sorted by channel, cohort month and months since.

    Purchase rows are bucketed with one ``np.bincount`` over (channel, cohort, months since) instead of a
    group-by, so eight million purchase days take about a second.
    """
    customer_ids = purchase_days["customer_id"].to_numpy(dtype=np.int64)
    days = purchase_days["day"].to_numpy(dtype=np.int64)
    amounts = purchase_days["amount"].to_numpy(dtype=np.float64)
    on_or_before = days <= as_of
    if not on_or_before.all():
        customer_ids, days, amounts = customer_ids[on_or_before], days[on_or_before], amounts[on_or_before]
    if len(days) == 0:
        return _empty_cohorts()
    customer_ids, days, amounts = _sorted_by_customer_and_day(customer_ids, days, amounts)

    # Rows of one buyer are contiguous and in day order: the first row is the first purchase day.
    new_buyer = np.concatenate(([True], customer_ids[1:] != customer_ids[:-1]))
    group_starts = np.flatnonzero(new_buyer)
    buyer_codes = np.cumsum(new_buyer) - 1
    buyers = customer_ids[group_starts]
    buyer_count = len(buyers)
    first_days = days[group_starts]
    as_of_month = int(_month_of(np.array([as_of]))[0])
    first_month = int(_month_of(np.array([first_days.min()]))[0])
    month_count = as_of_month - first_month + 1
    buyer_cohorts = _month_of(first_days) - first_month

    if by_channel:
        channel_by_customer = pd.Series(
            customers["channel_id"].to_numpy(dtype=np.int64), index=customers["customer_id"].to_numpy(dtype=np.int64)
        )
        channel_by_customer = channel_by_customer[~channel_by_customer.index.duplicated(keep="first")]
        buyer_channels = channel_by_customer.reindex(buyers).fillna(NO_CHANNEL).to_numpy(dtype=np.int64)
    else:
        buyer_channels = np.full(buyer_count, NO_CHANNEL, dtype=np.int64)
    channel_codes, channels = pd.factorize(buyer_channels, sort=True)
    channels = np.asarray(channels, dtype=np.int64)
    channel_count = len(channels)

    # One bin per (channel, cohort, months since): cell = (channel * M + cohort) * M + months_since.
    cell_count = channel_count * month_count * month_count
    row_cohorts = buyer_cohorts[buyer_codes]
    row_months = _month_of(days)
    row_cells = (channel_codes[buyer_codes] * month_count + row_cohorts) * month_count + (
        row_months - first_month - row_cohorts
    )
    revenue = np.bincount(row_cells, weights=amounts, minlength=cell_count)
    # A customer is active in a month once, however many purchase days they had in it: count only a buyer's
    # first row of each month (rows are in day order, so months are too).
    first_row_of_month = new_buyer.copy()
    first_row_of_month[1:] |= row_months[1:] != row_months[:-1]
    active = np.bincount(row_cells[first_row_of_month], minlength=cell_count)
    sizes = np.bincount(channel_codes * month_count + buyer_cohorts, minlength=channel_count * month_count)

    revenue = revenue.reshape(channel_count, month_count, month_count)
    active = active.reshape(channel_count, month_count, month_count)
    sizes = sizes.reshape(channel_count, month_count)
    channel_index, cohort_index = np.nonzero(sizes)
    if len(channel_index) == 0:
        return _empty_cohorts()
    months_observed = month_count - cohort_index
    out_channel = np.repeat(channel_index, months_observed)
    out_cohort = np.repeat(cohort_index, months_observed)
    out_starts = np.concatenate(([0], np.cumsum(months_observed)[:-1]))
    out_months_since = np.arange(months_observed.sum()) - np.repeat(out_starts, months_observed)

    out_sizes = sizes[out_channel, out_cohort]
    out_active = active[out_channel, out_cohort, out_months_since]
    out_revenue = revenue[out_channel, out_cohort, out_months_since]
    cumulative_revenue = np.cumsum(revenue, axis=2)[out_channel, out_cohort, out_months_since]
    return pd.DataFrame(
        {
            "cohort_month": _first_day_of_month(out_cohort.astype(np.int64) + first_month),
            "channel_id": channels[out_channel],
            "months_since": out_months_since.astype(np.int64),
            "cohort_size": out_sizes.astype(np.int64),
            "active_customers": out_active.astype(np.int64),
            "retention": out_active / out_sizes,
            "revenue": out_revenue,
            "cumulative_revenue_per_customer": cumulative_revenue / out_sizes,
        }
    )
