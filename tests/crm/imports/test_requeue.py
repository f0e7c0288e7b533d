"""Imports a worker should have finished are sent again, and a job runs once however many messages arrive.

A running job's worker counts as alive while its session holds the job's advisory lock (PostgreSQL) or, on
SQLite, while it keeps reporting progress. A confirmed job still queued after the silence period had its message
lost (the broker was down, Redis restarted empty) and is sent again.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Iterator

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.services import Actor
from crm.imports import pipeline
from crm.models import Customer, ImportJob, ImportStatus
from tests.locks import another_session_holds_lock

IMPORTER = Actor(label="test")
LONG_AGO = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SILENCE = datetime.timedelta(minutes=10)


def _job(org, tmp_path, name: str) -> ImportJob:
    path = tmp_path / f"{name}.csv"
    path.write_text(f"external_id\n{name}\n")
    return pipeline.import_job_create(org=org, actor=IMPORTER, kind="customers", source=path, original_filename=name)


@contextlib.contextmanager
def _worker_alive(job: ImportJob) -> Iterator[None]:
    """What a live worker shows: its session holds the job's lock (PostgreSQL), or its progress is fresh."""
    if connection.vendor == "postgresql":
        with another_session_holds_lock(pipeline.IMPORT_LOCK_NAMESPACE, job.pk):
            yield
        return
    cache.set(pipeline.progress_cache_key(job.pk), {"rows": 1, "bytes_read": 1, "bytes_total": 2, "at": time.time()})
    yield


def test_running_jobs_whose_worker_is_gone_are_run_again_and_live_ones_are_left_alone(org, tmp_path):
    alive, dead = _job(org, tmp_path, "ALIVE"), _job(org, tmp_path, "DEAD")
    ImportJob.objects.filter(pk__in=[alive.pk, dead.pk]).update(status=ImportStatus.RUNNING, started_at=LONG_AGO)
    cache.delete(pipeline.progress_cache_key(dead.pk))  # ids are reused between tests; so could a cache entry be

    with _worker_alive(alive):
        requeued = pipeline.import_jobs_requeue_stale(silent_for=SILENCE)

    assert requeued == [dead.pk]
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.status, alive.status) == (ImportStatus.SUCCEEDED, ImportStatus.RUNNING)  # tasks run eagerly here
    assert list(Customer.objects.for_org(org).values_list("external_id", flat=True)) == ["DEAD"]


def test_a_confirmed_job_whose_message_was_lost_is_sent_again_once_per_silence(org, tmp_path, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(pipeline, "import_job_enqueue", sent.append)  # the broker: here, a list
    lost, fresh, unconfirmed = _job(org, tmp_path, "LOST"), _job(org, tmp_path, "FRESH"), _job(org, tmp_path, "NEW")
    ImportJob.objects.filter(pk=lost.pk).update(started_at=LONG_AGO, updated_at=LONG_AGO)
    ImportJob.objects.filter(pk=fresh.pk).update(started_at=timezone.now())

    assert pipeline.import_jobs_requeue_stale(silent_for=SILENCE) == [lost.pk]
    assert pipeline.import_jobs_requeue_stale(silent_for=SILENCE) == []  # not again until another silence
    assert sent == [lost.pk]
    assert ImportJob.objects.get(pk=unconfirmed.pk).status == ImportStatus.QUEUED  # a preview waits for its person


def test_a_second_message_for_a_job_finds_it_claimed_and_changes_nothing(org, tmp_path):
    job = _job(org, tmp_path, "ONCE")
    first = pipeline.import_job_run(job=ImportJob.objects.get(pk=job.pk))
    assert first.status == ImportStatus.SUCCEEDED
    finished_at = first.finished_at

    again = pipeline.import_job_run(job=ImportJob.objects.get(pk=job.pk))

    assert (again.status, again.finished_at, again.rows_created) == (ImportStatus.SUCCEEDED, finished_at, 1)
    running = _job(org, tmp_path, "BUSY")
    ImportJob.objects.filter(pk=running.pk).update(status=ImportStatus.RUNNING, started_at=LONG_AGO)
    assert pipeline.import_job_run(job=ImportJob.objects.get(pk=running.pk)).status == ImportStatus.RUNNING
    assert not Customer.objects.for_org(org).filter(external_id="BUSY").exists()


def test_confirming_while_the_broker_is_down_keeps_the_job_queued_for_the_sweep(
    org, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    from crm import tasks

    tried: list[int] = []

    def broker_down(job_id):
        tried.append(job_id)
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(tasks.run_import_job, "delay", broker_down)
    job = _job(org, tmp_path, "LATER")

    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.import_job_confirm(job=job) is True  # the failure to queue is logged, not raised
    assert pipeline.import_job_confirm(job=job) is False
    assert tried == [job.pk]
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED and job.started_at is not None


def test_a_job_that_kills_its_worker_every_time_is_given_up_after_a_few_restarts(org, tmp_path, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(pipeline, "import_job_enqueue", sent.append)
    job = _job(org, tmp_path, "HUGE")
    cache.delete(pipeline.progress_cache_key(job.pk))
    for restart in range(1, pipeline.MAX_RESTARTS + 1):
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, started_at=LONG_AGO)
        assert pipeline.import_jobs_requeue_stale(silent_for=SILENCE) == [job.pk]
        assert ImportJob.objects.get(pk=job.pk).options["restarts"] == restart

    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, started_at=LONG_AGO)
    assert pipeline.import_jobs_requeue_stale(silent_for=SILENCE) == []

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "stopped 4 times" in job.error
    assert len(sent) == pipeline.MAX_RESTARTS


def test_a_run_whose_job_another_session_holds_leaves_it_alone(org, tmp_path):
    if connection.vendor != "postgresql":
        return  # the lock is PostgreSQL's; on SQLite the claim alone keeps a job to one run (tested above)
    job = _job(org, tmp_path, "HELD")
    with another_session_holds_lock(pipeline.IMPORT_LOCK_NAMESPACE, job.pk):
        ran = pipeline.import_job_run(job=ImportJob.objects.get(pk=job.pk))
    assert ran.status == ImportStatus.RUNNING  # claimed, then left to the lock's holder: no rows, no outcome
    assert not Customer.objects.for_org(org).filter(external_id="HELD").exists()


def test_an_outcome_is_not_saved_over_another_workers_claim(org, tmp_path, monkeypatch):
    """The sweep handed the job to a second worker while the first was only slow: the first saves nothing."""
    job = _job(org, tmp_path, "SLOW")
    real_rows = pipeline._rows

    def rows_then_lose_the_claim(job, *args, **kwargs):
        real_rows(job, *args, **kwargs)
        ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() + datetime.timedelta(seconds=1))

    monkeypatch.setattr(pipeline, "_rows", rows_then_lose_the_claim)
    pipeline.import_job_run(job=ImportJob.objects.get(pk=job.pk))

    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.RUNNING  # the second worker's to finish
    assert not Customer.objects.for_org(org).filter(external_id="SLOW").exists()  # the first one's rows rolled back
