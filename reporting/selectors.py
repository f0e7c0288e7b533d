"""Reads of the nightly results for the report pages, the API and the scheduler."""

from __future__ import annotations

import datetime
from collections.abc import Collection

from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from accounts.models import Organization
from crm.models import Channel
from reporting.kpis import KPI_DEFINITIONS
from reporting.models import NIGHTLY, Alert, ChannelMetric, CohortCell, JobRun, JobStatus, KpiSnapshot, MetricPeriod


def job_runs_list(*, org: Organization, status: str = "") -> QuerySet[JobRun]:
    runs = JobRun.objects.for_org(org)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-started_at", "-id")


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
