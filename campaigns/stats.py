"""Uplift of a campaign against its hold-out group, with confidence intervals (no Django).

A campaign's effect is what its recipients did *beyond* what the hold-out (customers picked at random who
received nothing) did in the same window. Two measures, each with a two-sided confidence interval and p-value:

- **conversion uplift**: difference of conversion rates (recipients − hold-out). Interval: Wald, unpooled
  standard error; p-value: the two-proportion z-test with the pooled rate (the usual test of "no difference").
- **revenue uplift per customer**: difference of mean revenue per customer, zeros included. Revenue per
  customer is very skewed (most spend nothing), so the interval and p-value come from Welch's t (unequal
  variances, Welch–Satterthwaite degrees of freedom), which holds up with the group sizes campaigns have.

A variant "wins" only on incremental revenue, and only when its revenue interval excludes zero: opens and
clicks say nothing about money, and a point estimate without an interval is noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Uplift:
    treated: float
    control: float
    difference: float
    low: float
    high: float
    p_value: float
    #: difference ÷ control; None when the control is 0.
    relative: float | None

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return bool(self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, float | bool | None]:
        return {
            "treated": self.treated,
            "control": self.control,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "relative": self.relative,
            "significant": self.significant,
        }


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}.")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def conversion_uplift(
    treated_conversions: int,
    treated_size: int,
    control_conversions: int,
    control_size: int,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Uplift | None:
    """Difference of conversion rates with a Wald interval and a two-proportion z-test; None if a group is empty."""
    z = _check_confidence(confidence)
    for name, conversions, size in (
        ("treated", treated_conversions, treated_size),
        ("control", control_conversions, control_size),
    ):
        if size < 0 or conversions < 0 or conversions > size:
            raise ValueError(f"{name}: conversions must be between 0 and the group size ({conversions} of {size}).")
    if treated_size == 0 or control_size == 0:
        return None
    p_t = treated_conversions / treated_size
    p_c = control_conversions / control_size
    difference = p_t - p_c
    standard_error = math.sqrt(p_t * (1 - p_t) / treated_size + p_c * (1 - p_c) / control_size)
    pooled = (treated_conversions + control_conversions) / (treated_size + control_size)
    pooled_error = math.sqrt(pooled * (1 - pooled) * (1 / treated_size + 1 / control_size))
    p_value = 1.0 if pooled_error == 0 else float(2 * stats.norm.sf(abs(difference) / pooled_error))
    return Uplift(
        treated=p_t,
        control=p_c,
        difference=difference,
        low=difference - z * standard_error,
        high=difference + z * standard_error,
        p_value=p_value,
        relative=difference / p_c if p_c else None,
    )


def mean_uplift(
    treated: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Uplift | None:
    """Difference of means (e.g. revenue per customer, zeros included) with Welch's interval and t-test.

    None when a group has fewer than two customers (no variance to estimate).
    """
    t_values = np.asarray(treated, dtype=np.float64)
    c_values = np.asarray(control, dtype=np.float64)
    if not (np.all(np.isfinite(t_values)) and np.all(np.isfinite(c_values))):
        raise ValueError("values must be finite numbers.")
    return mean_uplift_from_summary(
        treated_size=t_values.size,
        treated_mean=float(t_values.mean()) if t_values.size else 0.0,
        treated_variance=float(t_values.var(ddof=1)) if t_values.size > 1 else 0.0,
        control_size=c_values.size,
        control_mean=float(c_values.mean()) if c_values.size else 0.0,
        control_variance=float(c_values.var(ddof=1)) if c_values.size > 1 else 0.0,
        confidence=confidence,
    )


def mean_uplift_from_summary(
    *,
    treated_size: int,
    treated_mean: float,
    treated_variance: float,
    control_size: int,
    control_mean: float,
    control_variance: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Uplift | None:
    """Welch's interval and t-test from each group's size, mean and sample variance (ddof=1).

    The database sums revenue and squared revenue per group, so a million-customer campaign needs no
    per-customer arrays in memory. None when a group has fewer than two customers.
    """
    _check_confidence(confidence)
    if treated_size < 2 or control_size < 2:
        return None
    mean_t, mean_c = float(treated_mean), float(control_mean)
    var_t, var_c = max(0.0, float(treated_variance)), max(0.0, float(control_variance))
    difference = mean_t - mean_c
    se_squared = var_t / treated_size + var_c / control_size
    if se_squared == 0:
        return Uplift(mean_t, mean_c, difference, difference, difference, 1.0 if difference == 0 else 0.0,
                      difference / mean_c if mean_c else None)  # fmt: skip
    standard_error = math.sqrt(se_squared)
    degrees = se_squared**2 / (
        (var_t / treated_size) ** 2 / (treated_size - 1) + (var_c / control_size) ** 2 / (control_size - 1)
    )
    t_critical = float(stats.t.ppf(0.5 + confidence / 2, degrees))
    p_value = float(2 * stats.t.sf(abs(difference) / standard_error, degrees))
    return Uplift(
        treated=mean_t,
        control=mean_c,
        difference=difference,
        low=difference - t_critical * standard_error,
        high=difference + t_critical * standard_error,
        p_value=p_value,
        relative=difference / mean_c if mean_c else None,
    )


def winner(revenue_uplifts: dict[str, Uplift | None]) -> str | None:
    """The variant with the largest incremental revenue per customer whose interval lies above zero, or None."""
    candidates = {name: uplift for name, uplift in revenue_uplifts.items() if uplift is not None and uplift.low > 0}
    if not candidates:
        return None
    return max(sorted(candidates), key=lambda name: candidates[name].difference)
