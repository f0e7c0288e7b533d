"""Celery tasks of the CRM: thin wrappers that take ids and call the import pipeline."""

from __future__ import annotations

import datetime

from celery import shared_task

from crm.imports.pipeline import import_job_run, import_jobs_discard_unconfirmed, import_jobs_requeue_stale
from crm.models import ImportJob, ImportStatus


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
