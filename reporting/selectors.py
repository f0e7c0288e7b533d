"""Reads of nightly job history for the Jobs page, the API and the scheduler."""

from __future__ import annotations

import datetime
from collections.abc import Collection

from django.db.models import Q, QuerySet

from accounts.models import Organization
from reporting.models import NIGHTLY, JobRun, JobStatus


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
