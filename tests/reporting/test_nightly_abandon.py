"""A nightly run whose worker died is closed as "abandoned", so the day can run again.

On PostgreSQL the run's organization lock tells at once whether its worker is alive (the lock goes with the
dead worker's connection); elsewhere only the hard time limit does.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from reporting import nightly
from reporting.models import JobRun, JobStatus
from reporting.tasks import nightly_for_org
from tests.locks import another_session_holds_lock

ABANDONED = "abandoned: the worker stopped before finishing"


def _running(org, *, seconds_ago: float) -> JobRun:
    return JobRun.objects.create(
        organization=org,
        as_of=datetime.date(2026, 3, 1),
        status=JobStatus.RUNNING,
        started_at=timezone.now() - datetime.timedelta(seconds=seconds_ago),
    )


def test_a_run_older_than_the_hard_time_limit_is_abandoned_unless_its_lock_says_it_lives(org, other_org):
    old = _running(org, seconds_ago=settings.CELERY_TASK_TIME_LIMIT + 60)
    elsewhere = _running(other_org, seconds_ago=settings.CELERY_TASK_TIME_LIMIT + 60)

    if connection.vendor == "postgresql":
        # A long ``manage.py run_nightly`` (no Celery time limit) still holds its lock: alive, whatever its age.
        with another_session_holds_lock(nightly.NIGHTLY_LOCK_NAMESPACE, org.pk):
            assert nightly.abandon_stale_runs(org=org, now=timezone.now()) == 0
    assert nightly.abandon_stale_runs(org=org, now=timezone.now()) == 1

    old.refresh_from_db()
    assert (old.status, old.error) == (JobStatus.FAILED, ABANDONED)
    assert JobRun.objects.get(pk=elsewhere.pk).status == JobStatus.RUNNING  # another organization's business


def test_a_run_whose_lock_nobody_holds_is_known_dead_at_once_on_postgresql(org):
    dead = _running(org, seconds_ago=1)
    now = timezone.now()
    if connection.vendor != "postgresql":
        # No lock to read: the run only counts as dead once it has outlived the time limit.
        assert nightly.abandon_stale_runs(org=org, now=now) == 0
        return

    with another_session_holds_lock(nightly.NIGHTLY_LOCK_NAMESPACE, org.pk):
        assert nightly.abandon_stale_runs(org=org, now=now) == 0  # its worker is alive and holds the lock
    assert nightly.abandon_stale_runs(now=now) == 1  # the worker's session ended: the lock went with it
    dead.refresh_from_db()
    assert (dead.status, dead.error) == (JobStatus.FAILED, ABANDONED)


def test_beat_redelivering_a_dead_run_runs_the_day_again(org):
    # On PostgreSQL a second-old run without its lock is dead already; elsewhere only the time limit tells.
    seconds_ago = 1 if connection.vendor == "postgresql" else settings.CELERY_TASK_TIME_LIMIT + 60
    dead = _running(org, seconds_ago=seconds_ago)

    job_id = nightly_for_org(org.pk, "2026-03-01", "beat")

    assert job_id is not None and job_id != dead.pk
    assert JobRun.objects.get(pk=job_id).status == JobStatus.SUCCEEDED
    assert JobRun.objects.get(pk=dead.pk).status == JobStatus.FAILED


def test_a_campaign_claiming_under_the_frequency_cap_does_not_hold_the_nightly_lock(org):
    """The two locks once shared a namespace: a capped send then made the nightly skip its day."""
    from campaigns.services import CAP_LOCK_CLASS

    assert CAP_LOCK_CLASS != nightly.NIGHTLY_LOCK_NAMESPACE
    if connection.vendor != "postgresql":
        return
    with another_session_holds_lock(CAP_LOCK_CLASS, org.pk):
        assert nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1)).status == JobStatus.SUCCEEDED
