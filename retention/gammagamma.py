"""The Gamma-Gamma model of average spend per transaction.

References: Colombo & Jiang (1999), "A stochastic RFM model", Journal of Interactive Marketing 13(3); Fader, Hardie
& Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", Journal of Marketing Research 42(4);
Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (technical note). The model:

* each of a customer's transactions has value z ~ Gamma(shape p, rate nu), so the customer's mean spend is p / nu;
* across customers, nu ~ Gamma(shape q, rate v);
* spend is independent of the purchase process (BG/NBD), so the two models are fitted separately.

Per customer the data are x (number of transactions whose values are averaged, here the repeat purchases, x >= 1)
and m_x (the mean value of those x transactions). The model is fitted on repeat customers only; customers without
repeat purchases get the population mean from :func:`conditional_expected_spend`.

Pure numpy/scipy: no Django import, so this can be fitted and tested anywhere.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import digamma, gammaln

from retention.fitting import (
    FitResult,
    as_float_vector,
    check_same_length,
    minimize_log_params,
    positive_finite,
    unique_rows,
    validated_weights,
    weighted_sum,
)

PARAM_NAMES = ("p", "q", "v")


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: transaction value ~ Gamma(p, rate nu), nu ~ Gamma(q, rate v) across customers.

    The population mean spend per transaction is p v / (q - 1), finite only for q > 1.
    """

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        for name in PARAM_NAMES:
            object.__setattr__(self, name, positive_finite(name, getattr(self, name)))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check_frequency(frequency: np.ndarray, *, minimum: int) -> None:
    if np.any(frequency != np.floor(frequency)):
        raise ValueError("frequency (number of repeat purchases) must be whole numbers")
    if np.any(frequency < minimum):
        found = int(np.count_nonzero(frequency < minimum))
        if minimum == 1:
            raise ValueError(
                f"frequency must be at least 1 for every customer: the Gamma-Gamma model is fitted on repeat "
                f"customers only ({found} customer(s) have frequency below 1)"
            )
        raise ValueError(f"frequency must be non-negative ({found} customer(s) have a negative frequency)")


def _check_mean_value(mean_value: np.ndarray) -> None:
    if np.any(mean_value <= 0):
        found = int(np.count_nonzero(mean_value <= 0))
        raise ValueError(f"mean_value must be positive ({found} customer(s) have a mean spend of zero or less)")


def _validated_customers(frequency: object, mean_value: object) -> tuple[np.ndarray, np.ndarray]:
    """Same-length 1-D arrays of repeat customers with positive mean spend (the data the model is fitted on)."""
    frequency_array = as_float_vector("frequency", frequency)
    mean_value_array = as_float_vector("mean_value", mean_value)
    check_same_length(frequency=frequency_array, mean_value=mean_value_array)
    _check_frequency(frequency_array, minimum=1)
    _check_mean_value(mean_value_array)
    return frequency_array, mean_value_array


def _broadcast(frequency: object, mean_value: object) -> tuple[np.ndarray, np.ndarray]:
    frequency_array = np.asarray(frequency, dtype=np.float64)
    mean_value_array = np.asarray(mean_value, dtype=np.float64)
    if not np.all(np.isfinite(frequency_array)):
        raise ValueError("frequency contains NaN or infinite values")
    try:
        frequency_array, mean_value_array = np.broadcast_arrays(frequency_array, mean_value_array)
    except ValueError as error:
        raise ValueError(f"frequency and mean_value have mismatched shapes: {error}") from None
    return frequency_array, mean_value_array


def log_likelihood_terms(params: GammaGammaParams, frequency: object, mean_value: object) -> np.ndarray:
    """Log-density of each customer's mean spend m_x given x transactions, with nu integrated out.

    Given nu, x * m_x ~ Gamma(p x, rate nu); integrating nu ~ Gamma(q, rate v) out gives (Fader & Hardie 2013, the
    same expression as lifetimes' GammaGammaFitter):

        log f(m_x | x) = gammaln(p x + q) - gammaln(p x) - gammaln(q) + q log v + (p x - 1) log m_x
                         + p x log x - (p x + q) log(x m_x + v)

    This is a density in m_x, so it depends on the currency unit by -log(unit) per customer; estimates do not.
    """
    frequency_array, mean_value_array = _broadcast(frequency, mean_value)
    if not np.all(np.isfinite(mean_value_array)):
        raise ValueError("mean_value contains NaN or infinite values")
    _check_frequency(frequency_array, minimum=1)
    _check_mean_value(mean_value_array)
    p, q, v = params.p, params.q, params.v
    x, m = frequency_array, mean_value_array
    shape = p * x
    return (
        gammaln(shape + q)
        - gammaln(shape)
        - gammaln(q)
        + q * np.log(v)
        + (shape - 1.0) * np.log(m)
        + shape * np.log(x)
        - (shape + q) * np.log(x * m + v)
    )


@dataclass(frozen=True)
class _Design:
    """Compressed, weighted repeat customers, with everything that does not depend on the parameters precomputed.

    Spend is divided by its weighted mean (``spend_unit``) so that v is estimated on a scale of order 1 whatever
    the currency unit (cents or thousands); p and q are unit-free, and v is multiplied back afterwards.
    """

    total_weight: float
    rows: int
    spend_unit: float
    x_levels: np.ndarray
    x_level_weights: np.ndarray
    x: np.ndarray
    weights: np.ndarray
    weighted_x: np.ndarray
    total_spend: np.ndarray
    sum_log_m: float
    sum_x_log_m: float

    @classmethod
    def from_rows(cls, x: np.ndarray, m: np.ndarray, weights: np.ndarray) -> _Design:
        total_weight = float(weights.sum())
        spend_unit = weighted_sum(weights, m) / total_weight
        scaled_m = m / spend_unit
        x_levels, x_index = np.unique(x, return_inverse=True)
        log_m = np.log(scaled_m)
        return cls(
            total_weight=total_weight,
            rows=len(x),
            spend_unit=spend_unit,
            x_levels=x_levels,
            x_level_weights=np.bincount(x_index, weights=weights, minlength=len(x_levels)),
            x=x,
            weights=weights,
            total_spend=x * scaled_m,
            weighted_x=weights * x,
            sum_log_m=weighted_sum(weights, log_m),
            sum_x_log_m=weighted_sum(weights, x * log_m),
        )


def _objective(log_params: np.ndarray, design: _Design) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood per unit weight (spend in ``design.spend_unit``) and its log-space gradient.

    With L = log(x m + v) per customer, the derivatives of the per-customer log-likelihood are
        d/dp = x [psi(p x + q) - psi(p x) + log x + log m - L]
        d/dq = psi(p x + q) - psi(q) + log v - L
        d/dv = q / v - (p x + q) / (x m + v)
    and the chain rule for theta = log(param) multiplies each by its parameter.
    """
    p, q, v = np.exp(log_params)
    total_weight = design.total_weight
    x_levels = design.x_levels
    x_weights = design.x_level_weights
    shape_levels = p * x_levels
    log_total = np.log(design.total_spend + v)
    weighted_log_total = weighted_sum(design.weights, log_total)
    weighted_x_log_total = weighted_sum(design.weighted_x, log_total)

    log_likelihood = (
        weighted_sum(x_weights, gammaln(shape_levels + q) - gammaln(shape_levels) + shape_levels * np.log(x_levels))
        - total_weight * (gammaln(q) - q * np.log(v))
        + p * design.sum_x_log_m
        - design.sum_log_m
        - p * weighted_x_log_total
        - q * weighted_log_total
    )
    psi_shape_q = digamma(shape_levels + q)
    gradient = np.array(
        [
            weighted_sum(x_weights, x_levels * (psi_shape_q - digamma(shape_levels) + np.log(x_levels)))
            + design.sum_x_log_m
            - weighted_x_log_total,
            weighted_sum(x_weights, psi_shape_q) - total_weight * (digamma(q) - np.log(v)) - weighted_log_total,
            total_weight * q / v - weighted_sum(design.weights, (p * design.x + q) / (design.total_spend + v)),
        ]
    )
    gradient *= np.array([p, q, v])
    return -float(log_likelihood) / total_weight, -gradient / total_weight


def _starting_points(initial: GammaGammaParams | None, spend_unit: float) -> list[np.ndarray]:
    """Starts whose population mean p v / (q - 1) equals the observed mean spend (1 in the scaled unit)."""
    starts = [] if initial is None else [np.array([initial.p, initial.q, initial.v / spend_unit])]
    starts += [np.array([1.0, 3.0, 2.0]), np.array([4.0, 4.0, 0.75]), np.array([0.5, 1.5, 1.0])]
    return starts


def fit(
    frequency: object,
    mean_value: object,
    weights: object | None = None,
    *,
    initial: GammaGammaParams | None = None,
    max_iterations: int = 500,
) -> FitResult[GammaGammaParams]:
    """Maximum-likelihood estimates of (p, q, v) from repeat customers' (x, m_x).

    Only customers with frequency >= 1 and mean_value > 0 are allowed (ValueError naming the problem otherwise);
    filter out one-time buyers before calling. Identical (x, m_x) pairs are merged into weighted rows. Same
    optimizer and convergence rules as the BG/NBD fit: L-BFGS-B on log-parameters with an analytic gradient;
    ``converged=False`` with a message, never an exception, when the data do not determine the parameters (for
    example when every customer has the same spend, the within-customer variance is zero and p runs to its bound).
    """
    started = time.perf_counter()
    frequency_array, mean_value_array = _validated_customers(frequency, mean_value)
    weight_array = validated_weights(weights, len(frequency_array))
    keep = weight_array > 0
    if not np.all(keep):
        frequency_array, mean_value_array, weight_array = (
            frequency_array[keep],
            mean_value_array[keep],
            weight_array[keep],
        )
    (x_rows, m_rows), row_weights = unique_rows([frequency_array, mean_value_array], weight_array)
    design = _Design.from_rows(x_rows, m_rows, row_weights)
    optimum = minimize_log_params(
        lambda log_params: _objective(log_params, design),
        _starting_points(initial, design.spend_unit),
        PARAM_NAMES,
        max_iterations,
        design.total_weight,
    )
    p, q, scaled_v = optimum.values
    # The scaled fit's likelihood is a density in m / spend_unit; convert it back to a density in m.
    log_likelihood = (optimum.mean_log_likelihood - math.log(design.spend_unit)) * design.total_weight
    return FitResult(
        params=GammaGammaParams(p=p, q=q, v=scaled_v * design.spend_unit),
        log_likelihood=log_likelihood,
        converged=optimum.converged,
        message=optimum.message,
        iterations=optimum.iterations,
        customers=design.total_weight,
        rows=design.rows,
        seconds=time.perf_counter() - started,
    )


def conditional_expected_spend(params: GammaGammaParams, frequency: object, mean_value: object) -> np.ndarray:
    """E[mean spend per transaction | x, m_x] (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013).

        E = (v + x m_x) p / (p x + q - 1)
          = (q - 1) / (p x + q - 1) * [p v / (q - 1)] + p x / (p x + q - 1) * m_x

    a weighted average of the population mean p v / (q - 1) and the customer's own mean, shifting towards the
    latter as x grows. For x = 0 it is the population mean (mean_value is ignored there and may be 0 or NaN).

    The posterior of nu is Gamma(q + p x, v + x m_x), and E[1/nu] is finite only when p x + q > 1. Where it is not
    (in particular for x = 0 whenever q <= 1: the population mean is infinite) the result is NaN, for the caller
    to flag; a fitted q <= 1 means the spend distribution is too heavy-tailed for this model.
    """
    frequency_array, mean_value_array = _broadcast(frequency, mean_value)
    _check_frequency(frequency_array, minimum=0)
    repeat = frequency_array > 0
    if not np.all(np.isfinite(mean_value_array[repeat])) or np.any(mean_value_array[repeat] < 0):
        raise ValueError("mean_value must be finite and non-negative where frequency > 0")
    total_spend = np.where(repeat, frequency_array * np.where(repeat, mean_value_array, 0.0), 0.0)
    denominator = params.p * frequency_array + params.q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (params.v + total_spend) * params.p / denominator
    return np.where(denominator > 0, expected, np.nan)


def simulate(params: GammaGammaParams, frequency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw each customer's mean spend over ``frequency`` transactions from the Gamma-Gamma process.

    nu ~ Gamma(q, rate v) per customer; the sum of x transaction values, each Gamma(p, rate nu), is
    Gamma(p x, rate nu), and the mean is that sum divided by x. Customers with x = 0 get NaN (no transactions).
    """
    frequency_array = as_float_vector("frequency", frequency)
    _check_frequency(frequency_array, minimum=0)
    rate = rng.gamma(shape=params.q, scale=1.0 / params.v, size=len(frequency_array))
    repeat = frequency_array > 0
    mean_spend = np.full(len(frequency_array), np.nan)
    x_repeat = frequency_array[repeat]
    mean_spend[repeat] = rng.gamma(shape=params.p * x_repeat, scale=1.0 / rate[repeat]) / x_repeat
    return mean_spend
