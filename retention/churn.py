"""Churn features, labels and a gradient-boosted churn classifier checked against the BG/NBD baseline (no Django).

Every night each organization's active customers get a churn probability. The baseline is 1 - P(alive) from a
BG/NBD fit: it sees only the purchase rhythm (frequency, recency, tenure). A classifier can also see spending,
recent activity and feedback, but it has to earn its place: it is trained on a time split and used only when it
ranks churners better than the baseline on customers it has not seen.

The caller runs it like this (``window`` is the churn window in days, ``as_of`` is tonight's day number):

1. ``features = build_features(..., cutoff=as_of - window)`` and ``labels = churn_labels(...,
   cutoff=as_of - window, window_days=window)``: what the customer looked like one window ago and whether they
   bought in the window since;
2. ``baseline_scores``: 1 - P(alive) from a BG/NBD fit at the same cutoff, for the same customers in the same order;
3. ``model, evaluation = train_and_evaluate(features, labels, baseline_scores)``;
4. if ``evaluation.use_classifier``: ``predict_churn(model, build_features(..., cutoff=as_of))``.

Day numbers are whole days since 1970-01-01 in the organization's time zone. Windows count the cutoff day itself
as the first day: "the last 90 days" are the days ``cutoff - 89`` to ``cutoff``, "the previous 90 days" (the 91st to
the 180th day back) are ``cutoff - 179`` to ``cutoff - 90``.

Decisions, and why:

- Only data on or before the cutoff is used for features, so training features never leak the label window.
- Gap features (``mean_gap_days``, ``std_gap_days``, ``last_gap_days``, ``days_since_last_vs_mean_gap``) are NaN
  for customers with a single purchase day, rather than 0: "no gap yet" is not "buys every day", and
  HistGradientBoosting learns a separate branch for missing values. ``std_gap_days`` is the population standard
  deviation (0 with exactly two purchase days).
- ``days_since_last_vs_mean_gap`` is capped at :data:`RECENCY_GAP_RATIO_CAP`: past a few missed cycles the size of
  the ratio says nothing more, and the cap keeps one extreme customer from stretching the bins.
- Event rows with zero events do not count as activity for ``days_since_last_event``.
- When several answers of the same kind arrive on a customer's latest feedback day, their mean is used, so the
  result does not depend on row order.
- The returned model is the one trained on the 70% part and scored on the 30% part, not a refit on everything: the
  AUC that decides ``use_classifier`` is then the AUC of the model actually used.
- Hyper-parameters are fixed and early stopping is off: the same inputs give the same model and the same scores,
  so re-running a night reproduces it.
- Fitting and scoring run on :data:`CLASSIFIER_THREADS` (one) OpenMP thread. The trees are small and grown one
  node at a time, so on a busy 2-core worker the thread hand-offs cost more than they save (measured: training on
  200,000 customers took 4 s on one thread, 22 s on two), and a fixed thread count keeps the floating-point
  summation order, hence the model, the same on machines with different core counts.
- Besides ``min_customers``, the smaller class needs :data:`MIN_CUSTOMERS_PER_CLASS` customers: with fewer, a
  stratified split cannot put both classes in the test part and no AUC can be measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "tenure_days",
    "mean_gap_days",
    "std_gap_days",
    "last_gap_days",
    "days_since_last_vs_mean_gap",
    "purchases_last_90d",
    "purchases_prev_90d",
    "trend",
    "revenue_last_90d",
    "events_last_30d",
    "events_last_90d",
    "days_since_last_event",
    "nps_last",
    "csat_last_share",
)
"""Feature column names, in the order :func:`build_features` returns them."""

RECENT_DAYS = 90
"""Length of the "last 90 days" and "previous 90 days" purchase windows."""

RECENT_EVENT_DAYS = 30
"""Length of the short event window."""

RECENCY_GAP_RATIO_CAP = 10.0
"""Upper bound of ``days_since_last_vs_mean_gap``: ten missed purchase cycles is as lapsed as it gets."""

TEST_SHARE = 0.30
"""Share of customers held out to compare the classifier with the baseline."""

TOP_SHARE = 0.10
"""Share of highest-scored customers used for the precision figures."""

MIN_CUSTOMERS_PER_CLASS = 10
"""Fewest churned (and fewest retained) customers for which a classifier is trained and evaluated."""

IMPORTANCE_MAX_CUSTOMERS = 5_000
IMPORTANCE_REPEATS = 3

CLASSIFIER_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 150,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
"""Fixed HistGradientBoosting settings; ``random_state`` is added per call."""

CLASSIFIER_THREADS = 1
"""OpenMP threads for fitting, scoring and permutation importance; see the module docstring."""


# --------------------------------------------------------------------------------------------------------------
# Features and labels
# --------------------------------------------------------------------------------------------------------------


def _sorted_purchases(purchase_days: pd.DataFrame, cutoff: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer ids, days and amounts on or before ``cutoff``, sorted by (customer_id, day).

    The input is documented as sorted; that is checked in one pass and the rows are sorted only when it does not
    hold, so a caller's mistake costs time rather than wrong gaps. Two rows for the same customer and day raise
    ``ValueError``: they would count one purchase day twice and make a gap of 0 days.
    """
    days = purchase_days["day"].to_numpy(dtype=np.int64)
    kept = days <= cutoff
    customer_ids = purchase_days["customer_id"].to_numpy(dtype=np.int64)[kept]
    days = days[kept]
    amounts = purchase_days["amount"].to_numpy(dtype=np.float64)[kept]
    if customer_ids.size > 1:
        id_steps = np.diff(customer_ids)
        in_order = np.all((id_steps > 0) | ((id_steps == 0) & (np.diff(days) > 0)))
        if not in_order:
            order = np.lexsort((days, customer_ids))
            customer_ids, days, amounts = customer_ids[order], days[order], amounts[order]
            if np.any((np.diff(customer_ids) == 0) & (np.diff(days) == 0)):
                raise ValueError("purchase_days must hold one row per customer and purchase day.")
    return customer_ids, days, amounts


def _positions(customer_index: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of ``ids`` in the sorted ``customer_index``, and which ids are in it at all."""
    if customer_index.size == 0:
        return np.zeros(ids.shape, dtype=np.int64), np.zeros(ids.shape, dtype=bool)
    positions = np.searchsorted(customer_index, ids)
    positions = np.minimum(positions, customer_index.size - 1)
    return positions, customer_index[positions] == ids


def _latest_feedback(feedback: pd.DataFrame, kind: str, customer_index: np.ndarray, cutoff: int) -> np.ndarray:
    """Per customer, the value (``value`` column) of the latest feedback of ``kind`` on or before the cutoff."""
    result = np.full(customer_index.size, np.nan)
    rows = feedback[(feedback["kind"] == kind) & (feedback["day"] <= cutoff)]
    if rows.empty:
        return result
    latest_day = rows.groupby("customer_id", sort=False)["day"].transform("max")
    latest = rows[rows["day"] == latest_day].groupby("customer_id", sort=False)["value"].mean()
    positions, known = _positions(customer_index, latest.index.to_numpy(dtype=np.int64))
    result[positions[known]] = latest.to_numpy(dtype=np.float64)[known]
    return result


def build_features(
    purchase_days: pd.DataFrame,
    event_days: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    cutoff: int,
) -> pd.DataFrame:
    """Churn features per customer as of the end of day ``cutoff``, using only data on or before that day.

    One row per customer with at least one purchase day on or before the cutoff, indexed by ``customer_id`` in
    ascending order, columns :data:`FEATURES` as float64. Customers without events have event counts 0 and
    ``days_since_last_event`` NaN; customers without feedback have NaN feedback features.

    Purchases are aggregated with array segment sums over the (customer_id, day) order, so a million customers
    with eight million purchase days take a few seconds.
    """
    customer_ids, days, amounts = _sorted_purchases(purchase_days, cutoff)
    n_rows = customer_ids.size
    starts_customer = np.ones(n_rows, dtype=bool)
    if n_rows:
        starts_customer[1:] = customer_ids[1:] != customer_ids[:-1]
    customer_index = customer_ids[starts_customer]
    n_customers = customer_index.size
    codes = np.cumsum(starts_customer) - 1

    def per_customer_sum(values: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return np.bincount(codes[rows], weights=values, minlength=n_customers)

    ends_customer = np.ones(n_rows, dtype=bool)
    if n_rows:
        ends_customer[:-1] = starts_customer[1:]
    first_day = days[starts_customer].astype(np.float64)
    last_day = days[ends_customer].astype(np.float64)
    frequency = np.bincount(codes, minlength=n_customers).astype(np.float64)
    monetary_total = per_customer_sum(amounts)

    # Gaps between consecutive purchase days of the same customer; a row that starts a customer has no gap.
    gap_rows = ~starts_customer
    gaps = np.diff(days, prepend=0)[gap_rows].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = (last_day - first_day) / (frequency - 1)
        mean_gap[frequency < 2] = np.nan
        squared_deviation = (gaps - mean_gap[codes[gap_rows]]) ** 2
        std_gap = np.sqrt(per_customer_sum(squared_deviation, gap_rows) / (frequency - 1))
        std_gap[frequency < 2] = np.nan
        last_gap = np.full(n_customers, np.nan)
        last_gap[codes[gap_rows & ends_customer]] = gaps[ends_customer[gap_rows]]
        recency = cutoff - last_day
        recency_vs_gap = np.minimum(recency / mean_gap, RECENCY_GAP_RATIO_CAP)

    age = cutoff - days
    in_last = age < RECENT_DAYS
    in_prev = (age >= RECENT_DAYS) & (age < 2 * RECENT_DAYS)
    purchases_last = np.bincount(codes[in_last], minlength=n_customers).astype(np.float64)
    purchases_prev = np.bincount(codes[in_prev], minlength=n_customers).astype(np.float64)
    revenue_last = per_customer_sum(amounts[in_last], in_last)

    events_last_30, events_last_90, days_since_event = _event_features(event_days, customer_index, cutoff)

    feedback_values = feedback.assign(value=feedback["score"].astype(np.float64)) if not feedback.empty else None
    if feedback_values is None:
        nps_last = np.full(n_customers, np.nan)
        csat_share = np.full(n_customers, np.nan)
    else:
        nps_last = _latest_feedback(feedback_values, "nps", customer_index, cutoff)
        feedback_values["value"] = feedback_values["value"] / feedback_values["scale_max"].astype(np.float64)
        csat_share = _latest_feedback(feedback_values, "csat", customer_index, cutoff)

    columns = {
        "recency_days": recency,
        "frequency": frequency,
        "monetary_total": monetary_total,
        "monetary_mean": monetary_total / np.maximum(frequency, 1),
        "tenure_days": cutoff - first_day,
        "mean_gap_days": mean_gap,
        "std_gap_days": std_gap,
        "last_gap_days": last_gap,
        "days_since_last_vs_mean_gap": recency_vs_gap,
        "purchases_last_90d": purchases_last,
        "purchases_prev_90d": purchases_prev,
        "trend": purchases_last - purchases_prev,
        "revenue_last_90d": revenue_last,
        "events_last_30d": events_last_30,
        "events_last_90d": events_last_90,
        "days_since_last_event": days_since_event,
        "nps_last": nps_last,
        "csat_last_share": csat_share,
    }
    index = pd.Index(customer_index, name="customer_id", dtype=np.int64)
    return pd.DataFrame({name: np.asarray(columns[name], dtype=np.float64) for name in FEATURES}, index=index)


def _event_features(
    event_days: pd.DataFrame, customer_index: np.ndarray, cutoff: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events in the last 30 and 90 days and days since the last day with an event, per customer."""
    n_customers = customer_index.size
    days_since_event = np.full(n_customers, np.nan)
    if event_days.empty:
        return np.zeros(n_customers), np.zeros(n_customers), days_since_event
    days = event_days["day"].to_numpy(dtype=np.int64)
    counts = event_days["events"].to_numpy(dtype=np.float64)
    positions, known = _positions(customer_index, event_days["customer_id"].to_numpy(dtype=np.int64))
    kept = known & (days <= cutoff) & (counts > 0)
    positions, age, counts = positions[kept], cutoff - days[kept], counts[kept]
    last_30 = age < RECENT_EVENT_DAYS
    last_90 = age < RECENT_DAYS
    events_last_30 = np.bincount(positions[last_30], weights=counts[last_30], minlength=n_customers)
    events_last_90 = np.bincount(positions[last_90], weights=counts[last_90], minlength=n_customers)
    youngest = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(youngest, positions, age)
    has_event = youngest != np.iinfo(np.int64).max
    days_since_event[has_event] = youngest[has_event]
    return events_last_30, events_last_90, days_since_event


def churn_labels(
    purchase_days: pd.DataFrame,
    customer_ids: npt.ArrayLike,
    *,
    cutoff: int,
    window_days: int,
) -> npt.NDArray[np.bool_]:
    """True for each of ``customer_ids`` with no purchase day in (cutoff, cutoff + window_days].

    A purchase on the cutoff day itself belongs to the features, not to the outcome, so it does not save the
    customer; a purchase on the last day of the window does.
    """
    if isinstance(window_days, bool) or not isinstance(window_days, int | np.integer) or window_days < 1:
        raise ValueError(f"window_days must be a whole number of days, at least 1, got {window_days!r}.")
    days = purchase_days["day"].to_numpy(dtype=np.int64)
    in_window = (days > cutoff) & (days <= cutoff + window_days)
    bought = np.unique(purchase_days["customer_id"].to_numpy(dtype=np.int64)[in_window])
    return ~np.isin(np.asarray(customer_ids, dtype=np.int64), bought)


# --------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------


def precision_at_top(scores: npt.ArrayLike, labels: npt.ArrayLike, share: float = TOP_SHARE) -> float | None:
    """Share of positives among the ``ceil(share * n)`` highest-scored customers; None for no customers.

    Campaigns contact the top of the list, so this is the hit rate a retention campaign would see. Ties are
    broken by position (earlier first) and NaN scores rank last, so the result never depends on sort stability.
    """
    score_values = np.asarray(scores, dtype=np.float64)
    label_values = np.asarray(labels, dtype=bool)
    if score_values.shape != label_values.shape or score_values.ndim != 1:
        raise ValueError(
            f"scores and labels must be 1-d of the same length, got {score_values.shape} and {label_values.shape}."
        )
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}.")
    n = score_values.size
    if n == 0:
        return None
    top_count = max(1, math.ceil(round(share * n, 9)))
    sort_key = np.where(np.isnan(score_values), np.inf, -score_values)
    order = np.lexsort((np.arange(n), sort_key))
    return float(label_values[order[:top_count]].mean())


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or None when the labels hold one class (AUC is undefined there)."""
    if labels.size == 0 or labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def _auc_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass(frozen=True)
class ChurnEvaluation:
    """How the classifier compares with the BG/NBD baseline on held-out customers, and why it is (not) used."""

    classifier_auc: float | None
    baseline_auc: float | None
    classifier_precision_top10: float | None
    baseline_precision_top10: float | None
    use_classifier: bool
    train_customers: int
    test_customers: int
    positive_share: float | None
    feature_importance: list[tuple[str, float]] = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, floats rounded to 4 places, for storing with the night's run."""
        return {
            "classifier_auc": _rounded(self.classifier_auc),
            "baseline_auc": _rounded(self.baseline_auc),
            "classifier_precision_top10": _rounded(self.classifier_precision_top10),
            "baseline_precision_top10": _rounded(self.baseline_precision_top10),
            "use_classifier": bool(self.use_classifier),
            "train_customers": int(self.train_customers),
            "test_customers": int(self.test_customers),
            "positive_share": _rounded(self.positive_share),
            "feature_importance": [[name, _rounded(value)] for name, value in self.feature_importance],
            "message": self.message,
        }


def _not_trained(
    message: str, positive_share: float | None, labels: np.ndarray | None = None, baseline: np.ndarray | None = None
) -> tuple[None, ChurnEvaluation]:
    """No classifier; the BG/NBD baseline is still scored on every customer when both outcomes occur."""
    baseline_auc = baseline_precision = None
    if labels is not None and baseline is not None and 0 < int(labels.sum()) < labels.size:
        baseline_auc = float(roc_auc_score(labels, baseline))
        baseline_precision = precision_at_top(baseline, labels)
    evaluation = ChurnEvaluation(
        classifier_auc=None,
        baseline_auc=baseline_auc,
        classifier_precision_top10=None,
        baseline_precision_top10=baseline_precision,
        use_classifier=False,
        train_customers=0,
        test_customers=0,
        positive_share=positive_share,
        feature_importance=[],
        message=message,
    )
    return None, evaluation


def _stratified_subset(rows: np.ndarray, labels: np.ndarray, size: int, random_state: int) -> np.ndarray:
    """At most ``size`` of ``rows``, keeping the class shares, chosen deterministically and in row order."""
    if rows.size <= size:
        return rows
    subset, _ = train_test_split(rows, train_size=size, stratify=labels[rows], random_state=random_state)
    return np.sort(subset)


def _fillable_training_matrix(training: pd.DataFrame) -> pd.DataFrame:
    """The training rows, with columns too sparse to split on set to 0 instead of (almost) all NaN.

    HistGradientBoosting cannot bin a column with no value at all (an organization without feedback has
    ``nps_last`` all NaN). Every split needs ``min_samples_leaf`` customers with a value on one side, so a column
    with fewer values than that never carries a split; a constant 0 gives the same trees and binning succeeds.
    Values such a column has at prediction time are ignored by the trees either way.
    """
    observed = training.notna().sum()
    too_sparse = list(observed.index[observed < CLASSIFIER_PARAMS["min_samples_leaf"]])
    if not too_sparse:
        return training
    filled = training.copy()
    filled[too_sparse] = 0.0
    return filled


def train_and_evaluate(
    features: pd.DataFrame,
    labels: npt.ArrayLike,
    baseline_scores: npt.ArrayLike,
    *,
    random_state: int = 0,
    max_train_customers: int = 200_000,
    min_customers: int = 200,
) -> tuple[HistGradientBoostingClassifier | None, ChurnEvaluation]:
    """Train a churn classifier on 70% of the customers and compare it with the BG/NBD baseline on the other 30%.

    ``features`` are taken at a past cutoff, ``labels`` say who churned in the window after it and
    ``baseline_scores`` are 1 - P(alive) at the same cutoff, all aligned row by row. The split is stratified and
    seeded, training customers are subsampled to ``max_train_customers`` (also stratified and seeded) so a large
    organization trains in seconds, and the classifier is used only when its AUC is strictly higher than the
    baseline's. Returns ``(None, evaluation)`` with the reason in ``evaluation.message`` when there are too few
    customers or a single class. Lengths that do not match, non-finite baseline scores or ``max_train_customers``
    under 2 raise ``ValueError``: those are caller bugs, not data.
    """
    label_values = np.asarray(labels, dtype=bool)
    baseline_values = np.asarray(baseline_scores, dtype=np.float64)
    n_customers = len(features)
    if label_values.shape != (n_customers,) or baseline_values.shape != (n_customers,):
        raise ValueError(
            f"labels and baseline_scores must have one value per feature row ({n_customers}), "
            f"got shapes {label_values.shape} and {baseline_values.shape}."
        )
    if max_train_customers < 2:
        raise ValueError(f"max_train_customers must be at least 2, got {max_train_customers!r}.")
    if not np.all(np.isfinite(baseline_values)):
        raise ValueError("baseline_scores must be finite (1 - P(alive) for every customer).")

    positive_share = float(label_values.mean()) if n_customers else None
    if n_customers < min_customers:
        return _not_trained(
            f"too few customers to train a churn classifier ({n_customers} < {min_customers}); using BG/NBD",
            positive_share,
            label_values,
            baseline_values,
        )
    churned = int(label_values.sum())
    retained = n_customers - churned
    if churned == 0 or retained == 0:
        which = "retained" if churned == 0 else "churned"
        return _not_trained(f"only one class in the labels (all {which}); using BG/NBD", positive_share)
    if min(churned, retained) < MIN_CUSTOMERS_PER_CLASS:
        return _not_trained(
            f"too few customers in the smaller class ({churned} churned, {retained} retained; "
            f"need {MIN_CUSTOMERS_PER_CLASS} of each); using BG/NBD",
            positive_share,
            label_values,
            baseline_values,
        )

    all_rows = np.arange(n_customers)
    train_rows, test_rows = train_test_split(
        all_rows, test_size=TEST_SHARE, stratify=label_values, random_state=random_state
    )
    train_rows = _stratified_subset(np.sort(train_rows), label_values, max_train_customers, random_state)
    test_rows = np.sort(test_rows)

    matrix = features.astype(np.float64)
    model = HistGradientBoostingClassifier(**CLASSIFIER_PARAMS, random_state=random_state)
    with threadpool_limits(limits=CLASSIFIER_THREADS, user_api="openmp"):
        model.fit(_fillable_training_matrix(matrix.iloc[train_rows]), label_values[train_rows])

    test_labels = label_values[test_rows]
    classifier_scores = predict_churn(model, matrix.iloc[test_rows])
    test_baseline = baseline_values[test_rows]
    classifier_auc = _roc_auc(test_labels, classifier_scores)
    baseline_auc = _roc_auc(test_labels, test_baseline)
    use_classifier = classifier_auc is not None and baseline_auc is not None and classifier_auc > baseline_auc
    if use_classifier:
        message = f"classifier AUC {_auc_text(classifier_auc)} beats BG/NBD {_auc_text(baseline_auc)}"
    else:
        message = (
            f"classifier AUC {_auc_text(classifier_auc)} does not beat BG/NBD {_auc_text(baseline_auc)}; using BG/NBD"
        )

    importance_rows = _stratified_subset(test_rows, label_values, IMPORTANCE_MAX_CUSTOMERS, random_state)
    with threadpool_limits(limits=CLASSIFIER_THREADS, user_api="openmp"):
        importance = permutation_importance(
            model,
            matrix.iloc[importance_rows],
            label_values[importance_rows],
            scoring="roc_auc",
            n_repeats=IMPORTANCE_REPEATS,
            random_state=random_state,
        )
    ranked = sorted(
        zip(features.columns, importance.importances_mean, strict=True),
        key=lambda item: -item[1],
    )

    evaluation = ChurnEvaluation(
        classifier_auc=classifier_auc,
        baseline_auc=baseline_auc,
        classifier_precision_top10=precision_at_top(classifier_scores, test_labels),
        baseline_precision_top10=precision_at_top(test_baseline, test_labels),
        use_classifier=use_classifier,
        train_customers=int(train_rows.size),
        test_customers=int(test_rows.size),
        positive_share=positive_share,
        feature_importance=[(str(name), float(value)) for name, value in ranked],
        message=message,
    )
    return model, evaluation


def predict_churn(model: HistGradientBoostingClassifier, features: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Probability of churn (the True class) per row of ``features``.

    Columns are put in the order the model was trained on, so a frame built with columns in another order scores
    the same.
    """
    columns = list(getattr(model, "feature_names_in_", features.columns))
    churn_column = int(np.flatnonzero(model.classes_)[0])
    with threadpool_limits(limits=CLASSIFIER_THREADS, user_api="openmp"):
        return model.predict_proba(features[columns].astype(np.float64))[:, churn_column]
