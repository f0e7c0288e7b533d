"""The nightly pipeline runs in a real Celery worker over Redis and writes to the real database."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from reporting.models import JobRun, JobStatus
from reporting.tasks import nightly_for_org
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
    assert job.row_counts == {"data_inventory": 2}  # one customer + the one order placed before March
    assert "reporting.tasks.nightly_for_org" in celery_worker.output()


def test_worker_returns_none_for_a_deleted_organization(org, celery_worker):
    """A task whose organization was deleted meanwhile ends quietly instead of failing forever."""
    missing_id = org.pk + 10_000
    assert nightly_for_org.delay(missing_id, "2026-03-01", "test").get(timeout=60) is None
    assert not JobRun.objects.filter(organization_id=missing_id).exists()
