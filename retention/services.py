"""The nightly lifetime-value and churn models for one organization: fit, predict, report.

Reads the frames of ``retention.selectors``, fits BG/NBD and Gamma-Gamma (``retention/bgnbd.py``,
``retention/gammagamma.py``), checks them on a holdout period, trains the churn classifier on a time split
(``retention/churn.py``) and stores one ``ClvModelReport`` per (organization, as_of). Everything here is
deterministic: the same data and as-of day give the same parameters, scores and report.

A fit that does not converge is reported and never used: the scores fall back on the organization's last
converged fit (status "kept previous"); with none to fall back on, lifetime values are left empty that night.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.timekeeping import day_number
from retention import bgnbd, churn, gammagamma
from retention.bgnbd import BgNbdParams
from retention.gammagamma import GammaGammaParams
from retention.lifecycle import churned_flags
from retention.models import ChurnModelKind, ClvModelReport, FitStatus, RetentionTrend
from retention.retention_trend import compute_retention_trend
from retention.summary import customer_summary
from retention.value import calibration_table, predict

logger = logging.getLogger(__name__)

#: Fewer buyers or repeat buyers than this and the models are not fitted (nothing they say would be reliable).
MIN_BUYERS = 20
MIN_REPEATERS = 5


@dataclass
class RetentionOutcome:
    """The night's per-customer summary with predictions and churn columns, and the stored report."""

    report: ClvModelReport
    #: Index customer_id; columns of ``customer_summary`` + ``retention.value.PREDICTION_COLUMNS`` +
    #: ``churned`` and ``churn_probability``.
    customers: pd.DataFrame


def _enough_data(summary: pd.DataFrame) -> bool:
    return len(summary) >= MIN_BUYERS and int((summary["frequency"] > 0).sum()) >= MIN_REPEATERS


def _fit_bgnbd(summary: pd.DataFrame) -> bgnbd.FitResult | None:
    if not _enough_data(summary):
        return None
    return bgnbd.fit(
        summary["frequency"].to_numpy(np.float64),
        summary["recency_t_x"].to_numpy(np.float64),
        summary["age_t"].to_numpy(np.float64),
    )


def _fit_gamma_gamma(summary: pd.DataFrame) -> gammagamma.FitResult | None:
    repeaters = summary[(summary["frequency"] > 0) & (summary["mean_repeat_value"] > 0)]
    if len(repeaters) < MIN_REPEATERS:
        return None
    return gammagamma.fit(
        repeaters["frequency"].to_numpy(np.float64), repeaters["mean_repeat_value"].to_numpy(np.float64)
    )


def _previous_report(org: Organization, as_of: datetime.date, flag: str) -> ClvModelReport | None:
    """The latest earlier report whose fit converged (and, for Gamma-Gamma, has a finite mean spend: q > 1)."""
    usable = {flag: True, "gg_q__gt": 1} if flag == "gg_converged" else {flag: True}
    return ClvModelReport.objects.for_org(org).filter(as_of__lt=as_of, **usable).order_by("-as_of").first()


def _choose_parameters(
    org: Organization, as_of: datetime.date, fit_bg, fit_gg
) -> tuple[BgNbdParams | None, GammaGammaParams | None, str, list[str]]:
    """This night's parameters if they converged, else the last converged ones; the status and notes say which."""
    notes: list[str] = []
    bg_params = gg_params = None
    status = FitStatus.FITTED
    if fit_bg is None:
        notes.append(f"BG/NBD not fitted: fewer than {MIN_BUYERS} buyers or {MIN_REPEATERS} repeat buyers.")
        status = FitStatus.INSUFFICIENT_DATA
    elif fit_bg.converged:
        bg_params = fit_bg.params
    else:
        notes.append(f"BG/NBD did not converge: {fit_bg.message}")
        previous = _previous_report(org, as_of, "bgnbd_converged")
        if previous is not None:
            bg_params = BgNbdParams(previous.bgnbd_r, previous.bgnbd_alpha, previous.bgnbd_a, previous.bgnbd_b)
            notes.append(f"Scores use the BG/NBD fit of {previous.as_of.isoformat()}.")
            status = FitStatus.KEPT_PREVIOUS
        else:
            status = FitStatus.NOT_CONVERGED
    if fit_gg is None:
        notes.append(f"Gamma-Gamma not fitted: fewer than {MIN_REPEATERS} repeat buyers with spend.")
    elif fit_gg.converged and fit_gg.params.q > 1:
        gg_params = fit_gg.params
    else:
        reason = fit_gg.message if not fit_gg.converged else "q <= 1 (mean spend is not finite under the model)"
        notes.append(f"Gamma-Gamma not usable: {reason}")
        previous = _previous_report(org, as_of, "gg_converged")
        if previous is not None:
            gg_params = GammaGammaParams(previous.gg_p, previous.gg_q, previous.gg_v)
            notes.append(f"Spend uses the Gamma-Gamma fit of {previous.as_of.isoformat()}.")
            if status == FitStatus.FITTED:
                status = FitStatus.KEPT_PREVIOUS
        elif status == FitStatus.FITTED:
            status = FitStatus.NOT_CONVERGED
    return bg_params, gg_params, status, notes


def _holdout_check(
    purchase_days: pd.DataFrame,
    event_days: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    as_of: int,
    window: int,
    current: pd.DataFrame,
) -> tuple[list, dict, np.ndarray | None]:
    """Refit as of ``as_of - window``; compare its forecast with what happened, and train the churn classifier.

    Returns the calibration table, the churn evaluation (JSON) and, when the classifier beat the BG/NBD
    baseline, its churn probabilities for the customers of ``current`` (else None).
    """
    cutoff = as_of - window
    past = customer_summary(purchase_days, as_of=cutoff, churn_window_days=window)
    fit_past = _fit_bgnbd(past)
    if fit_past is None or not fit_past.converged:
        reason = "too little data before the holdout" if fit_past is None else fit_past.message
        return [], {"message": f"No holdout check: {reason}."}, None
    params = fit_past.params
    x, t_x, age = (past[name].to_numpy(np.float64) for name in ("frequency", "recency_t_x", "age_t"))
    later = purchase_days[(purchase_days["day"] > cutoff) & (purchase_days["day"] <= as_of)]
    actual = later.groupby("customer_id").size().reindex(past.index, fill_value=0).to_numpy(np.float64)
    predicted = bgnbd.expected_purchases(params, float(window), x, t_x, age)
    calibration = calibration_table(past["frequency"].to_numpy(), predicted, actual)

    # Churn on the same split: customers active at the cutoff; churned = no purchase day in the next window.
    active = ~churned_flags((cutoff - past["last_day"]).to_numpy(np.float64), window)
    active_ids = past.index.to_numpy()[active]
    baseline = bgnbd.probability_no_purchase(params, float(window), x[active], t_x[active], age[active])
    features = churn.build_features(purchase_days, event_days, feedback, cutoff=cutoff).reindex(active_ids)
    labels = churn.churn_labels(purchase_days, active_ids, cutoff=cutoff, window_days=window)
    model, evaluation = churn.train_and_evaluate(features, labels, baseline)
    result = evaluation.as_dict()
    result["cutoff"] = int(cutoff)
    result["window_days"] = int(window)
    if model is None or not evaluation.use_classifier:
        return calibration, result, None
    now_features = churn.build_features(purchase_days, event_days, feedback, cutoff=as_of).reindex(current.index)
    return calibration, result, churn.predict_churn(model, now_features)


def retention_models_refresh(
    *,
    org: Organization,
    as_of: datetime.date,
    purchase_days: pd.DataFrame,
    event_days: pd.DataFrame,
    feedback: pd.DataFrame,
) -> RetentionOutcome:
    """Fit, predict and report for ``org`` as of ``as_of``; the report is saved in the caller's transaction."""
    today = day_number(as_of)
    window = int(org.churn_window_days)
    summary = customer_summary(purchase_days, as_of=today, churn_window_days=window)
    started = time.perf_counter()
    fit_bg = _fit_bgnbd(summary)
    fit_gg = _fit_gamma_gamma(summary)
    fit_seconds = time.perf_counter() - started
    bg_params, gg_params, status, notes = _choose_parameters(org, as_of, fit_bg, fit_gg)

    predictions = predict(
        summary,
        bg_params,
        gg_params,
        gross_margin=float(org.gross_margin),
        annual_discount_rate=float(org.annual_discount_rate),
    )
    customers = summary.join(predictions)
    customers["churned"] = churned_flags((today - customers["last_day"]).to_numpy(np.float64), window)

    calibration, evaluation, classifier_scores = _holdout_check(
        purchase_days, event_days, feedback, as_of=today, window=window, current=customers
    )
    if classifier_scores is not None:
        probability = classifier_scores
        churn_model = ChurnModelKind.GRADIENT_BOOSTING
    elif bg_params is not None:
        probability = bgnbd.probability_no_purchase(
            bg_params,
            float(window),
            customers["frequency"].to_numpy(np.float64),
            customers["recency_t_x"].to_numpy(np.float64),
            customers["age_t"].to_numpy(np.float64),
        )
        churn_model = ChurnModelKind.BGNBD
    else:
        probability = np.full(len(customers), np.nan)
        churn_model = ChurnModelKind.BGNBD
    customers["churn_probability"] = np.where(customers["churned"].to_numpy(), np.nan, probability)

    report_fields = {
        "created_at": timezone.now(),
        "status": status,
        "message": " ".join(notes),
        "customers": len(summary),
        "repeaters": int((summary["frequency"] > 0).sum()),
        "compressed_rows": fit_bg.rows if fit_bg else 0,
        "fit_seconds": round(fit_seconds, 4),
        "calibration": {"holdout_days": window, "buckets": calibration},
        "churn_model": churn_model,
        "churn_evaluation": evaluation,
        **_fit_fields("bgnbd", fit_bg, ("r", "alpha", "a", "b")),
        **_fit_fields("gg", fit_gg, ("p", "q", "v")),
    }
    with transaction.atomic():
        report, _ = ClvModelReport.objects.update_or_create(organization=org, as_of=as_of, defaults=report_fields)
    return RetentionOutcome(report=report, customers=customers)


def _fit_fields(prefix: str, fit, names: tuple[str, ...]) -> dict:
    if fit is None:
        return {f"{prefix}_{name}": None for name in names} | {
            f"{prefix}_log_likelihood": None,
            f"{prefix}_converged": False,
        }
    values = fit.params.as_dict()
    return {f"{prefix}_{name}": float(values[name]) for name in names} | {
        f"{prefix}_log_likelihood": float(fit.log_likelihood),
        f"{prefix}_converged": bool(fit.converged),
    }


def retention_trend_refresh(
    *, org: Organization, as_of: datetime.date, purchase_days: pd.DataFrame, event_days: pd.DataFrame
) -> RetentionTrend:
    """Compute the night's monthly churn and D1/D7/D30 history and store it for ``as_of`` (replacing a replay's)."""
    window = int(org.churn_window_days)
    trend = compute_retention_trend(
        as_of=day_number(as_of),
        purchase_days=purchase_days[["customer_id", "day"]],
        event_days=event_days[["customer_id", "day"]],
        churn_window_days=window,
    )
    stored, _created = RetentionTrend.objects.update_or_create(
        organization=org,
        as_of=as_of,
        defaults={
            "churn_window_days": window,
            "churn": trend["churn"],
            "first_event_retention": trend["first_event_retention"],
            "created_at": timezone.now(),
        },
    )
    return stored
