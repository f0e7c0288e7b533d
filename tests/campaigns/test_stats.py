"""Uplift statistics (campaigns/stats.py): closed forms by hand, scipy as an independent check, and coverage
of the 95% intervals by simulation (they must contain the true effect in about 95% of simulated campaigns)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from campaigns.stats import conversion_uplift, mean_uplift, winner


def test_conversion_uplift_by_hand():
    # 120 of 1,000 recipients vs 90 of 1,000 hold-out customers.
    uplift = conversion_uplift(120, 1000, 90, 1000)
    se = math.sqrt(0.12 * 0.88 / 1000 + 0.09 * 0.91 / 1000)
    assert uplift.difference == pytest.approx(0.03)
    assert (uplift.low, uplift.high) == (pytest.approx(0.03 - 1.959964 * se), pytest.approx(0.03 + 1.959964 * se))
    pooled = 210 / 2000
    z = 0.03 / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert uplift.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert uplift.relative == pytest.approx(0.03 / 0.09)
    assert uplift.significant is True


def test_conversion_uplift_rejects_impossible_counts_and_empty_groups():
    with pytest.raises(ValueError, match="treated"):
        conversion_uplift(11, 10, 1, 10)
    with pytest.raises(ValueError, match="control"):
        conversion_uplift(1, 10, -1, 10)
    assert conversion_uplift(1, 10, 0, 0) is None
    nobody = conversion_uplift(0, 10, 0, 10)
    assert (nobody.difference, nobody.p_value, nobody.relative) == (0.0, 1.0, None)


def test_mean_uplift_matches_scipys_welch_test():
    rng = np.random.default_rng(3)
    treated = rng.gamma(0.3, 100.0, size=800)
    control = rng.gamma(0.3, 80.0, size=300)
    uplift = mean_uplift(treated, control)
    reference = stats.ttest_ind(treated, control, equal_var=False)
    assert uplift.p_value == pytest.approx(reference.pvalue)
    interval = reference.confidence_interval(0.95)
    assert (uplift.low, uplift.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert uplift.difference == pytest.approx(treated.mean() - control.mean())


def test_mean_uplift_needs_two_customers_per_group_and_finite_values():
    assert mean_uplift([1.0], [1.0, 2.0]) is None
    with pytest.raises(ValueError, match="finite"):
        mean_uplift([1.0, float("nan")], [1.0, 2.0])
    constant = mean_uplift([0.0, 0.0, 0.0], [0.0, 0.0])
    assert (constant.difference, constant.p_value) == (0.0, 1.0)


@pytest.mark.parametrize(("rate_treated", "rate_control"), [(0.06, 0.05), (0.20, 0.20)])
def test_conversion_intervals_cover_the_true_effect_about_95_percent_of_the_time(rate_treated, rate_control):
    rng = np.random.default_rng(11)
    runs, treated_size, control_size = 2000, 4000, 800
    covered = 0
    for _ in range(runs):
        uplift = conversion_uplift(
            int(rng.binomial(treated_size, rate_treated)),
            treated_size,
            int(rng.binomial(control_size, rate_control)),
            control_size,
        )
        covered += uplift.low <= rate_treated - rate_control <= uplift.high
    # 2,000 runs: the coverage's standard error is about 0.5 percentage points.
    assert 0.93 <= covered / runs <= 0.97


def test_revenue_intervals_cover_the_true_effect_about_95_percent_of_the_time():
    """Skewed revenue: 8% of customers buy, with gamma-distributed amounts; the campaign adds 2% more buyers."""
    rng = np.random.default_rng(17)
    runs, treated_size, control_size = 1000, 3000, 600
    buy_t, buy_c, mean_amount = 0.10, 0.08, 120.0
    true_effect = (buy_t - buy_c) * mean_amount
    covered = 0
    for _ in range(runs):
        treated = np.where(rng.random(treated_size) < buy_t, rng.gamma(2.0, mean_amount / 2, treated_size), 0.0)
        control = np.where(rng.random(control_size) < buy_c, rng.gamma(2.0, mean_amount / 2, control_size), 0.0)
        uplift = mean_uplift(treated, control)
        covered += uplift.low <= true_effect <= uplift.high
    assert 0.925 <= covered / runs <= 0.975


def test_the_winner_is_chosen_on_revenue_only_when_its_interval_excludes_zero():
    rng = np.random.default_rng(5)
    control = rng.gamma(0.5, 40.0, size=2000)
    clear = mean_uplift(control + 15.0, control)
    bigger_but_noisy = mean_uplift(np.r_[control[:10] + 40.0], control)
    assert winner({"A": clear, "B": bigger_but_noisy, "C": None}) == ("A" if bigger_but_noisy.low <= 0 else "B")
    assert winner({"flat": mean_uplift(control, control)}) is None
    assert winner({}) is None
