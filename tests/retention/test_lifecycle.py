"""Lifecycle stages, churn flags and stage changes (retention/lifecycle.py): pure arrays, no database."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention.lifecycle import (
    ACQUIRED,
    ACTIVATED,
    CHURNED,
    GROWING,
    MATURE,
    REACTIVATED,
    STAGES,
    churned_flags,
    lifecycle_stages,
    stage_transitions,
)

NAN = math.nan
CHURN_WINDOW = 90

# (case, first purchase day age, last purchase day age, purchase days, latest comeback age, expected), window 90.
STAGE_TABLE = [
    ("never bought", NAN, NAN, 0, NAN, ACQUIRED),
    ("one purchase day today", 0, 0, 1, NAN, ACTIVATED),
    ("one purchase day at the end of the activation window", 30, 30, 1, NAN, ACTIVATED),
    ("one purchase day past the activation window", 31, 31, 1, NAN, ACTIVATED),
    ("one purchase day exactly the churn window ago", 90, 90, 1, NAN, ACTIVATED),
    ("one purchase day one day past the churn window", 91, 91, 1, NAN, CHURNED),
    ("two purchase days on consecutive days", 1, 0, 2, NAN, GROWING),
    ("last purchase day exactly the churn window ago", 150, 90, 2, NAN, GROWING),
    ("last purchase day one day past the churn window", 151, 91, 2, NAN, CHURNED),
    ("tenure 364 days", 364, 5, 5, NAN, GROWING),
    ("tenure 365 days", 365, 5, 5, NAN, MATURE),
    ("long-standing regular buyer", 800, 20, 12, NAN, MATURE),
    ("came back today after a lapse", 120, 0, 2, 0, REACTIVATED),
    ("came back exactly the churn window ago, bought since", 400, 10, 5, 90, REACTIVATED),
    ("came back one day more than the churn window ago, bought since", 400, 10, 5, 91, MATURE),
    ("came back long ago, young tenure", 300, 10, 5, 150, GROWING),
    ("came back, then lapsed again", 500, 200, 3, 200, CHURNED),
]


def stage_columns(rows):
    _, first, last, days, comeback, expected = zip(*rows, strict=True)
    return np.array(first), np.array(last), np.array(days), np.array(comeback, dtype=float), list(expected)


def test_stage_codes_are_in_lifecycle_order():
    assert STAGES == ("acquired", "activated", "growing", "mature", "churned", "reactivated")


def test_stage_table_covers_every_stage():
    assert {row[-1] for row in STAGE_TABLE} == set(STAGES)


def test_every_case_of_the_stage_table_gets_its_stage_in_one_vectorised_call():
    first, last, days, comeback, expected = stage_columns(STAGE_TABLE)
    stages = lifecycle_stages(first, last, days, comeback, churn_window_days=CHURN_WINDOW)
    mismatches = [
        (case, stage, want)
        for (case, *_), stage, want in zip(STAGE_TABLE, stages.tolist(), expected, strict=True)
        if stage != want
    ]
    assert mismatches == []


@pytest.mark.parametrize("row", STAGE_TABLE, ids=[row[0] for row in STAGE_TABLE])
def test_each_case_alone_gets_the_same_stage_as_in_the_table(row):
    first, last, days, comeback, expected = stage_columns([row])
    assert lifecycle_stages(first, last, days, comeback, churn_window_days=CHURN_WINDOW).tolist() == expected


def test_the_churn_window_is_the_organizations_own():
    """With a 30-day window, 31 days since the last purchase day is churned and a comeback 31 days ago is over."""
    first, last, days, comeback, _ = stage_columns(
        [
            ("", 31, 31, 1, NAN, None),
            ("", 30, 30, 1, NAN, None),
            ("", 100, 0, 3, 30, None),
            ("", 100, 0, 4, 31, None),
        ]
    )
    stages = lifecycle_stages(first, last, days, comeback, churn_window_days=30)
    assert stages.tolist() == [CHURNED, ACTIVATED, REACTIVATED, GROWING]


def test_no_customers_gives_an_empty_array():
    empty = np.array([], dtype=float)
    assert lifecycle_stages(empty, empty, empty, empty, churn_window_days=CHURN_WINDOW).shape == (0,)


def test_churned_flags_mark_only_customers_past_the_churn_window():
    flags = churned_flags(np.array([NAN, 0, 89, 90, 91, 1000]), CHURN_WINDOW)
    assert flags.tolist() == [False, False, False, False, True, True]


@pytest.mark.parametrize("window", [0, -5, 2.5, True, None])
def test_a_churn_window_that_is_not_a_positive_whole_number_of_days_is_rejected(window):
    with pytest.raises(ValueError, match="churn_window_days"):
        churned_flags(np.array([1.0]), window)
    with pytest.raises(ValueError, match="churn_window_days"):
        lifecycle_stages([1], [1], [1], [NAN], churn_window_days=window)


def test_a_numpy_integer_churn_window_is_accepted():
    assert churned_flags(np.array([91.0]), np.int64(90)).tolist() == [True]


@pytest.mark.parametrize(
    ("first", "last", "days", "comeback", "message"),
    [
        ([NAN], [NAN], [1], [NAN], "NaN exactly where purchase_days is 0"),
        ([5], [5], [0], [NAN], "NaN exactly where purchase_days is 0"),
        ([5], [NAN], [1], [NAN], "NaN exactly where purchase_days is 0"),
        ([5], [-1], [2], [NAN], "0 <= last_purchase_day_age <= first_purchase_day_age"),
        ([5], [9], [2], [NAN], "0 <= last_purchase_day_age <= first_purchase_day_age"),
        ([50], [10], [2], [50], "comeback_day_age must be NaN or between"),
        ([50], [10], [2], [9], "comeback_day_age must be NaN or between"),
        ([NAN], [NAN], [0], [3], "comeback_day_age must be NaN or between"),
        ([50], [10], [1], [NAN], "one purchase day must have equal"),
        ([50], [10], [-2], [NAN], "purchase_days must hold whole numbers"),
        ([50], [10], [2.5], [NAN], "purchase_days must hold whole numbers"),
    ],
)
def test_a_purchase_history_that_cannot_be_real_is_rejected(first, last, days, comeback, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        lifecycle_stages(first, last, days, comeback, churn_window_days=CHURN_WINDOW)


def test_arrays_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        lifecycle_stages([1, 2], [1, 2], [1, 1], [NAN], churn_window_days=CHURN_WINDOW)


def reference_stage(purchase_day_ages: list[int], churn_window: int) -> str:
    """The stage rules read straight from the module docstring, one customer at a time."""
    if not purchase_day_ages:
        return ACQUIRED
    first, last = max(purchase_day_ages), min(purchase_day_ages)
    ordered = sorted(purchase_day_ages, reverse=True)
    comebacks = [later for earlier, later in itertools.pairwise(ordered) if earlier - later > churn_window]
    if last > churn_window:
        return CHURNED
    if comebacks and min(comebacks) <= churn_window:
        return REACTIVATED
    if len(purchase_day_ages) == 1:
        return ACTIVATED
    return GROWING if first < 365 else MATURE


def latest_comeback_age(days: set[int], churn_window: int) -> float:
    ordered = sorted(days, reverse=True)
    comebacks = [later for earlier, later in itertools.pairwise(ordered) if earlier - later > churn_window]
    return float(min(comebacks)) if comebacks else NAN


@given(
    st.lists(st.sets(st.integers(0, 900), max_size=8), max_size=30),
    st.integers(1, 200),
)
def test_stages_agree_with_the_rules_applied_to_raw_purchase_days(histories, churn_window):
    """Build the aggregate inputs from random purchase-day histories and compare with a one-customer reference."""
    first = np.array([max(days) if days else NAN for days in histories], dtype=float)
    last = np.array([min(days) if days else NAN for days in histories], dtype=float)
    counts = np.array([len(days) for days in histories])
    comebacks = np.array([latest_comeback_age(days, churn_window) for days in histories], dtype=float)
    stages = lifecycle_stages(first, last, counts, comebacks, churn_window_days=churn_window)
    assert stages.tolist() == [reference_stage(sorted(days), churn_window) for days in histories]
    assert np.array_equal(stages == CHURNED, churned_flags(last, churn_window))


def test_stage_transitions_report_the_rows_whose_stage_changed():
    previous = np.array(["", "growing", "growing", "churned", "mature", ""])
    current = np.array(["acquired", "growing", "mature", "reactivated", "mature", "activated"])
    assert stage_transitions(previous, current).tolist() == [0, 2, 3, 5]


def test_stage_transitions_between_known_stages_only_are_a_filter_away():
    previous = np.array(["", "growing", "activated"])
    current = np.array(["acquired", "mature", "activated"])
    changed = stage_transitions(previous, current)
    assert changed[previous[changed] != ""].tolist() == [1]


def test_stage_transitions_accept_plain_lists_and_empty_input():
    assert stage_transitions(["acquired"], ["activated"]).tolist() == [0]
    assert stage_transitions([], []).tolist() == []


def test_stage_transitions_reject_unknown_codes():
    with pytest.raises(ValueError, match="current_stages holds unknown stage codes: 'sleeping'"):
        stage_transitions(["growing"], ["sleeping"])
    with pytest.raises(ValueError, match="previous_stages holds unknown stage codes"):
        stage_transitions(["Growing"], ["growing"])


def test_stage_transitions_reject_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        stage_transitions(["growing", "mature"], ["growing"])
