"""The "Customers and value" page: RFM grid, tier pyramid with the playbook, stage flow, value distribution.

Everything comes from the night's ``CustomerMixSnapshot`` (one row), so the page costs the same at any number
of customers; the API ``/api/v1/customer-mix/`` serves the same row, and the page shows the same numbers.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from accounts.decorators import organization_required
from accounts.permissions import MARKETING_WRITERS
from reporting import selectors
from reporting.charts import chart, series
from segmentation.models import Stage, Tier

#: The tier playbook (DESIGN.md §1), one line per tier; the drafts it starts are campaigns.services.TIER_PLAYBOOK.
PLAYBOOK_ACTIONS = {
    Tier.HIGH: gettext_lazy("Exclusive service: an owner and one-to-one follow-up."),
    Tier.MID: gettext_lazy("Repurchase incentives: a reason to come back sooner."),
    Tier.POTENTIAL: gettext_lazy("Helpful content that builds the habit, no discount."),
}

#: How strongly the busiest RFM cell is shaded; lighter cells scale down from it (text stays readable).
HEAT_MAX = 0.75


def _rfm_rows(grid: dict) -> list[dict]:
    """Rows recency 5 → 1, each with its five frequency cells and a background strength from the count."""
    cells = grid.get("cells", [])
    busiest = max((cell["customers"] for cell in cells), default=0) or 1
    rows = []
    for r_score in (5, 4, 3, 2, 1):
        row_cells = [
            dict(cell, heat=f"{cell['customers'] / busiest * HEAT_MAX:.3f}") for cell in cells if cell["r"] == r_score
        ]
        rows.append({"r": r_score, "cells": sorted(row_cells, key=lambda cell: cell["f"])})
    return rows


def _tier_rows(tiers: list[dict], can_start_campaigns: bool) -> list[dict]:
    labels = dict(Tier.choices)
    rows = []
    for row in tiers:
        share = row.get("customer_share") or 0.0
        rows.append(
            {
                **row,
                "label": labels.get(row["tier"], row["tier"]),
                "action": PLAYBOOK_ACTIONS.get(row["tier"], ""),
                # The pyramid's width: the tier's share of customers, never so narrow that the text spills.
                "width": f"{max(share, 0.0) * 60 + 40:.1f}",
                "campaign_url": f"{reverse('campaigns:campaign-create')}?tier={row['tier']}"
                if can_start_campaigns
                else "",
            }
        )
    return rows


def _stage_chart(flow: dict) -> dict:
    months = flow.get("months", [])
    labels = dict(Stage.choices)
    return chart(
        "bar",
        title=_("Customers per lifecycle stage at each month-end"),
        labels=[month["month_end"] for month in months],
        series_list=[
            series(labels.get(code, code), [month["counts"].get(code, 0) for month in months])
            for code in flow.get("stages", [])
        ],
        x_label=_("Month-end"),
        y_label=_("Customers"),
        stacked=True,
    )


def _transition_table(flow: dict) -> dict | None:
    """The latest month's moves as a matrix: rows = stage at the month-end before, columns = stage now."""
    months = flow.get("months", [])
    if not months:
        return None
    latest = months[-1]
    stages = flow.get("stages", [])
    labels = dict(Stage.choices)
    counts = {(move["from"], move["to"]): move["customers"] for move in latest["transitions"]}
    rows = []
    for source in [*stages, ""]:
        cells = [counts.get((source, target), 0) for target in stages]
        if source == "" and not any(cells):
            continue
        rows.append(
            {
                "code": source or "new",
                "label": labels.get(source, source) if source else _("New contact"),
                "cells": cells,
                "total": sum(cells),
            }
        )
    previous = months[-2]["month_end"] if len(months) > 1 else None
    return {
        "month_end": latest["month_end"],
        "previous": previous,
        "columns": [labels.get(code, code) for code in stages],
        "rows": rows,
    }


def _edge(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0")


def _value_chart(bins: list[dict], currency: str) -> dict:
    return chart(
        "bar",
        title=_("Customers by customer value"),
        labels=[f"{_edge(one['low'])}–{_edge(one['high'])}" for one in bins],
        series_list=[series(_("Customers"), [one["customers"] for one in bins])],
        x_label=_("Customer value (%(currency)s)") % {"currency": currency},
        y_label=_("Customers"),
    )


@require_safe
@organization_required
def customer_value(request: HttpRequest) -> HttpResponse:
    org = request.organization
    snapshot = selectors.latest_customer_mix(org=org)
    context: dict = {"snapshot": snapshot}
    if snapshot is not None:
        can_start_campaigns = getattr(request, "membership", None) is not None and (
            request.membership.role in MARKETING_WRITERS
        )
        flow = snapshot.stage_flow or {}
        context.update(
            {
                "rfm_rows": _rfm_rows(snapshot.rfm_grid or {}),
                "rfm_total": snapshot.rfm_grid or {},
                "tiers": _tier_rows(snapshot.tiers or [], can_start_campaigns),
                "can_start_campaigns": can_start_campaigns,
                "stage_chart": _stage_chart(flow) if flow.get("months") else None,
                "transitions": _transition_table(flow),
                "value_chart": _value_chart(snapshot.value_bins, org.currency) if snapshot.value_bins else None,
                "value_bins": snapshot.value_bins,
            }
        )
    return render(request, "reporting/customer_value.html", context)
