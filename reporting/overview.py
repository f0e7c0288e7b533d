"""What the executive overview shows, built from the precomputed tables only (KPI snapshots, targets, channel
metrics): never an aggregate over orders, so the page costs the same for a shop of a hundred customers or a
million.

Every KPI of a snapshot covers the 30 days ending on the snapshot's day. The chosen period (30, 90 or 365 days, or
a date range) selects which snapshots the sparklines and the history table show, and what a tile's change compares:
the figure on the period's last day against the same figure on the day before the period began (with 30 days, the
30 days just before). Snapshots are per organization, not per channel, so the channel filter narrows only the
channel figures, which the nightly run does keep per channel.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts.permissions import ADMINS
from crm.models import Channel
from reporting import selectors
from reporting.kpis import KPI_BY_CODE
from reporting.models import KpiSnapshot, TargetStatus
from reporting.target_progress import AT_RISK_TOLERANCE, ON_TRACK_TOLERANCE
from reporting.templatetags.custops_format import money, percent

PERIODS = (30, 90, 365)
"""The period choices, in days; ``range`` takes ``from`` and ``to``."""

MAX_RANGE_DAYS = 3 * 366
"""The longest date range the page draws (a sparkline of more than three years of nights says little more)."""

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 150, 34, 3

#: KPIs whose change reads best as a difference in points (shares: percentage points; NPS: points) rather than
#: as a relative change.
POINT_UNITS = {"share", "score"}


@dataclass(frozen=True)
class Period:
    choice: str
    """``"30"``, ``"90"``, ``"365"`` or ``"range"``."""
    first_day: datetime.date
    last_day: datetime.date
    error: str = ""

    @property
    def compare_day(self) -> datetime.date:
        """The day the period's figures are compared with: the day before the period began."""
        return self.first_day - datetime.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def _date(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def period_from_query(query, latest_day: datetime.date) -> Period:
    """The period the query asks for, ending no later than the latest snapshot; 30 days when it asks for nothing
    valid (with the reason in ``error``)."""
    choice = query.get("period", "30")
    if choice == "range":
        first, last = _date(query.get("from", "")), _date(query.get("to", ""))
        error = ""
        if first is None or last is None:
            error = _("Give both dates of the range as YYYY-MM-DD.")
        elif first >= last:
            error = _("The range must start before it ends.")
        elif (last - first).days >= MAX_RANGE_DAYS:
            error = _("Choose a range of at most three years.")
        if not error:
            return Period("range", first, min(last, latest_day))
        return Period("30", latest_day - datetime.timedelta(days=29), latest_day, error=error)
    days = int(choice) if choice in {str(days) for days in PERIODS} else 30
    return Period(str(days), latest_day - datetime.timedelta(days=days - 1), latest_day)


def format_value(value, unit: str) -> str:
    """A KPI value as its tile shows it (``reporting/includes/kpi_value.html`` in Python, for text alternatives)."""
    if value is None:
        return "—"
    if unit == "share":
        return percent(value)
    if unit == "money":
        return money(value)
    if unit == "ratio":
        return f"{float(value):.2f}×"
    if unit == "score":
        return f"{float(value):.1f}"
    return f"{float(value):,.0f}"


def change_of(now, before, *, unit: str, higher_is_better: bool) -> dict | None:
    """The change from ``before`` to ``now``: its text, and whether it is the right way for the KPI."""
    if now is None or before is None:
        return None
    difference = float(now) - float(before)
    if unit in POINT_UNITS:
        points = difference * 100 if unit == "share" else difference
        text = _("%(points)s pts") % {"points": f"{points:+.1f}"}
    elif before:
        text = f"{difference / abs(float(before)) * 100:+.1f}%"
    else:
        text = _("from 0")
    if difference == 0:
        return {"text": text, "direction": "flat", "good": None}
    return {"text": text, "direction": "up" if difference > 0 else "down", "good": (difference > 0) == higher_is_better}


def sparkline(days: list[datetime.date], values: list, *, label: str, unit: str) -> dict | None:
    """Geometry of an inline SVG sparkline of one KPI over the period, and its text alternative.

    Nights without a value (an undefined KPI) are left out of the line; with fewer than two values there is no
    line to draw.
    """
    points = [(day, float(value)) for day, value in zip(days, values, strict=True) if value is not None]
    if len(points) < 2:
        return None
    first_day, last_day = points[0][0], points[-1][0]
    span_days = max((last_day - first_day).days, 1)
    low = min(value for _day, value in points)
    high = max(value for _day, value in points)
    spread = (high - low) or 1.0
    inner_width, inner_height = SPARK_WIDTH - 2 * SPARK_PAD, SPARK_HEIGHT - 2 * SPARK_PAD
    coordinates = [
        (
            SPARK_PAD + (day - first_day).days / span_days * inner_width,
            SPARK_PAD + (1 - (value - low) / spread) * inner_height,
        )
        for day, value in points
    ]
    return {
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
        "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates),
        "end": (f"{coordinates[-1][0]:.1f}", f"{coordinates[-1][1]:.1f}"),
        "label": _(
            "%(kpi)s, %(count)s nights from %(first)s to %(last)s: lowest %(low)s, highest %(high)s, latest %(latest)s."
        )
        % {
            "kpi": label,
            "count": len(points),
            "first": first_day.isoformat(),
            "last": last_day.isoformat(),
            "low": format_value(low, unit),
            "high": format_value(high, unit),
            "latest": format_value(points[-1][1], unit),
        },
    }


def _tiles(
    codes, *, definitions: dict, current: KpiSnapshot, previous: KpiSnapshot | None, history: list[KpiSnapshot]
) -> list[dict]:
    days = [snapshot.day for snapshot in history]
    tiles = []
    for code in codes:
        if code not in definitions:
            continue
        row = definitions[code]
        value = current.values.get(code)
        before = previous.values.get(code) if previous is not None else None
        tiles.append(
            {
                **row,
                "value": value,
                "before": before,
                "change": change_of(value, before, unit=row["unit"], higher_is_better=row["higher_is_better"]),
                "spark": sparkline(
                    days, [snapshot.values.get(code) for snapshot in history], label=row["label"], unit=row["unit"]
                ),
            }
        )
    return tiles


def _targets(org, snapshot: KpiSnapshot | None) -> list[dict]:
    rows = []
    for target, progress in selectors.targets_with_progress(org=org, snapshot=snapshot):
        kpi = KPI_BY_CODE.get(target.metric)
        unit = kpi.unit if kpi is not None else "count"
        rows.append(
            {
                "target": target,
                "progress": progress,
                "kpi": kpi,
                "unit": unit,
                "status_label": TargetStatus(progress.status).label,
                "bar_percent": f"{min(max(progress.progress or 0.0, 0.0), 1.0) * 100:.1f}",
                "expected_percent": f"{progress.expected * 100:.1f}",
                "progress_percent": "" if progress.progress is None else str(round(progress.progress * 100)),
                # Below zero the figure moved the wrong way since the baseline: "-369% of the way" reads as noise.
                "moving_away": progress.progress is not None and progress.progress < 0,
            }
        )
    return rows


def overview_context(request: HttpRequest, *, groups: tuple[tuple[str, ...], ...]) -> dict:
    """Everything the overview template shows; ``groups[0]`` are the headline tiles (with sparklines)."""
    org = request.organization
    snapshot = selectors.latest_kpi_snapshot(org=org)
    channels = list(Channel.objects.for_org(org).order_by("name"))
    channel = next((c for c in channels if c.code == request.GET.get("channel", "")), None)
    context = {
        "snapshot": snapshot,
        "can_edit_targets": request.membership.role in ADMINS,
        "channels": channels,
        "channel": channel,
        "periods": PERIODS,
        "on_track_points": round(ON_TRACK_TOLERANCE * 100),
        "at_risk_points": round(AT_RISK_TOLERANCE * 100),
    }
    if snapshot is None:
        context["targets"] = _targets(org, None)
        return context
    definitions = {row["code"]: row for row in selectors.kpi_definitions()}
    period = period_from_query(request.GET, snapshot.day)
    current = selectors.kpi_snapshot_on_or_before(org=org, day=period.last_day) or snapshot
    previous = selectors.kpi_snapshot_on_or_before(org=org, day=period.compare_day)
    history = selectors.kpi_snapshots_between(org=org, first_day=period.first_day, last_day=period.last_day)
    headline, *others = groups
    movers = selectors.kpi_movers(current=current.values, previous=previous.values) if previous else []
    for mover in movers:
        mover["label"] = definitions[mover["code"]]["label"]
        mover["now_text"] = format_value(mover["now"], mover["kpi"].unit)
        mover["before_text"] = format_value(mover["before"], mover["kpi"].unit)
        mover["relative_text"] = f"{mover['relative'] * 100:+.1f}%"
    context.update(
        {
            "period": period,
            "current": current,
            "previous": previous,
            "headline": _tiles(headline, definitions=definitions, current=current, previous=previous, history=history),
            "groups": [
                _tiles(codes, definitions=definitions, current=current, previous=previous, history=[])
                for codes in others
            ],
            "history": history,
            "movers": movers,
            "targets": _targets(org, snapshot),
            "definitions": definitions.values(),
            "channel_metrics": selectors.channel_metrics_of(org=org, channel=channel) if channel else None,
        }
    )
    return context
