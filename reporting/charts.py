"""Chart descriptions for the report pages, drawn in the browser by Chart.js (served from ``static/vendor``).

A view builds a chart with :func:`chart` and passes it to ``reporting/includes/chart.html``, which writes the
description as JSON next to a canvas, and always a table view of the same numbers: a chart that only some
readers can see is not a report. ``static/charts.js`` turns the description into a Chart.js configuration with
one accessible palette (Okabe-Ito, safe for the common colour-vision deficiencies) and the page's locale for the
axis numbers, so no page writes Chart.js options of its own.

The description is plain data (no Django objects): numbers become floats, undefined values ``None`` (a gap in a
line, a missing point), which keeps it JSON and lets tests compare it with the API's numbers.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

ChartKind = Literal["line", "bar", "scatter"]
Unit = Literal["number", "money", "percent", "ratio", "months"]

PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe-Ito colours, in the order series use them."""


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal | int | float):
        number = float(value)
        # NaN and infinities are "undefined", not numbers (and JSON has no spelling for them).
        return number if math.isfinite(number) else None
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def series(label: str, data: Iterable[Any], *, dashed: bool = False, kind: ChartKind | None = None) -> dict:
    """One line, bar group or point cloud; scatter points are ``{"x", "y", "label"}`` dicts."""
    points = []
    for item in data:
        if isinstance(item, dict):
            points.append({key: _plain(value) for key, value in item.items()})
        else:
            points.append(_plain(item))
    described = {"label": str(label), "data": points, "dashed": dashed}
    if kind:
        described["kind"] = kind
    return described


def chart(
    kind: ChartKind,
    *,
    title: str,
    series_list: Sequence[dict],
    labels: Sequence[Any] = (),
    x_label: str = "",
    y_label: str = "",
    x_unit: Unit = "number",
    y_unit: Unit = "number",
    stacked: bool = False,
    currency: str = "",
    guides: Sequence[dict] = (),
) -> dict:
    """Describe one chart; ``guides`` are reference lines ``{"axis": "x"|"y", "value", "label"}``.

    ``labels`` are the categories of a line or bar chart (months, days, stages); a scatter chart has none, its
    points carry their own label.
    """
    return {
        "kind": kind,
        "title": str(title),
        "labels": [_plain(label) if not isinstance(label, str) else label for label in labels],
        "series": list(series_list),
        "x_label": str(x_label),
        "y_label": str(y_label),
        "x_unit": x_unit,
        "y_unit": y_unit,
        "stacked": stacked,
        "currency": currency,
        "guides": [
            {**guide, "value": _plain(guide["value"]), "label": str(guide.get("label", ""))} for guide in guides
        ],
        "palette": list(PALETTE),
    }


def table_rows(described: dict) -> tuple[list[str], list[list[Any]]]:
    """The chart's numbers as a table (header, rows) for its table view."""
    if described["kind"] == "scatter":
        header = ["", described["x_label"], described["y_label"]]
        rows = []
        for one in described["series"]:
            for point in one["data"]:
                rows.append([point.get("label") or one["label"], point.get("x"), point.get("y")])
        return header, rows
    header = [described["x_label"]] + [one["label"] for one in described["series"]]
    rows = [
        [label] + [one["data"][index] if index < len(one["data"]) else None for one in described["series"]]
        for index, label in enumerate(described["labels"])
    ]
    return header, rows
