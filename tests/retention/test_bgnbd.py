"""The BG/NBD maths in retention.bgnbd is right, fast enough, and fails loudly only on impossible input.

What these tests prove, each against something computed independently of the module:

* the closed-form likelihood (FHL 2005, eq. 6) equals the individual-level model integrated numerically over
  lambda ~ Gamma(r, alpha) and p ~ Beta(a, b), to 1e-6 relative, and stays finite for x = 200, T = 3000 and
  parameters from 1e-6 to 1e6;
* P(alive) and the conditional expectation (eq. 10) equal the posterior quantities computed by numerical
  integration, E[X(t)] (eq. 9) equals the integral of the individual-level expectation, and all three agree with
  a purchase-by-purchase simulation of the process that does not use the module's simulator;
* the published CDNOW worked example (FHL 2005: x = 2, t_x = 30.43, T = 38.86 weeks -> 1.226 expected purchases
  in the next 39 weeks) is reproduced to 3 decimals, and Hardie's spreadsheet values of E[X(t)] within the
  error that rounding the published parameters to 3 decimals can cause;
* the simulator draws X(T) with the closed-form distribution P(X(t) = x) (eq. 8), and fitting its output recovers
  the parameters within 4 standard errors (from the observed information);
* compression is lossless: fitting unique rows with counts gives the optimum of the raw data;
* the analytic gradient matches finite differences;
* invalid input raises ValueError naming the problem; data without an interior maximum return converged=False.

Nothing here touches the database.
"""

# The paper's notation (T for the observation length, t for the horizon) is kept, as in the module.
# ruff: noqa: N803, N806

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.optimize import approx_fprime, check_grad
from scipy.special import betaln, gammaln

from retention import bgnbd
from retention.bgnbd import BgNbdParams

CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # FHL 2005, Table 1 (time unit: weeks)
DAILY = BgNbdParams(r=0.8, alpha=40.0, a=1.3, b=4.0)  # one purchase per 50 days on average, p ~ 0.25


# ----------------------------------------------------------------------------------------------------------------
# Independent references
# ----------------------------------------------------------------------------------------------------------------


def _integrate_over_mixing(params: BgNbdParams, function, lambda_scale: float) -> float:
    """Integral over lambda ~ Gamma(r, rate alpha) and p ~ Beta(a, b) of function(lambda, p), by dblquad.

    The densities' endpoint singularities (lambda^(r-1), p^(a-1), (1-p)^(b-1) for shapes below 1) are removed by
    substitution (lambda = u^(1/r) turns lambda^(r-1) d lambda into du / r, and likewise for p near 0 and 1), and
    the lambda axis is split at the scale where the integrand lives, so that QUADPACK reaches 1e-10 everywhere.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_norm = r * math.log(alpha) - math.lgamma(r) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))

    def value(lam: float, p: float, log_density: float) -> float:
        if lam <= 0.0 or not 0.0 < p < 1.0:
            return 0.0
        return function(lam, p) * math.exp(log_density - alpha * lam + log_norm)

    # Each piece maps its two integration variables (u for lambda, w for p) to (lambda, p) and to the part of the
    # log mixing density that the substitutions did not absorb (plus their constant Jacobians).
    def p_near_zero(w: float) -> tuple[float, float]:
        p = w ** (1 / a)
        return p, (b - 1) * math.log1p(-p) - math.log(a)

    def p_near_one(w: float) -> tuple[float, float]:
        p = -math.expm1(math.log(w) / b)
        return p, (a - 1) * math.log(p) - math.log(b)

    def lambda_near_zero(u: float) -> tuple[float, float]:
        return u ** (1 / r), -math.log(r)

    def lambda_beyond(u: float) -> tuple[float, float]:
        return u, (r - 1) * math.log(u) if u > 0 else -math.inf

    peak_end = 50 * lambda_scale + 50 / alpha
    lambda_pieces = [
        (lambda_near_zero, 0.0, lambda_scale**r),
        (lambda_beyond, lambda_scale, peak_end),
        (lambda_beyond, peak_end, math.inf),
    ]
    p_pieces = [(p_near_zero, 0.0, 0.5**a), (p_near_one, 0.0, 0.5**b)]
    total = 0.0
    for lambda_map, lambda_low, lambda_high in lambda_pieces:
        for p_map, p_low, p_high in p_pieces:

            def integrand(u: float, w: float, lambda_map=lambda_map, p_map=p_map) -> float:
                lam, lambda_log_density = lambda_map(u)
                p, p_log_density = p_map(w)
                return value(lam, p, lambda_log_density + p_log_density)

            total += integrate.dblquad(integrand, p_low, p_high, lambda_low, lambda_high, epsabs=0.0, epsrel=1e-10)[0]
    return total


def _still_active(x: int, T: float):
    """Individual-level likelihood of (x, T) for a customer still active at T: (1-p)^x lambda^x e^(-lambda T)."""
    return lambda lam, p: math.exp(x * math.log1p(-p) + x * math.log(lam) - lam * T)


def _dropped_after_last(x: int, t_x: float):
    """... and for one who dropped out right after the x-th purchase at t_x: p (1-p)^(x-1) lambda^x e^(-lambda t_x)."""
    if x == 0:
        return lambda lam, p: 0.0
    return lambda lam, p: math.exp(math.log(p) + (x - 1) * math.log1p(-p) + x * math.log(lam) - lam * t_x)


def _numerical_likelihood(params: BgNbdParams, x: int, t_x: float, T: float) -> float:
    active, dropped = _still_active(x, T), _dropped_after_last(x, t_x)
    return _integrate_over_mixing(
        params, lambda lam, p: active(lam, p) + dropped(lam, p), (params.r + x) / (params.alpha + t_x)
    )


def _numerical_posterior(params: BgNbdParams, x: int, t_x: float, T: float, t: float) -> tuple[float, float]:
    """P(active at T | data) and E[purchases in (T, T+t] | data], integrating the individual model numerically.

    An active customer with (lambda, p) makes (1 - e^(-lambda p t)) / p purchases in expectation over t (the
    expectation of a Poisson process stopped after a Geometric(p) number of events).
    """
    active, dropped = _still_active(x, T), _dropped_after_last(x, t_x)
    scale = (params.r + x) / (params.alpha + t_x)
    evidence = _integrate_over_mixing(params, lambda lam, p: active(lam, p) + dropped(lam, p), scale)
    alive = _integrate_over_mixing(params, active, scale)
    future = _integrate_over_mixing(params, lambda lam, p: active(lam, p) * -math.expm1(-lam * p * t) / p, scale)
    return alive / evidence, future / evidence


def _probability_of_count(params: BgNbdParams, t: float, count: int) -> float:
    """P(X(t) = count) for a new customer, FHL 2005 eq. 8 (not implemented in the module)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_common = gammaln(r + count) - gammaln(r) - gammaln(count + 1) + r * math.log(alpha / (alpha + t))
    first = math.exp(betaln(a, b + count) - betaln(a, b) + log_common + count * math.log(t / (alpha + t)))
    if count == 0:
        return first
    partial = sum(
        math.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + j * math.log(t / (alpha + t))) for j in range(count)
    )
    second = math.exp(betaln(a + 1, b + count - 1) - betaln(a, b)) * (1 - (alpha / (alpha + t)) ** r * partial)
    return first + second


def _simulate_purchase_by_purchase(
    params: BgNbdParams, T: np.ndarray, horizon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk every customer through the process one purchase at a time (no closed forms, no module code).

    Returns x and t_x over (0, T] and the number of purchases in (T, T + horizon].
    """
    count = len(T)
    rate = rng.gamma(params.r, 1 / params.alpha, count)
    dropout = rng.beta(params.a, params.b, count)
    clock = np.zeros(count)
    x = np.zeros(count, dtype=np.int64)
    t_x = np.zeros(count)
    future = np.zeros(count, dtype=np.int64)
    buying = np.ones(count, dtype=bool)
    while buying.any():
        who = np.flatnonzero(buying)
        clock[who] += rng.exponential(1 / rate[who])
        now = clock[who]
        past_horizon = now > T[who] + horizon
        in_calibration = ~past_horizon & (now <= T[who])
        in_future = ~past_horizon & ~in_calibration
        x[who[in_calibration]] += 1
        t_x[who[in_calibration]] = now[in_calibration]
        future[who[in_future]] += 1
        drops_out = rng.random(len(who)) < dropout[who]
        buying[who[past_horizon | drops_out]] = False
    return x, t_x, future


def _log_params(params: BgNbdParams) -> np.ndarray:
    return np.log([params.r, params.alpha, params.a, params.b])


def _design(x, t_x, T) -> bgnbd._Design:
    """The module's internal compressed data, to evaluate the very objective the optimizer sees."""
    return bgnbd._Design.from_rows(*bgnbd.compress(x, t_x, T))


def _log_standard_errors(params: BgNbdParams, design: bgnbd._Design) -> np.ndarray:
    """Standard errors of the log-parameters from the observed information (Hessian of the analytic gradient)."""
    theta = _log_params(params)
    step = 1e-5
    hessian = np.empty((4, 4))
    for index in range(4):
        offset = np.zeros(4)
        offset[index] = step
        upper = bgnbd._objective(theta + offset, design)[1]
        lower = bgnbd._objective(theta - offset, design)[1]
        hessian[:, index] = (upper - lower) / (2 * step)
    information = design.total_weight * (hessian + hessian.T) / 2
    return np.sqrt(np.diag(np.linalg.inv(information)))


# ----------------------------------------------------------------------------------------------------------------
# 1. Likelihood
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T"),
    [
        (CDNOW, 2, 30.43, 38.86),
        (CDNOW, 0, 0.0, 38.86),
        (DAILY, 5, 200.0, 365.0),
        (BgNbdParams(2.5, 12.0, 1.7, 0.6), 1, 3.0, 10.0),
        (BgNbdParams(0.6, 25.0, 0.4, 1.3), 12, 180.0, 200.0),
    ],
)
def test_likelihood_equals_the_individual_model_integrated_over_lambda_and_p(params, x, t_x, T):
    closed_form = np.exp(bgnbd.log_likelihood_terms(params, [x], [t_x], [T]))[0]

    assert closed_form == pytest.approx(_numerical_likelihood(params, x, t_x, T), rel=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        BgNbdParams(1e-6, 1e-6, 1e-6, 1e-6),
        BgNbdParams(1e6, 1e6, 1e6, 1e6),
        BgNbdParams(1e-6, 1e6, 1e6, 1e-6),
        BgNbdParams(1e6, 1e-6, 1e-6, 1e6),
        BgNbdParams(0.3, 10.0, 0.5, 2.0),
    ],
)
def test_likelihood_is_finite_for_heavy_buyers_and_extreme_parameters(params):
    x = np.array([0, 1, 200, 200, 5000])
    t_x = np.array([0.0, 1.0, 2999.0, 10.0, 2999.0])
    T = np.array([3000.0, 3000.0, 3000.0, 3000.0, 3000.0])

    terms = bgnbd.log_likelihood_terms(params, x, t_x, T)
    # The optimizer's objective rearranges eq. 6 differently (common factor out, log1p of the odds, values grouped
    # by distinct x and T); both must agree.
    objective_value, gradient = bgnbd._objective(_log_params(params), _design(x, t_x, T))

    assert np.all(np.isfinite(terms))
    assert np.all(np.isfinite(gradient))
    assert -objective_value * len(x) == pytest.approx(terms.sum(), rel=1e-10)


# ----------------------------------------------------------------------------------------------------------------
# 2. Closed forms against integration and simulation
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T", "t"),
    [
        (CDNOW, 2, 30.43, 38.86, 39.0),
        (CDNOW, 0, 0.0, 38.86, 39.0),
        (DAILY, 4, 100.0, 400.0, 365.0),
        (DAILY, 1, 5.0, 30.0, 5000.0),
        (BgNbdParams(0.6, 25.0, 0.4, 1.3), 12, 180.0, 200.0, 90.0),
        (BgNbdParams(1.5, 20.0, 1.0, 2.0), 3, 50.0, 120.0, 60.0),  # a = 1 exactly: eq. 10 is 0/0 there
    ],
)
def test_probability_alive_and_conditional_expectation_equal_the_integrated_posterior(params, x, t_x, T, t):
    expected_alive, expected_purchases = _numerical_posterior(params, x, t_x, T, t)

    assert bgnbd.probability_alive(params, x, t_x, T) == pytest.approx(expected_alive, rel=1e-6)
    assert bgnbd.expected_purchases(params, t, x, t_x, T) == pytest.approx(expected_purchases, rel=1e-6)


@pytest.mark.parametrize("t", [0.5, 39.0, 365.0, 3650.0])
@pytest.mark.parametrize(
    "params",
    [
        CDNOW,
        DAILY,
        BgNbdParams(2.0, 10.0, 0.3, 0.4),  # a + b < 1: 2F1 in eq. 9 has a negative c
        BgNbdParams(2.0, 10.0, 0.5, 0.5),  # a + b = 1: c = 0, a pole cancelled by the prefactor
        BgNbdParams(0.7, 10.0, 1.0, 0.8),  # a = 1: eq. 9 is 0/0
    ],
)
def test_unconditional_expectation_equals_the_integrated_individual_expectation(params, t):
    integrated = _integrate_over_mixing(params, lambda lam, p: -math.expm1(-lam * p * t) / p, params.r / params.alpha)

    assert bgnbd.expected_purchases_unconditional(params, t) == pytest.approx(integrated, rel=1e-6)
    # A brand-new customer (x = 0 at T = 0) is the unconditional case of eq. 10.
    assert bgnbd.expected_purchases(params, t, 0, 0, 0) == pytest.approx(integrated, rel=1e-6)


def test_limiting_cases():
    # No repeat purchase: dropout only happens after one, so the customer is certainly active.
    assert bgnbd.probability_alive(DAILY, [0, 0], [0, 0], [10, 1000]).tolist() == [1.0, 1.0]
    # No time, no purchases.
    assert bgnbd.expected_purchases(DAILY, 0.0, [0, 3, 50], [0, 20, 90], [10, 30, 100]).tolist() == [0.0, 0.0, 0.0]
    assert bgnbd.expected_purchases_unconditional(DAILY, 0.0) == 0.0
    # Bought at the very end of observation: active unless the dropout coin after that purchase came up, whose
    # posterior probability is E[p | x] = a / (a + b + x - 1). Silent for years after a burst: almost surely gone.
    assert bgnbd.probability_alive(DAILY, 20, 1000, 1000) == pytest.approx(1 - DAILY.a / (DAILY.a + DAILY.b + 19))
    assert bgnbd.probability_alive(DAILY, 20, 100, 3000) < 1e-6
    # Across a = 1 (removable singularity of eq. 9 and 10) the expectation is continuous.
    near_one = [
        bgnbd.expected_purchases(BgNbdParams(1.5, 20.0, a, 2.0), 60.0, 3, 50.0, 120.0)
        for a in (1 - 1e-3, 1.0, 1 + 1e-3)
    ]
    assert near_one[1] == pytest.approx((near_one[0] + near_one[2]) / 2, rel=1e-5)


def test_predictions_agree_with_a_purchase_by_purchase_simulation():
    params = BgNbdParams(0.6, 25.0, 0.8, 2.5)
    rng = np.random.default_rng(20050517)
    T = rng.uniform(60.0, 400.0, 30_000)
    horizon = 180.0

    x, t_x, future = _simulate_purchase_by_purchase(params, T, horizon, rng)
    predicted = bgnbd.expected_purchases(params, horizon, x, t_x, T)

    # E[future | history] is exactly what eq. 10 claims, so within every history group the average prediction
    # must match the average realised count up to sampling noise (4 standard errors).
    for low, high in [(0, 0), (1, 1), (2, 2), (3, 5), (6, 10_000)]:
        group = (x >= low) & (x <= high)
        residual = future[group] - predicted[group]
        assert group.sum() > 1000
        assert abs(residual.mean()) < 4 * residual.std() / math.sqrt(group.sum()), (low, high)
    # And the population-level forecast E[X(T + t)] - E[X(T)] matches the simulated future purchases.
    unconditional = bgnbd.expected_purchases_unconditional(
        params, T + horizon
    ) - bgnbd.expected_purchases_unconditional(params, T)
    residual = future - unconditional
    assert abs(residual.mean()) < 4 * residual.std() / math.sqrt(len(T))


# ----------------------------------------------------------------------------------------------------------------
# 3. Published values (CDNOW, FHL 2005)
# ----------------------------------------------------------------------------------------------------------------


def test_cdnow_worked_example_from_the_paper():
    # FHL 2005, section 5: a customer with 2 repeat purchases, the last at week 30.43, observed for 38.86 weeks, is
    # expected to make 1.226 purchases in the next 39 weeks.
    assert bgnbd.expected_purchases(CDNOW, 39.0, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    # Consistency of the same example: eq. 10 is P(alive) times the expectation for an active customer.
    alive = bgnbd.probability_alive(CDNOW, 2, 30.43, 38.86)
    integrated_alive, integrated_purchases = _numerical_posterior(CDNOW, 2, 30.43, 38.86, 39.0)
    assert 0 < alive < 1
    assert bgnbd.expected_purchases(CDNOW, 39.0, 2, 30.43, 38.86) / alive == pytest.approx(
        integrated_purchases / integrated_alive, rel=1e-6
    )


def test_cdnow_expected_purchases_match_hardies_spreadsheet_within_parameter_rounding():
    # E[X(t)] from Hardie's BG/NBD spreadsheet for CDNOW, computed there with unrounded estimates. The paper only
    # publishes the estimates to 3 decimals, so the check allows the first-order effect of moving each parameter
    # by its rounding error (0.0005), plus the rounding of the spreadsheet values (0.00005).
    times = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    spreadsheet = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])

    values = np.array([CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b])
    rounding_effect = np.zeros_like(times)
    for index in range(4):
        step = np.zeros(4)
        step[index] = 1e-6
        upper = bgnbd.expected_purchases_unconditional(BgNbdParams(*(values + step)), times)
        lower = bgnbd.expected_purchases_unconditional(BgNbdParams(*(values - step)), times)
        rounding_effect += np.abs((upper - lower) / 2e-6) * 0.0005

    difference = np.abs(bgnbd.expected_purchases_unconditional(CDNOW, times) - spreadsheet)
    assert np.all(difference <= rounding_effect + 0.00005)
    assert np.all(rounding_effect < 0.005)  # the allowance is small compared with the values themselves


# ----------------------------------------------------------------------------------------------------------------
# 4. Simulation and parameter recovery
# ----------------------------------------------------------------------------------------------------------------


def test_simulated_counts_follow_the_closed_form_distribution():
    rng = np.random.default_rng(7)
    customers = 50_000
    T = np.full(customers, 180.0)

    x, t_x = bgnbd.simulate(DAILY, T, rng)

    for count in range(6):
        probability = _probability_of_count(DAILY, 180.0, count)
        observed = np.mean(x == count)
        assert abs(observed - probability) < 4 * math.sqrt(probability * (1 - probability) / customers), count
    mean_error = 4 * x.std() / math.sqrt(customers)
    assert abs(x.mean() - bgnbd.expected_purchases_unconditional(DAILY, 180.0)) < mean_error
    assert np.all(t_x[x == 0] == 0)
    assert np.all((t_x[x > 0] > 0) & (t_x[x > 0] <= 180.0))


def test_fit_recovers_the_parameters_of_simulated_customers():
    rng = np.random.default_rng(42)
    T = rng.integers(30, 731, 40_000).astype(float)
    x, t_x = bgnbd.simulate(DAILY, T, rng)

    result = bgnbd.fit(x, t_x, T)

    assert result.converged, result.message
    assert result.customers == 40_000
    estimated = _log_params(result.params)
    standard_errors = _log_standard_errors(result.params, _design(x, t_x, T))
    assert np.all(standard_errors < 0.2)  # the check below is not vacuous
    assert np.all(np.abs(estimated - _log_params(DAILY)) < 4 * standard_errors), (result.params, standard_errors)


def test_a_million_day_granular_customers_compress_and_fit():
    # Not timed (machines differ); this documents that a million customers go through compress + fit in one call.
    rng = np.random.default_rng(1)
    T = rng.integers(30, 731, 1_000_000).astype(float)
    x, t_x = bgnbd.simulate(DAILY, T, rng)
    t_x = np.where(x > 0, np.maximum(np.ceil(t_x), 1.0), 0.0)  # whole days, as the application stores them

    result = bgnbd.fit(x, t_x, T)

    assert result.converged, result.message
    assert result.customers == 1_000_000
    assert result.rows < 700_000
    assert result.params.r == pytest.approx(DAILY.r, rel=0.05)


# ----------------------------------------------------------------------------------------------------------------
# 5. Compression
# ----------------------------------------------------------------------------------------------------------------


def test_compress_returns_the_unique_rows_and_their_counts():
    x = np.array([0, 2, 0, 2, 1, 2])
    t_x = np.array([0.0, 9.0, 0.0, 9.0, 4.0, 7.0])
    T = np.array([10.0, 12.0, 10.0, 12.0, 12.0, 12.0])

    x_rows, t_x_rows, T_rows, counts = bgnbd.compress(x, t_x, T)

    rows, expected_counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    np.testing.assert_array_equal(np.column_stack([x_rows, t_x_rows, T_rows]), rows)
    np.testing.assert_array_equal(counts, expected_counts)


def test_fitting_compressed_rows_gives_the_optimum_of_the_raw_data():
    rng = np.random.default_rng(3)
    T = rng.integers(30, 400, 8000).astype(float)
    x, t_x = bgnbd.simulate(DAILY, T, rng)
    t_x = np.where(x > 0, np.maximum(np.round(t_x), 1.0), 0.0)

    raw = bgnbd.fit(x, t_x, T)
    x_rows, t_x_rows, T_rows, counts = bgnbd.compress(x, t_x, T)
    compressed = bgnbd.fit(x_rows, t_x_rows, T_rows, counts)
    # The same customers again, shuffled and with every count split over two rows.
    order = rng.permutation(2 * len(counts))
    halves = np.concatenate([np.floor(counts / 2), counts - np.floor(counts / 2)])
    split = bgnbd.fit(np.tile(x_rows, 2)[order], np.tile(t_x_rows, 2)[order], np.tile(T_rows, 2)[order], halves[order])

    assert raw.converged and compressed.converged and split.converged
    assert compressed.rows < raw.customers
    for fitted in (compressed, split):
        np.testing.assert_allclose(_log_params(fitted.params), _log_params(raw.params), rtol=0, atol=1e-6)
        assert fitted.log_likelihood == pytest.approx(raw.log_likelihood, rel=1e-12)
        assert fitted.customers == raw.customers == len(x)
    # The reported optimum is the raw data's: same total log-likelihood, and a zero gradient of the raw sum.
    assert raw.log_likelihood == pytest.approx(bgnbd.log_likelihood_terms(raw.params, x, t_x, T).sum(), rel=1e-10)

    def raw_mean_log_likelihood(theta: np.ndarray) -> float:
        return bgnbd.log_likelihood_terms(BgNbdParams(*np.exp(theta)), x, t_x, T).mean()

    raw_gradient = approx_fprime(_log_params(raw.params), raw_mean_log_likelihood, 1e-7)
    assert np.max(np.abs(raw_gradient)) < 1e-5


# ----------------------------------------------------------------------------------------------------------------
# 6. Gradient
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        DAILY,
        CDNOW,
        BgNbdParams(0.05, 2.0, 3.0, 0.4),
        BgNbdParams(20.0, 900.0, 0.2, 60.0),
        BgNbdParams(1.0, 40.0, 1.0, 1.0),
    ],
)
def test_analytic_gradient_matches_finite_differences(params):
    rng = np.random.default_rng(11)
    T = rng.uniform(30, 500, 3000)
    x, t_x = bgnbd.simulate(BgNbdParams(0.7, 30.0, 0.9, 3.0), T, rng)
    design = _design(x, t_x, T)
    theta = _log_params(params)

    def value(theta):
        return bgnbd._objective(theta, design)[0]

    def gradient(theta):
        return bgnbd._objective(theta, design)[1]

    analytic = gradient(theta)
    # Central differences: truncation error ~ step^2, far below the tolerance.
    step = 1e-5
    central = np.array([(value(theta + step * unit) - value(theta - step * unit)) / (2 * step) for unit in np.eye(4)])
    np.testing.assert_allclose(analytic, central, rtol=1e-5, atol=1e-8)
    # scipy's forward-difference check (step 1.5e-8) agrees to its own accuracy.
    assert check_grad(value, gradient, theta) < 1e-5 * max(1.0, np.linalg.norm(analytic))


# ----------------------------------------------------------------------------------------------------------------
# 7. Bad input and degenerate data
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "t_x", "T", "weights", "message"),
    [
        ([1, -1], [5, 0], [10, 10], None, "x .* must be non-negative"),
        ([1.5], [5], [10], None, "whole numbers"),
        ([1], [-5], [10], None, "t_x .* must be non-negative"),
        ([0], [0], [-1], None, "T .* must be non-negative"),
        ([2], [12], [10], None, "t_x must not exceed T"),
        ([2], [0], [10], None, "t_x must be positive where x > 0"),
        ([0], [3], [10], None, "t_x must be 0 where x is 0"),
        ([1, 2], [5, 6], [10], None, "mismatched lengths"),
        ([], [], [], None, "empty"),
        ([1, 2], [5, 6], [10, 10], [0, 0], "all zero"),
        ([1, 2], [5, 6], [10, 10], [1, -1], "weights must be non-negative"),
        ([1, 2], [5, 6], [10, 10], [1], "mismatched lengths"),
        ([1, np.nan], [5, 6], [10, 10], None, "x contains NaN"),
        ([[1, 2]], [[5, 6]], [[10, 10]], None, "one-dimensional"),
    ],
)
def test_fit_rejects_invalid_input_naming_the_problem(x, t_x, T, weights, message):
    with pytest.raises(ValueError, match=message):
        bgnbd.fit(x, t_x, T, weights)


def test_predictions_and_parameters_reject_invalid_input():
    with pytest.raises(ValueError, match="t_x must not exceed T"):
        bgnbd.probability_alive(DAILY, 3, 20, 10)
    with pytest.raises(ValueError, match="forecast horizon"):
        bgnbd.expected_purchases(DAILY, -1, 3, 5, 10)
    with pytest.raises(ValueError, match="mismatched shapes"):
        bgnbd.log_likelihood_terms(DAILY, [1, 2], [3, 4, 5], [10, 10])
    with pytest.raises(ValueError, match="parameter alpha must be a positive finite number"):
        BgNbdParams(r=1.0, alpha=0.0, a=1.0, b=1.0)
    with pytest.raises(ValueError, match="parameter b must be a positive finite number"):
        BgNbdParams(r=1.0, alpha=1.0, a=1.0, b=math.nan)


def test_nobody_repeating_is_reported_as_not_converged_not_raised():
    # With all x = 0 the likelihood (alpha / (alpha + T))^r rises towards r -> 0 or alpha -> infinity and ignores
    # a and b: there is no maximum. fit() returns finite numbers flagged as not converged, with the reason.
    T = np.random.default_rng(5).uniform(30, 730, 5000)

    result = bgnbd.fit(np.zeros(5000), np.zeros(5000), T)

    assert not result.converged
    assert "bound" in result.message
    assert math.isfinite(result.log_likelihood)
    assert all(math.isfinite(value) and value > 0 for value in result.params.as_dict().values())


def test_identical_customers_who_never_drop_out_are_reported_as_not_converged():
    # Everyone made 3 repeat purchases and bought on the last day: purchase-rate heterogeneity and dropout are both
    # unidentified, and the optimizer either runs to a bound or stalls on a flat ridge; both are flagged.
    T = np.random.default_rng(6).uniform(30, 730, 300)

    result = bgnbd.fit(np.full(300, 3), T, T)

    assert not result.converged
    assert result.message


def test_an_iteration_limit_is_reported_not_raised():
    rng = np.random.default_rng(8)
    T = rng.uniform(30, 730, 2000)
    x, t_x = bgnbd.simulate(DAILY, T, rng)

    result = bgnbd.fit(x, t_x, T, max_iterations=1)

    assert not result.converged
    assert "did not converge" in result.message
    assert result.iterations <= 1


def test_zero_weight_rows_are_ignored_and_results_carry_their_bookkeeping():
    rng = np.random.default_rng(9)
    T = rng.uniform(30, 730, 3000)
    x, t_x = bgnbd.simulate(DAILY, T, rng)
    weights = np.ones(3000)
    weights[:1000] = 0.0

    weighted = bgnbd.fit(x, t_x, T, weights, initial=DAILY)
    subset = bgnbd.fit(x[1000:], t_x[1000:], T[1000:])

    assert weighted.converged and subset.converged
    np.testing.assert_allclose(_log_params(weighted.params), _log_params(subset.params), atol=1e-5)
    assert weighted.customers == subset.customers == 2000
    assert weighted.rows == subset.rows == 2000
    assert weighted.iterations > 0 and weighted.seconds > 0
    assert weighted.params.as_dict() == {
        "r": weighted.params.r,
        "alpha": weighted.params.alpha,
        "a": weighted.params.a,
        "b": weighted.params.b,
    }


def test_probability_of_no_purchase_has_the_closed_form_limits():
    """1 at t = 0, 1 - P(alive) as t grows, and the NBD zero class (alpha / (alpha + t))^r for a new customer."""
    x, t_x, T = np.array([0.0, 2.0, 7.0]), np.array([0.0, 30.43, 20.0]), np.array([0.0, 38.86, 52.0])
    assert bgnbd.probability_no_purchase(CDNOW, 0.0, x, t_x, T) == pytest.approx(np.ones(3))
    far = bgnbd.probability_no_purchase(CDNOW, 1e40, x, t_x, T)  # r is small: the limit is approached slowly
    assert far == pytest.approx(1.0 - bgnbd.probability_alive(CDNOW, x, t_x, T), abs=1e-6)
    assert bgnbd.probability_no_purchase(CDNOW, 39.0, 0.0, 0.0, 0.0) == pytest.approx(
        (CDNOW.alpha / (CDNOW.alpha + 39.0)) ** CDNOW.r
    )


def test_probability_of_no_purchase_matches_a_simulation_of_the_next_period():
    """Simulate customers over T + t; among those whose history up to T is (x = 0), count who stayed quiet after T.

    For x = 0 the history up to T carries no dropout (it happens only after a purchase), so the conditional
    probability is E[exp(-lambda t) | no purchase in (0, T]] under the model: checked here by brute force.
    """
    params = BgNbdParams(r=0.8, alpha=20.0, a=0.9, b=3.0)
    rng = np.random.default_rng(11)
    T, t = 30.0, 60.0
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=400_000)
    quiet_until_T = rng.poisson(lam * T) == 0
    quiet_after = rng.poisson(lam[quiet_until_T] * t) == 0
    expected = bgnbd.probability_no_purchase(params, t, 0.0, 0.0, T)[()]
    assert quiet_after.mean() == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / quiet_after.size))
