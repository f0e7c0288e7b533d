"""Acquisition-month cohorts (retention/cohorts.py): pure frames, no database."""

from __future__ import annotations

import datetime
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from retention.cohorts import COLUMNS, compute_cohorts


def day(iso_date: str) -> int:
    """Day number of a calendar date."""
    return int(np.datetime64(iso_date, "D").astype(np.int64))


AS_OF = day("2024-03-15")


def purchase_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": np.array([day(row[1]) for row in rows], dtype=np.int32),
            "amount": np.array([row[2] for row in rows], dtype=np.float64),
        }
    )
    return frame.sort_values(["customer_id", "day"], ignore_index=True)


def customer_frame(rows: list[tuple[int, int]]) -> pd.DataFrame:
    """(customer_id, channel_id) rows; the creation day does not enter the cohorts."""
    return pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "created_day": np.full(len(rows), day("2023-01-01"), dtype=np.int32),
            "channel_id": np.array([row[1] for row in rows], dtype=np.int64),
        }
    )


# Cohorts (by first purchase month):
#   December 2023: 6 (social) buys once on Dec 20 and never again: the cohort's later months are zeros.
#   January 2024:  1 (search) Jan 5, Jan 20, Mar 2;  2 (search) Jan 31, Feb 1;  3 (social) Jan 15.
#   February 2024: 4 (no channel) Feb 10, Feb 11, Mar 15 (the as-of date);  5 (social) Feb 28.
#   March 2024:    nobody's first purchase: no cohort.
PURCHASES = [
    (6, "2023-12-20", 15.0),
    (1, "2024-01-05", 10.0),
    (1, "2024-01-20", 20.0),
    (1, "2024-03-02", 30.0),
    (2, "2024-01-31", 50.0),
    (2, "2024-02-01", 5.0),
    (3, "2024-01-15", 40.0),
    (4, "2024-02-10", 100.0),
    (4, "2024-02-11", 10.0),
    (4, "2024-03-15", 25.0),
    (5, "2024-02-28", 60.0),
]
SEARCH, SOCIAL = 10, 20
CUSTOMERS = [(1, SEARCH), (2, SEARCH), (3, SOCIAL), (4, 0), (5, SOCIAL), (6, SOCIAL), (7, SEARCH)]

# (cohort month, months since, cohort size, active, revenue, cumulative revenue per customer), hand computed.
EXPECTED_OVERALL = [
    ("2023-12-01", 0, 1, 1, 15.0, 15.0),
    ("2023-12-01", 1, 1, 0, 0.0, 15.0),
    ("2023-12-01", 2, 1, 0, 0.0, 15.0),
    ("2023-12-01", 3, 1, 0, 0.0, 15.0),
    # January: 10 + 20 + 50 + 40 in January; 2's 5 in February; 1's 30 in March.
    ("2024-01-01", 0, 3, 3, 120.0, 120.0 / 3),
    ("2024-01-01", 1, 3, 1, 5.0, 125.0 / 3),
    ("2024-01-01", 2, 3, 1, 30.0, 155.0 / 3),
    # February: 100 + 10 + 60 in February (4 counts once although they bought on two days); 4's 25 in March.
    ("2024-02-01", 0, 2, 2, 170.0, 85.0),
    ("2024-02-01", 1, 2, 1, 25.0, 97.5),
]

# Split by channel: (channel, cohort month, months since, size, active, revenue, cumulative per customer).
EXPECTED_BY_CHANNEL = [
    (0, "2024-02-01", 0, 1, 1, 110.0, 110.0),
    (0, "2024-02-01", 1, 1, 1, 25.0, 135.0),
    (SEARCH, "2024-01-01", 0, 2, 2, 80.0, 40.0),
    (SEARCH, "2024-01-01", 1, 2, 1, 5.0, 42.5),
    (SEARCH, "2024-01-01", 2, 2, 1, 30.0, 57.5),
    (SOCIAL, "2023-12-01", 0, 1, 1, 15.0, 15.0),
    (SOCIAL, "2023-12-01", 1, 1, 0, 0.0, 15.0),
    (SOCIAL, "2023-12-01", 2, 1, 0, 0.0, 15.0),
    (SOCIAL, "2023-12-01", 3, 1, 0, 0.0, 15.0),
    (SOCIAL, "2024-01-01", 0, 1, 1, 40.0, 40.0),
    (SOCIAL, "2024-01-01", 1, 1, 0, 0.0, 40.0),
    (SOCIAL, "2024-01-01", 2, 1, 0, 0.0, 40.0),
    (SOCIAL, "2024-02-01", 0, 1, 1, 60.0, 60.0),
    (SOCIAL, "2024-02-01", 1, 1, 0, 0.0, 60.0),
]


def run(*, by_channel: bool, purchases=None, customers=None, as_of: int = AS_OF) -> pd.DataFrame:
    return compute_cohorts(
        as_of=as_of,
        purchase_days=purchase_frame(PURCHASES) if purchases is None else purchases,
        customers=customer_frame(CUSTOMERS) if customers is None else customers,
        by_channel=by_channel,
    )


def as_tuples(result: pd.DataFrame, *, with_channel: bool) -> list[tuple]:
    """Rows as (channel?, ISO cohort month, months since, size, active, revenue, cumulative), floats rounded."""
    rows = []
    for record in result.to_dict("records"):
        cohort_month = str(np.datetime64(int(record["cohort_month"]), "D"))
        values = (
            cohort_month,
            int(record["months_since"]),
            int(record["cohort_size"]),
            int(record["active_customers"]),
            round(float(record["revenue"]), 9),
            round(float(record["cumulative_revenue_per_customer"]), 9),
        )
        rows.append((int(record["channel_id"]), *values) if with_channel else values)
    return rows


def rounded(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(value, 9) if isinstance(value, float) else value for value in row) for row in rows]


class TestHandBuiltMatrix:
    def test_columns(self):
        assert list(run(by_channel=False).columns) == list(COLUMNS)

    def test_overall_matrix(self):
        result = run(by_channel=False)
        assert as_tuples(result, with_channel=False) == rounded(EXPECTED_OVERALL)
        assert set(result["channel_id"]) == {0}

    def test_retention_is_active_over_size(self):
        result = run(by_channel=False)
        expected = [active / size for _, _, size, active, _, _ in EXPECTED_OVERALL]
        assert list(result["retention"]) == pytest.approx(expected)

    def test_month_zero_retention_is_one(self):
        for by_channel in (False, True):
            result = run(by_channel=by_channel)
            assert (result.loc[result["months_since"] == 0, "retention"] == 1.0).all()

    def test_matrix_by_channel(self):
        assert as_tuples(run(by_channel=True), with_channel=True) == rounded(EXPECTED_BY_CHANNEL)

    def test_channel_split_sums_back_to_the_overall_cohorts(self):
        keys = ["cohort_month", "months_since"]
        split = run(by_channel=True).groupby(keys)[["cohort_size", "active_customers", "revenue"]].sum()
        overall = run(by_channel=False).set_index(keys)[["cohort_size", "active_customers", "revenue"]]
        pd.testing.assert_frame_equal(split.sort_index(), overall.sort_index(), check_dtype=False)

    def test_buyer_missing_from_customers_counts_under_no_channel(self):
        customers = customer_frame([row for row in CUSTOMERS if row[0] != 4])
        pd.testing.assert_frame_equal(run(by_channel=True, customers=customers), run(by_channel=True))

    def test_no_rows_after_the_as_of_month(self):
        result = run(by_channel=False)
        last_month_start = day("2024-03-01")
        cohort_months = result["cohort_month"].to_numpy().astype("datetime64[D]").astype("datetime64[M]")
        row_months = cohort_months + result["months_since"].to_numpy().astype("timedelta64[M]")
        assert row_months.max() == np.datetime64(last_month_start, "D").astype("datetime64[M]")


class TestEdges:
    def test_no_purchases(self):
        result = run(by_channel=True, purchases=purchase_frame([]))
        assert result.empty
        assert list(result.columns) == list(COLUMNS)

    def test_rows_after_as_of_change_nothing(self):
        later = purchase_frame([*PURCHASES, (5, "2024-04-01", 70.0), (8, "2024-03-16", 10.0), (1, "2024-05-01", 5.0)])
        for by_channel in (False, True):
            pd.testing.assert_frame_equal(run(by_channel=by_channel, purchases=later), run(by_channel=by_channel))

    def test_row_order_does_not_matter(self):
        shuffled = purchase_frame(PURCHASES).sample(frac=1.0, random_state=11).reset_index(drop=True)
        pd.testing.assert_frame_equal(run(by_channel=True, purchases=shuffled), run(by_channel=True))

    def test_first_purchase_on_the_last_day_of_a_month(self):
        # Customer 2's first purchase on Jan 31 puts them in January; Feb 1 is their month 1.
        result = run(by_channel=True)
        search_january = result[(result["channel_id"] == SEARCH) & (result["cohort_month"] == day("2024-01-01"))]
        assert list(search_january["active_customers"]) == [2, 1, 1]


# --- The vectorised matrix against a slow, per-customer reference --------------------------------------------


def reference_retention(purchases: pd.DataFrame, as_of: int) -> dict[tuple[int, int], float]:
    """Cohort retention straight from the definition: {(cohort month start day, months since): retention}."""

    def month_of(day_number: int) -> tuple[int, int]:
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day_number)
        return date.year, date.month

    months_by_customer: dict[int, set[tuple[int, int]]] = defaultdict(set)
    first_by_customer: dict[int, int] = {}
    for customer_id, purchase_day in zip(purchases["customer_id"], purchases["day"], strict=True):
        if purchase_day > as_of:
            continue
        customer_id, purchase_day = int(customer_id), int(purchase_day)
        months_by_customer[customer_id].add(month_of(purchase_day))
        first_by_customer[customer_id] = min(first_by_customer.get(customer_id, purchase_day), purchase_day)

    as_of_year, as_of_month = month_of(as_of)
    members: dict[tuple[int, int], list[int]] = defaultdict(list)
    for customer_id, first in first_by_customer.items():
        members[month_of(first)].append(customer_id)
    retention = {}
    for (year, month), customer_ids in members.items():
        cohort_start = (datetime.date(year, month, 1) - datetime.date(1970, 1, 1)).days
        for months_since in range((as_of_year - year) * 12 + as_of_month - month + 1):
            target = divmod((year * 12 + month - 1) + months_since, 12)
            target_month = (target[0], target[1] + 1)
            active = sum(target_month in months_by_customer[customer_id] for customer_id in customer_ids)
            retention[(cohort_start, months_since)] = active / len(customer_ids)
    return retention


def test_vectorised_retention_matches_a_per_customer_reference():
    rng = np.random.default_rng(31337)
    customer_count = 20_000
    purchase_counts = rng.integers(1, 6, customer_count)
    customer_ids = np.repeat(np.arange(1, customer_count + 1, dtype=np.int64), purchase_counts)
    as_of = day("2024-06-10")
    purchase_days = as_of - rng.integers(-10, 500, len(customer_ids))
    purchases = (
        pd.DataFrame({"customer_id": customer_ids, "day": purchase_days.astype(np.int32)})
        .drop_duplicates()
        .assign(amount=lambda frame: rng.gamma(2.0, 20.0, len(frame)))
        .sort_values(["customer_id", "day"], ignore_index=True)
    )
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, customer_count + 1, dtype=np.int64),
            "created_day": np.full(customer_count, as_of - 600, dtype=np.int32),
            "channel_id": rng.integers(0, 4, customer_count).astype(np.int64),
        }
    )
    result = compute_cohorts(as_of=as_of, purchase_days=purchases, customers=customers, by_channel=False)
    expected = reference_retention(purchases, as_of)
    actual = {
        (int(cohort_month), int(months_since)): float(retention)
        for cohort_month, months_since, retention in zip(
            result["cohort_month"], result["months_since"], result["retention"], strict=True
        )
    }
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value), key

    by_channel = compute_cohorts(as_of=as_of, purchase_days=purchases, customers=customers, by_channel=True)
    totals = by_channel.groupby(["cohort_month", "months_since"])[["cohort_size", "active_customers"]].sum()
    overall = result.set_index(["cohort_month", "months_since"])[["cohort_size", "active_customers"]]
    pd.testing.assert_frame_equal(totals.sort_index(), overall.sort_index(), check_dtype=False)
