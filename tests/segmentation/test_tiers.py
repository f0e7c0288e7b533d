"""Value tiers (segmentation/tiers.py): pure arrays, no database."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from segmentation.tiers import HIGH, MID, NO_TIER, POTENTIAL, TIERS, assign_tiers, tier_sizes


def tier_counts(tiers: np.ndarray) -> tuple[int, int, int]:
    return int(np.sum(tiers == HIGH)), int(np.sum(tiers == MID)), int(np.sum(tiers == POTENTIAL))


def test_tier_codes_run_from_most_to_least_valuable():
    assert TIERS == ("high", "mid", "potential")
    assert NO_TIER == ""


def test_a_hundred_buyers_split_10_30_60_by_value():
    rng = np.random.default_rng(7)
    values = rng.permutation(100).astype(float) * 3.0
    ids = np.arange(1000, 1100)
    tiers = assign_tiers(values, np.ones(100, dtype=bool), ids)
    assert tier_counts(tiers) == (10, 30, 60)
    assert set(values[tiers == HIGH]) == {3.0 * v for v in range(90, 100)}
    assert set(values[tiers == MID]) == {3.0 * v for v in range(60, 90)}


def test_seven_buyers_split_1_2_4():
    """0.1 * 7 = 0.7 rounds to 1 high; 0.4 * 7 = 2.8 rounds to 3 high-or-mid."""
    values = np.array([50.0, 10.0, 70.0, 20.0, 40.0, 30.0, 60.0])
    tiers = assign_tiers(values, np.ones(7, dtype=bool), np.arange(1, 8))
    assert tiers.tolist() == [MID, POTENTIAL, HIGH, POTENTIAL, POTENTIAL, POTENTIAL, MID]


def test_a_single_buyer_is_high():
    assert assign_tiers(np.array([12.5]), np.array([True]), np.array([42])).tolist() == [HIGH]


def test_no_customers_gives_an_empty_array():
    tiers = assign_tiers(np.array([]), np.array([], dtype=bool), np.array([], dtype=np.int64))
    assert tiers.shape == (0,)


def test_customers_without_a_purchase_get_no_tier_and_do_not_count():
    """Ten buyers among a hundred customers: the tiers are cut among the ten (1 / 3 / 6)."""
    has_purchase = np.zeros(100, dtype=bool)
    has_purchase[::10] = True
    values = np.where(has_purchase, np.arange(100, dtype=float), 1e9)
    tiers = assign_tiers(values, has_purchase, np.arange(100))
    assert np.all(tiers[~has_purchase] == NO_TIER)
    assert tier_counts(tiers) == (1, 3, 6)
    assert tiers[90] == HIGH
    assert tiers[[80, 70, 60]].tolist() == [MID, MID, MID]


def test_a_non_buyer_may_have_no_value_at_all():
    tiers = assign_tiers(np.array([np.nan, 5.0]), np.array([False, True]), np.array([1, 2]))
    assert tiers.tolist() == [NO_TIER, HIGH]


def test_only_non_buyers_gives_no_tiers():
    tiers = assign_tiers(np.zeros(3), np.zeros(3, dtype=bool), np.arange(3))
    assert tiers.tolist() == [NO_TIER, NO_TIER, NO_TIER]


def test_a_tie_across_a_tier_boundary_goes_to_the_lower_customer_id():
    """Ten buyers, one high place; ids 9 and 4 tie on the top value, so id 4 is high."""
    values = np.array([100.0, 100.0, 5, 6, 7, 8, 9, 10, 11, 12])
    ids = np.array([9, 4, 1, 2, 3, 5, 6, 7, 8, 10])
    tiers = assign_tiers(values, np.ones(10, dtype=bool), ids)
    assert tiers[:2].tolist() == [MID, HIGH]


@given(
    st.lists(st.integers(0, 5), min_size=0, max_size=40),
    st.randoms(use_true_random=False),
)
def test_tiers_follow_the_customer_not_the_row_order(small_values, random):
    """Many ties (values 0..5): permuting the rows gives every customer the same tier."""
    count = len(small_values)
    values = np.array(small_values, dtype=float)
    has_purchase = np.array([value != 0 for value in small_values], dtype=bool)
    ids = np.array(random.sample(range(10_000), count), dtype=np.int64)
    permutation = np.array(random.sample(range(count), count), dtype=np.intp)
    tiers = assign_tiers(values, has_purchase, ids)
    permuted = assign_tiers(values[permutation], has_purchase[permutation], ids[permutation])
    assert np.array_equal(permuted, tiers[permutation])


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60))
def test_a_higher_tier_never_holds_a_lower_value_than_a_lower_tier(values_list):
    values = np.array(values_list)
    tiers = assign_tiers(values, np.ones(values.size, dtype=bool), np.arange(values.size))
    rank = {HIGH: 0, MID: 1, POTENTIAL: 2}
    for i in range(values.size):
        for j in range(values.size):
            if rank[tiers[i]] < rank[tiers[j]]:
                assert values[i] >= values[j]


@pytest.mark.parametrize(
    ("buyer_count", "expected"),
    [
        (0, (0, 0, 0)),
        (1, (1, 0, 0)),
        (2, (1, 0, 1)),
        (4, (1, 1, 2)),
        (5, (1, 1, 3)),
        (7, (1, 2, 4)),
        (10, (1, 3, 6)),
        (11, (1, 3, 7)),
        (15, (2, 4, 9)),
        (100, (10, 30, 60)),
        (101, (10, 30, 61)),
        (105, (11, 31, 63)),
    ],
)
def test_tier_sizes_round_the_cumulative_shares_half_up(buyer_count, expected):
    assert tier_sizes(buyer_count) == expected


def test_shares_are_rounded_as_the_decimals_they_are_written_as():
    """0.29 * 50 is 14.5 exactly (15 rounded half up), though the binary product is just below 14.5."""
    assert 0.29 * 50 < 14.5
    assert tier_sizes(50, high_share=0.29, mid_share=0.0) == (15, 0, 35)


def test_a_zero_high_share_means_no_high_tier_even_for_a_single_buyer():
    assert tier_sizes(1, high_share=0.0) == (0, 0, 1)
    assert assign_tiers(np.array([3.0]), np.array([True]), np.array([1]), high_share=0.0).tolist() == [POTENTIAL]


def test_shares_that_add_up_to_one_leave_no_potential_tier():
    tiers = assign_tiers(np.arange(10.0), np.ones(10, dtype=bool), np.arange(10), high_share=0.2, mid_share=0.8)
    assert tier_counts(tiers) == (2, 8, 0)


@pytest.mark.parametrize(
    ("high_share", "mid_share", "named"),
    [
        (-0.1, 0.3, "high_share"),
        (float("nan"), 0.3, "high_share"),
        (float("inf"), 0.3, "high_share"),
        (1.5, 0.0, "high_share"),
        (0.1, -0.3, "mid_share"),
        (0.1, float("nan"), "mid_share"),
        (0.5, 0.6, "mid_share"),
        (0.1, 1.0, "mid_share"),
    ],
)
def test_bad_shares_are_rejected_naming_the_parameter(high_share, mid_share, named):
    with pytest.raises(ValueError, match=rf"^{named} must"):
        assign_tiers(np.array([1.0]), np.array([True]), np.array([1]), high_share=high_share, mid_share=mid_share)


def test_arrays_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        assign_tiers(np.array([1.0, 2.0]), np.array([True]), np.array([1, 2]))


def test_repeated_customer_ids_are_rejected():
    with pytest.raises(ValueError, match="customer_id must not repeat"):
        assign_tiers(np.array([1.0, 2.0]), np.array([True, True]), np.array([7, 7]))


def test_a_buyer_without_a_finite_value_is_rejected():
    with pytest.raises(ValueError, match="finite"):
        assign_tiers(np.array([1.0, np.nan]), np.array([True, True]), np.array([1, 2]))


def test_a_negative_buyer_count_is_rejected():
    with pytest.raises(ValueError, match="buyer_count"):
        tier_sizes(-1)
