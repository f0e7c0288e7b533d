"""Beat, a worker and the nightly engine together on Redis and PostgreSQL: nobody calls the task by hand.

Beat checks every minute here (``NIGHTLY_FANOUT_MINUTE="*"``, the hourly default is minute 5); the fanout finds
the organization due (its nightly hour has passed, no run for its yesterday yet), the worker runs the whole
pipeline, and the scores, KPI snapshot and model report are there. A second fanout a minute later must not run
the same night again.
"""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from reporting.models import NIGHTLY, JobRun, JobStatus, KpiSnapshot
from retention.models import ClvModelReport
from segmentation.models import CustomerScore
from tests.factories import CustomerFactory, OrderFactory
from tests.integration.conftest import start_celery_beat

pytestmark = pytest.mark.integration


def test_beat_starts_the_nightly_run_and_the_worker_scores_the_organization(
    org, real_services, start_process, celery_worker
):
    org.time_zone = "UTC"
    org.nightly_hour = 0
    org.save(update_fields=["time_zone", "nightly_hour"])
    now = timezone.now()
    for number in range(12):
        customer = CustomerFactory(
            organization=org, external_id=f"BEAT-{number}", created_at=now - datetime.timedelta(days=400)
        )
        for days_ago in range(10 + number, 360, 45 + 5 * number):
            OrderFactory(customer=customer, ordered_at=now - datetime.timedelta(days=days_ago), amount=Decimal("25"))

    beat = start_celery_beat(
        start_process, {**real_services, "NIGHTLY_FANOUT_MINUTE": "*"}, celery_worker.log_path.parent
    )

    yesterday = (now.astimezone(datetime.UTC) - datetime.timedelta(days=1)).date()
    deadline = time.monotonic() + 150
    job = None
    while time.monotonic() < deadline:
        job = JobRun.objects.for_org(org).filter(kind=NIGHTLY, triggered_by="beat").first()
        if job is not None and job.status != JobStatus.RUNNING:
            break
        time.sleep(1)
    assert job is not None, f"beat never started a run:\n{beat.output()[-3000:]}\n{celery_worker.output()[-3000:]}"
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.as_of == yesterday
    assert CustomerScore.objects.for_org(org).count() == 12
    assert KpiSnapshot.objects.for_org(org).filter(day=yesterday).exists()
    assert ClvModelReport.objects.for_org(org).filter(as_of=yesterday).exists()

    # The next minute's fanout finds the day covered and starts nothing.
    beat_sent = beat.output().count("reporting.tasks.nightly_fanout")
    deadline = time.monotonic() + 75
    while time.monotonic() < deadline and beat.output().count("reporting.tasks.nightly_fanout") == beat_sent:
        time.sleep(1)
    time.sleep(3)
    assert JobRun.objects.for_org(org).filter(kind=NIGHTLY).count() == 1
