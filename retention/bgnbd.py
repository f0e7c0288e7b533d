"""The BG/NBD ("beta-geometric / negative binomial distribution") model of repeat purchasing.

Reference: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative to the Pareto/NBD
Model", Marketing Science 24(2); equation numbers below refer to that paper. The model:

* while active, a customer buys according to a Poisson process with rate lambda, lambda ~ Gamma(r, rate alpha);
* after every repeat purchase the customer drops out for good with probability p, p ~ Beta(a, b);
* lambda and p vary across customers, independently of each other.

Per customer the data are (x, t_x, T): x repeat purchases (purchases after the first one), the last of them at
time t_x after the first purchase (t_x = 0 when x = 0), observed until T after the first purchase. The time unit is
whatever the caller uses consistently (the application uses days; the paper's CDNOW example uses weeks); alpha is
expressed in that unit.

Pure numpy/scipy: no Django import, so this can be fitted and tested anywhere.
"""

# The paper's notation is kept on purpose: T (length of observation) and t (forecast horizon) are different
# quantities, and reading the code against the equations matters more here than PEP 8 casing.
# ruff: noqa: N803, N806, N815

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

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

PARAM_NAMES = ("r", "alpha", "a", "b")

#: E[purchases] has a removable singularity at a = 1 (eq. 9 and 10 divide by a - 1). Within this distance of 1
#: the value is interpolated linearly between a = 1 - A_NEAR_ONE and a = 1 + A_NEAR_ONE; the function is smooth
#: in a, so the interpolation error is of order A_NEAR_ONE**2 relative, and outside it the direct formula loses at
#: most ~1e-16 / A_NEAR_ONE relative to cancellation.
A_NEAR_ONE = 1e-5


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: lambda ~ Gamma(shape r, rate alpha), dropout probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        for name in PARAM_NAMES:
            object.__setattr__(self, name, positive_finite(name, getattr(self, name)))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------


def _check_customer_values(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    """Reject (x, t_x, T) that no customer can have; every message names the offending input."""
    if np.any(x < 0):
        raise ValueError("x (number of repeat purchases) must be non-negative")
    if np.any(x != np.floor(x)):
        raise ValueError("x (number of repeat purchases) must be whole numbers")
    if np.any(t_x < 0):
        raise ValueError("t_x (time of the last repeat purchase) must be non-negative")
    if np.any(T < 0):
        raise ValueError("T (time from the first purchase to the end of observation) must be non-negative")
    if np.any(t_x > T):
        raise ValueError("t_x must not exceed T: the last purchase cannot be after the end of observation")
    if np.any((x > 0) & (t_x == 0)):
        raise ValueError("t_x must be positive where x > 0: a repeat purchase comes after the first purchase")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("t_x must be 0 where x is 0: without repeat purchases there is no later purchase")


def _validated_customers(x: object, t_x: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same-length 1-D float arrays of valid customers (for fitting, where every row is one customer)."""
    x_array = as_float_vector("x", x)
    t_x_array = as_float_vector("t_x", t_x)
    T_array = as_float_vector("T", T)
    check_same_length(x=x_array, t_x=t_x_array, T=T_array)
    _check_customer_values(x_array, t_x_array, T_array)
    return x_array, t_x_array, T_array


def _broadcast_customers(x: object, t_x: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast (x, t_x, T) against each other (scalars allowed) and validate them, for the prediction functions."""
    arrays = []
    for name, values in (("x", x), ("t_x", t_x), ("T", T)):
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arrays.append(array)
    try:
        x_array, t_x_array, T_array = np.broadcast_arrays(*arrays)
    except ValueError as error:
        raise ValueError(f"x, t_x and T have mismatched shapes: {error}") from None
    _check_customer_values(x_array, t_x_array, T_array)
    return x_array, t_x_array, T_array


def _horizon(t: object) -> np.ndarray:
    horizon = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(horizon)) or np.any(horizon < 0):
        raise ValueError("t (forecast horizon) must be finite and non-negative")
    return horizon


# ----------------------------------------------------------------------------------------------------------------
# Likelihood
# ----------------------------------------------------------------------------------------------------------------


def compress(x: object, t_x: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical customers: the unique (x, t_x, T) rows and how many customers share each.

    The log-likelihood is a sum over customers, so fitting the unique rows with their counts as weights gives
    exactly the fit of the raw data, at a fraction of the cost: with whole-day data, a million customers collapse to
    a few hundred thousand rows. Rows come out in the order of ``np.unique(np.column_stack([x, t_x, T]), axis=0)``;
    the counts are float64 so they can be passed straight to ``fit(..., weights=counts)``.
    """
    x_array, t_x_array, T_array = _validated_customers(x, t_x, T)
    (x_rows, t_x_rows, T_rows), counts = unique_rows([x_array, t_x_array, T_array], np.ones(len(x_array)))
    return x_rows, t_x_rows, T_rows, counts


def log_likelihood_terms(params: BgNbdParams, x: object, t_x: object, T: object) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under the BG/NBD (eq. 6).

    L = Gamma(r+x) alpha^r / Gamma(r) * [ B(a, b+x)/B(a, b) (alpha+T)^-(r+x)
                                         + [x>0] B(a+1, b+x-1)/B(a, b) (alpha+t_x)^-(r+x) ]

    The first term in brackets is "still active at T", the second "dropped out right after the last purchase".
    Both are formed in log space with gammaln/betaln and added with log-sum-exp, so x in the hundreds, T in the
    thousands and parameters anywhere in [1e-6, 1e6] neither overflow nor underflow.
    """
    x, t_x, T = _broadcast_customers(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    active_term = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    dropped_term = np.full(x.shape, -np.inf)
    repeat = x > 0
    x_repeat = x[repeat]
    dropped_term[repeat] = betaln(a + 1, b + x_repeat - 1) - (r + x_repeat) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(active_term, dropped_term)


@dataclass(frozen=True)
class _Design:
    """Compressed, weighted customers, pre-grouped so that one likelihood evaluation is cheap.

    Every term of the log-likelihood that depends on one input only (gammaln/betaln/digamma of x, logs of
    alpha + T and alpha + t_x) is evaluated once per distinct value and gathered; the parts that mix them (the
    log-sum-exp of eq. 6) are evaluated per row of repeat customers only.
    """

    total_weight: float
    rows: int
    x_levels: np.ndarray
    x_level_weights: np.ndarray
    T_levels: np.ndarray
    T_level_weights: np.ndarray
    T_level_weighted_x: np.ndarray
    t_x_levels: np.ndarray
    repeat_x: np.ndarray
    repeat_weights: np.ndarray
    repeat_T_index: np.ndarray
    repeat_t_x_index: np.ndarray

    @classmethod
    def from_rows(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray) -> _Design:
        x_levels, x_index = np.unique(x, return_inverse=True)
        T_levels, T_index = np.unique(T, return_inverse=True)
        repeat = x > 0
        t_x_levels, repeat_t_x_index = np.unique(t_x[repeat], return_inverse=True)
        return cls(
            total_weight=float(weights.sum()),
            rows=len(x),
            x_levels=x_levels,
            x_level_weights=np.bincount(x_index, weights=weights, minlength=len(x_levels)),
            T_levels=T_levels,
            T_level_weights=np.bincount(T_index, weights=weights, minlength=len(T_levels)),
            T_level_weighted_x=np.bincount(T_index, weights=weights * x, minlength=len(T_levels)),
            t_x_levels=t_x_levels,
            repeat_x=x[repeat],
            repeat_weights=weights[repeat],
            repeat_T_index=T_index[repeat],
            repeat_t_x_index=repeat_t_x_index,
        )


def _objective(log_params: np.ndarray, design: _Design) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood per unit weight, and its analytic gradient in log-parameter space.

    Writing eq. 6 as log L = A1 + A2 + log(1 + exp(D)) with
        A1 = gammaln(r+x) - gammaln(r) + r log(alpha) + betaln(a, b+x) - betaln(a, b)
        A2 = -(r+x) log(alpha+T)
        D  = log(a) - log(b+x-1) + (r+x) [log(alpha+T) - log(alpha+t_x)]    (x > 0 only; the second term of
             eq. 6 divided by the first, using B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1))
    and pi = expit(D) (the posterior probability that the customer has dropped out), the derivatives are
        d/dr     = psi(r+x) - psi(r) + log(alpha) - log(alpha+T) + pi [log(alpha+T) - log(alpha+t_x)]
        d/dalpha = r/alpha - (r+x)/(alpha+T) + pi (r+x) [1/(alpha+T) - 1/(alpha+t_x)]
        d/da     = psi(a+b) - psi(a+b+x) + pi / a
        d/db     = psi(b+x) - psi(a+b+x) - psi(b) + psi(a+b) - pi / (b+x-1)
    and the chain rule for theta = log(param) multiplies each by its parameter.
    """
    r, alpha, a, b = np.exp(log_params)
    total_weight = design.total_weight
    x_levels = design.x_levels
    x_weights = design.x_level_weights
    T_weights = design.T_level_weights
    T_weighted_x = design.T_level_weighted_x
    log_alpha = np.log(alpha)
    log_alpha_T = np.log(alpha + design.T_levels)
    inverse_alpha_T = 1.0 / (alpha + design.T_levels)
    inverse_alpha_t_x = 1.0 / (alpha + design.t_x_levels)

    # Terms that do not depend on the active/dropped mixture, summed per distinct x and per distinct T.
    a1_per_x = gammaln(r + x_levels) - gammaln(r) + betaln(a, b + x_levels) - betaln(a, b)
    T_level_exponent_weights = r * T_weights + T_weighted_x  # sum over customers at each T of w (r + x)
    log_likelihood = (
        weighted_sum(x_weights, a1_per_x)
        + total_weight * r * log_alpha
        - weighted_sum(T_level_exponent_weights, log_alpha_T)
    )

    # The mixture, for repeat customers only.
    x_repeat = design.repeat_x
    weights_repeat = design.repeat_weights
    log_ratio = log_alpha_T[design.repeat_T_index] - np.log(alpha + design.t_x_levels)[design.repeat_t_x_index]
    inverse_b_x = 1.0 / (b + x_repeat - 1.0)
    odds_dropped = np.log(a) + np.log(inverse_b_x) + (r + x_repeat) * log_ratio
    log_likelihood += weighted_sum(weights_repeat, np.logaddexp(0.0, odds_dropped))
    weighted_dropped = weights_repeat * expit(odds_dropped)
    inverse_difference = inverse_alpha_T[design.repeat_T_index] - inverse_alpha_t_x[design.repeat_t_x_index]

    psi_a_b = digamma(a + b)
    psi_a_b_x = digamma(a + b + x_levels)
    gradient = np.array(
        [
            weighted_sum(x_weights, digamma(r + x_levels) - digamma(r))
            + total_weight * log_alpha
            - weighted_sum(T_weights, log_alpha_T)
            + weighted_sum(weighted_dropped, log_ratio),
            total_weight * r / alpha
            - weighted_sum(T_level_exponent_weights, inverse_alpha_T)
            + weighted_sum(weighted_dropped, (r + x_repeat) * inverse_difference),
            weighted_sum(x_weights, psi_a_b - psi_a_b_x) + weighted_dropped.sum() / a,
            weighted_sum(x_weights, digamma(b + x_levels) - psi_a_b_x - digamma(b) + psi_a_b)
            - weighted_sum(weighted_dropped, inverse_b_x),
        ]
    )
    gradient *= np.array([r, alpha, a, b])
    return -float(log_likelihood) / total_weight, -gradient / total_weight


def _starting_points(design: _Design, initial: BgNbdParams | None) -> list[np.ndarray]:
    """Starting values scaled to the data: r/alpha (the mean purchase rate) matches the observed repeat rate.

    The observed rate x/T under-states the rate of active customers (some have dropped out), which the optimizer
    corrects quickly; what matters is that alpha starts in the right unit (days vs weeks).
    """
    mean_T = max(weighted_sum(design.T_level_weights, design.T_levels) / design.total_weight, 1e-3)
    mean_x = max(weighted_sum(design.x_level_weights, design.x_levels) / design.total_weight, 1e-3)
    rate = mean_x / mean_T
    starts = [] if initial is None else [np.array([initial.r, initial.alpha, initial.a, initial.b])]
    starts += [
        np.array([1.0, 1.0 / rate, 1.0, 1.0]),
        np.array([0.5, 0.25 / rate, 0.7, 3.0]),
        np.array([2.0, 4.0 / rate, 2.0, 8.0]),
    ]
    return starts


def fit(
    x: object,
    t_x: object,
    T: object,
    weights: object | None = None,
    *,
    initial: BgNbdParams | None = None,
    max_iterations: int = 500,
) -> FitResult[BgNbdParams]:
    """Maximum-likelihood estimates of (r, alpha, a, b) from per-customer (x, t_x, T).

    ``weights`` are customer counts per row (as returned by :func:`compress`); without them every row is one
    customer. Identical rows are merged before fitting either way, so ``fit(x, t_x, T)`` and
    ``fit(*compress(x, t_x, T))`` give the same estimates. The optimizer is L-BFGS-B on log-parameters with the
    analytic gradient of :func:`_objective`; if the first start does not converge, further starts are tried.

    Raises ValueError only for invalid input (negative values, x > 0 with t_x = 0, t_x > T, mismatched lengths,
    empty input, all-zero weights). A data set that does not determine the parameters is not an error: the result
    has ``converged=False`` and a message (see :func:`retention.fitting.minimize_log_params` for the rules). For
    example, if nobody has repeated (all x = 0), the likelihood (alpha / (alpha + T))^r keeps increasing as
    r -> 0 or alpha -> infinity and a, b do not enter it at all; the fit comes back with a parameter on its bound,
    ``converged=False``, and a finite log-likelihood close to 0.
    """
    started = time.perf_counter()
    x_array, t_x_array, T_array = _validated_customers(x, t_x, T)
    weight_array = validated_weights(weights, len(x_array))
    keep = weight_array > 0
    if not np.all(keep):
        x_array, t_x_array, T_array, weight_array = x_array[keep], t_x_array[keep], T_array[keep], weight_array[keep]
    (x_rows, t_x_rows, T_rows), row_weights = unique_rows([x_array, t_x_array, T_array], weight_array)
    design = _Design.from_rows(x_rows, t_x_rows, T_rows, row_weights)
    optimum = minimize_log_params(
        lambda log_params: _objective(log_params, design),
        _starting_points(design, initial),
        PARAM_NAMES,
        max_iterations,
        design.total_weight,
    )
    return FitResult(
        params=BgNbdParams(*optimum.values),
        log_likelihood=optimum.mean_log_likelihood * design.total_weight,
        converged=optimum.converged,
        message=optimum.message,
        iterations=optimum.iterations,
        customers=design.total_weight,
        rows=design.rows,
        seconds=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------------------------------------------
# Customer-level and population predictions
# ----------------------------------------------------------------------------------------------------------------


def probability_alive(params: BgNbdParams, x: object, t_x: object, T: object) -> np.ndarray:
    """P(customer still active at T | x, t_x, T) (Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD model").

    P = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)).

    The odds of having dropped out are formed as a log and passed through the logistic function, so they cannot
    overflow for large x or T. Customers without repeat purchases are active by assumption (dropout can only
    happen right after a repeat purchase), so they get exactly 1.
    """
    x, t_x, T = _broadcast_customers(x, t_x, T)
    log_odds_dropped = np.full(x.shape, -np.inf)
    repeat = x > 0
    x_repeat = x[repeat]
    log_odds_dropped[repeat] = (
        np.log(params.a)
        - np.log(params.b + x_repeat - 1.0)
        + (params.r + x_repeat) * (np.log(params.alpha + T[repeat]) - np.log(params.alpha + t_x[repeat]))
    )
    return expit(-log_odds_dropped)


def probability_no_purchase(params: BgNbdParams, t: object, x: object, t_x: object, T: object) -> np.ndarray:
    """P(no repeat purchase in (T, T + t] | x, t_x, T): the model's own answer to "will this customer lapse?".

    The customer either has dropped out already (1 - P(alive)) or is still active and makes no purchase in the
    next t days; given activity, lambda's posterior is Gamma(r + x, alpha + T), so that chance is
    ((alpha + T) / (alpha + T + t))^(r + x). Hence

        P = 1 - P(alive) + P(alive) ((alpha + T) / (alpha + T + t))^(r + x),

    which is never below 1 - P(alive), tends to it as t grows, and is 1 at t = 0. For a new customer
    (x = t_x = T = 0) it reduces to (alpha / (alpha + t))^r, the NBD zero class (FHL 2005, eq. 8 with x = 0).
    Unlike 1 - P(alive), it does not call every one-time buyer certainly alive, so it ranks churn risk usefully.
    """
    horizon = _horizon(t)
    x, t_x, T = _broadcast_customers(x, t_x, T)
    alive = probability_alive(params, x, t_x, T)
    log_quiet = (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + T + horizon))
    return 1.0 - alive + alive * np.exp(log_quiet)


def _expected_purchases_while_active(params: BgNbdParams, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T+t] | active at T, x repeat purchases in (0, T]].

    Given activity, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) a posteriori, which gives the numerator
    of eq. 10 (and of eq. 9 with x = 0, T = 0):
        (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],  z = t/(alpha+T+t).
    The Gauss hypergeometric function is evaluated after Euler's transformation
        2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z),
    which turns the bracket into 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): the power no longer grows with x
    and the series parameters stay small, so x in the hundreds does not overflow 2F1 or (..)^(r+x).
    """
    shape = np.broadcast_shapes(t.shape, x.shape, T.shape)
    t, x, T = (np.broadcast_to(values, shape) for values in (t, x, T))
    a = params.a
    if abs(a - 1.0) >= A_NEAR_ONE:
        return _expected_purchases_while_active_at(params, a, t, x, T)
    below = _expected_purchases_while_active_at(params, 1.0 - A_NEAR_ONE, t, x, T)
    above = _expected_purchases_while_active_at(params, 1.0 + A_NEAR_ONE, t, x, T)
    return below + (a - (1.0 - A_NEAR_ONE)) / (2.0 * A_NEAR_ONE) * (above - below)


def _expected_purchases_while_active_at(
    params: BgNbdParams, a: float, t: np.ndarray, x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """The expression above with the dropout shape a passed explicitly (for the interpolation across a = 1).

    For x = 0 and a + b = 1 exactly, 2F1 has c = 0 (a pole) and the prefactor a + b + x - 1 is 0; the product is
    finite and smooth in b, and scipy evaluates it accurately as close as 1e-7 to the pole, so only the exact case is
    replaced by the mean of b -/+ 1e-8 (error of order 1e-16).
    """
    b = params.b
    if abs(a + b - 1.0) < 1e-12:
        lower = _bracket_over_a_minus_one(params, a, b - 1e-8, t, x, T) * (a + b - 1e-8 + x - 1.0)
        upper = _bracket_over_a_minus_one(params, a, b + 1e-8, t, x, T) * (a + b + 1e-8 + x - 1.0)
        return (lower + upper) / 2.0
    return (a + b + x - 1.0) * _bracket_over_a_minus_one(params, a, b, t, x, T)


def _bracket_over_a_minus_one(
    params: BgNbdParams, a: float, b: float, t: np.ndarray, x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """[1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)] / (a-1)."""
    r, alpha = params.r, params.alpha
    z = t / (alpha + T + t)
    log_one_minus_z = -np.log1p(t / (alpha + T))
    series = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = (a - 1.0) * log_one_minus_z + np.log(series)
        # 1 - S via expm1 keeps full relative precision when S is close to 1 (short horizons).
        one_minus_s = np.where(series > 0, -np.expm1(log_s), 1.0 - np.exp((a - 1.0) * log_one_minus_z) * series)
    return one_minus_s / (a - 1.0)


def expected_purchases(params: BgNbdParams, t: object, x: object, t_x: object, T: object) -> np.ndarray:
    """Expected number of repeat purchases in (T, T + t] for a customer with history (x, t_x, T) (eq. 10).

    Equal to P(alive | x, t_x, T) times the expected purchases of an active customer with that history; t = 0
    gives exactly 0. All inputs broadcast against each other.
    """
    horizon = _horizon(t)
    x_array, t_x_array, T_array = _broadcast_customers(x, t_x, T)
    alive = probability_alive(params, x_array, t_x_array, T_array)
    return alive * _expected_purchases_while_active(params, horizon, x_array, T_array)


def expected_purchases_unconditional(params: BgNbdParams, t: object) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in (0, t] of a customer who has just made a first purchase (eq. 9).

    E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
    """
    horizon = _horizon(t)
    zeros = np.zeros(horizon.shape)
    return _expected_purchases_while_active(params, horizon, zeros, zeros)


# ----------------------------------------------------------------------------------------------------------------
# Simulation
# ----------------------------------------------------------------------------------------------------------------


def simulate(params: BgNbdParams, T: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw (x, t_x) for customers observed for T (continuous time) from the BG/NBD generative process.

    Per customer: lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b). Without dropout the repeat purchases in (0, T]
    are a Poisson process: N ~ Poisson(lambda T) of them, at the order statistics of N uniforms on (0, T]. The
    customer drops out after the K-th repeat purchase, K ~ Geometric(p) on {1, 2, ...}, so x = min(N, K), and the
    x-th of N uniform order statistics is T * Beta(x, N - x + 1). Fully vectorised: a million customers take well
    under a second.

    p is floored at 1e-12 so that Geometric(p) stays inside int64; with such a p a customer would not drop out
    within any realistic horizon anyway.
    """
    horizon = as_float_vector("T", T)
    if np.any(horizon < 0):
        raise ValueError("T (observation length) must be non-negative")
    count = len(horizon)
    purchase_rate = rng.gamma(shape=params.r, scale=1.0 / params.alpha, size=count)
    dropout = np.clip(rng.beta(params.a, params.b, size=count), 1e-12, 1.0)
    purchases_without_dropout = rng.poisson(purchase_rate * horizon)
    purchases_before_dropout = rng.geometric(dropout)
    x = np.minimum(purchases_without_dropout, purchases_before_dropout)
    t_x = np.zeros(count)
    repeat = x > 0
    t_x[repeat] = horizon[repeat] * rng.beta(x[repeat], purchases_without_dropout[repeat] - x[repeat] + 1)
    return x.astype(np.int64), t_x
