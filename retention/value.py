"""Per-customer predictions from fitted BG/NBD and Gamma-Gamma models, and the holdout calibration table.

Pure numpy/pandas (no Django). Definitions of DESIGN.md §4:

- predicted value (12 m) = BG/NBD expected purchases in the next 365 days × Gamma-Gamma expected spend per
  purchase × gross margin, discounted at the organization's annual rate. The year is cut into 12 equal
  steps; each step's expected purchases are discounted from the end of the step, (1 + rate)^-(m / 12), so a
  purchase expected next month weighs more than one expected in eleven months.
- customer value = revenue to date + predicted value (12 m).
"""

# ruff: noqa: N806

from __future__ import annotations

import numpy as np
import pandas as pd

from retention import bgnbd, gammagamma
from retention.bgnbd import BgNbdParams
from retention.gammagamma import GammaGammaParams

HORIZONS_DAYS = (30, 90, 365)
DISCOUNT_STEPS = 12
#: Calibration buckets of the number of repeat purchase days in the calibration period: 0, 1, ..., 6 and 7+.
CALIBRATION_TOP_BUCKET = 7

PREDICTION_COLUMNS = (
    "p_alive",
    "expected_purchases_30",
    "expected_purchases_90",
    "expected_purchases_365",
    "expected_spend",
    "predicted_value",
)


def predict(
    summary: pd.DataFrame,
    bgnbd_params: BgNbdParams | None,
    gg_params: GammaGammaParams | None,
    *,
    gross_margin: float,
    annual_discount_rate: float,
) -> pd.DataFrame:
    """Predictions for every row of a ``retention.summary.customer_summary`` frame (same index).

    Without BG/NBD parameters nothing is predicted (all NaN); without usable Gamma-Gamma parameters the
    purchase forecasts are kept and spend and value are NaN.
    """
    result = pd.DataFrame(index=summary.index, columns=list(PREDICTION_COLUMNS), dtype="float64")
    if bgnbd_params is None or summary.empty:
        return result
    x = summary["frequency"].to_numpy(dtype=np.float64)
    t_x = summary["recency_t_x"].to_numpy(dtype=np.float64)
    T = summary["age_t"].to_numpy(dtype=np.float64)
    result["p_alive"] = bgnbd.probability_alive(bgnbd_params, x, t_x, T)
    for horizon in HORIZONS_DAYS:
        result[f"expected_purchases_{horizon}"] = bgnbd.expected_purchases(bgnbd_params, horizon, x, t_x, T)
    if gg_params is None:
        return result
    mean_value = summary["mean_repeat_value"].to_numpy(dtype=np.float64)
    spend = gammagamma.conditional_expected_spend(gg_params, x, np.where(x > 0, mean_value, 0.0))
    result["expected_spend"] = spend
    discounted_purchases = np.zeros_like(x)
    previous = np.zeros_like(x)
    for step in range(1, DISCOUNT_STEPS + 1):
        cumulative = bgnbd.expected_purchases(bgnbd_params, 365.0 * step / DISCOUNT_STEPS, x, t_x, T)
        discounted_purchases += (cumulative - previous) / (1.0 + annual_discount_rate) ** (step / DISCOUNT_STEPS)
        previous = cumulative
    result["predicted_value"] = discounted_purchases * spend * gross_margin
    return result


def calibration_table(
    frequency_calibration: np.ndarray, predicted_holdout: np.ndarray, actual_holdout: np.ndarray
) -> list[dict[str, float | int | str]]:
    """Mean predicted vs mean actual repeat purchase days in the holdout, by calibration-period frequency.

    The classic BG/NBD check (Fader, Hardie & Lee 2005, figure 4): customers are grouped by how many repeat
    purchase days they had before the holdout; a well-specified model puts both means close in every bucket.
    """
    frequency = np.minimum(np.asarray(frequency_calibration, dtype=np.int64), CALIBRATION_TOP_BUCKET)
    rows = []
    for bucket in range(CALIBRATION_TOP_BUCKET + 1):
        members = frequency == bucket
        count = int(members.sum())
        if not count:
            continue
        rows.append(
            {
                "frequency": f"{bucket}+" if bucket == CALIBRATION_TOP_BUCKET else str(bucket),
                "customers": count,
                "predicted": round(float(np.mean(predicted_holdout[members])), 4),
                "actual": round(float(np.mean(actual_holdout[members])), 4),
            }
        )
    return rows
