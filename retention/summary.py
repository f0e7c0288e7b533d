"""Per-customer purchase summaries from purchase days: the inputs of RFM, the BG/NBD and the lifecycle rules.

Pure pandas (no Django). Conventions of DESIGN.md §7: a purchase day is a calendar day with at least one
completed order; x = purchase days after the first, t_x = days from the first to the last purchase day,
T = days from the first purchase day to the as-of day; Gamma-Gamma uses the mean value of the purchase
days after the first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = (
    "first_day",
    "last_day",
    "purchase_days",
    "revenue",
    "frequency",
    "recency_t_x",
    "age_t",
    "mean_repeat_value",
    "comeback_day",
)


def customer_summary(purchase_days: pd.DataFrame, *, as_of: int, churn_window_days: int) -> pd.DataFrame:
    """One row per customer with a purchase day on or before ``as_of`` (index ``customer_id``, sorted).

    ``comeback_day`` is the latest purchase day that followed a gap of more than ``churn_window_days`` (the
    customer had churned and came back), or -1 when there is none.
    """
    days = purchase_days[purchase_days["day"] <= as_of]
    if days.empty:
        return pd.DataFrame(
            {
                name: pd.Series(dtype="float64" if name in ("revenue", "mean_repeat_value") else "int64")
                for name in SUMMARY_COLUMNS
            },
            index=pd.Index([], dtype="int64", name="customer_id"),
        )
    days = days.sort_values(["customer_id", "day"], kind="stable")
    customer = days["customer_id"].to_numpy()
    day = days["day"].to_numpy(dtype=np.int64)
    amount = days["amount"].to_numpy(dtype=np.float64)

    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    ends = np.r_[starts[1:], len(customer)] - 1
    ids = customer[starts]
    first_day, last_day = day[starts], day[ends]
    counts = ends - starts + 1
    revenue = np.add.reduceat(amount, starts)
    frequency = counts - 1
    repeat_revenue = revenue - amount[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_repeat = np.where(frequency > 0, repeat_revenue / np.maximum(frequency, 1), np.nan)

    # A comeback: a purchase day whose gap to the customer's previous purchase day exceeds the churn window.
    gaps = np.diff(day, prepend=day[0])
    gaps[starts] = 0
    comeback_days = np.where(gaps > churn_window_days, day, -1)
    comeback = np.maximum.reduceat(comeback_days, starts)

    return pd.DataFrame(
        {
            "first_day": first_day,
            "last_day": last_day,
            "purchase_days": counts,
            "revenue": revenue,
            "frequency": frequency,
            "recency_t_x": last_day - first_day,
            "age_t": as_of - first_day,
            "mean_repeat_value": mean_repeat,
            "comeback_day": comeback,
        },
        index=pd.Index(ids, name="customer_id"),
    )
