"""Celery tasks for the nightly pipeline: thin wrappers that take ids and call reporting.nightly."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from accounts.models import Organization
from reporting import nightly


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def nightly_for_org(org_id: int, as_of: str, triggered_by: str = "beat") -> int | None:
    """Run the nightly pipeline for one organization; returns the JobRun id (None if the org is gone)."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return None
    job = nightly.run_nightly(org=org, as_of=datetime.date.fromisoformat(as_of), triggered_by=triggered_by)
    return job.pk


@shared_task
def nightly_fanout() -> list[int]:
    """Hourly from beat: enqueue one run per organization whose nightly hour it is, for its local yesterday."""
    now = timezone.now()
    enqueued = []
    for org in nightly.organizations_due(now=now):
        nightly_for_org.delay(org.pk, nightly.local_yesterday(org, now).isoformat(), "beat")
        enqueued.append(org.pk)
    return enqueued
