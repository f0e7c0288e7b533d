"""Lifecycle stages as of a date, churn flags and stage changes, on arrays (no Django).

The caller aggregates orders into purchase days first: a purchase day is a distinct calendar day, in the
organization's time zone, with at least one order on or before the as-of date t. Per customer the inputs are

- ``first_purchase_day_age``: days from the first purchase day to t (NaN for a customer with no purchase);
- ``last_purchase_day_age``: days from the last purchase day to t (NaN for a customer with no purchase);
- ``purchase_days``: the number of purchase days;
- ``comeback_day_age``: days from the latest *comeback* to t, NaN if the customer never lapsed. A comeback is a
  purchase day that follows a gap of more than the churn window since the purchase day before it: the customer
  had churned and bought again.

Stages (DESIGN.md §4), tested in this order, the first that holds wins:

=============  =======================================================================================
acquired       no purchase day on or before t
churned        last purchase day more than ``churn_window_days`` before t (t - last > window)
reactivated    not churned, and the latest comeback (a purchase day after a lapse longer than the churn
               window) is at most ``churn_window_days`` before t
activated      exactly one purchase day, not churned
growing        two or more purchase days, tenure (t - first purchase day) under 365 days
mature         two or more purchase days, tenure of 365 days or more
=============  =======================================================================================

Decisions, and why:

- "activated" covers every customer with exactly one purchase day who is not yet churned, however long ago that
  day was. DESIGN.md describes activated as one purchase day "within the activation window", but a customer
  whose single purchase day is older than the activation window and younger than the churn window would then
  have no stage at all; calling them growing or mature would claim a repeat purchase that never happened. The
  organization's activation window is therefore not a stage rule: it measures the activation rate (a first
  purchase within N days of becoming a contact), which needs the contact's creation date and lives with the
  KPIs. For that reason :func:`lifecycle_stages` takes no activation window.
- Boundaries are inclusive on the staying side: exactly ``churn_window_days`` since the last purchase day is not
  yet churned, and a gap of exactly the window is not a lapse; tenure of exactly 365 days is mature.
- "reactivated" lasts one churn window from the comeback ("bought again after being churned, within the churn
  window", DESIGN.md §4): a won-back customer who keeps buying returns to growing or mature after that, so the
  stage counts recent win-backs, not everyone who ever lapsed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ACQUIRED = "acquired"
ACTIVATED = "activated"
GROWING = "growing"
MATURE = "mature"
CHURNED = "churned"
REACTIVATED = "reactivated"

STAGES: tuple[str, ...] = (ACQUIRED, ACTIVATED, GROWING, MATURE, CHURNED, REACTIVATED)
"""Stage codes in lifecycle order."""

NO_STAGE = ""
"""Stands for "no earlier stage known" in :func:`stage_transitions`."""

MATURE_TENURE_DAYS = 365

_STAGE_DTYPE = np.dtype(f"<U{max(len(code) for code in STAGES)}")


def _check_window(name: str, days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ValueError(f"{name} must be a whole number of days, at least 1, got {days!r}.")


def churned_flags(last_purchase_day_age: npt.ArrayLike, churn_window_days: int) -> npt.NDArray[np.bool_]:
    """True where the last purchase day is more than ``churn_window_days`` before the as-of date.

    A customer with no purchase (NaN age) is never churned: they were never active. Exactly
    ``churn_window_days`` days is not churned yet.
    """
    _check_window("churn_window_days", churn_window_days)
    ages = np.asarray(last_purchase_day_age, dtype=np.float64)
    return np.greater(ages, churn_window_days, where=~np.isnan(ages), out=np.zeros(ages.shape, dtype=bool))


def _validate_purchase_history(
    first_age: npt.NDArray[np.float64],
    last_age: npt.NDArray[np.float64],
    purchase_days: npt.NDArray[np.float64],
    comeback_age: npt.NDArray[np.float64],
) -> None:
    """Reject inputs that cannot come from a real purchase history, so a bad aggregate fails loudly."""
    shapes = {first_age.shape, last_age.shape, purchase_days.shape, comeback_age.shape}
    if len(shapes) != 1 or first_age.ndim != 1:
        raise ValueError(
            "first_purchase_day_age, last_purchase_day_age, purchase_days and comeback_day_age must be "
            f"one-dimensional and of the same length, got shapes {sorted(shapes)}."
        )
    if not np.all((purchase_days >= 0) & (np.mod(purchase_days, 1) == 0)):
        raise ValueError("purchase_days must hold whole numbers, 0 or more.")
    has_purchase = purchase_days > 0
    if np.any(np.isnan(first_age) == has_purchase) or np.any(np.isnan(last_age) == has_purchase):
        raise ValueError(
            "first_purchase_day_age and last_purchase_day_age must be NaN exactly where purchase_days is 0."
        )
    first, last, comeback = first_age[has_purchase], last_age[has_purchase], comeback_age[has_purchase]
    if np.any(last < 0) or np.any(last > first):
        raise ValueError(
            "purchase day ages must satisfy 0 <= last_purchase_day_age <= first_purchase_day_age; "
            "count only purchase days on or before the as-of date."
        )
    came_back = ~np.isnan(comeback)
    if np.any(came_back & ((comeback < last) | (comeback >= first))) or np.any(~np.isnan(comeback_age[~has_purchase])):
        raise ValueError(
            "comeback_day_age must be NaN or between last_purchase_day_age and first_purchase_day_age "
            "(a comeback is a purchase day after the first)."
        )
    if np.any((purchase_days[has_purchase] == 1) & (first != last)):
        raise ValueError("a customer with one purchase day must have equal first and last purchase day ages.")


def lifecycle_stages(
    first_purchase_day_age: npt.ArrayLike,
    last_purchase_day_age: npt.ArrayLike,
    purchase_days: npt.ArrayLike,
    comeback_day_age: npt.ArrayLike,
    *,
    churn_window_days: int,
) -> npt.NDArray[np.str_]:
    """Stage code per customer as of the date the ages are measured from, by the rules in the module docstring.

    Raises ``ValueError`` for arrays of different shapes, a churn window under one day, or a purchase history
    that cannot be real (ages NaN where purchase_days > 0 or set where it is 0, negative ages, a last purchase
    day before the first, a comeback outside the span between first and last purchase day).
    """
    _check_window("churn_window_days", churn_window_days)
    first_age = np.asarray(first_purchase_day_age, dtype=np.float64)
    last_age = np.asarray(last_purchase_day_age, dtype=np.float64)
    day_counts = np.asarray(purchase_days, dtype=np.float64)
    comeback_age = np.asarray(comeback_day_age, dtype=np.float64)
    _validate_purchase_history(first_age, last_age, day_counts, comeback_age)

    has_purchase = day_counts > 0
    conditions = [
        ~has_purchase,
        churned_flags(last_age, churn_window_days),
        has_purchase
        & np.less_equal(
            comeback_age, churn_window_days, where=~np.isnan(comeback_age), out=np.zeros(comeback_age.shape, bool)
        ),
        day_counts == 1,
        first_age < MATURE_TENURE_DAYS,
    ]
    choices = [ACQUIRED, CHURNED, REACTIVATED, ACTIVATED, GROWING]
    return np.select(conditions, choices, default=MATURE).astype(_STAGE_DTYPE)


def stage_transitions(previous_stages: npt.ArrayLike, current_stages: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Row indices where a customer's stage changed between two aligned arrays of stage codes.

    ``previous_stages`` uses ``""`` for a customer with no earlier stage (new since the last run); going from
    ``""`` to any stage counts as a change, so a new customer's first stage is reported too. Select
    ``previous_stages[i] != ""`` to keep only moves between stages. Raises ``ValueError`` for arrays of
    different shapes or an unknown stage code.
    """
    previous = np.asarray(previous_stages, dtype=str)
    current = np.asarray(current_stages, dtype=str)
    if previous.ndim != 1 or previous.shape != current.shape:
        raise ValueError(
            "previous_stages and current_stages must be one-dimensional and of the same length, got shapes "
            f"{previous.shape} and {current.shape}."
        )
    known = np.array((*STAGES, NO_STAGE))
    for name, stages in (("previous_stages", previous), ("current_stages", current)):
        unknown = np.setdiff1d(stages, known)
        if unknown.size:
            raise ValueError(f"{name} holds unknown stage codes: {', '.join(map(repr, unknown.tolist()))}.")
    return np.flatnonzero(previous != current)
