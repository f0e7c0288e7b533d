"""The retention history of the nightly run (retention/retention_trend.py): pure frames, no database.

Every expected number below is counted by hand from the dates in the comments (churn window 90 days: exactly 90
days since the last purchase day is not churned yet, 91 is).
"""

from __future__ import annotations

import datetime
import itertools

import numpy as np
import pandas as pd
import pytest

from reporting.kpis import compute_kpis
from retention.retention_trend import (
    compute_retention_trend,
    date_to_day,
    first_event_retention,
    monthly_churn,
    trend_months,
)

WINDOW = 90


def d(text: str) -> int:
    return date_to_day(datetime.date.fromisoformat(text))


def purchases(rows: list[tuple[int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": np.array([d(row[1]) for row in rows], dtype=np.int32),
            "amount": np.full(len(rows), 10.0),
        }
    )
    return frame.sort_values(["customer_id", "day"], ignore_index=True)


def events(rows: list[tuple[int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": np.array([d(row[1]) for row in rows], dtype=np.int32),
        }
    )
    return frame.sort_values(["customer_id", "day"], ignore_index=True)


def kpis_as_of(as_of: str, purchase_days: pd.DataFrame, event_days: pd.DataFrame, period_days: int = 30) -> dict:
    """Tonight's KPI snapshot values for the same inputs (the other inputs empty)."""
    empty_ids = np.empty(0, dtype=np.int64)
    return compute_kpis(
        as_of=d(as_of),
        purchase_days=purchase_days,
        customers=pd.DataFrame({"customer_id": empty_ids, "created_day": empty_ids, "channel_id": empty_ids}),
        spend=pd.DataFrame({"channel_id": empty_ids, "day": empty_ids, "amount": np.empty(0)}),
        event_days=event_days,
        feedback=pd.DataFrame(
            {"customer_id": empty_ids, "kind": [], "score": empty_ids, "scale_max": empty_ids, "day": empty_ids}
        ),
        scores=pd.DataFrame({"customer_id": empty_ids, "customer_value": np.empty(0), "revenue": [], "tier": []}),
        high_tier_at_start=None,
        churn_window_days=WINDOW,
        gross_margin=0.4,
        period_days=period_days,
    )


def by_month(rows: list[dict]) -> dict[str, dict]:
    return {row["month"]: row for row in rows}


# ---------------------------------------------------------------------------------------------------- months


def test_months_are_twelve_complete_ones_and_the_current_month_to_date():
    months = trend_months(d("2026-05-15"))
    assert len(months) == 13
    assert months[0] == (d("2025-05-01"), d("2025-05-31"), True)
    assert months[-2] == (d("2026-04-01"), d("2026-04-30"), True)
    assert months[-1] == (d("2026-05-01"), d("2026-05-15"), False)
    # Each complete month starts the day after the previous one ends.
    assert all(later[0] == earlier[1] + 1 for earlier, later in itertools.pairwise(months))


def test_on_a_month_end_that_month_is_complete_and_there_is_no_month_to_date():
    months = trend_months(d("2026-04-30"))
    assert len(months) == 12
    assert months[0] == (d("2025-05-01"), d("2025-05-31"), True)
    assert months[-1] == (d("2026-04-30") - 29, d("2026-04-30"), True)


def test_months_cross_the_year_and_february():
    months = trend_months(d("2024-03-01"))
    assert months[-1] == (d("2024-03-01"), d("2024-03-01"), False)
    assert months[-2] == (d("2024-02-01"), d("2024-02-29"), True)  # leap year
    assert months[-3] == (d("2024-01-01"), d("2024-01-31"), True)
    assert months[0] == (d("2023-03-01"), d("2023-03-31"), True)


# ---------------------------------------------------------------------------------------------------- churn
#
# Last purchase days, and what they mean at the starts and ends of March and April 2026 (days since then):
#   A  2026-01-15   Feb 28: 44, Mar 31: 75 (not churned), Apr 30: 105 (churned)  -> churns in April
#   B  2026-03-20   first purchase in March; Apr 30: 41                              -> stays in April
#   C  2025-12-01   Feb 28: 89 (not churned), Mar 31: 120                            -> churns in March
#   D  2026-04-10   first purchase in April                                         -> in no base before May
#   E  2025-12-31   Feb 28: 59, Mar 31: exactly 90 (not churned), Apr 30: 120        -> churns in April
#   F  2025-12-30   Feb 28: 60, Mar 31: 91                                           -> churns in March
#   G  2026-02-08   Mar 31: 51, Apr 30: 81, May 10: 91                               -> churns in May
#   H  2020-06-01 and 2026-07-01 (after every as-of date below: ignored)           -> churned long ago
CHURN_PURCHASES = purchases(
    [
        (1, "2025-11-01"),
        (1, "2026-01-15"),
        (2, "2026-03-20"),
        (3, "2025-12-01"),
        (4, "2026-04-10"),
        (5, "2025-12-31"),
        (6, "2025-12-30"),
        (7, "2026-02-08"),
        (8, "2020-06-01"),
        (8, "2026-07-01"),
    ]
)


def test_monthly_churn_counted_by_hand():
    months = by_month(monthly_churn(as_of=d("2026-04-30"), purchase_days=CHURN_PURCHASES, churn_window_days=WINDOW))
    april = months["2026-04-01"]
    # Not churned on Mar 31: A, B, E, G (C, F churned; D not a buyer yet). Churned on Apr 30: A, E.
    assert april == {
        "month": "2026-04-01",
        "start": "2026-03-31",
        "end": "2026-04-30",
        "complete": True,
        "customers_at_start": 4,
        "churned": 2,
        "rate": 0.5,
    }
    march = months["2026-03-01"]
    # Not churned on Feb 28: A, C, E, F, G. Churned on Mar 31: C, F (E is exactly at the window).
    assert (march["customers_at_start"], march["churned"], march["rate"]) == (5, 2, 0.4)
    # February: not churned on Jan 31: A (16), C (61), E (31), F (32). G first bought in February. Nobody
    # churned by Feb 28 (C is at 89).
    assert (months["2026-02-01"]["customers_at_start"], months["2026-02-01"]["rate"]) == (4, 0.0)


def test_a_month_with_nobody_to_churn_is_undefined_not_zero():
    months = monthly_churn(as_of=d("2026-04-30"), purchase_days=CHURN_PURCHASES, churn_window_days=WINDOW)
    may_2025 = months[0]
    assert may_2025["month"] == "2025-05-01"
    assert may_2025["customers_at_start"] == 0
    assert may_2025["rate"] is None


def test_the_current_month_to_date_is_flagged_incomplete():
    months = monthly_churn(as_of=d("2026-05-10"), purchase_days=CHURN_PURCHASES, churn_window_days=WINDOW)
    may = months[-1]
    # Not churned on Apr 30: B (41), D (20), G (81). Churned on May 10: G (91).
    assert may["complete"] is False
    assert (may["start"], may["end"]) == ("2026-04-30", "2026-05-10")
    assert (may["customers_at_start"], may["churned"]) == (3, 1)
    assert may["rate"] == pytest.approx(1 / 3)


def test_the_latest_months_churn_equals_tonights_kpi_where_the_definitions_coincide():
    # April has 30 days: the KPI's period as of Apr 30 (the 30 days ending on it) is exactly April.
    trend = monthly_churn(as_of=d("2026-04-30"), purchase_days=CHURN_PURCHASES, churn_window_days=WINDOW)
    assert trend[-1]["rate"] == kpis_as_of("2026-04-30", CHURN_PURCHASES, events([]))["monthly_churn_rate"]
    # The month to date on May 10 is the KPI over a 10-day period.
    trend = monthly_churn(as_of=d("2026-05-10"), purchase_days=CHURN_PURCHASES, churn_window_days=WINDOW)
    kpi = kpis_as_of("2026-05-10", CHURN_PURCHASES, events([]), period_days=10)["monthly_churn_rate"]
    assert trend[-1]["rate"] == pytest.approx(kpi)


def test_every_past_month_equals_the_kpi_as_of_its_end_on_random_history():
    rng = np.random.default_rng(7)
    customers, first = 400, d("2024-01-01")
    ids = rng.integers(1, customers, size=3000)
    days = first + rng.integers(0, 900, size=3000)
    frame = pd.DataFrame({"customer_id": ids, "day": days, "amount": 1.0}).drop_duplicates(["customer_id", "day"])
    frame = frame.sort_values(["customer_id", "day"], ignore_index=True)
    as_of = "2026-01-20"
    trend = monthly_churn(as_of=d(as_of), purchase_days=frame, churn_window_days=WINDOW)
    assert len(trend) == 13
    checked = 0
    for row in trend:
        end = datetime.date.fromisoformat(row["end"])
        period = (end - datetime.date.fromisoformat(row["start"])).days
        kpi = kpis_as_of(row["end"], frame, events([]), period_days=period)["monthly_churn_rate"]
        assert row["rate"] == pytest.approx(kpi), row["month"]
        checked += row["rate"] is not None
    assert checked == 13


def test_unsorted_input_and_rows_after_the_as_of_date_change_nothing():
    expected = monthly_churn(as_of=d("2026-04-30"), purchase_days=CHURN_PURCHASES, churn_window_days=WINDOW)
    shuffled = CHURN_PURCHASES.sample(frac=1.0, random_state=3).reset_index(drop=True)
    later = pd.concat([shuffled, purchases([(1, "2026-05-02"), (9, "2026-06-01")])], ignore_index=True)
    assert monthly_churn(as_of=d("2026-04-30"), purchase_days=later, churn_window_days=WINDOW) == expected


def test_no_purchases_give_undefined_months():
    months = monthly_churn(as_of=d("2026-04-30"), purchase_days=purchases([]), churn_window_days=WINDOW)
    assert len(months) == 12
    assert all(row["rate"] is None and row["customers_at_start"] == 0 for row in months)


# ---------------------------------------------------------------------------------------------------- D1/D7/D30
#
# First events and the days they came back (day k after the first event):
#   P  first 2026-04-05; back Apr 06 (D1), Apr 12 (D7), May 05 (D30)           April cohort
#   Q  first 2026-04-30; back May 01 (D1), May 30 (D30)                        April cohort
#   R  first 2026-04-20; back Apr 22 (D2: counts for nothing)                  April cohort
#   S  first 2026-03-31; back Apr 01 (D1)                                      March cohort
RETENTION_EVENTS = events(
    [
        (1, "2026-04-05"),
        (1, "2026-04-06"),
        (1, "2026-04-12"),
        (1, "2026-05-05"),
        (2, "2026-04-30"),
        (2, "2026-05-01"),
        (2, "2026-05-30"),
        (3, "2026-04-20"),
        (3, "2026-04-22"),
        (4, "2026-03-31"),
        (4, "2026-04-01"),
    ]
)


def test_d1_d7_d30_of_old_enough_months_counted_by_hand():
    months = by_month(first_event_retention(as_of=d("2026-05-31"), event_days=RETENTION_EVENTS))
    assert months["2026-04-01"] == {
        "month": "2026-04-01",
        "customers": 3,
        "d1_retained": 2,
        "d1": pytest.approx(2 / 3),
        "d7_retained": 1,
        "d7": pytest.approx(1 / 3),
        "d30_retained": 2,
        "d30": pytest.approx(2 / 3),
    }
    march = months["2026-03-01"]
    assert (march["customers"], march["d1"], march["d7"], march["d30"]) == (1, 1.0, 0.0, 0.0)
    # May 31 ends May: May is the latest complete month, too young for any horizon; the oldest is June 2025.
    assert list(months) == [f"2025-{m:02}-01" for m in range(6, 13)] + [f"2026-{m:02}-01" for m in range(1, 6)]
    assert (months["2026-05-01"]["d1"], months["2026-05-01"]["d1_retained"]) == (None, None)


def test_a_month_too_young_for_a_horizon_is_undefined_not_zero():
    months = by_month(first_event_retention(as_of=d("2026-05-15"), event_days=RETENTION_EVENTS))
    april = months["2026-04-01"]
    # Apr 30 + 1 and + 7 are on or before May 15; Apr 30 + 30 = May 30 is not: Q has not had the chance yet.
    assert (april["d1"], april["d7"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert april["d30"] is None and april["d30_retained"] is None
    # March is old enough for D30 (Mar 31 + 30 = Apr 30), and S did not come back on that day: a measured 0.
    assert months["2026-03-01"]["d30"] == 0.0


def test_a_month_without_new_customers_is_undefined():
    months = by_month(first_event_retention(as_of=d("2026-05-31"), event_days=RETENTION_EVENTS))
    february = months["2026-02-01"]
    assert february["customers"] == 0
    assert (february["d1"], february["d7"], february["d30"]) == (None, None, None)


@pytest.mark.parametrize(("k", "as_of"), [(1, "2026-05-01"), (7, "2026-05-07"), (30, "2026-05-30")])
def test_the_latest_months_dk_equals_tonights_kpi_where_the_definitions_coincide(k, as_of):
    # April has 30 days: the KPI's cohort as of Apr 30 + k (first event + k in the 30 days ending then) is April.
    months = first_event_retention(as_of=d(as_of), event_days=RETENTION_EVENTS)
    assert months[-1]["month"] == "2026-04-01"
    kpi = kpis_as_of(as_of, purchases([]), RETENTION_EVENTS)[f"d{k}_retention"]
    assert kpi is not None
    assert months[-1][f"d{k}"] == pytest.approx(kpi)


def test_events_after_the_as_of_date_are_ignored():
    later = pd.concat([RETENTION_EVENTS, events([(2, "2026-05-22"), (5, "2026-05-16")])], ignore_index=True)
    assert first_event_retention(as_of=d("2026-05-15"), event_days=later) == first_event_retention(
        as_of=d("2026-05-15"), event_days=RETENTION_EVENTS
    )


def test_compute_retention_trend_gives_both_histories():
    trend = compute_retention_trend(
        as_of=d("2026-05-31"), purchase_days=CHURN_PURCHASES, event_days=RETENTION_EVENTS, churn_window_days=WINDOW
    )
    assert set(trend) == {"churn", "first_event_retention"}
    assert len(trend["churn"]) == 12 and len(trend["first_event_retention"]) == 12
    assert by_month(trend["churn"])["2026-04-01"]["rate"] == 0.5
