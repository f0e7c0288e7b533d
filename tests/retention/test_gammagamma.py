"""The Gamma-Gamma spend maths in retention.gammagamma is right and fails loudly only on impossible input.

What these tests prove, each against something computed independently of the module:

* the closed-form density of a customer's mean spend equals the two-level model (x transactions ~ Gamma(p, nu),
  nu ~ Gamma(q, v)) integrated numerically over nu, to 1e-8 relative;
* the conditional expected spend equals the posterior mean of p / nu computed by numerical integration, is the
  population mean p v / (q - 1) for customers without repeat purchases, and is NaN (not a wrong number) exactly
  where that posterior mean is infinite;
* the values in Hardie's Gamma-Gamma spreadsheet for the first CDNOW customers are reproduced from the published
  parameters (p = 6.25, q = 3.74, v = 15.44) within the error that rounding them to 2 decimals can cause;
* the simulator draws mean spends with the model's distribution, and fitting its output recovers the parameters
  within 4 standard errors (from the observed information);
* compression is lossless, the currency unit only rescales v, and the analytic gradient matches finite differences;
* invalid input raises ValueError naming the problem; data without an interior maximum return converged=False.

Nothing here touches the database.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.optimize import approx_fprime, check_grad

from retention import gammagamma
from retention.fitting import unique_rows
from retention.gammagamma import GammaGammaParams

CDNOW = GammaGammaParams(p=6.25, q=3.74, v=15.44)  # Fader & Hardie (2013), fitted to the CDNOW repeat customers
TYPICAL = GammaGammaParams(p=4.0, q=5.0, v=120.0)  # mean spend 120 per order, moderate spread


def _integrate_over_rate(params: GammaGammaParams, function, x: int, m: float) -> float:
    """Integral over nu ~ Gamma(q, rate v) of function(nu) * density of m given (x, nu), by quad.

    Given nu, the total x * m of x transactions is Gamma(p x, rate nu), so m has density x * Gamma(x m; p x, nu).
    nu^(q-1) is removed by the substitution nu = u^(1/q) on the first piece; the axis is split at the posterior
    scale of nu so that QUADPACK sees the peak.
    """
    p, q, v = params.p, params.q, params.v
    shape = p * x

    def log_joint(nu: float) -> float:
        log_spend_density = (
            math.log(x) + shape * math.log(nu) + (shape - 1) * math.log(x * m) - nu * x * m - math.lgamma(shape)
        )
        return log_spend_density + q * math.log(v) - v * nu - math.lgamma(q)  # without the nu^(q-1) factor

    def near_zero(u: float) -> float:
        if u <= 0:
            return 0.0
        nu = u ** (1 / q)
        # d nu = nu^(1-q) du / q cancels the nu^(q-1) of the Gamma density, which log_joint leaves out.
        return function(nu) * math.exp(log_joint(nu) - math.log(q))

    def beyond(nu: float) -> float:
        return function(nu) * math.exp(log_joint(nu) + (q - 1) * math.log(nu))

    scale = (q + shape) / (v + x * m)
    first = integrate.quad(near_zero, 0.0, (scale / 20) ** q, epsabs=0.0, epsrel=1e-12, limit=200)[0]
    middle = integrate.quad(beyond, scale / 20, 50 * scale, epsabs=0.0, epsrel=1e-12, limit=200, points=[scale])[0]
    tail = integrate.quad(beyond, 50 * scale, math.inf, epsabs=0.0, epsrel=1e-12, limit=200)[0]
    return first + middle + tail


def _log_params(params: GammaGammaParams) -> np.ndarray:
    return np.log([params.p, params.q, params.v])


def _design(frequency, mean_value) -> gammagamma._Design:
    """The module's internal compressed data, to evaluate the very objective the optimizer sees."""
    (x_rows, m_rows), counts = unique_rows(
        [np.asarray(frequency, dtype=float), np.asarray(mean_value, dtype=float)], np.ones(len(frequency))
    )
    return gammagamma._Design.from_rows(x_rows, m_rows, counts)


def _simulated_customers(params: GammaGammaParams, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frequency = 1 + rng.poisson(2.0, count)
    return frequency, gammagamma.simulate(params, frequency, rng)


# ----------------------------------------------------------------------------------------------------------------
# 1. Likelihood and conditional expectation
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "x", "m"),
    [
        (CDNOW, 1, 11.77),
        (CDNOW, 7, 73.74),
        (TYPICAL, 3, 95.0),
        (GammaGammaParams(0.7, 0.8, 3.0), 2, 40.0),  # shapes below 1 and an infinite population mean
        (GammaGammaParams(30.0, 2.5, 0.5), 60, 0.02),  # many transactions, small amounts
    ],
)
def test_density_and_expected_spend_equal_the_two_level_model_integrated_over_nu(params, x, m):
    density = _integrate_over_rate(params, lambda nu: 1.0, x, m)
    posterior_mean = _integrate_over_rate(params, lambda nu: params.p / nu, x, m) / density

    assert np.exp(gammagamma.log_likelihood_terms(params, [x], [m]))[0] == pytest.approx(density, rel=1e-8)
    assert gammagamma.conditional_expected_spend(params, x, m) == pytest.approx(posterior_mean, rel=1e-8)


def test_expected_spend_without_repeat_purchases_is_the_population_mean():
    population_mean = TYPICAL.p * TYPICAL.v / (TYPICAL.q - 1)
    # nu ~ Gamma(q, v): E[p / nu] by integration, independently of the formula.
    integrated = integrate.quad(
        lambda nu: (
            TYPICAL.p
            / nu
            * math.exp(TYPICAL.q * math.log(TYPICAL.v) + (TYPICAL.q - 1) * math.log(nu))
            * math.exp(-TYPICAL.v * nu - math.lgamma(TYPICAL.q))
        ),
        0,
        math.inf,
        epsabs=0,
        epsrel=1e-12,
    )[0]

    expected = gammagamma.conditional_expected_spend(TYPICAL, [0, 0, 0], [0.0, np.nan, 500.0])

    np.testing.assert_allclose(expected, population_mean, rtol=1e-12)
    assert population_mean == pytest.approx(integrated, rel=1e-9)


def test_expected_spend_moves_from_the_population_mean_to_the_customers_own_mean():
    own_mean = 400.0
    expected = gammagamma.conditional_expected_spend(TYPICAL, [1, 10, 100, 10_000], own_mean)

    assert np.all(np.diff(expected) > 0)
    assert expected[-1] == pytest.approx(own_mean, rel=1e-3)


def test_expected_spend_is_nan_exactly_where_the_posterior_mean_is_infinite():
    heavy_tailed = GammaGammaParams(p=0.3, q=0.8, v=10.0)  # q <= 1: the population mean is infinite
    # p x + q > 1 needs x >= 1: x = 0 has no finite mean, x = 1 (0.3 + 0.8 = 1.1) does.
    expected = gammagamma.conditional_expected_spend(heavy_tailed, [0, 1, 5], [0.0, 20.0, 20.0])

    assert math.isnan(expected[0])
    assert np.all(np.isfinite(expected[1:]))
    assert expected[1] == pytest.approx((10.0 + 20.0) * 0.3 / (0.3 + 0.8 - 1), rel=1e-12)
    assert math.isnan(gammagamma.conditional_expected_spend(GammaGammaParams(p=0.1, q=0.5, v=1.0), 2, 5.0))


def test_likelihood_is_finite_for_extreme_inputs():
    frequency = np.array([1, 1, 500, 500])
    mean_value = np.array([1e-4, 1e7, 1e-4, 1e7])
    for values in ((1e-6, 1e-6, 1e-6), (1e6, 1e6, 1e6), (1e-6, 1e6, 1e-6), (1e6, 1e-6, 1e6)):
        terms = gammagamma.log_likelihood_terms(GammaGammaParams(*values), frequency, mean_value)
        assert np.all(np.isfinite(terms)), values


# ----------------------------------------------------------------------------------------------------------------
# 2. Published values (CDNOW, Fader & Hardie 2013)
# ----------------------------------------------------------------------------------------------------------------


def test_cdnow_expected_spend_matches_hardies_spreadsheet_within_parameter_rounding():
    # First ten CDNOW customers (x repeat purchases, their mean value) and E[M | x, m_x] from Hardie's Gamma-Gamma
    # spreadsheet, which uses the unrounded estimates; customers without repeat purchases get the population mean.
    # The note publishes the estimates to 2 decimals, so the check allows the first-order effect of moving each by
    # its rounding error (0.005), plus the rounding of the spreadsheet values (0.005).
    frequency = np.array([2, 1, 0, 0, 0, 7, 1, 0, 2, 0])
    mean_value = np.array([22.35, 11.77, 0, 0, 0, 73.74, 11.77, 0, 25.55, 0])
    spreadsheet = np.array([24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17])

    values = _log_params(CDNOW)
    rounding_effect = np.zeros(len(frequency))
    for index in range(3):
        step = np.zeros(3)
        step[index] = 1e-6
        upper = gammagamma.conditional_expected_spend(GammaGammaParams(*(np.exp(values) + step)), frequency, mean_value)
        lower = gammagamma.conditional_expected_spend(GammaGammaParams(*(np.exp(values) - step)), frequency, mean_value)
        rounding_effect += np.abs((upper - lower) / 2e-6) * 0.005

    difference = np.abs(gammagamma.conditional_expected_spend(CDNOW, frequency, mean_value) - spreadsheet)
    assert np.all(difference <= rounding_effect + 0.005)
    assert np.all(rounding_effect < 0.15)  # the allowance stays well below a cent-level comparison of means


# ----------------------------------------------------------------------------------------------------------------
# 3. Simulation and parameter recovery
# ----------------------------------------------------------------------------------------------------------------


def test_simulated_mean_spend_follows_the_model_density():
    rng = np.random.default_rng(17)
    customers = 20_000
    frequency = np.full(customers, 2)

    mean_spend = gammagamma.simulate(TYPICAL, frequency, rng)

    def density(m: float) -> float:
        return float(np.exp(gammagamma.log_likelihood_terms(TYPICAL, 2, m)))

    for quantile_point in np.quantile(mean_spend, [0.1, 0.3, 0.5, 0.7, 0.9]):
        model_cdf = integrate.quad(density, 0, quantile_point, epsabs=0, epsrel=1e-10)[0]
        empirical_cdf = np.mean(mean_spend <= quantile_point)
        assert abs(empirical_cdf - model_cdf) < 4 * math.sqrt(model_cdf * (1 - model_cdf) / customers)
    assert np.all(mean_spend > 0)
    assert math.isnan(gammagamma.simulate(TYPICAL, np.array([0]), rng)[0])


def test_fit_recovers_the_parameters_of_simulated_customers():
    frequency, mean_value = _simulated_customers(TYPICAL, 40_000, seed=42)

    result = gammagamma.fit(frequency, mean_value)

    assert result.converged, result.message
    assert result.customers == 40_000
    design = _design(frequency, mean_value)
    # Observed information of the log-parameters, from the analytic gradient (in the fit's own spend unit, which
    # only shifts log v).
    theta = _log_params(result.params) - np.array([0, 0, math.log(design.spend_unit)])
    step = 1e-5
    hessian = np.column_stack(
        [
            (
                gammagamma._objective(theta + step * unit, design)[1]
                - gammagamma._objective(theta - step * unit, design)[1]
            )
            / (2 * step)
            for unit in np.eye(3)
        ]
    )
    standard_errors = np.sqrt(np.diag(np.linalg.inv(design.total_weight * (hessian + hessian.T) / 2)))
    assert np.all(standard_errors < 0.2)  # the check below is not vacuous
    assert np.all(np.abs(_log_params(result.params) - _log_params(TYPICAL)) < 4 * standard_errors), (
        result.params,
        standard_errors,
    )


def test_the_currency_unit_only_rescales_v():
    frequency, mean_value = _simulated_customers(TYPICAL, 5000, seed=5)

    in_units = gammagamma.fit(frequency, mean_value)
    in_cents = gammagamma.fit(frequency, mean_value * 100)

    assert in_units.converged and in_cents.converged
    assert in_cents.params.p == pytest.approx(in_units.params.p, rel=1e-6)
    assert in_cents.params.q == pytest.approx(in_units.params.q, rel=1e-6)
    assert in_cents.params.v == pytest.approx(100 * in_units.params.v, rel=1e-6)
    # A density in cents is a density in units divided by 100, per customer.
    assert in_cents.log_likelihood == pytest.approx(in_units.log_likelihood - 5000 * math.log(100), rel=1e-9)


# ----------------------------------------------------------------------------------------------------------------
# 4. Compression and gradient
# ----------------------------------------------------------------------------------------------------------------


def test_fitting_compressed_rows_gives_the_optimum_of_the_raw_data():
    frequency, mean_value = _simulated_customers(TYPICAL, 6000, seed=3)
    mean_value = np.round(mean_value, -1)  # spends to the nearest 10: many identical (x, m) pairs
    mean_value[mean_value == 0] = 10.0

    raw = gammagamma.fit(frequency, mean_value)
    rows, counts = np.unique(np.column_stack([frequency, mean_value]), axis=0, return_counts=True)
    compressed = gammagamma.fit(rows[:, 0], rows[:, 1], counts)

    assert raw.converged and compressed.converged
    assert compressed.rows == raw.rows == len(rows) < len(frequency)
    np.testing.assert_allclose(_log_params(compressed.params), _log_params(raw.params), rtol=0, atol=1e-6)
    assert compressed.log_likelihood == pytest.approx(raw.log_likelihood, rel=1e-12)
    assert raw.log_likelihood == pytest.approx(
        gammagamma.log_likelihood_terms(raw.params, frequency, mean_value).sum(), rel=1e-10
    )

    def raw_mean_log_likelihood(theta: np.ndarray) -> float:
        return gammagamma.log_likelihood_terms(GammaGammaParams(*np.exp(theta)), frequency, mean_value).mean()

    assert np.max(np.abs(approx_fprime(_log_params(raw.params), raw_mean_log_likelihood, 1e-7))) < 1e-5


@pytest.mark.parametrize(
    "params", [GammaGammaParams(4.0, 5.0, 1.0), GammaGammaParams(0.5, 1.2, 3.0), GammaGammaParams(50.0, 20.0, 10.0)]
)
def test_analytic_gradient_matches_finite_differences(params):
    frequency, mean_value = _simulated_customers(TYPICAL, 3000, seed=11)
    design = _design(frequency, mean_value)
    theta = _log_params(params)

    def value(theta):
        return gammagamma._objective(theta, design)[0]

    def gradient(theta):
        return gammagamma._objective(theta, design)[1]

    analytic = gradient(theta)
    step = 1e-5
    central = np.array([(value(theta + step * unit) - value(theta - step * unit)) / (2 * step) for unit in np.eye(3)])
    np.testing.assert_allclose(analytic, central, rtol=1e-5, atol=1e-8)
    assert check_grad(value, gradient, theta) < 1e-5 * max(1.0, np.linalg.norm(analytic))


# ----------------------------------------------------------------------------------------------------------------
# 5. Bad input and degenerate data
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "mean_value", "weights", "message"),
    [
        ([1, 0], [10.0, 5.0], None, "frequency must be at least 1 .* repeat customers only .*1 customer"),
        ([1, 2], [10.0, 0.0], None, "mean_value must be positive"),
        ([1, 2], [10.0, -3.0], None, "mean_value must be positive"),
        ([1.5], [10.0], None, "whole numbers"),
        ([1, 2], [10.0], None, "mismatched lengths"),
        ([], [], None, "empty"),
        ([1, 2], [10.0, np.inf], None, "mean_value contains NaN or infinite"),
        ([1, 2], [10.0, 12.0], [0, 0], "all zero"),
    ],
)
def test_fit_rejects_invalid_input_naming_the_problem(frequency, mean_value, weights, message):
    with pytest.raises(ValueError, match=message):
        gammagamma.fit(frequency, mean_value, weights)


def test_predictions_and_parameters_reject_invalid_input():
    with pytest.raises(ValueError, match="mean_value must be finite and non-negative where frequency > 0"):
        gammagamma.conditional_expected_spend(TYPICAL, [1], [np.nan])
    with pytest.raises(ValueError, match="frequency must be non-negative"):
        gammagamma.conditional_expected_spend(TYPICAL, [-1], [10.0])
    with pytest.raises(ValueError, match="frequency must be at least 1"):
        gammagamma.log_likelihood_terms(TYPICAL, [0], [10.0])
    with pytest.raises(ValueError, match="parameter q must be a positive finite number"):
        GammaGammaParams(p=1.0, q=-2.0, v=1.0)


def test_identical_spend_everywhere_is_reported_as_not_converged_not_raised():
    # With every mean spend equal there is no spread to explain: the likelihood keeps rising as p, q -> infinity.
    frequency = 1 + np.random.default_rng(4).poisson(2.0, 2000)

    result = gammagamma.fit(frequency, np.full(2000, 25.0))

    assert not result.converged
    assert result.message
    assert math.isfinite(result.log_likelihood)
    assert all(math.isfinite(value) and value > 0 for value in result.params.as_dict().values())


def test_results_carry_their_bookkeeping():
    frequency, mean_value = _simulated_customers(TYPICAL, 2000, seed=9)

    result = gammagamma.fit(frequency, mean_value, np.full(2000, 2.0), initial=TYPICAL)

    assert result.converged
    assert result.customers == 4000
    assert result.rows == 2000
    assert result.iterations > 0 and result.seconds > 0
    assert result.params.as_dict() == {"p": result.params.p, "q": result.params.q, "v": result.params.v}
