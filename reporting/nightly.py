"""The nightly orchestrator: runs each app's step for one organization "as of" a date, recording a JobRun.

Steps are plain functions ``(org, as_of) -> rows`` that later capabilities add to ``NIGHTLY_STEPS`` (scores,
channel metrics, KPI snapshots, cohorts, alerts, segment sizes). The orchestrator owns the bookkeeping:
timings, row counts, failure capture, and the guarantee that two runs for one organization never overlap.
"""

from __future__ import annotations

import datetime
import logging
import time
import traceback
import zoneinfo
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organization
from crm.models import Customer, Order, OrderStatus
from reporting.models import JobRun, JobStatus

logger = logging.getLogger(__name__)

NightlyStep = Callable[[Organization, datetime.date], int]

#: First key of the PostgreSQL advisory lock (the second is the organization id).
NIGHTLY_LOCK_NAMESPACE = 7301


class NightlyAlreadyRunningError(Exception):
    """Another nightly run holds this organization's lock."""


def end_of_day(org: Organization, as_of: datetime.date) -> datetime.datetime:
    """The first instant after ``as_of`` in the organization's time zone: data before it counts."""
    tz = zoneinfo.ZoneInfo(org.time_zone)
    return datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)


def step_data_inventory(org: Organization, as_of: datetime.date) -> int:
    """Count the customers and completed orders known on ``as_of``: the input every later step reads."""
    cutoff = end_of_day(org, as_of)
    customers = Customer.objects.for_org(org).filter(created_at__lt=cutoff).count()
    orders = Order.objects.for_org(org).filter(ordered_at__lt=cutoff, status=OrderStatus.COMPLETED).count()
    return customers + orders


NIGHTLY_STEPS: list[tuple[str, NightlyStep]] = [
    ("data_inventory", step_data_inventory),
]


def _lock_organization(org: Organization) -> None:
    """Hold a transaction-scoped advisory lock for the organization on PostgreSQL, or fail at once.

    SQLite serialises writers itself, so there the lock is a no-op.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [NIGHTLY_LOCK_NAMESPACE, org.pk])
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise NightlyAlreadyRunningError(f"a nightly run for organization {org.slug} is already in progress")


def run_nightly(
    *,
    org: Organization,
    as_of: datetime.date,
    triggered_by: str = "system",
    progress: Callable[[str], None] | None = None,
) -> JobRun:
    """Run every nightly step for ``org`` as of ``as_of``; the steps' writes commit together or not at all."""
    job = JobRun.objects.create(organization=org, as_of=as_of, triggered_by=triggered_by)
    try:
        with transaction.atomic():
            _lock_organization(org)
            for name, step in NIGHTLY_STEPS:
                if progress:
                    progress(name)
                started = time.perf_counter()
                rows = step(org, as_of)
                job.step_seconds[name] = round(time.perf_counter() - started, 4)
                job.row_counts[name] = rows
    except NightlyAlreadyRunningError as exc:
        job.status = JobStatus.SKIPPED
        job.error = str(exc)
    except Exception:
        logger.exception("nightly run failed for organization %s as of %s", org.slug, as_of)
        job.status = JobStatus.FAILED
        job.error = traceback.format_exc(limit=20)
    else:
        job.status = JobStatus.SUCCEEDED
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "step_seconds", "row_counts", "error"])
    return job


def organizations_due(*, now: datetime.datetime) -> list[Organization]:
    """Organizations whose chosen nightly hour, in their own time zone, is the hour of ``now``."""
    due = []
    for org in Organization.objects.all().only("id", "time_zone", "nightly_hour", "slug"):
        local = now.astimezone(zoneinfo.ZoneInfo(org.time_zone))
        if local.hour == org.nightly_hour:
            due.append(org)
    return due


def local_yesterday(org: Organization, now: datetime.datetime) -> datetime.date:
    """The last complete day in the organization's time zone: what a run at ``now`` scores."""
    return now.astimezone(zoneinfo.ZoneInfo(org.time_zone)).date() - datetime.timedelta(days=1)
