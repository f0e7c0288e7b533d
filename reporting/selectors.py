"""Reads of nightly job history for the Jobs page and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Organization
from reporting.models import JobRun


def job_runs_list(*, org: Organization, status: str = "") -> QuerySet[JobRun]:
    runs = JobRun.objects.for_org(org)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-started_at", "-id")


def last_successful_run(*, org: Organization) -> JobRun | None:
    return JobRun.objects.for_org(org).filter(status="succeeded").order_by("-finished_at").first()
