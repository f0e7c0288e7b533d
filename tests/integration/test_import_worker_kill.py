"""A worker killed in the middle of an import leaves none of the job's rows; the job is run again and finishes."""

from __future__ import annotations

import datetime
import os
import signal
import time

import pytest
from django.core.cache import cache

from accounts.services import Actor
from crm.imports.pipeline import import_job_create, import_jobs_requeue_stale, progress_cache_key
from crm.models import Customer, ImportJob, ImportStatus
from crm.tasks import run_import_job
from tests.integration.conftest import start_celery_worker

pytestmark = pytest.mark.integration

ROWS = 200_000


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_import_rolls_back_and_the_requeued_job_imports_everything(org, real_services, start_process, tmp_path):
    from config.celery_app import app

    source = tmp_path / "customers.csv"
    with source.open("w") as handle:
        handle.write("external_id,name,email\n")
        handle.writelines(f"K{i:07d},Customer {i},k{i}@example.com\n" for i in range(ROWS))
    job = import_job_create(
        org=org, actor=Actor(label="test"), kind="customers", source=source, original_filename="big.csv"
    )
    app.control.purge()
    app.conf.task_always_eager = False
    try:
        first = start_celery_worker(start_process, real_services, "import-worker-1")
        cache.delete(progress_cache_key(job.pk))  # test databases reuse ids; Redis may remember an old job's
        run_import_job.delay(job.pk)
        _wait_for(
            lambda: (
                (cache.get(progress_cache_key(job.pk)) or {}).get("rows", 0) >= 20_000
                and ImportJob.objects.get(pk=job.pk).status == ImportStatus.RUNNING
            ),
            120,
            "import progress",
        )

        # Alive: its transaction holds the job's lock, so the sweep leaves it alone however silent it looks.
        assert import_jobs_requeue_stale(silent_for=datetime.timedelta(0)) == []
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)

        assert Customer.objects.for_org(org).count() == 0  # the job's transaction died with the worker
        assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.RUNNING

        # Known dead once PostgreSQL has ended the killed worker's session, and with it the job's lock.
        _wait_for(
            lambda: import_jobs_requeue_stale(silent_for=datetime.timedelta(0)) == [job.pk],
            30,
            "the job to be re-queued",
        )
        start_celery_worker(start_process, real_services, "import-worker-2")
        _wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED),
            180,
            "the re-queued import to finish",
        )
    finally:
        app.conf.task_always_eager = True
        app.control.purge()

    job.refresh_from_db()
    assert (job.status, job.rows_total, job.rows_created) == (ImportStatus.SUCCEEDED, ROWS, ROWS)
    assert Customer.objects.for_org(org).count() == ROWS
