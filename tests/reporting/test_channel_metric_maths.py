"""Channel metrics per calendar month and trailing 90 days (reporting/channel_metrics.py): pure frames, no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reporting.channel_metrics import COLUMNS, DAYS_PER_MONTH, compute_channel_metrics

GROSS_MARGIN = 0.5
SEARCH, SOCIAL, PRINT = 10, 20, 30  # PRINT has no data at all.


def day(iso_date: str) -> int:
    """Day number of a calendar date."""
    return int(np.datetime64(iso_date, "D").astype(np.int64))


AS_OF = day("2024-03-31")
# 2024 is a leap year: the trailing 90 days are 2024-01-02 .. 2024-03-31.
TRAILING_START = day("2024-01-02")


def frame(columns: dict[str, tuple[str, type]], rows: list[tuple]) -> pd.DataFrame:
    """A frame from rows, with ISO dates in day columns turned into day numbers."""
    data = {}
    for position, (name, (kind, dtype)) in enumerate(columns.items()):
        values = [row[position] for row in rows]
        data[name] = np.array([day(value) for value in values] if kind == "day" else values, dtype=dtype)
    return pd.DataFrame(data)


def purchase_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    columns = {"customer_id": ("", np.int64), "day": ("day", np.int32), "amount": ("", np.float64)}
    return frame(columns, rows).sort_values(["customer_id", "day"], ignore_index=True)


def customer_frame(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    return frame({"customer_id": ("", np.int64), "created_day": ("day", np.int32), "channel_id": ("", np.int64)}, rows)


def spend_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return frame({"channel_id": ("", np.int64), "day": ("day", np.int32), "amount": ("", np.float64)}, rows)


def score_frame(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    """(customer_id, customer_value, revenue to date) rows."""
    scores = frame(
        {"customer_id": ("", np.int64), "customer_value": ("", np.float64), "revenue": ("", np.float64)}, rows
    )
    return scores.assign(tier="")


# Search (10):
#   101 created Jan 1, buys Jan 1 and Feb 10 (second purchase 40 days after the first); value 300, revenue 150
#   105 created Jan 1, buys Jan 1 only;                                                   value 100, revenue 50
#   102 created Jan 5, first purchase Feb 4: 30 days later, converts;                     value 200, revenue 80
#   103 created Jan 10, first purchase Feb 10: 31 days later, does not convert;           value 100, revenue 60
#   104 created Mar 1, first purchase Mar 15;                                             value 50,  revenue 40
# Social (20):
#   201 created Feb 1, buys Feb 1 and Mar 1;                                              value 400, revenue 200
#   202 created Feb 20, never buys
#   203 created Mar 10, first purchase Mar 31 (the as-of date);                          value 60,  revenue 20
# No channel (0): 301 buys Jan 2; ignored by every row.
CUSTOMERS = [
    (101, "2024-01-01", SEARCH),
    (105, "2024-01-01", SEARCH),
    (102, "2024-01-05", SEARCH),
    (103, "2024-01-10", SEARCH),
    (104, "2024-03-01", SEARCH),
    (201, "2024-02-01", SOCIAL),
    (202, "2024-02-20", SOCIAL),
    (203, "2024-03-10", SOCIAL),
    (301, "2024-01-01", 0),
]
PURCHASES = [
    (101, "2024-01-01", 100.0),
    (101, "2024-02-10", 50.0),
    (105, "2024-01-01", 50.0),
    (102, "2024-02-04", 80.0),
    (103, "2024-02-10", 60.0),
    (104, "2024-03-15", 40.0),
    (201, "2024-02-01", 120.0),
    (201, "2024-03-01", 80.0),
    (203, "2024-03-31", 20.0),
    (301, "2024-01-02", 999.0),
]
# Search spends 300 / 200 / 100 on the 1st of each month; social spends 500 in February only. Spend of an unknown
# channel (99) is ignored.
SPEND = [
    (SEARCH, "2024-01-01", 300.0),
    (SEARCH, "2024-02-01", 200.0),
    (SEARCH, "2024-03-01", 100.0),
    (SOCIAL, "2024-02-01", 500.0),
    (99, "2024-02-01", 1000.0),
]
SCORES = [
    (101, 300.0, 150.0),
    (105, 100.0, 50.0),
    (102, 200.0, 80.0),
    (103, 100.0, 60.0),
    (104, 50.0, 40.0),
    (201, 400.0, 200.0),
    (203, 60.0, 20.0),
    (301, 5000.0, 999.0),
]


def monthly_margin(revenue: float, first_purchase: str) -> float:
    """Gross margin x revenue / max(tenure in months, 1), tenure counting the first purchase day itself."""
    tenure_months = (AS_OF - day(first_purchase) + 1) / DAYS_PER_MONTH
    return GROSS_MARGIN * revenue / max(tenure_months, 1.0)


def run(**overrides) -> pd.DataFrame:
    inputs = {
        "as_of": AS_OF,
        "purchase_days": purchase_frame(PURCHASES),
        "customers": customer_frame(CUSTOMERS),
        "spend": spend_frame(SPEND),
        "scores": score_frame(SCORES),
        "gross_margin": GROSS_MARGIN,
        "channel_ids": [SEARCH, SOCIAL, PRINT],
    }
    inputs.update(overrides)
    return compute_channel_metrics(**inputs)


def row(result: pd.DataFrame, channel_id: int, period: str, period_start: str) -> dict:
    matches = result[
        (result["channel_id"] == channel_id)
        & (result["period"] == period)
        & (result["period_start"] == day(period_start))
    ]
    assert len(matches) == 1
    return matches.iloc[0].to_dict()


def assert_row(actual: dict, expected: dict) -> None:
    for column, value in expected.items():
        if value is None:
            assert actual[column] is None, column
        else:
            assert actual[column] == pytest.approx(value), column


# Expected rows. Monthly margins of the new customers, used by payback:
MARGIN_101 = monthly_margin(150.0, "2024-01-01")  # 91 days of tenure, about 2.99 months
MARGIN_105 = monthly_margin(50.0, "2024-01-01")
MARGIN_102 = monthly_margin(80.0, "2024-02-04")  # 57 days
MARGIN_103 = monthly_margin(60.0, "2024-02-10")  # 51 days
MARGIN_104 = 0.5 * 40.0  # 17 days of tenure: counts as one month
MARGIN_201 = monthly_margin(200.0, "2024-02-01")  # 60 days
MARGIN_203 = 0.5 * 20.0  # first purchase today: one month

EXPECTED_ROWS = [
    # Search, January: new 101 and 105; contacts 101, 105, 102, 103, converted 101, 105, 102 (103 took 31 days).
    # Both new customers are 90 days old, so both count for the repeat rate; only 101 came back within 90 days.
    (
        SEARCH,
        "month",
        "2024-01-01",
        {
            "period_end": day("2024-01-31"),
            "spend": 300.0,
            "new_customers": 2,
            "contacts": 4,
            "converted_contacts": 3,
            "conversion": 3 / 4,
            "cac": 150.0,
            "mean_customer_value": 200.0,
            "ltv_cac": 200.0 / 150.0,
            "roi": ((400.0 - 0.5 * 200.0) - 300.0) / 300.0,  # margin value = value - (1 - margin) x revenue
            "payback_months": 150.0 / ((MARGIN_101 + MARGIN_105) / 2),
            "repeat_rate_90d": 0.5,
        },
    ),
    # Search, February: new 102 and 103; no contacts created. Neither new customer is 90 days old yet.
    (
        SEARCH,
        "month",
        "2024-02-01",
        {
            "period_end": day("2024-02-29"),
            "spend": 200.0,
            "new_customers": 2,
            "contacts": 0,
            "converted_contacts": 0,
            "conversion": None,
            "cac": 100.0,
            "mean_customer_value": 150.0,
            "ltv_cac": 1.5,
            "roi": ((300.0 - 0.5 * 140.0) - 200.0) / 200.0,
            "payback_months": 100.0 / ((MARGIN_102 + MARGIN_103) / 2),
            "repeat_rate_90d": None,
        },
    ),
    # Search, March (ends on the as-of date): new 104, contact 104 converted after 14 days.
    (
        SEARCH,
        "month",
        "2024-03-01",
        {
            "period_end": AS_OF,
            "spend": 100.0,
            "new_customers": 1,
            "contacts": 1,
            "converted_contacts": 1,
            "conversion": 1.0,
            "cac": 100.0,
            "mean_customer_value": 50.0,
            "ltv_cac": 0.5,
            "roi": ((50.0 - 0.5 * 40.0) - 100.0) / 100.0,
            "payback_months": 100.0 / MARGIN_104,
            "repeat_rate_90d": None,
        },
    ),
    # Search, trailing 90 days (Jan 2 .. Mar 31): January 1's spend, purchases and contacts are outside.
    (
        SEARCH,
        "trailing_90d",
        "2024-01-02",
        {
            "period_end": AS_OF,
            "spend": 300.0,
            "new_customers": 3,
            "contacts": 3,
            "converted_contacts": 2,
            "conversion": 2 / 3,
            "cac": 100.0,
            "mean_customer_value": 350.0 / 3,
            "ltv_cac": (350.0 / 3) / 100.0,
            "roi": ((350.0 - 0.5 * 180.0) - 300.0) / 300.0,
            "payback_months": 100.0 / ((MARGIN_102 + MARGIN_103 + MARGIN_104) / 3),
            "repeat_rate_90d": None,
        },
    ),
    # Social, January: nothing happened.
    (
        SOCIAL,
        "month",
        "2024-01-01",
        {
            "spend": 0.0,
            "new_customers": 0,
            "contacts": 0,
            "converted_contacts": 0,
            "conversion": None,
            "cac": None,
            "mean_customer_value": None,
            "ltv_cac": None,
            "roi": None,
            "payback_months": None,
            "repeat_rate_90d": None,
        },
    ),
    # Social, February: new 201; contacts 201 (converted the same day) and 202 (never bought).
    (
        SOCIAL,
        "month",
        "2024-02-01",
        {
            "spend": 500.0,
            "new_customers": 1,
            "contacts": 2,
            "converted_contacts": 1,
            "conversion": 0.5,
            "cac": 500.0,
            "mean_customer_value": 400.0,
            "ltv_cac": 0.8,
            "roi": ((400.0 - 0.5 * 200.0) - 500.0) / 500.0,
            "payback_months": 500.0 / MARGIN_201,
            "repeat_rate_90d": None,
        },
    ),
    # Social, March: a new customer and no spend: CAC 0, so LTV/CAC and ROI are undefined and payback is 0.
    (
        SOCIAL,
        "month",
        "2024-03-01",
        {
            "spend": 0.0,
            "new_customers": 1,
            "contacts": 1,
            "converted_contacts": 1,
            "conversion": 1.0,
            "cac": 0.0,
            "mean_customer_value": 60.0,
            "ltv_cac": None,
            "roi": None,
            "payback_months": 0.0,
            "repeat_rate_90d": None,
        },
    ),
    (
        SOCIAL,
        "trailing_90d",
        "2024-01-02",
        {
            "spend": 500.0,
            "new_customers": 2,
            "contacts": 3,
            "converted_contacts": 2,
            "conversion": 2 / 3,
            "cac": 250.0,
            "mean_customer_value": 230.0,
            "ltv_cac": 230.0 / 250.0,
            "roi": ((460.0 - 0.5 * 220.0) - 500.0) / 500.0,
            "payback_months": 250.0 / ((MARGIN_201 + MARGIN_203) / 2),
            "repeat_rate_90d": None,
        },
    ),
]


class TestHandBuiltChannels:
    def test_shape_and_columns(self):
        result = run()
        assert list(result.columns) == list(COLUMNS)
        # Three channels x (three months + the trailing 90 days); channel 0 and channel 99 get no rows.
        assert len(result) == 12
        assert sorted(set(result["channel_id"])) == [SEARCH, SOCIAL, PRINT]

    def test_months_run_from_the_earliest_data_to_the_as_of_month(self):
        months = run().query("channel_id == @SEARCH and period == 'month'")
        assert list(months["period_start"]) == [day("2024-01-01"), day("2024-02-01"), day("2024-03-01")]
        assert list(months["period_end"]) == [day("2024-01-31"), day("2024-02-29"), AS_OF]

    def test_trailing_period_is_the_last_90_days(self):
        trailing = run().query("period == 'trailing_90d'")
        assert set(trailing["period_start"]) == {TRAILING_START}
        assert set(trailing["period_end"]) == {AS_OF}
        assert AS_OF - TRAILING_START + 1 == 90

    @pytest.mark.parametrize(("channel_id", "period", "period_start", "expected"), EXPECTED_ROWS)
    def test_hand_computed_row(self, channel_id, period, period_start, expected):
        assert_row(row(run(), channel_id, period, period_start), expected)

    @pytest.mark.parametrize(
        ("period", "period_start"),
        [("month", "2024-01-01"), ("month", "2024-02-01"), ("month", "2024-03-01"), ("trailing_90d", "2024-01-02")],
    )
    def test_channel_with_no_data(self, period, period_start):
        expected = {
            "spend": 0.0,
            "new_customers": 0,
            "contacts": 0,
            "converted_contacts": 0,
            **dict.fromkeys(
                ("conversion", "cac", "mean_customer_value", "ltv_cac", "roi", "payback_months", "repeat_rate_90d")
            ),
        }
        assert_row(row(run(), PRINT, period, period_start), expected)

    def test_undefined_values_are_none_not_nan(self):
        result = run()
        assert result["cac"].dtype == object
        assert not any(isinstance(value, float) and np.isnan(value) for value in result["cac"])


class TestConversionWindow:
    @pytest.mark.parametrize(("days_to_first_purchase", "converted"), [(0, 1), (29, 1), (30, 1), (31, 0)])
    def test_first_purchase_within_30_days_of_creation(self, days_to_first_purchase, converted):
        created = "2024-01-15"
        first = str(np.datetime64(created) + np.timedelta64(days_to_first_purchase, "D"))
        result = run(
            customers=customer_frame([(1, created, SEARCH)]),
            purchase_days=purchase_frame([(1, first, 10.0)]),
            spend=spend_frame([]),
            scores=score_frame([(1, 10.0, 10.0)]),
        )
        january = row(result, SEARCH, "month", "2024-01-01")
        assert january["contacts"] == 1
        assert january["converted_contacts"] == converted

    def test_purchase_before_creation_is_not_a_conversion(self):
        result = run(
            customers=customer_frame([(1, "2024-01-15", SEARCH)]),
            purchase_days=purchase_frame([(1, "2024-01-10", 10.0)]),
            spend=spend_frame([]),
            scores=score_frame([(1, 10.0, 10.0)]),
        )
        assert row(result, SEARCH, "month", "2024-01-01")["converted_contacts"] == 0


class TestReplay:
    def test_rows_after_as_of_change_nothing(self):
        later = run(
            customers=customer_frame([*CUSTOMERS, (401, "2024-04-02", SEARCH)]),
            purchase_days=purchase_frame([*PURCHASES, (401, "2024-04-03", 10.0), (202, "2024-04-01", 30.0)]),
            spend=spend_frame([*SPEND, (SEARCH, "2024-04-01", 700.0)]),
        )
        pd.testing.assert_frame_equal(later, run())

    def test_purchase_row_order_does_not_matter(self):
        shuffled = purchase_frame(PURCHASES).sample(frac=1.0, random_state=3).reset_index(drop=True)
        pd.testing.assert_frame_equal(run(purchase_days=shuffled), run())

    def test_missing_score_is_left_out_of_the_value_mean(self):
        # Without 105's score, January's value mean is 101's alone and ROI counts 101's value only.
        scores = score_frame([score for score in SCORES if score[0] != 105])
        january = row(run(scores=scores), SEARCH, "month", "2024-01-01")
        assert january["mean_customer_value"] == pytest.approx(300.0)
        assert january["roi"] == pytest.approx(((300.0 - 0.5 * 150.0) - 300.0) / 300.0)
        assert january["new_customers"] == 2


def test_no_data_at_all_gives_the_as_of_month_and_the_trailing_row():
    result = run(
        customers=customer_frame([]), purchase_days=purchase_frame([]), spend=spend_frame([]), scores=score_frame([])
    )
    assert len(result) == 6
    assert set(result.query("period == 'month'")["period_start"]) == {day("2024-03-01")}
    assert (result["new_customers"] == 0).all()
    assert result["cac"].isna().all()
