"""Churn features, labels and the classifier-versus-BG/NBD evaluation (retention/churn.py): pure data, no database."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from retention.churn import (
    FEATURES,
    RECENCY_GAP_RATIO_CAP,
    ChurnEvaluation,
    build_features,
    churn_labels,
    precision_at_top,
    predict_churn,
    train_and_evaluate,
)

CUTOFF = 1000
NAN = math.nan


def purchases_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    return frame.astype({"customer_id": "int64", "day": "int32", "amount": "float64"})


def events_frame(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "events"])
    return frame.astype({"customer_id": "int64", "day": "int32", "events": "int32"})


def feedback_frame(rows: list[tuple[int, int, str, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "kind", "score", "scale_max"])
    return frame.astype({"customer_id": "int64", "day": "int32", "kind": "str", "score": "int64", "scale_max": "int64"})


# Customer 1: six purchase days up to the cutoff at the window edges, one after it.
# Customer 2: one purchase day on the cutoff itself. Customer 3: bought only after the cutoff.
# Customer 4: one purchase day long ago. Customer 5: two purchase days far back (ratio over the cap).
PURCHASES = [
    (1, 820, 10.0),  # 180 days back: in neither 90-day window
    (1, 821, 20.0),  # 179 days back: previous 90 days
    (1, 910, 30.0),  # 90 days back: previous 90 days
    (1, 911, 40.0),  # 89 days back: last 90 days
    (1, 950, 50.0),
    (1, 990, 60.0),
    (1, 1005, 1000.0),  # after the cutoff
    (2, 1000, 25.0),
    (3, 1001, 99.0),
    (4, 100, 5.0),
    (5, 800, 7.0),
    (5, 802, 9.0),
]
EVENTS = [
    (1, 900, 7),  # 100 days back: in no window
    (1, 930, 4),  # 70 days back: 90-day window only
    (1, 975, 2),  # 25 days back
    (1, 990, 3),
    (1, 1000, 1),  # on the cutoff
    (1, 1001, 50),  # after the cutoff
    (2, 500, 1),
    (3, 999, 8),  # not a customer at the cutoff
    (5, 995, 0),  # a row with no events is no activity
]
FEEDBACK = [
    (1, 900, "nps", 6, 10),
    (1, 990, "nps", 9, 10),
    (1, 1002, "nps", 0, 10),  # after the cutoff
    (1, 950, "csat", 4, 5),
    (2, 1003, "csat", 2, 5),  # after the cutoff
    (4, 40, "csat", 5, 5),
    (4, 50, "csat", 3, 5),
    (4, 50, "csat", 4, 5),  # two answers on the latest day: their mean
]


@pytest.fixture(scope="module")
def hand_features() -> pd.DataFrame:
    return build_features(purchases_frame(PURCHASES), events_frame(EVENTS), feedback_frame(FEEDBACK), cutoff=CUTOFF)


def test_features_cover_customers_with_a_purchase_on_or_before_the_cutoff(hand_features):
    assert list(hand_features.columns) == list(FEATURES)
    assert hand_features.index.name == "customer_id"
    assert list(hand_features.index) == [1, 2, 4, 5]
    assert all(dtype == np.float64 for dtype in hand_features.dtypes)


def test_purchase_features_by_hand(hand_features):
    one = hand_features.loc[1]
    assert one["recency_days"] == 10
    assert one["frequency"] == 6
    assert one["monetary_total"] == 210
    assert one["monetary_mean"] == 35
    assert one["tenure_days"] == 180
    # Gaps 1, 89, 1, 39, 40: mean 34, deviations -33, 55, -33, 5, 6.
    assert one["mean_gap_days"] == 34
    assert one["std_gap_days"] == pytest.approx(math.sqrt((33**2 + 55**2 + 33**2 + 5**2 + 6**2) / 5))
    assert one["last_gap_days"] == 40
    assert one["days_since_last_vs_mean_gap"] == pytest.approx(10 / 34)
    assert one["purchases_last_90d"] == 3
    assert one["purchases_prev_90d"] == 2
    assert one["trend"] == 1
    assert one["revenue_last_90d"] == 150

    two = hand_features.loc[2]
    assert (two["recency_days"], two["frequency"], two["tenure_days"]) == (0, 1, 0)
    assert (two["monetary_total"], two["monetary_mean"], two["revenue_last_90d"]) == (25, 25, 25)
    assert (two["purchases_last_90d"], two["purchases_prev_90d"], two["trend"]) == (1, 0, 1)
    for gap_feature in ("mean_gap_days", "std_gap_days", "last_gap_days", "days_since_last_vs_mean_gap"):
        assert math.isnan(two[gap_feature]), gap_feature

    four = hand_features.loc[4]
    assert (four["recency_days"], four["tenure_days"], four["purchases_last_90d"], four["trend"]) == (900, 900, 0, 0)

    five = hand_features.loc[5]
    assert (five["mean_gap_days"], five["std_gap_days"], five["last_gap_days"]) == (2, 0, 2)
    assert five["days_since_last_vs_mean_gap"] == RECENCY_GAP_RATIO_CAP  # 198 / 2 capped


def test_event_features_by_hand(hand_features):
    events = hand_features[["events_last_30d", "events_last_90d", "days_since_last_event"]]
    assert events.loc[1].tolist() == [6, 10, 0]
    assert events.loc[2].tolist() == [0, 0, 500]
    assert events.loc[4, ["events_last_30d", "events_last_90d"]].tolist() == [0, 0]
    assert math.isnan(events.loc[4, "days_since_last_event"])
    assert math.isnan(events.loc[5, "days_since_last_event"])


def test_feedback_features_by_hand(hand_features):
    assert hand_features.loc[1, "nps_last"] == 9
    assert hand_features.loc[1, "csat_last_share"] == pytest.approx(0.8)
    assert math.isnan(hand_features.loc[2, "nps_last"])
    assert math.isnan(hand_features.loc[2, "csat_last_share"])
    assert hand_features.loc[4, "csat_last_share"] == pytest.approx(0.7)


def test_data_after_the_cutoff_changes_nothing(hand_features):
    def up_to_cutoff(rows):
        return [row for row in rows if row[1] <= CUTOFF]

    without_future = build_features(
        purchases_frame(up_to_cutoff(PURCHASES)),
        events_frame(up_to_cutoff(EVENTS)),
        feedback_frame(up_to_cutoff(FEEDBACK)),
        cutoff=CUTOFF,
    )
    pd.testing.assert_frame_equal(without_future, hand_features)


def test_unsorted_purchases_give_the_same_features(hand_features):
    shuffled = purchases_frame(PURCHASES).sample(frac=1.0, random_state=3)
    again = build_features(shuffled, events_frame(EVENTS), feedback_frame(FEEDBACK), cutoff=CUTOFF)
    pd.testing.assert_frame_equal(again, hand_features)


def test_duplicate_purchase_days_are_rejected():
    duplicated = purchases_frame([(1, 10, 1.0), (1, 10, 2.0)])
    with pytest.raises(ValueError, match="one row per customer and purchase day"):
        build_features(duplicated, events_frame([]), feedback_frame([]), cutoff=CUTOFF)


def test_empty_events_and_feedback():
    features = build_features(purchases_frame(PURCHASES), events_frame([]), feedback_frame([]), cutoff=CUTOFF)
    assert list(features.index) == [1, 2, 4, 5]
    assert (features["events_last_30d"] == 0).all()
    assert (features["events_last_90d"] == 0).all()
    assert features[["days_since_last_event", "nps_last", "csat_last_share"]].isna().all().all()


def test_no_purchases_gives_an_empty_frame():
    features = build_features(purchases_frame([]), events_frame(EVENTS), feedback_frame(FEEDBACK), cutoff=CUTOFF)
    assert features.empty
    assert list(features.columns) == list(FEATURES)


def test_churn_label_window_boundaries():
    purchases = purchases_frame(
        [
            (1, 130, 1.0),  # last day of the window: stays
            (2, 100, 1.0),  # on the cutoff only: churned
            (3, 131, 1.0),  # one day past the window: churned
            (4, 101, 1.0),  # first day of the window: stays
            (5, 50, 1.0),
            (5, 120, 1.0),
        ]
    )
    labels = churn_labels(purchases, [6, 5, 4, 3, 2, 1], cutoff=100, window_days=30)
    assert labels.dtype == bool
    assert labels.tolist() == [True, False, False, True, True, False]


def test_churn_labels_reject_a_bad_window():
    with pytest.raises(ValueError, match="window_days"):
        churn_labels(purchases_frame([]), [1], cutoff=100, window_days=0)


def test_precision_at_top_by_hand():
    scores = [0.9, 0.8, 0.8, 0.1, 0.5, 0.3, 0.2, 0.7, 0.4, 0.6]
    labels = [1, 0, 1, 1, 0, 0, 0, 1, 0, 0]
    # Top 10% of 10 = 1 customer: 0.9, churned.
    assert precision_at_top(scores, labels) == 1.0
    # Top 2: 0.9 and the first of the tied 0.8s (position 1, retained).
    assert precision_at_top(scores, labels, share=0.2) == 0.5
    # Top ceil(2.5) = 3: 0.9, 0.8, 0.8 -> two churned.
    assert precision_at_top(scores, labels, share=0.25) == pytest.approx(2 / 3)
    # Top 4 adds 0.7 (churned): 3 of 4.
    assert precision_at_top(scores, labels, share=0.4) == 0.75
    assert precision_at_top(scores, labels, share=1.0) == 0.4
    assert precision_at_top([], []) is None


def test_precision_at_top_ranks_nan_scores_last():
    assert precision_at_top([NAN, 0.1, 0.2], [1, 0, 0], share=0.5) == 0.0


# --------------------------------------------------------------------------------------------------------------
# Classifier against the baseline
# --------------------------------------------------------------------------------------------------------------


def synthetic_history(n_customers: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random purchase days (1-12 per customer in the 720 days to the cutoff) and daily support events."""
    rng = np.random.default_rng(seed)
    per_customer = rng.integers(1, 13, size=n_customers)
    customer_ids = np.repeat(np.arange(1, n_customers + 1, dtype=np.int64), per_customer)
    days = CUTOFF - rng.integers(0, 720, size=customer_ids.size)
    purchases = pd.DataFrame(
        {"customer_id": customer_ids, "day": days.astype(np.int32), "amount": rng.gamma(2.0, 30.0, customer_ids.size)}
    )
    purchases = purchases.drop_duplicates(["customer_id", "day"]).sort_values(["customer_id", "day"])

    event_customers = rng.integers(1, n_customers + 1, size=6 * n_customers)
    events = pd.DataFrame(
        {
            "customer_id": event_customers.astype(np.int64),
            "day": (CUTOFF - rng.integers(0, 120, size=event_customers.size)).astype(np.int32),
            "events": rng.integers(1, 4, size=event_customers.size).astype(np.int32),
        }
    )
    return purchases.reset_index(drop=True), events


def recency_baseline(features: pd.DataFrame) -> np.ndarray:
    """A stand-in for 1 - P(alive): it sees only the purchase rhythm, never events."""
    return (features["recency_days"] / (features["recency_days"] + 60.0)).to_numpy()


@pytest.fixture(scope="module")
def support_driven_churn():
    purchases, events = synthetic_history(3_000, seed=11)
    features = build_features(purchases, events, feedback_frame([]), cutoff=CUTOFF)
    rng = np.random.default_rng(12)
    busy_support = features["events_last_30d"].to_numpy() >= 4
    labels = np.where(busy_support, rng.random(len(features)) < 0.85, rng.random(len(features)) < 0.15)
    return features, labels, recency_baseline(features)


def test_classifier_wins_when_churn_follows_what_the_baseline_cannot_see(support_driven_churn):
    features, labels, baseline = support_driven_churn
    model, evaluation = train_and_evaluate(features, labels, baseline, random_state=0)

    assert model is not None
    assert evaluation.use_classifier
    assert evaluation.classifier_auc > 0.75
    assert abs(evaluation.baseline_auc - 0.5) < 0.1
    assert evaluation.classifier_auc > evaluation.baseline_auc
    assert evaluation.classifier_precision_top10 > evaluation.baseline_precision_top10
    assert evaluation.message.startswith("classifier AUC") and "beats BG/NBD" in evaluation.message
    assert evaluation.test_customers == round(0.3 * len(features))
    assert evaluation.train_customers == len(features) - evaluation.test_customers
    assert evaluation.positive_share == pytest.approx(labels.mean())

    names = [name for name, _ in evaluation.feature_importance]
    values = [value for _, value in evaluation.feature_importance]
    assert sorted(names) == sorted(FEATURES)
    assert values == sorted(values, reverse=True)
    assert names[0] == "events_last_30d"
    # No feedback at all: the all-missing columns train without error and carry no weight.
    assert dict(evaluation.feature_importance)["nps_last"] == 0
    assert dict(evaluation.feature_importance)["csat_last_share"] == 0

    scores = predict_churn(model, features)
    assert scores.shape == (len(features),)
    assert np.all((scores >= 0) & (scores <= 1))


def test_predictions_do_not_depend_on_column_order(support_driven_churn):
    features, labels, baseline = support_driven_churn
    model, _ = train_and_evaluate(features, labels, baseline)
    reordered = features[list(reversed(features.columns))]
    assert np.array_equal(predict_churn(model, reordered), predict_churn(model, features))


def test_same_inputs_give_the_same_model_and_scores(support_driven_churn):
    features, labels, baseline = support_driven_churn
    first_model, first_evaluation = train_and_evaluate(features, labels, baseline, max_train_customers=1_500)
    second_model, second_evaluation = train_and_evaluate(features, labels, baseline, max_train_customers=1_500)
    assert first_evaluation.train_customers == 1_500
    assert first_evaluation == second_evaluation
    assert np.array_equal(predict_churn(first_model, features), predict_churn(second_model, features))


def test_noise_labels_give_an_auc_near_one_half_and_the_strict_rule_decides():
    purchases, events = synthetic_history(2_000, seed=21)
    features = build_features(purchases, events, feedback_frame([]), cutoff=CUTOFF)
    rng = np.random.default_rng(22)
    labels = rng.random(len(features)) < 0.3
    baseline = rng.random(len(features))

    model, evaluation = train_and_evaluate(features, labels, baseline, random_state=5)

    assert model is not None
    assert abs(evaluation.classifier_auc - 0.5) < 0.08
    assert abs(evaluation.baseline_auc - 0.5) < 0.08
    assert evaluation.use_classifier == (evaluation.classifier_auc > evaluation.baseline_auc)
    expected_verb = "beats" if evaluation.use_classifier else "does not beat"
    assert f"{expected_verb} BG/NBD" in evaluation.message


def test_ties_go_to_the_baseline():
    features = pd.DataFrame(np.zeros((400, 2)), columns=["constant_a", "constant_b"])
    labels = np.arange(400) % 4 == 0
    model, evaluation = train_and_evaluate(features, labels, np.zeros(400))
    assert model is not None
    assert evaluation.classifier_auc == evaluation.baseline_auc == 0.5
    assert not evaluation.use_classifier
    assert "does not beat" in evaluation.message


def small_frame(n_customers: int) -> pd.DataFrame:
    rng = np.random.default_rng(31)
    return pd.DataFrame(rng.random((n_customers, len(FEATURES))), columns=list(FEATURES))


def test_too_few_customers_is_not_an_error():
    features = small_frame(150)
    labels = np.arange(150) % 2 == 0
    model, evaluation = train_and_evaluate(features, labels, np.zeros(150), min_customers=200)
    assert model is None
    assert not evaluation.use_classifier
    assert "too few customers" in evaluation.message
    assert evaluation.classifier_auc is None
    # The baseline is still scored on everyone: constant scores rank no better than chance.
    assert evaluation.baseline_auc == pytest.approx(0.5)
    assert evaluation.positive_share == 0.5


@pytest.mark.parametrize(("churned", "word"), [(True, "all churned"), (False, "all retained")])
def test_a_single_class_is_not_an_error(churned, word):
    features = small_frame(300)
    labels = np.full(300, churned)
    model, evaluation = train_and_evaluate(features, labels, np.zeros(300))
    assert model is None
    assert not evaluation.use_classifier
    assert "only one class" in evaluation.message and word in evaluation.message


def test_a_tiny_minority_class_is_not_an_error():
    features = small_frame(300)
    labels = np.zeros(300, dtype=bool)
    labels[[3, 77]] = True
    model, evaluation = train_and_evaluate(features, labels, np.zeros(300))
    assert model is None
    assert not evaluation.use_classifier
    assert "smaller class" in evaluation.message


def test_no_customers_at_all():
    model, evaluation = train_and_evaluate(small_frame(0), np.zeros(0, dtype=bool), np.zeros(0))
    assert model is None
    assert evaluation.positive_share is None
    assert "too few customers" in evaluation.message


def test_misaligned_inputs_are_a_caller_error():
    with pytest.raises(ValueError, match="one value per feature row"):
        train_and_evaluate(small_frame(300), np.zeros(299, dtype=bool), np.zeros(300))


def test_as_dict_is_json_ready_and_rounded():
    evaluation = ChurnEvaluation(
        classifier_auc=0.812345678,
        baseline_auc=0.7411111,
        classifier_precision_top10=np.float64(0.5),
        baseline_precision_top10=None,
        use_classifier=np.bool_(True),
        train_customers=np.int64(700),
        test_customers=300,
        positive_share=0.123456,
        feature_importance=[("events_last_30d", 0.123456789), ("recency_days", 0.0)],
        message="classifier AUC 0.812 beats BG/NBD 0.741",
    )
    data = evaluation.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["classifier_auc"] == 0.8123
    assert data["baseline_auc"] == 0.7411
    assert data["baseline_precision_top10"] is None
    assert data["use_classifier"] is True
    assert data["positive_share"] == 0.1235
    assert data["feature_importance"] == [["events_last_30d", 0.1235], ["recency_days", 0.0]]
