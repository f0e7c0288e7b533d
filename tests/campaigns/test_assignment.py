"""Deterministic variant and hold-out assignment (campaigns/assignment.py)."""

from __future__ import annotations

import numpy as np
import pytest

from campaigns.assignment import HOLDOUT, assign, unit_draws

CUSTOMERS = np.arange(1, 200_001)


def test_shares_follow_the_allocation_and_the_holdout():
    groups = assign(7, CUSTOMERS, allocation=[50, 30, 20], holdout_share=0.10)
    shares = {value: float(np.mean(groups == value)) for value in (HOLDOUT, 0, 1, 2)}
    # 200,000 customers: each share's standard error is under 0.12 percentage points.
    assert shares[HOLDOUT] == pytest.approx(0.10, abs=0.005)
    assert shares[0] == pytest.approx(0.90 * 0.5, abs=0.005)
    assert shares[1] == pytest.approx(0.90 * 0.3, abs=0.005)
    assert shares[2] == pytest.approx(0.90 * 0.2, abs=0.005)


def test_the_same_pair_always_gets_the_same_answer_in_any_order_or_batch():
    whole = assign(7, CUSTOMERS, allocation=[1, 1], holdout_share=0.1)
    shuffled = np.random.default_rng(1).permutation(CUSTOMERS)
    groups = assign(7, shuffled, allocation=[1, 1], holdout_share=0.1)
    by_customer = dict(zip(shuffled.tolist(), groups.tolist(), strict=True))
    assert [by_customer[c] for c in CUSTOMERS[:1000].tolist()] == whole[:1000].tolist()
    assert assign(7, [12345], allocation=[1, 1], holdout_share=0.1)[0] == whole[12344]


def test_campaigns_hold_out_different_customers():
    first = assign(1, CUSTOMERS, allocation=[1], holdout_share=0.1) == HOLDOUT
    second = assign(2, CUSTOMERS, allocation=[1], holdout_share=0.1) == HOLDOUT
    both = float(np.mean(first & second))
    assert both == pytest.approx(0.01, abs=0.002)  # independent: 10% x 10%


def test_draws_are_uniform():
    draws = unit_draws(99, CUSTOMERS)
    assert draws.min() >= 0 and draws.max() < 1
    counts, _ = np.histogram(draws, bins=10, range=(0, 1))
    assert np.all(np.abs(counts - 20_000) < 600)


def test_no_holdout_and_a_zero_weight_variant():
    groups = assign(3, CUSTOMERS[:10_000], allocation=[0, 1], holdout_share=0)
    assert set(groups.tolist()) == {1}


@pytest.mark.parametrize(
    ("allocation", "holdout", "message"),
    [([], 0.1, "allocation"), ([1, -1], 0.1, "allocation"), ([0, 0], 0.1, "positive"), ([1], 1.0, "holdout_share"),
     ([1], -0.1, "holdout_share")],
)  # fmt: skip
def test_bad_arguments_are_named(allocation, holdout, message):
    with pytest.raises(ValueError, match=message):
        assign(1, [1, 2], allocation=allocation, holdout_share=holdout)
