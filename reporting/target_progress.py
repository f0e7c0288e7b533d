"""How far a SMART target has come, as plain numbers (no Django), so the rule can be read and tested alone.

A target runs from a baseline value on its baseline date to a target value by its deadline.

- **progress** is the share of the way from the baseline to the target that the current value has covered:
  ``(current - baseline) / (target - baseline)``. 0 is the baseline, 1 (100%) the target; below 0 the KPI has
  moved away from the target, above 1 it has gone past it. The formula is the same whether higher or lower is
  better, because the target itself says which way is forward.
- **expected progress** is the share of the time from the baseline date to the deadline that has passed on the
  day of the current value (linear in time, from 0 to 1; 1 from the deadline on).
- **status**, with the progress and the expected progress in percentage points:

  =========  ==================================================================================================
  achieved   the current value has reached the target (progress at least 100%)
  on track   progress at most 10 points behind the expected progress (``ON_TRACK_TOLERANCE``)
  at risk    progress more than 10 and at most 25 points behind (``AT_RISK_TOLERANCE``)
  off track  progress more than 25 points behind, or the deadline has passed and the target was not reached
  no data    the KPI has no current value (no snapshot yet, or undefined for the period)
  =========  ==================================================================================================

  Being a little behind a straight line is normal for KPIs that move in steps, hence the 10-point tolerance
  before a target is flagged; 25 points behind means the pace must roughly double to make the deadline.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

ON_TRACK_TOLERANCE = 0.10
"""Largest shortfall of progress behind the expected progress that still counts as on track."""

AT_RISK_TOLERANCE = 0.25
"""Largest shortfall that counts as at risk; beyond it a target is off track."""

ACHIEVED = "achieved"
ON_TRACK = "on_track"
AT_RISK = "at_risk"
OFF_TRACK = "off_track"
NO_DATA = "no_data"


@dataclass(frozen=True)
class Progress:
    current: float | None
    """The KPI's value on ``as_of``; None when there is none."""
    as_of: datetime.date | None
    """The day of the current value."""
    progress: float | None
    """Share of the way from the baseline to the target (see the module docstring); None without a current value."""
    expected: float
    """Share of the time from the baseline date to the deadline passed on ``as_of``, 0 to 1."""
    status: str


def expected_progress(*, baseline_date: datetime.date, deadline: datetime.date, as_of: datetime.date) -> float:
    """Linear in time: 0 on (or before) the baseline date, 1 on (or after) the deadline."""
    total = (deadline - baseline_date).days
    if total <= 0:
        return 1.0
    elapsed = (as_of - baseline_date).days
    return min(max(elapsed / total, 0.0), 1.0)


def target_progress(
    *,
    baseline: float,
    target: float,
    current: float | None,
    baseline_date: datetime.date,
    deadline: datetime.date,
    as_of: datetime.date | None,
) -> Progress:
    """The progress, expected progress and status of one target, by the rules of the module docstring."""
    if current is None or as_of is None or target == baseline:
        expected = expected_progress(baseline_date=baseline_date, deadline=deadline, as_of=as_of) if as_of else 0.0
        return Progress(current=current, as_of=as_of, progress=None, expected=expected, status=NO_DATA)
    progress = (float(current) - float(baseline)) / (float(target) - float(baseline))
    expected = expected_progress(baseline_date=baseline_date, deadline=deadline, as_of=as_of)
    behind = expected - progress
    if progress >= 1.0:
        status = ACHIEVED
    elif as_of > deadline:
        status = OFF_TRACK
    elif behind <= ON_TRACK_TOLERANCE + 1e-12:
        status = ON_TRACK
    elif behind <= AT_RISK_TOLERANCE + 1e-12:
        status = AT_RISK
    else:
        status = OFF_TRACK
    return Progress(current=float(current), as_of=as_of, progress=progress, expected=expected, status=status)
