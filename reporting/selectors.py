"""Reads of the nightly results for the report pages, the API and the scheduler."""

from __future__ import annotations

import datetime
from collections.abc import Collection

from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext

from accounts.models import Organization
from crm.models import Channel
from reporting.kpis import KPI_DEFINITIONS
from reporting.models import (
    NIGHTLY,
    Alert,
    ChannelMetric,
    CohortCell,
    CustomerMixSnapshot,
    JobRun,
    JobStatus,
    KpiSnapshot,
    MetricPeriod,
    Target,
)
from reporting.target_progress import Progress, target_progress


def job_runs_list(*, org: Organization, status: str = "") -> QuerySet[JobRun]:
    runs = JobRun.objects.for_org(org)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-started_at", "-id")


def nightly_last_success_by_org() -> dict[int, datetime.datetime | None]:
    """When each organization's latest successful nightly run finished (None: it has runs, none succeeded).

    Across every organization on purpose: the readiness probe watches the platform, and only ids and times
    leave this function. Organizations that never had a nightly run are not in the result.
    """
    rows = (
        JobRun.objects.filter(kind=NIGHTLY)
        .order_by()
        .values("organization_id")
        .annotate(last_success=Max("finished_at", filter=Q(status=JobStatus.SUCCEEDED)))
    )
    return {row["organization_id"]: row["last_success"] for row in rows}


def nightly_days_covered(
    *, org_ids: Collection[int], days: Collection[datetime.date], running_since: datetime.datetime
) -> set[tuple[int, datetime.date]]:
    """``(organization id, as-of day)`` pairs that need no new nightly run.

    A pair is covered by a run that succeeded, or by one still running that started at or after
    ``running_since`` (an older "running" row belongs to a worker that died). The scheduler asks for many
    organizations at once, so this one read spans organizations by id instead of going through ``for_org``.
    """
    if not org_ids or not days:
        return set()
    covering = Q(status=JobStatus.SUCCEEDED) | Q(status=JobStatus.RUNNING, started_at__gte=running_since)
    pairs = (
        JobRun.objects.filter(organization_id__in=org_ids, as_of__in=days, kind=NIGHTLY)
        .filter(covering)
        .values_list("organization_id", "as_of")
        .distinct()
    )
    return set(pairs)


def latest_kpi_snapshot(*, org: Organization) -> KpiSnapshot | None:
    return KpiSnapshot.objects.for_org(org).order_by("-day").first()


def kpi_history(*, org: Organization, until: datetime.date, days: int) -> list[KpiSnapshot]:
    """The snapshots of the ``days`` days up to ``until``, oldest first (for trends)."""
    since = until - datetime.timedelta(days=days - 1)
    return list(KpiSnapshot.objects.for_org(org).filter(day__gte=since, day__lte=until).order_by("day"))


def channel_metrics_list(*, org: Organization, period: str, months: int = 6) -> list[ChannelMetric]:
    """The trailing-90-day row of every channel, or its last ``months`` calendar months."""
    metrics = ChannelMetric.objects.for_org(org).filter(period=period).select_related("channel")
    if period == MetricPeriod.MONTH:
        starts = list(metrics.values_list("period_start", flat=True).distinct().order_by("-period_start")[:months])
        metrics = metrics.filter(period_start__in=starts)
        return list(metrics.order_by("channel__name", "-period_start"))
    return list(metrics.order_by("-spend", "channel__name"))


def cohort_matrix(*, org: Organization, channel: Channel | None) -> list[dict]:
    """Rows of ``{"month", "size", "cells": [CohortCell, ...]}`` ordered by acquisition month."""
    cells = CohortCell.objects.for_org(org)
    cells = cells.filter(channel=channel) if channel is not None else cells.filter(channel__isnull=True)
    rows: dict[datetime.date, dict] = {}
    for cell in cells.order_by("cohort_month", "months_since"):
        row = rows.setdefault(cell.cohort_month, {"month": cell.cohort_month, "size": cell.cohort_size, "cells": []})
        row["cells"].append(cell)
    return list(rows.values())


def alerts_list(*, org: Organization, only_open: bool) -> QuerySet[Alert]:
    alerts = Alert.objects.for_org(org).select_related("acknowledged_by")
    if only_open:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    return alerts.order_by("-raised_on", "-id")


def kpi_definitions() -> list[dict]:
    """Every KPI of a snapshot, with its exact definition (``reporting/kpis.py``) and the at-risk count."""
    rows = [
        {
            "code": kpi.code,
            "label": gettext(kpi.label),
            "unit": kpi.unit,
            "definition": gettext(kpi.definition),
            "higher_is_better": kpi.higher_is_better,
        }
        for kpi in KPI_DEFINITIONS
    ]
    rows.append(
        {
            "code": "at_risk_customers",
            "label": gettext("At-risk customers"),
            "unit": "count",
            "definition": gettext(
                "Customers not churned whose churn probability is at least the organization's at-risk threshold, "
                "as of the day."
            ),
            "higher_is_better": False,
        }
    )
    rows.append(
        {
            "code": "csat_mean_score",
            "label": gettext("CSAT (mean score)"),
            "unit": "score",
            "definition": gettext(
                "Mean raw score of the CSAT answers given in the 30 days ending on the as-of date, on the surveys' "
                "own scale (CSAT is the same answers as a share of each survey's maximum)."
            ),
            "higher_is_better": True,
        }
    )
    return rows


# Targets and the executive overview ---------------------------------------------------------------------------


def targets_list(*, org: Organization) -> QuerySet[Target]:
    return Target.objects.for_org(org).select_related("owner").order_by("deadline", "id")


def target_progress_of(*, target: Target, snapshot: KpiSnapshot | None) -> Progress:
    """The target against ``snapshot`` (the latest, as a rule): see ``reporting/target_progress.py``."""
    current = snapshot.values.get(target.metric) if snapshot is not None else None
    return target_progress(
        baseline=float(target.baseline_value),
        target=float(target.target_value),
        current=None if current is None else float(current),
        baseline_date=target.baseline_date,
        deadline=target.deadline,
        as_of=snapshot.day if snapshot is not None else None,
    )


def targets_with_progress(*, org: Organization, snapshot: KpiSnapshot | None = None) -> list[tuple[Target, Progress]]:
    """Every target of the organization with its progress, against one snapshot read once (the latest by default)."""
    if snapshot is None:
        snapshot = latest_kpi_snapshot(org=org)
    return [(target, target_progress_of(target=target, snapshot=snapshot)) for target in targets_list(org=org)]


def kpi_snapshots_between(*, org: Organization, first_day: datetime.date, last_day: datetime.date) -> list[KpiSnapshot]:
    """The snapshots from ``first_day`` to ``last_day`` inclusive, oldest first."""
    snapshots = KpiSnapshot.objects.for_org(org).filter(day__gte=first_day, day__lte=last_day)
    return list(snapshots.order_by("day"))


def kpi_snapshot_on_or_before(*, org: Organization, day: datetime.date) -> KpiSnapshot | None:
    return KpiSnapshot.objects.for_org(org).filter(day__lte=day).order_by("-day").first()


def kpi_movers(*, current: dict, previous: dict, limit: int = 6) -> list[dict]:
    """The KPIs that moved most between two snapshots' values, by relative change, largest first.

    The relative change is ``(now - before) / |before|``; a KPI undefined on either day, or zero before (no
    relative change exists), is left out, and so is one that did not move. ``good`` says whether the move is
    the right way for the KPI (down is good for churn and CAC).
    """
    movers = []
    for kpi in KPI_DEFINITIONS:
        now, before = current.get(kpi.code), previous.get(kpi.code)
        if now is None or before is None or before == 0 or now == before:
            continue
        relative = (float(now) - float(before)) / abs(float(before))
        movers.append(
            {
                "code": kpi.code,
                "kpi": kpi,
                "now": now,
                "before": before,
                "relative": relative,
                "good": (relative > 0) == kpi.higher_is_better,
            }
        )
    movers.sort(key=lambda mover: (-abs(mover["relative"]), mover["code"]))
    return movers[:limit]


def channel_metrics_of(*, org: Organization, channel: Channel, months: int = 12) -> dict:
    """One channel's trailing-90-day row and its last ``months`` calendar months (newest first)."""
    metrics = ChannelMetric.objects.for_org(org).filter(channel=channel)
    return {
        "trailing": metrics.filter(period=MetricPeriod.TRAILING_90).order_by("-as_of").first(),
        "months": list(metrics.filter(period=MetricPeriod.MONTH).order_by("-period_start")[:months]),
    }


def latest_customer_mix(*, org: Organization) -> CustomerMixSnapshot | None:
    """The customer mix of the organization's latest night, or None before the first run."""
    return CustomerMixSnapshot.objects.for_org(org).order_by("-as_of").first()


def score_breakdown_of_night(*, org: Organization, as_of: datetime.date | None) -> dict | None:
    """Customers and value per tier and per stage from the customer mix of the night the scores belong to.

    None when that night has no snapshot (scores written by a run that stored no mix): the caller counts live.
    """
    if as_of is None:
        return None
    snapshot = CustomerMixSnapshot.objects.for_org(org).filter(as_of=as_of).only("score_breakdown").first()
    breakdown = snapshot.score_breakdown if snapshot else None
    return breakdown if breakdown and "tier" in breakdown and "stage" in breakdown else None


def known_score_count(breakdown: dict | None, *, tier: str, stage: str, other_filters: bool) -> int | None:
    """How many scores the list shows, from the night's breakdown, when the filters allow (else None: count)."""
    if breakdown is None or other_filters or (tier and stage):
        return None
    if tier:
        return sum(row["customers"] for row in breakdown["tier"] if row["tier"] == tier)
    if stage:
        return sum(row["customers"] for row in breakdown["stage"] if row["stage"] == stage)
    return sum(row["customers"] for row in breakdown["tier"])


def known_at_risk_count(breakdown: dict | None, *, tier: str, min_value, owner: str) -> int | None:
    """How many customers the at-risk list shows, from the night's breakdown, when only the tier narrows it."""
    if breakdown is None or "at_risk" not in breakdown or min_value is not None or owner:
        return None
    return sum(row["customers"] for row in breakdown["at_risk"] if not tier or row["tier"] == tier)
