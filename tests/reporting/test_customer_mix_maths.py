"""The customer mix maths (reporting/customer_mix.py) on small cases checked by hand."""

from __future__ import annotations

import datetime
import itertools

import numpy as np
import pandas as pd
import pytest

from reporting import customer_mix as mix


def day(iso: str) -> int:
    return (datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days


# RFM grid ------------------------------------------------------------------------------------------------------


def test_rfm_grid_counts_customers_and_sums_value_per_recency_and_frequency_cell():
    grid = mix.rfm_grid(r_score=[5, 5, 1, 3], f_score=[1, 1, 5, 2], customer_value=[10.0, 20.006, 5.0, 7.5])

    cells = {(cell["r"], cell["f"]): (cell["customers"], cell["value"]) for cell in grid["cells"]}
    assert cells[(5, 1)] == (2, 30.01)  # 10 + 20.006, rounded to cents once summed
    assert cells[(1, 5)] == (1, 5.0)
    assert cells[(3, 2)] == (1, 7.5)
    assert sum(count for count, _ in cells.values()) == 4
    assert (grid["customers"], grid["value"]) == (4, 42.51)


def test_rfm_grid_has_25_cells_recency_5_first_and_leaves_out_customers_without_a_score():
    grid = mix.rfm_grid(r_score=[0, 2], f_score=[0, 4], customer_value=[1000.0, 1.0])

    assert [(cell["r"], cell["f"]) for cell in grid["cells"][:6]] == [(5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (4, 1)]
    assert len(grid["cells"]) == 25
    assert (grid["customers"], grid["value"]) == (1, 1.0)  # the unscored customer (0, 0) is not in the grid


# Tiers ---------------------------------------------------------------------------------------------------------


def test_tier_mix_gives_customers_value_and_shares_high_first():
    tiers = mix.tier_mix(["high", "mid", "mid", "potential", ""], [100.0, 30.0, 20.0, 10.0, 0.0])

    assert [row["tier"] for row in tiers] == ["high", "mid", "potential"]
    high, mid, potential = tiers
    assert (high["customers"], high["value"], high["customer_share"]) == (1, 100.0, 0.25)
    assert high["value_share"] == pytest.approx(100 / 160)
    assert (mid["customers"], mid["value"], mid["value_share"]) == (2, 50.0, pytest.approx(50 / 160))
    assert (potential["customers"], potential["customer_share"]) == (1, 0.25)


def test_tier_mix_without_buyers_has_no_shares():
    assert all(row["customer_share"] is None and row["value_share"] is None for row in mix.tier_mix([], []))


# Value distribution --------------------------------------------------------------------------------------------


def test_value_bins_follow_the_1_2_5_series_from_0_with_each_value_in_its_low_inclusive_bin():
    bins = mix.value_bins([5.0, 15.0, 150.0, 999.0, 1000.0, 12000.0])

    edges = [bins[0]["low"]] + [one["high"] for one in bins]
    # The 1st percentile of the values is 5.5, the largest series number under it 5; 20000 is the first above 12000.
    assert edges == [0, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    counts = {(one["low"], one["high"]): one["customers"] for one in bins if one["customers"]}
    assert counts == {(5, 10): 1, (10, 20): 1, (100, 200): 1, (500, 1000): 1, (1000, 2000): 1, (10000, 20000): 1}
    assert sum(one["value"] for one in bins) == pytest.approx(5 + 15 + 150 + 999 + 1000 + 12000)


def test_value_bins_thin_to_powers_of_ten_when_the_values_span_many_decades():
    bins = mix.value_bins([0.01, 3.0, 1_000_000.0])

    edges = [bins[0]["low"]] + [one["high"] for one in bins]
    assert edges == [0, 0.01, 0.1, 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000]
    assert len(bins) <= mix.MAX_VALUE_BINS


def test_value_bins_of_nobody_are_empty():
    assert mix.value_bins([]) == []


# Month-ends and stage flow -------------------------------------------------------------------------------------


def test_month_ends_are_the_last_complete_calendar_months_oldest_first():
    assert mix.month_ends(datetime.date(2026, 11, 25), 3) == [
        datetime.date(2026, 8, 31),
        datetime.date(2026, 9, 30),
        datetime.date(2026, 10, 31),
    ]
    # A month-end as-of day is itself a month-end.
    assert mix.month_ends(datetime.date(2026, 2, 28), 2) == [datetime.date(2026, 1, 31), datetime.date(2026, 2, 28)]


@pytest.fixture
def flow() -> dict:
    """Churn window 90 days, month-ends 2026-01-31 .. 2026-09-30 (and 2025-12-31 before them).

    - 1: contact 2025-12-01, bought 2025-12-15, lapsed (106 days on 03-31), came back 2026-06-10 (a gap of 177
      days): activated → churned in March, reactivated in June, churned again in September (112 days);
    - 2: contact 2026-01-10, bought 2026-01-20 only: new and activated in January, churned in April (100 days);
    - 3: contact 2026-05-05, never bought: acquired from May;
    - 4: no contact row, bought 2026-02-01, 02-20 and 03-05: a contact from its first purchase day, growing in
      February and March, churned in June (117 days).
    """
    contacts = pd.DataFrame(
        {"customer_id": [1, 2, 3], "created_day": [day("2025-12-01"), day("2026-01-10"), day("2026-05-05")]}
    )
    purchase_days = pd.DataFrame(
        {
            "customer_id": [4, 1, 2, 4, 1, 4],
            "day": [
                day("2026-02-20"),
                day("2026-06-10"),
                day("2026-01-20"),
                day("2026-02-01"),
                day("2025-12-15"),
                day("2026-03-05"),
            ],
        }
    )
    result = mix.stage_flow(
        as_of=datetime.date(2026, 10, 5), contacts=contacts, purchase_days=purchase_days, churn_window_days=90, months=9
    )
    return {month["month_end"]: month for month in result["months"]}


def _moves(month: dict) -> dict:
    return {(move["from"], move["to"]): move["customers"] for move in month["transitions"]}


def _counts(month: dict) -> dict:
    return {stage: count for stage, count in month["counts"].items() if count}


def test_stage_flow_covers_the_month_ends_oldest_first(flow):
    assert list(flow) == [
        f"2026-{m:02d}-{d}"
        for m, d in ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30))
    ]


def test_stage_flow_counts_new_contacts_as_moves_from_no_stage(flow):
    assert _counts(flow["2026-01-31"]) == {"activated": 2}
    assert _moves(flow["2026-01-31"]) == {("activated", "activated"): 1, ("", "activated"): 1}
    assert _moves(flow["2026-02-28"]) == {("activated", "activated"): 2, ("", "growing"): 1}


def test_stage_flow_follows_a_lapse_and_a_comeback(flow):
    assert _moves(flow["2026-03-31"]) == {
        ("activated", "churned"): 1,
        ("activated", "activated"): 1,
        ("growing", "growing"): 1,
    }
    assert _counts(flow["2026-04-30"]) == {"churned": 2, "growing": 1}
    assert _moves(flow["2026-05-31"])[("", "acquired")] == 1
    assert _moves(flow["2026-06-30"]) == {
        ("acquired", "acquired"): 1,
        ("churned", "churned"): 1,
        ("churned", "reactivated"): 1,
        ("growing", "churned"): 1,
    }
    assert _counts(flow["2026-08-31"]) == {"acquired": 1, "churned": 2, "reactivated": 1}
    assert _moves(flow["2026-09-30"])[("reactivated", "churned")] == 1


def test_every_transition_row_adds_up_to_the_previous_month_end_count(flow):
    months = list(flow.values())
    for previous, current in itertools.pairwise(months):
        for stage, count in previous["counts"].items():
            assert sum(n for (source, _), n in _moves(current).items() if source == stage) == count


def test_stage_flow_agrees_with_the_lifecycle_rules_of_today():
    """At a month-end as-of day the latest month is what lifecycle_stages gives on that day's ages."""
    from retention.lifecycle import lifecycle_stages

    contacts = pd.DataFrame({"customer_id": [1, 2], "created_day": [day("2025-01-01"), day("2025-01-01")]})
    purchase_days = pd.DataFrame({"customer_id": [1, 1], "day": [day("2025-02-01"), day("2025-03-01")]})
    as_of = datetime.date(2026, 3, 31)
    result = mix.stage_flow(as_of=as_of, contacts=contacts, purchase_days=purchase_days, churn_window_days=400)

    t = day("2026-03-31")
    expected = lifecycle_stages(
        [t - day("2025-02-01"), np.nan],
        [t - day("2025-03-01"), np.nan],
        [2, 0],
        [np.nan, np.nan],
        churn_window_days=400,
    )
    assert list(expected) == ["mature", "acquired"]
    assert _counts(result["months"][-1]) == {"mature": 1, "acquired": 1}
    assert len(result["months"]) == mix.FLOW_MONTHS


def test_stage_flow_of_an_organization_without_customers_is_empty_counts():
    empty = pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "created_day": pd.Series(dtype="int64")})
    days = pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "day": pd.Series(dtype="int64")})
    result = mix.stage_flow(as_of=datetime.date(2026, 3, 31), contacts=empty, purchase_days=days, churn_window_days=90)
    assert all(sum(month["counts"].values()) == 0 and month["transitions"] == [] for month in result["months"])
