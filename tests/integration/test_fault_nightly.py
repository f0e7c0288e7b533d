"""A worker SIGKILLed in the middle of the nightly run: nothing half-written, and after recovery the numbers are
exactly those of an undisturbed run of the same data.

Two organizations get the same simulated data. One is scored undisturbed; the other's run is sent through Redis
to a worker that is killed while the run holds its organization's lock (mid-transaction). The unacknowledged
message comes back to a second worker (acks_late, a short visibility timeout here), which sees that no session
holds the lock any more, marks the dead run "abandoned" and runs the day again.
"""

from __future__ import annotations

import datetime
import time

import pytest

from crm.demo import demo_organization_seed
from crm.demo_data import simulate_demo
from reporting import nightly
from reporting.models import JobRun, JobStatus
from reporting.tasks import nightly_for_org
from segmentation.models import CustomerScore
from tests.integration.conftest import start_celery_worker
from tests.integration.nightly_results import CUSTOMERS, RESULT_MODELS, nightly_lock_held, nightly_results, wait_for

pytestmark = pytest.mark.integration


def test_a_nightly_run_killed_mid_transaction_leaves_nothing_and_its_redelivery_equals_an_undisturbed_run(
    real_services, start_process
):
    from config.celery_app import app

    today = datetime.date.today()
    data = simulate_demo(customers=CUSTOMERS, seed=11, today=today)
    calm = demo_organization_seed(slug="calm", data=data).org
    killed = demo_organization_seed(slug="killed", data=data).org
    as_of = nightly.local_yesterday(calm, datetime.datetime.now(datetime.UTC))
    assert nightly.run_nightly(org=calm, as_of=as_of, triggered_by="test").status == JobStatus.SUCCEEDED

    app.control.purge()
    app.conf.task_always_eager = False
    try:
        first = start_celery_worker(start_process, real_services, "nightly-worker-1")
        nightly_for_org.delay(killed.pk, as_of.isoformat(), "beat")
        wait_for(lambda: nightly_lock_held(killed.pk), timeout=60, what="the run to take its organization's lock")
        time.sleep(0.5)  # into the steps' transaction (the whole run takes seconds)
        first.process.kill()  # SIGKILL: no handler runs, no acknowledgement, the connection just drops
        first.process.wait(timeout=10)

        [dead] = JobRun.objects.for_org(killed)
        assert dead.status == JobStatus.RUNNING  # killed mid-run: it never recorded an outcome
        wait_for(lambda: not nightly_lock_held(killed.pk), timeout=30, what="PostgreSQL to end the dead transaction")
        for model in RESULT_MODELS:  # the run's writes were one transaction: none of them survived
            assert not model.objects.for_org(killed).exists(), model._meta.label

        # A second worker gets the unacknowledged message back once its visibility timeout has passed.
        start_celery_worker(start_process, {**real_services, "CELERY_VISIBILITY_TIMEOUT": "15"}, "nightly-worker-2")
        wait_for(
            lambda: JobRun.objects.for_org(killed).filter(status=JobStatus.SUCCEEDED).exists(),
            timeout=120,
            what="the redelivered run to succeed",
            every=0.5,
        )
    finally:
        app.conf.task_always_eager = True

    history = list(JobRun.objects.for_org(killed).order_by("started_at").values_list("status", "error"))
    assert history == [
        (JobStatus.FAILED, "abandoned: the worker stopped before finishing"),
        (JobStatus.SUCCEEDED, ""),
    ]
    assert nightly_results(killed) == nightly_results(calm)
    assert CustomerScore.objects.for_org(killed).count() == CUSTOMERS
