"""Celery tasks of the CRM: thin wrappers that take ids and call the import pipeline and the retention purge."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.db import OperationalError

from accounts.models import Organization
from crm.imports.pipeline import import_job_run, import_jobs_discard_unconfirmed, import_jobs_requeue_stale
from crm.models import ImportJob, ImportStatus
from crm.privacy import retention_purge


@shared_task(acks_late=True)
def run_import_job(job_id: int) -> str | None:
    """Run a queued import; a job already finished (a duplicated delivery) is left as it is."""
    job = ImportJob.objects.select_related("organization", "created_by").filter(pk=job_id).first()
    if job is None:
        return None
    if job.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        return job.status
    return import_job_run(job=job).status


@shared_task
def requeue_stale_imports(silent_minutes: int = 10) -> list[int]:
    """From beat: give imports whose worker died a new run, and drop uploads never confirmed within a day."""
    import_jobs_discard_unconfirmed(older_than=datetime.timedelta(days=1))
    return import_jobs_requeue_stale(silent_for=datetime.timedelta(minutes=silent_minutes))


@shared_task(ignore_result=True)
def retention_purge_fanout() -> int:
    """From beat, daily: one purge task per organization (each deletes in bounded batches)."""
    org_ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for org_id in org_ids:
        retention_purge_for_org.delay(org_id)
    return len(org_ids)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def retention_purge_for_org(org_id: int) -> int:
    """Purge one organization's expired events and webhook history; queue itself again while rows remain.

    Safe to run twice: a second run finds nothing older than the cut-off left to delete.
    """
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    outcome = retention_purge(org=org)
    if outcome.more:
        retention_purge_for_org.delay(org_id)
    return outcome.total
