"""KPI definitions and their computation (reporting/kpis.py): pure frames, no database."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from reporting import kpis
from reporting.kpis import KPI_BY_CODE, KPI_DEFINITIONS, compute_kpis

AS_OF = 20_000
CHURN_WINDOW = 90
# The period P is AS_OF - 29 .. AS_OF; its start S (the day before P) is AS_OF - 30.

EXPECTED_CODES = {
    "revenue",
    "new_customers",
    "active_customers",
    "arpu",
    "repeat_purchase_rate",
    "monthly_churn_rate",
    "high_value_retention",
    "nps",
    "csat",
    "d1_retention",
    "d7_retention",
    "d30_retention",
    "activation_rate",
    "cac",
    "ltv_cac",
    "buying_customers",
    "churned_customers",
}


def day(offset: int) -> int:
    """The day ``offset`` days from the as-of date (negative: before it)."""
    return AS_OF + offset


def purchase_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    """(customer_id, day offset, amount) rows as the caller sends them: sorted by (customer_id, day)."""
    frame = pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": np.array([day(row[1]) for row in rows], dtype=np.int32),
            "amount": np.array([row[2] for row in rows], dtype=np.float64),
        }
    )
    return frame.sort_values(["customer_id", "day"], ignore_index=True)


def customer_frame(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """(customer_id, created day offset, channel_id) rows."""
    return pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "created_day": np.array([day(row[1]) for row in rows], dtype=np.int32),
            "channel_id": np.array([row[2] for row in rows], dtype=np.int64),
        }
    )


def spend_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    """(channel_id, day offset, amount) rows."""
    return pd.DataFrame(
        {
            "channel_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": np.array([day(row[1]) for row in rows], dtype=np.int32),
            "amount": np.array([row[2] for row in rows], dtype=np.float64),
        }
    )


def event_frame(rows: list[tuple[int, int]]) -> pd.DataFrame:
    """(customer_id, day offset) rows."""
    return pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": np.array([day(row[1]) for row in rows], dtype=np.int32),
        }
    )


def feedback_frame(rows: list[tuple[int, str, int, int, int]]) -> pd.DataFrame:
    """(customer_id, kind, score, scale_max, day offset) rows."""
    return pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "kind": [row[1] for row in rows],
            "score": np.array([row[2] for row in rows], dtype=np.int64),
            "scale_max": np.array([row[3] for row in rows], dtype=np.int64),
            "day": np.array([day(row[4]) for row in rows], dtype=np.int32),
        }
    )


def score_frame(values: dict[int, float]) -> pd.DataFrame:
    """Nightly scores: customer_value per buying customer (revenue and tier do not enter the KPIs)."""
    return pd.DataFrame(
        {
            "customer_id": np.array(list(values), dtype=np.int64),
            "customer_value": np.array(list(values.values()), dtype=np.float64),
            "revenue": np.zeros(len(values)),
            "tier": [""] * len(values),
        }
    )


# Purchase days, as (customer, day offset, amount). What each customer is for, with churn window 90:
#  1  bought long before and again in P                    active, repeat (bought before P)
#  2  first purchase in P, on two days                     new, active, repeat (two days in P)
#  3  single purchase on S + 1, the first day of P          new, active, not repeat
#  4  single purchase on S                                  not new, not active, not churned (30 days)
#  5  last purchase exactly 90 days before as_of            not churned (boundary)
#  6  last purchase 91 days before as_of                    churned during P (61 days at S)
#  7  single purchase 300 days ago                          churned already at S
#  8  churned at S (last 400 days before), bought in P      active, repeat, not in the churn denominator
#  9  contact who never bought                              nothing
# 10  bought 60 days ago and yesterday                      active, repeat
# 11  last purchase exactly 90 days before S               not churned at S, churned at as_of
# 12  first purchase in P                                   new, active, not repeat
PURCHASES = [
    (1, -200, 50.0),
    (1, -100, 30.0),
    (1, -10, 20.0),
    (2, -20, 100.0),
    (2, -5, 40.0),
    (3, -29, 60.0),
    (4, -30, 10.0),
    (5, -150, 80.0),
    (5, -90, 25.0),
    (6, -200, 40.0),
    (6, -91, 35.0),
    (7, -300, 70.0),
    (8, -400, 20.0),
    (8, -5, 90.0),
    (10, -60, 45.0),
    (10, -1, 15.0),
    (11, -120, 55.0),
    (12, -25, 30.0),
]
CUSTOMERS = [(customer_id, -500, customer_id % 3) for customer_id in range(1, 13)]
# Spend: 300 + 150 in P; the 1000 dated on S is the month before.
SPEND = [(1, -15, 300.0), (2, -29, 150.0), (2, -30, 1000.0)]
CUSTOMER_VALUES = {1: 300, 2: 200, 3: 100, 4: 50, 5: 150, 6: 120, 7: 80, 8: 250, 10: 180, 11: 90, 12: 80}
# Events, by customer: first event day f, then what the D1 / D7 / D30 cohorts (f + k in P = -29..0) see.
EVENTS = [
    # 1: f = -40. D30 cohort (f + 30 = -10), retained. D1, D7 days fall before P.
    (1, -40),
    (1, -39),
    (1, -33),
    (1, -10),
    # 2: f = -31. D7 cohort (-24) retained, D30 cohort (-1) retained; D1 day -30 is not in P.
    (2, -31),
    (2, -30),
    (2, -24),
    (2, -1),
    # 3: f = -20. D1 cohort (-19) retained; D7 cohort (-13) not retained (its event is on day 8); D30 day is after as_of.
    (3, -20),
    (3, -19),
    (3, -12),
    # 4: f = -8. D1 cohort (-7) and D7 cohort (-1), retained in neither.
    (4, -8),
    # 5: f = as_of: day 1 is tomorrow, in no cohort.
    (5, 0),
    # 6: f = -60: day 30 is -30 = S, not in P.
    (6, -60),
    (6, -30),
    # 7: f = -29. D1 cohort (-28) retained, D7 cohort (-22) retained; day 30 is after as_of.
    (7, -29),
    (7, -28),
    (7, -22),
    # 8: f = -45. D30 cohort (-15), not retained (its event is on day 31).
    (8, -45),
    (8, -14),
]
FEEDBACK = [
    # NPS in P: 10, 9, 9 promoters; 8, 7 passives; 6, 0 detractors. The 10 dated on S is outside P.
    (1, "nps", 10, 10, -29),
    (2, "nps", 9, 10, -3),
    (3, "nps", 9, 10, 0),
    (4, "nps", 8, 10, -10),
    (5, "nps", 7, 10, -11),
    (6, "nps", 6, 10, -12),
    (7, "nps", 0, 10, -13),
    (8, "nps", 10, 10, -30),
    # CSAT in P: 4 of 5, 5 of 5, 8 of 10; the 1 of 5 dated on S is outside P.
    (1, "csat", 4, 5, -3),
    (2, "csat", 5, 5, -29),
    (3, "csat", 8, 10, 0),
    (4, "csat", 1, 5, -30),
]
HIGH_TIER_AT_START = np.array([1, 5, 6, 7, 99], dtype=np.int64)


def run(**overrides) -> dict[str, float | int | None]:
    inputs = {
        "as_of": AS_OF,
        "purchase_days": purchase_frame(PURCHASES),
        "customers": customer_frame(CUSTOMERS),
        "spend": spend_frame(SPEND),
        "event_days": event_frame(EVENTS),
        "feedback": feedback_frame(FEEDBACK),
        "scores": score_frame(CUSTOMER_VALUES),
        "high_tier_at_start": HIGH_TIER_AT_START,
        "churn_window_days": CHURN_WINDOW,
        "gross_margin": 0.4,
    }
    inputs.update(overrides)
    return compute_kpis(**inputs)


class TestDefinitions:
    def test_codes_are_exactly_the_snapshot_kpis(self):
        codes = [kpi.code for kpi in KPI_DEFINITIONS]
        assert len(codes) == len(set(codes))
        assert set(codes) == EXPECTED_CODES
        assert set(KPI_BY_CODE) == EXPECTED_CODES
        assert all(KPI_BY_CODE[kpi.code] is kpi for kpi in KPI_DEFINITIONS)

    def test_every_definition_is_complete(self):
        for kpi in KPI_DEFINITIONS:
            assert kpi.unit in {"count", "money", "share", "ratio", "score"}, kpi.code
            assert kpi.label.strip(), kpi.code
            assert kpi.definition.endswith("."), kpi.code
            assert isinstance(kpi.higher_is_better, bool), kpi.code

    def test_cost_and_churn_are_lower_is_better(self):
        lower_is_better = {kpi.code for kpi in KPI_DEFINITIONS if not kpi.higher_is_better}
        assert lower_is_better == {"monthly_churn_rate", "cac", "churned_customers"}

    def test_module_docstring_table_states_the_same_definitions(self):
        docstring = " ".join(kpis.__doc__.split())
        for kpi in KPI_DEFINITIONS:
            assert f"{kpi.code} {' '.join(kpi.definition.split())}" in docstring, kpi.code

    def test_definitions_are_frozen(self):
        with pytest.raises(AttributeError):
            KPI_DEFINITIONS[0].label = "Sales"

    def test_computation_returns_every_defined_code(self):
        assert set(run()) == EXPECTED_CODES | {"csat_mean_score"}


class TestHandBuiltDataset:
    def test_revenue_sums_purchase_days_in_the_period(self):
        # In P: 1: 20; 2: 100 + 40; 3: 60; 8: 90; 10: 15; 12: 30. Customer 4's 10 is on S, outside P.
        assert run()["revenue"] == pytest.approx(355.0)

    def test_new_customers_have_their_first_purchase_day_in_the_period(self):
        # 2 (-20), 3 (-29 = S + 1), 12 (-25). Customer 4's first purchase day is S itself: not new.
        assert run()["new_customers"] == 3

    def test_active_customers(self):
        # 1, 2, 3, 8, 10, 12.
        assert run()["active_customers"] == 6

    def test_arpu(self):
        assert run()["arpu"] == pytest.approx(355.0 / 6)

    def test_repeat_purchase_rate(self):
        # Repeaters: 1, 8, 10 (bought before P) and 2 (two days in P); 3 and 12 are not. 4 of 6 active.
        assert run()["repeat_purchase_rate"] == pytest.approx(4 / 6)

    def test_monthly_churn_rate(self):
        # Bought and not churned at S (day -30): 1 (70 days), 4 (0), 5 (60), 6 (61), 10 (30), 11 (exactly 90).
        # 2, 3, 12 had not bought by S; 7 (270 days) and 8 (370 days) were already churned.
        # Churned at as_of among those six: 6 (91 days) and 11 (120 days); 5 at exactly 90 days is not.
        assert run()["monthly_churn_rate"] == pytest.approx(2 / 6)

    def test_high_value_retention(self):
        # High tier at start: 1, 5, 6, 7 and 99; 99 never bought and is left out. Not churned at as_of: 1 and 5.
        assert run()["high_value_retention"] == pytest.approx(2 / 4)

    def test_nps(self):
        # 7 answers in P: 3 promoters (10, 9, 9), 2 detractors (6, 0): 100 * (3 - 2) / 7.
        assert run()["nps"] == pytest.approx(100 / 7)

    def test_csat_is_a_share_of_each_surveys_maximum(self):
        # 4/5 = 0.8, 5/5 = 1.0, 8/10 = 0.8; the raw mean is (4 + 5 + 8) / 3.
        result = run()
        assert result["csat"] == pytest.approx((0.8 + 1.0 + 0.8) / 3)
        assert result["csat_mean_score"] == pytest.approx(17 / 3)

    def test_d1_retention(self):
        # Cohort (first event day f with f + 1 in P): 3 (retained), 4 (not), 7 (retained).
        assert run()["d1_retention"] == pytest.approx(2 / 3)

    def test_d7_retention(self):
        # Cohort (f + 7 in P): 2 (retained), 3 (event on day 8, not day 7), 4 (not), 7 (retained).
        assert run()["d7_retention"] == pytest.approx(2 / 4)

    def test_d30_retention(self):
        # Cohort (f + 30 in P): 1 (retained), 2 (retained), 8 (event on day 31, not day 30). 6's day 30 is S.
        assert run()["d30_retention"] == pytest.approx(2 / 3)

    def test_cac(self):
        # Spend in P 300 + 150 (the 1000 on S is outside) over 3 new customers.
        assert run()["cac"] == pytest.approx(150.0)

    def test_ltv_cac(self):
        # Mean customer value of the 11 buying customers: 1600 / 11; CAC 150.
        assert run()["ltv_cac"] == pytest.approx((1600 / 11) / 150)

    def test_buying_and_churned_customers(self):
        # Buying: everyone but contact 9. Churned at as_of: 6 (91 days), 7 (300), 11 (120); 5 (exactly 90) is not.
        result = run()
        assert result["buying_customers"] == 11
        assert result["churned_customers"] == 3

    def test_counts_are_ints_and_ratios_are_floats(self):
        result = run()
        for code in ("new_customers", "active_customers", "buying_customers", "churned_customers"):
            assert type(result[code]) is int, code
        for code in ("revenue", "arpu", "repeat_purchase_rate", "nps", "csat", "cac", "ltv_cac"):
            assert type(result[code]) is float, code


class TestUndefinedValues:
    def test_no_buyers(self):
        result = run(
            purchase_days=purchase_frame([]),
            scores=score_frame({}),
            high_tier_at_start=np.array([1, 2], dtype=np.int64),
        )
        assert result["revenue"] == 0.0
        assert result["new_customers"] == 0
        assert result["active_customers"] == 0
        assert result["buying_customers"] == 0
        assert result["churned_customers"] == 0
        for code in ("arpu", "repeat_purchase_rate", "monthly_churn_rate", "high_value_retention", "cac", "ltv_cac"):
            assert result[code] is None, code

    def test_no_feedback(self):
        result = run(feedback=feedback_frame([]))
        assert result["nps"] is None
        assert result["csat"] is None
        assert result["csat_mean_score"] is None

    def test_feedback_only_outside_the_period(self):
        result = run(feedback=feedback_frame([(1, "nps", 10, 10, -30), (1, "csat", 5, 5, -31)]))
        assert result["nps"] is None
        assert result["csat"] is None

    def test_no_events_means_empty_retention_cohorts(self):
        result = run(event_days=event_frame([]))
        assert result["d1_retention"] is None
        assert result["d7_retention"] is None
        assert result["d30_retention"] is None

    def test_empty_cohort_for_one_k_only(self):
        # A single customer whose first event was 3 days ago: in the D1 cohort, too young for D7 and D30.
        result = run(event_days=event_frame([(1, -3), (1, -2)]))
        assert result["d1_retention"] == 1.0
        assert result["d7_retention"] is None
        assert result["d30_retention"] is None

    def test_unknown_high_tier_history(self):
        assert run(high_tier_at_start=None)["high_value_retention"] is None

    def test_empty_high_tier_at_start(self):
        assert run(high_tier_at_start=np.array([], dtype=np.int64))["high_value_retention"] is None

    def test_high_tier_with_only_unknown_ids(self):
        assert run(high_tier_at_start=np.array([98, 99], dtype=np.int64))["high_value_retention"] is None

    def test_zero_spend_makes_cac_zero_and_ltv_cac_undefined(self):
        result = run(spend=spend_frame([]))
        assert result["cac"] == 0.0
        assert result["ltv_cac"] is None

    def test_no_new_customers_makes_cac_undefined(self):
        result = run(purchase_days=purchase_frame([(1, -200, 10.0), (1, -5, 10.0)]))
        assert result["new_customers"] == 0
        assert result["cac"] is None
        assert result["ltv_cac"] is None

    def test_no_scores_makes_ltv_cac_undefined(self):
        assert run(scores=score_frame({}))["ltv_cac"] is None


class TestBoundaries:
    @pytest.mark.parametrize(
        ("days_since_last_purchase", "churned"),
        [(CHURN_WINDOW - 1, False), (CHURN_WINDOW, False), (CHURN_WINDOW + 1, True)],
    )
    def test_churned_only_past_the_window(self, days_since_last_purchase, churned):
        result = run(purchase_days=purchase_frame([(1, -days_since_last_purchase, 10.0)]))
        assert result["churned_customers"] == int(churned)

    @pytest.mark.parametrize(("first_purchase_offset", "is_new"), [(-31, False), (-30, False), (-29, True), (0, True)])
    def test_new_customer_boundaries(self, first_purchase_offset, is_new):
        # S = -30 is the last day before the period; S + 1 = -29 is its first day.
        result = run(purchase_days=purchase_frame([(1, first_purchase_offset, 10.0)]))
        assert result["new_customers"] == int(is_new)
        assert result["active_customers"] == int(is_new)

    @pytest.mark.parametrize(("score", "nps"), [(10, 100.0), (9, 100.0), (8, 0.0), (7, 0.0), (6, -100.0), (0, -100.0)])
    def test_nps_categories(self, score, nps):
        assert run(feedback=feedback_frame([(1, "nps", score, 10, -1)]))["nps"] == nps

    def test_churn_at_the_period_start_boundary(self):
        # Last purchase day 90 days before S: not churned at S, so in the denominator; churned at as_of.
        # Last purchase day 91 days before S: already churned at S, in neither.
        result = run(purchase_days=purchase_frame([(1, -120, 10.0), (2, -121, 10.0)]))
        assert result["monthly_churn_rate"] == 1.0

    def test_purchase_on_the_as_of_date_counts(self):
        result = run(purchase_days=purchase_frame([(1, 0, 25.0)]))
        assert result["revenue"] == 25.0
        assert result["new_customers"] == 1

    def test_period_days_parameter(self):
        # With a 7-day period only customer 2's day -5, 8's day -5 and 10's day -1 are in P (-6 .. 0).
        result = run(period_days=7)
        assert result["revenue"] == pytest.approx(40.0 + 90.0 + 15.0)
        assert result["active_customers"] == 3
        assert result["new_customers"] == 0


class TestReplay:
    def test_rows_after_as_of_change_nothing(self):
        later_purchases = [*PURCHASES, (1, 1, 500.0), (4, 5, 60.0), (13, 2, 80.0), (7, 30, 10.0)]
        later_customers = [*CUSTOMERS, (13, 1, 1)]
        later_spend = [*SPEND, (1, 1, 9999.0)]
        later_events = [*EVENTS, (5, 1), (4, -1 + 8), (9, 3)]
        later_feedback = [*FEEDBACK, (1, "nps", 0, 10, 1), (1, "csat", 1, 5, 2)]
        assert (
            run(
                purchase_days=purchase_frame(later_purchases),
                customers=customer_frame(later_customers),
                spend=spend_frame(later_spend),
                event_days=event_frame(later_events),
                feedback=feedback_frame(later_feedback),
            )
            == run()
        )

    def test_row_order_does_not_matter(self):
        shuffled = purchase_frame(PURCHASES).sample(frac=1.0, random_state=7).reset_index(drop=True)
        events = event_frame(EVENTS).sample(frac=1.0, random_state=8).reset_index(drop=True)
        assert run(purchase_days=shuffled, event_days=events) == run()


# --- The vectorised computation against a slow, per-customer reference --------------------------------------


def reference_churn_repeat_and_d7(
    purchases: pd.DataFrame, events: pd.DataFrame, as_of: int, window: int, period_days: int
) -> dict[str, float | None]:
    """Monthly churn, repeat-purchase rate and D7 retention, straight from the definitions, one customer at a time."""
    period_first, period_start = as_of - period_days + 1, as_of - period_days
    days_by_customer: dict[int, list[int]] = defaultdict(list)
    for customer_id, purchase_day in zip(purchases["customer_id"], purchases["day"], strict=True):
        if purchase_day <= as_of:
            days_by_customer[int(customer_id)].append(int(purchase_day))

    def churned(days: list[int], t: int) -> bool | None:
        before = [d for d in days if d <= t]
        return None if not before else t - max(before) > window

    at_start = became_churned = active = repeat = 0
    for days in days_by_customer.values():
        churned_at_start = churned(days, period_start)
        if churned_at_start is False:
            at_start += 1
            became_churned += churned(days, as_of) is True
        in_period = [d for d in days if period_first <= d <= as_of]
        if in_period:
            active += 1
            repeat += min(days) < period_first or len(in_period) >= 2

    event_days_by_customer: dict[int, set[int]] = defaultdict(set)
    for customer_id, event_day in zip(events["customer_id"], events["day"], strict=True):
        if event_day <= as_of:
            event_days_by_customer[int(customer_id)].add(int(event_day))
    cohort = retained = 0
    for days in event_days_by_customer.values():
        first = min(days)
        if period_first <= first + 7 <= as_of:
            cohort += 1
            retained += first + 7 in days

    return {
        "monthly_churn_rate": became_churned / at_start if at_start else None,
        "repeat_purchase_rate": repeat / active if active else None,
        "d7_retention": retained / cohort if cohort else None,
    }


def test_vectorised_kpis_match_a_per_customer_reference():
    rng = np.random.default_rng(20240601)
    customer_count = 20_000
    purchase_counts = rng.integers(1, 8, customer_count)
    customer_ids = np.repeat(np.arange(1, customer_count + 1, dtype=np.int64), purchase_counts)
    purchase_days = day(0) - rng.integers(0, 400, len(customer_ids)) + rng.integers(-5, 6, len(customer_ids))
    purchases = (
        pd.DataFrame({"customer_id": customer_ids, "day": purchase_days.astype(np.int32)})
        .drop_duplicates()
        .assign(amount=lambda frame: rng.gamma(2.0, 20.0, len(frame)))
        .sort_values(["customer_id", "day"], ignore_index=True)
    )
    events = pd.DataFrame(
        {
            "customer_id": rng.integers(1, customer_count + 1, 60_000).astype(np.int64),
            "day": (day(0) - rng.integers(-3, 80, 60_000)).astype(np.int32),
        }
    ).drop_duplicates(ignore_index=True)
    result = run(purchase_days=purchases, event_days=events, scores=score_frame({}), high_tier_at_start=None)
    expected = reference_churn_repeat_and_d7(purchases, events, AS_OF, CHURN_WINDOW, 30)
    assert expected["monthly_churn_rate"] is not None
    assert expected["d7_retention"] is not None
    for code, value in expected.items():
        assert result[code] == pytest.approx(value), code


def test_activation_rate_counts_contacts_whose_whole_window_ended_in_the_period():
    """Window 30, period Mar 2 .. as-of (offsets -29 .. 0):
    A contact -40, first purchase -20: window ends -10 (in the period), bought 20 days in: activated.
    B contact -45, first purchase -5: window ends -15, bought 40 days in: not activated.
    C contact -31, never buys: window ends -1: not activated.
    D contact -10: window ends +20, after the as-of day: not counted yet.
    E contact -100: window ended -70, before the period: not counted."""
    customers = customer_frame([(1, -40, 0), (2, -45, 0), (3, -31, 0), (4, -10, 0), (5, -100, 0)])
    purchases = purchase_frame([(1, -20, 10.0), (2, -5, 10.0)])
    result = run(customers=customers, purchase_days=purchases, activation_window_days=30)
    assert result["activation_rate"] == pytest.approx(1 / 3)
    shorter = run(customers=customers, purchase_days=purchases, activation_window_days=15)
    # Window 15: A's ends -25 (in the period) but A bought 20 days in; B's ends -30, just before the period;
    # C's ends -16, never bought; D's ends +5; E's long ago. Two contacts observed (A, C), neither activated.
    assert shorter["activation_rate"] == pytest.approx(0.0)
