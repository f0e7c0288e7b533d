"""The nightly pipeline runs in a real Celery worker over Redis and writes to the real database."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from reporting.models import JobRun, JobStatus
from reporting.tasks import nightly_fanout, nightly_for_org
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.integration


def test_worker_runs_nightly_task_and_records_job(org, celery_worker):
    """A task sent through Redis is executed by the worker, which records a succeeded JobRun with its counts."""
    customer = CustomerFactory(organization=org, created_at=datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC))
    OrderFactory(customer=customer, ordered_at=datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC), amount=Decimal("10"))
    OrderFactory(customer=customer, ordered_at=datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC), amount=Decimal("20"))

    job_id = nightly_for_org.delay(org.pk, "2026-03-01", "test").get(timeout=60)

    job = JobRun.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.as_of == datetime.date(2026, 3, 1)
    assert job.row_counts["read"] == 2  # one customer + the one purchase day before March
    assert "reporting.tasks.nightly_for_org" in celery_worker.output()


def test_worker_returns_none_for_a_deleted_organization(org, celery_worker):
    """A task whose organization was deleted meanwhile ends quietly instead of failing forever."""
    missing_id = org.pk + 10_000
    assert nightly_for_org.delay(missing_id, "2026-03-01", "test").get(timeout=60) is None
    assert not JobRun.objects.filter(organization_id=missing_id).exists()


def test_worker_marks_a_run_left_behind_by_a_killed_worker_as_abandoned(org, celery_worker):
    """A "running" row older than the hard time limit (its worker was killed) is closed by the next run."""
    started = timezone.now() - datetime.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    orphan = JobRun.objects.create(
        organization=org, as_of=datetime.date(2026, 2, 28), status=JobStatus.RUNNING, started_at=started
    )

    job_id = nightly_for_org.delay(org.pk, "2026-03-01", "test").get(timeout=60)

    orphan.refresh_from_db()
    assert orphan.status == JobStatus.FAILED
    assert orphan.error == "abandoned: the worker stopped before finishing"
    assert JobRun.objects.get(pk=job_id).status == JobStatus.SUCCEEDED


def test_worker_runs_the_fanout_and_the_runs_it_enqueues(org, celery_worker):
    """Beat's hourly message, sent through Redis with its expiry, leads to one run for the due organization."""
    org.nightly_hour = 0  # due at any hour of the day
    org.save(update_fields=["nightly_hour"])
    yesterday = timezone.now().astimezone(datetime.UTC).date() - datetime.timedelta(days=1)

    assert nightly_fanout.apply_async(expires=3600).get(timeout=60) == [org.pk]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = JobRun.objects.for_org(org).exclude(status=JobStatus.RUNNING).first()
        if job is not None:
            break
        time.sleep(0.2)
    assert job is not None, celery_worker.output()[-4000:]
    assert (job.as_of, job.status, job.triggered_by) == (yesterday, JobStatus.SUCCEEDED, "beat")
