"""RFM scores and named RFM segments, on arrays of buying customers (no Django).

The caller aggregates orders into purchase days first: a purchase day is a distinct calendar day, in the
organization's time zone, with at least one order on or before the as-of date; its amount is the sum of that
day's orders. Per buying customer the inputs are then

- recency: days from the last purchase day to the as-of date (fewer days is better);
- frequency: the number of purchase days;
- monetary: TOTAL revenue to date (not the mean per purchase day), so that a customer who buys often and a
  customer who buys big both rank high, and monetary agrees with "revenue to date" in customer value.

Customers with no purchase have no RFM score and must not be passed in: quintiles are computed among buying
customers only (DESIGN.md §4), otherwise a crowd of non-buyers would flatten every score.

Quintile rule. With n buying customers and ``rank_min`` the competition ("1224") rank of a customer's value,
ascending, where tied values all take the smallest rank of their group::

    score = 1 + floor(5 * (rank_min - 1) / n)

For recency the rank is taken on descending days, so the most recent customers score 5. Why this rule:

- equal values always share a score, so two customers who bought on the same day with the same spend are never
  split between quintiles by an accident of row order or id;
- the result depends only on the multiset of values, never on the order of the rows;
- with distinct values the five quintiles hold n/5 customers each (sizes differ by at most one when 5 does not
  divide n);
- ties fall to the lowest score of the positions they occupy, so a large tied group (typically the many
  one-purchase-day customers in frequency) is scored conservatively rather than lifted to the middle;
- it is defined for any n >= 1: a single buyer scores 1 on every axis (there is nobody to be better than), two
  buyers with different values score 1 and 3.

Named segments follow the widely used grid of R against FM, where FM = (F + M) / 2 rounded half up to an integer
(1.5 -> 2, 4.5 -> 5); see :func:`rfm_segment` for the table.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

QUINTILE_COUNT = 5

RFM_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("champions", "Champions"),
    ("loyal", "Loyal"),
    ("potential_loyalist", "Potential loyalist"),
    ("new", "New customers"),
    ("promising", "Promising"),
    ("need_attention", "Need attention"),
    ("about_to_sleep", "About to sleep"),
    ("at_risk", "At risk"),
    ("cant_lose", "Can't lose them"),
    ("hibernating", "Hibernating"),
    ("lost", "Lost"),
)
"""Segment codes and English labels, best first. Labels are source strings: the Django layer translates them."""

RFM_SEGMENT_CODES: tuple[str, ...] = tuple(code for code, _ in RFM_SEGMENTS)

# Rows are R = 5, 4, 3, 2, 1 (top to bottom); columns are FM = 1, 2, 3, 4, 5 (left to right), as in rfm_segment's
# docstring, so the data can be checked against the table by eye.
SEGMENT_BY_R_AND_FM: npt.NDArray[np.str_] = np.array(
    [
        ["new", "potential_loyalist", "potential_loyalist", "loyal", "champions"],
        ["promising", "potential_loyalist", "potential_loyalist", "loyal", "champions"],
        ["about_to_sleep", "need_attention", "need_attention", "loyal", "loyal"],
        ["hibernating", "about_to_sleep", "at_risk", "at_risk", "cant_lose"],
        ["lost", "hibernating", "at_risk", "cant_lose", "cant_lose"],
    ]
)
SEGMENT_BY_R_AND_FM.flags.writeable = False


def _competition_rank(keys: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Rank 1..n ascending, ties sharing the smallest rank of their group ("1224" ranking)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    positions = np.arange(keys.size, dtype=np.int64)
    starts_new_group = np.ones(keys.size, dtype=bool)
    starts_new_group[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(starts_new_group, positions, 0))
    ranks = np.empty(keys.size, dtype=np.int64)
    ranks[order] = group_start + 1
    return ranks


def quintile_scores(values: npt.ArrayLike, *, higher_is_better: bool) -> npt.NDArray[np.int8]:
    """Quintile scores 1..5 of ``values`` among the customers given, 5 being best.

    ``score = 1 + floor(5 * (rank_min - 1) / n)`` with ``rank_min`` the competition rank (ties share the smallest
    rank), ascending when ``higher_is_better`` and descending otherwise. Ties therefore share a score and the
    result does not depend on row order. Raises ``ValueError`` for a non-1-D input or a value that is not finite.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError("values must all be finite numbers (no NaN or infinity); score buying customers only.")
    count = array.size
    if count == 0:
        return np.empty(0, dtype=np.int8)
    keys = array if higher_is_better else -array
    rank_min = _competition_rank(keys)
    return (1 + (QUINTILE_COUNT * (rank_min - 1)) // count).astype(np.int8)


def rfm_scores(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """R, F and M quintile scores (int8, 1..5) for aligned arrays of buying customers.

    ``recency_days`` scores 5 for the fewest days since the last purchase day; ``frequency`` (purchase days) and
    ``monetary`` (total revenue to date) score 5 for the largest values. Raises ``ValueError`` when the arrays
    differ in length.
    """
    recency_array = np.asarray(recency_days, dtype=np.float64)
    frequency_array = np.asarray(frequency, dtype=np.float64)
    monetary_array = np.asarray(monetary, dtype=np.float64)
    lengths = {recency_array.shape, frequency_array.shape, monetary_array.shape}
    if len(lengths) != 1:
        raise ValueError(
            "recency_days, frequency and monetary must have the same shape, got "
            f"{recency_array.shape}, {frequency_array.shape} and {monetary_array.shape}."
        )
    return (
        quintile_scores(recency_array, higher_is_better=False),
        quintile_scores(frequency_array, higher_is_better=True),
        quintile_scores(monetary_array, higher_is_better=True),
    )


def _as_scores(name: str, scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    array = np.asarray(scores)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}.")
    is_whole = np.issubdtype(array.dtype, np.integer) or bool(np.all(np.mod(array, 1) == 0))
    if not is_whole:
        raise ValueError(f"{name} must hold whole-number scores from 1 to 5.")
    as_int = array.astype(np.int64)
    if array.size and (as_int.min() < 1 or as_int.max() > QUINTILE_COUNT):
        raise ValueError(f"{name} must hold scores from 1 to 5, got values from {as_int.min()} to {as_int.max()}.")
    return as_int


def fm_score(f: npt.ArrayLike, m: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """FM = (F + M) / 2 rounded half up, computed exactly in integers as ``(F + M + 1) // 2``."""
    f_scores = _as_scores("f", f)
    m_scores = _as_scores("m", m)
    if f_scores.shape != m_scores.shape:
        raise ValueError(f"f and m must have the same shape, got {f_scores.shape} and {m_scores.shape}.")
    return (f_scores + m_scores + 1) // 2


def rfm_segment(r: npt.ArrayLike, f: npt.ArrayLike, m: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Named segment code for each customer's (R, F, M) scores, vectorised.

    FM = (F + M) / 2 rounded half up to an integer; the segment is then read from this table (the data is
    ``SEGMENT_BY_R_AND_FM``), which has one cell for every (R, FM) pair and so covers each of the 125 (R, F, M)
    combinations exactly once::

        R \\ FM  1                2                   3                   4          5
        5       new              potential_loyalist  potential_loyalist  loyal      champions
        4       promising        potential_loyalist  potential_loyalist  loyal      champions
        3       about_to_sleep   need_attention      need_attention      loyal      loyal
        2       hibernating      about_to_sleep      at_risk             at_risk    cant_lose
        1       lost             hibernating         at_risk             cant_lose  cant_lose

    Recent buyers (R 4-5) are new, promising, potential loyalists, loyal or champions as their frequency and
    spend grow; lapsing buyers (R 1-2) who used to buy often or big are at risk or can't-lose, the rest are
    hibernating or lost. Raises ``ValueError`` for scores outside 1..5 or arrays of different shapes.
    """
    r_scores = _as_scores("r", r)
    fm_scores = fm_score(f, m)
    if r_scores.shape != fm_scores.shape:
        raise ValueError(f"r, f and m must have the same shape, got {r_scores.shape} and {fm_scores.shape}.")
    return SEGMENT_BY_R_AND_FM[QUINTILE_COUNT - r_scores, fm_scores - 1]
