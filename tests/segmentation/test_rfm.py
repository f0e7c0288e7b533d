"""RFM quintile scores and named segments (segmentation/rfm.py): pure arrays, no database."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segmentation.rfm import (
    RFM_SEGMENT_CODES,
    RFM_SEGMENTS,
    SEGMENT_BY_R_AND_FM,
    fm_score,
    quintile_scores,
    rfm_scores,
    rfm_segment,
)

small_values = arrays(np.int64, st.integers(0, 60), elements=st.integers(0, 12))


# Quintile scores


def test_distinct_values_are_cut_into_five_equal_quintiles():
    """Ten distinct values: two per quintile, lowest values scoring 1."""
    scores = quintile_scores(np.array([7, 3, 9, 1, 5, 10, 2, 8, 4, 6]), higher_is_better=True)
    assert scores.tolist() == [4, 2, 5, 1, 3, 5, 1, 4, 2, 3]


def test_recency_scores_the_fewest_days_highest():
    scores = quintile_scores(np.array([0, 400, 30, 90, 200]), higher_is_better=False)
    assert scores.tolist() == [5, 1, 4, 3, 2]


def test_tied_values_share_the_score_of_their_lowest_rank():
    """Six tied ones take rank 1 (score 1); 2 and 3 take ranks 7 and 8 (score 4); 4 and 5 take 9 and 10 (score 5)."""
    scores = quintile_scores(np.array([1, 1, 1, 1, 1, 1, 2, 3, 4, 5]), higher_is_better=True)
    assert scores.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_tied_recency_shares_a_score_too():
    scores = quintile_scores(np.array([10, 10, 10, 400, 3]), higher_is_better=False)
    assert scores.tolist() == [2, 2, 2, 1, 5]


def test_all_equal_values_share_the_lowest_score():
    assert quintile_scores(np.full(8, 42.0), higher_is_better=True).tolist() == [1] * 8
    assert quintile_scores(np.full(8, 42.0), higher_is_better=False).tolist() == [1] * 8


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([9.5], [1]),
        ([2, 1], [3, 1]),
        ([3, 1, 2], [4, 1, 2]),
        ([4, 1, 3, 2], [4, 1, 3, 2]),
    ],
)
def test_fewer_than_five_customers_get_scores_spread_by_rank(values, expected):
    assert quintile_scores(np.array(values), higher_is_better=True).tolist() == expected


def test_no_customers_gives_an_empty_int8_array():
    scores = quintile_scores(np.array([]), higher_is_better=True)
    assert scores.shape == (0,)
    assert scores.dtype == np.int8


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_quintile_scores_reject_values_that_are_not_finite(bad_value):
    with pytest.raises(ValueError, match="finite"):
        quintile_scores(np.array([1.0, bad_value, 3.0]), higher_is_better=True)


def test_quintile_scores_reject_a_two_dimensional_input():
    with pytest.raises(ValueError, match="one-dimensional"):
        quintile_scores(np.ones((2, 3)), higher_is_better=True)


@given(st.integers(1, 40))
def test_distinct_values_fill_each_quintile_with_a_fifth_of_the_customers(fifth):
    count = 5 * fifth
    rng = np.random.default_rng(fifth)
    values = rng.permutation(count).astype(float) * 1.5
    scores = quintile_scores(values, higher_is_better=True)
    assert np.bincount(scores, minlength=6)[1:].tolist() == [fifth] * 5


@given(st.integers(1, 200))
def test_quintile_sizes_differ_by_at_most_one_when_five_does_not_divide_the_count(count):
    scores = quintile_scores(np.arange(count), higher_is_better=True)
    sizes = np.bincount(scores, minlength=6)[1:]
    assert sizes.sum() == count
    assert sizes.max() - sizes.min() <= 1


@given(small_values, st.booleans(), st.randoms(use_true_random=False))
def test_permuting_the_rows_permutes_the_scores_and_nothing_else(values, higher_is_better, random):
    permutation = np.array(random.sample(range(values.size), values.size), dtype=np.intp)
    scores = quintile_scores(values, higher_is_better=higher_is_better)
    permuted_scores = quintile_scores(values[permutation], higher_is_better=higher_is_better)
    assert np.array_equal(permuted_scores, scores[permutation])


@given(small_values, st.booleans())
def test_scores_are_between_1_and_5_equal_for_ties_and_ordered_like_the_values(values, higher_is_better):
    scores = quintile_scores(values, higher_is_better=higher_is_better)
    assert scores.dtype == np.int8
    assert np.all((scores >= 1) & (scores <= 5))
    better = values if higher_is_better else -values
    for i, j in itertools.product(range(values.size), repeat=2):
        if better[i] == better[j]:
            assert scores[i] == scores[j]
        elif better[i] > better[j]:
            assert scores[i] >= scores[j]


def test_rfm_scores_score_each_axis_in_its_own_direction():
    recency, frequency, monetary = rfm_scores(
        recency_days=np.array([1, 2, 3, 4, 5, 5]),
        frequency=np.array([1, 1, 1, 2, 3, 4]),
        monetary=np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0]),
    )
    assert recency.tolist() == [5, 4, 3, 2, 1, 1]
    assert frequency.tolist() == [1, 1, 1, 3, 4, 5]
    assert monetary.tolist() == [1, 1, 2, 3, 4, 5]
    assert {recency.dtype, frequency.dtype, monetary.dtype} == {np.dtype(np.int8)}


def test_rfm_scores_of_no_customers_are_three_empty_arrays():
    scores = rfm_scores(np.array([]), np.array([]), np.array([]))
    assert [array.shape for array in scores] == [(0,), (0,), (0,)]


def test_rfm_scores_reject_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same shape"):
        rfm_scores(np.array([1, 2]), np.array([1, 2]), np.array([1.0]))


# Named segments

EXPECTED_SEGMENT_GRID = {
    5: ["new", "potential_loyalist", "potential_loyalist", "loyal", "champions"],
    4: ["promising", "potential_loyalist", "potential_loyalist", "loyal", "champions"],
    3: ["about_to_sleep", "need_attention", "need_attention", "loyal", "loyal"],
    2: ["hibernating", "about_to_sleep", "at_risk", "at_risk", "cant_lose"],
    1: ["lost", "hibernating", "at_risk", "cant_lose", "cant_lose"],
}

ALL_RFM_COMBINATIONS = np.array(list(itertools.product(range(1, 6), repeat=3)))


def test_there_are_eleven_segments_with_distinct_codes():
    assert len(RFM_SEGMENTS) == 11
    assert len(set(RFM_SEGMENT_CODES)) == 11
    assert RFM_SEGMENT_CODES == (
        "champions",
        "loyal",
        "potential_loyalist",
        "new",
        "promising",
        "need_attention",
        "about_to_sleep",
        "at_risk",
        "cant_lose",
        "hibernating",
        "lost",
    )


def test_segment_table_is_the_documented_grid():
    for r_score, row in EXPECTED_SEGMENT_GRID.items():
        for fm, expected in enumerate(row, start=1):
            assert rfm_segment([r_score], [fm], [fm])[0] == expected, (r_score, fm)


def test_segment_table_cannot_be_changed_in_place():
    with pytest.raises(ValueError, match="read-only"):
        SEGMENT_BY_R_AND_FM[0, 0] = "lost"


def test_every_one_of_the_125_score_combinations_maps_to_exactly_one_known_segment():
    r, f, m = ALL_RFM_COMBINATIONS.T
    segments = rfm_segment(r, f, m)
    assert segments.shape == (125,)
    assert set(segments.tolist()) <= set(RFM_SEGMENT_CODES)
    for (r_score, f_score, m_score), segment in zip(ALL_RFM_COMBINATIONS, segments, strict=True):
        fm = (f_score + m_score + 1) // 2
        assert segment == EXPECTED_SEGMENT_GRID[r_score][fm - 1]


def test_every_segment_is_reachable():
    r, f, m = ALL_RFM_COMBINATIONS.T
    assert set(rfm_segment(r, f, m).tolist()) == set(RFM_SEGMENT_CODES)


@pytest.mark.parametrize(
    ("r", "f", "m", "expected"),
    [
        (5, 5, 5, "champions"),
        (1, 1, 1, "lost"),
        (5, 1, 1, "new"),
        (1, 5, 5, "cant_lose"),
        (4, 1, 1, "promising"),
        (3, 2, 3, "need_attention"),
        (2, 3, 3, "at_risk"),
    ],
)
def test_segment_spot_checks(r, f, m, expected):
    assert rfm_segment([r], [f], [m]).tolist() == [expected]


@pytest.mark.parametrize(
    ("f", "m", "expected_fm"),
    [(1, 1, 1), (1, 2, 2), (2, 1, 2), (2, 3, 3), (3, 4, 4), (4, 5, 5), (1, 5, 3), (5, 5, 5)],
)
def test_fm_is_the_mean_of_f_and_m_rounded_half_up(f, m, expected_fm):
    assert fm_score([f], [m]).tolist() == [expected_fm]


def test_a_half_fm_rounds_up_into_the_better_segment():
    """R 5 with F 4 and M 5: FM 4.5 rounds to 5, a champion rather than loyal."""
    assert rfm_segment([5, 5], [4, 4], [5, 4]).tolist() == ["champions", "loyal"]


def test_segments_accept_the_int8_arrays_that_rfm_scores_return():
    """Two buyers score 3 (the better) or 1 on each axis."""
    recency, frequency, monetary = rfm_scores(np.array([1, 300]), np.array([9, 1]), np.array([500.0, 5.0]))
    assert rfm_segment(recency, frequency, monetary).tolist() == ["need_attention", "lost"]


def test_segments_of_no_customers_are_empty():
    assert rfm_segment(np.array([], dtype=np.int8), np.array([], dtype=np.int8), np.array([], dtype=np.int8)).size == 0


@pytest.mark.parametrize(
    ("r", "f", "m", "bad"),
    [([0], [1], [1], "r"), ([6], [1], [1], "r"), ([3], [2.5], [1], "f"), ([3], [1], [np.nan], "m")],
)
def test_segments_reject_scores_outside_1_to_5(r, f, m, bad):
    with pytest.raises(ValueError, match=rf"^{bad} must hold"):
        rfm_segment(r, f, m)


def test_segments_reject_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same shape"):
        rfm_segment([1, 2], [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="same shape"):
        rfm_segment([1], [1, 2], [1, 2])
