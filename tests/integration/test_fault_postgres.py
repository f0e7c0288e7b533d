"""PostgreSQL restarts while the nightly run is in its transaction: the run is retried and its numbers are exact.

The database server is stopped (fast mode: every session ended, every open transaction rolled back), kept down
for a few seconds and started again, while a worker is in the middle of one organization's nightly run. The run
fails with a retryable database error, Celery retries it on a new connection once the server is back, and the
result equals an undisturbed run of the same data in another organization.

This restarts the server the whole suite uses (a Debian cluster, as CI has), so it runs only under CI=true or with
CUSTOPS_RESTART_POSTGRES=1, as root, where ``pg_ctlcluster`` works; under CI=true a missing cluster is a failure.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection

from reporting import nightly
from reporting.models import JobRun, JobStatus
from reporting.tasks import nightly_for_org
from segmentation.models import CustomerScore
from tests.integration.conftest import require, start_celery_worker
from tests.integration.nightly_results import CUSTOMERS, nightly_lock_held, nightly_results, wait_for

pytestmark = pytest.mark.integration

DOWN_SECONDS = 5


def _cluster() -> tuple[str, str] | None:
    """The Debian cluster (version, name) listening on this test's port, if this process may restart it."""
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0 or not Path("/etc/postgresql").is_dir():
        return None
    port = str(connection.settings_dict["PORT"] or 5432)
    for conf in sorted(Path("/etc/postgresql").glob("*/*/postgresql.conf")):
        if any("".join(line.split("#")[0].split()) == f"port={port}" for line in conf.read_text().splitlines()):
            return conf.parent.parent.name, conf.parent.name
    return None


def _server_up() -> bool:
    return (
        subprocess.run(
            ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(connection.settings_dict["PORT"] or 5432)]
        ).returncode
        == 0
    )


def test_a_database_restart_mid_run_is_retried_to_the_undisturbed_result(real_services, start_process):
    from config.celery_app import app
    from crm.demo import demo_organization_seed
    from crm.demo_data import simulate_demo

    if os.environ.get("CI") != "true" and os.environ.get("CUSTOPS_RESTART_POSTGRES") != "1":
        pytest.skip(
            "restarts the PostgreSQL server every session shares: runs in CI, or with CUSTOPS_RESTART_POSTGRES=1"
        )
    cluster = _cluster()
    require(cluster is not None, "restarting PostgreSQL needs root and a Debian cluster (pg_ctlcluster)")
    version, name = cluster
    data = simulate_demo(customers=CUSTOMERS, seed=13, today=datetime.date.today())
    calm = demo_organization_seed(slug="calm", data=data).org
    restarted = demo_organization_seed(slug="restarted", data=data).org
    as_of = nightly.local_yesterday(calm, datetime.datetime.now(datetime.UTC))
    assert nightly.run_nightly(org=calm, as_of=as_of, triggered_by="test").status == JobStatus.SUCCEEDED

    # The local settings queue Celery's retries on the broker, as production does (the test settings run them inline).
    worker_env = {**real_services, "DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_DEBUG": "false"}
    app.control.purge()
    app.conf.task_always_eager = False
    try:
        worker = start_celery_worker(start_process, worker_env, "nightly-worker")
        nightly_for_org.delay(restarted.pk, as_of.isoformat(), "beat")
        wait_for(lambda: nightly_lock_held(restarted.pk), timeout=60, what="the run to start")
        time.sleep(0.5)  # into the steps' transaction
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "stop", "--mode", "fast"], check=True
        )
        connection.close()  # this process's session was ended too
        time.sleep(DOWN_SECONDS)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"], check=True)
        wait_for(_server_up, timeout=60, what="PostgreSQL to accept connections again", every=0.5)

        wait_for(
            lambda: JobRun.objects.for_org(restarted).filter(status=JobStatus.SUCCEEDED).exists(),
            timeout=120,
            what=f"the retried run to succeed\n{worker.output()[-4000:]}",
            every=0.5,
        )
    finally:
        app.conf.task_always_eager = True
        if not _server_up():
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"], check=False)
        connection.close()

    history = list(JobRun.objects.for_org(restarted).order_by("started_at").values_list("status", "error"))
    assert [status for status, _ in history] == [JobStatus.FAILED, JobStatus.SUCCEEDED], history
    # Either the run saved its own failure, or (the server still down) the retry found it dead and closed it.
    assert history[0][1].startswith(("OperationalError", "InterfaceError", "abandoned")), history
    assert "Retry in 2s" in worker.output()
    assert nightly_results(restarted) == nightly_results(calm)
    assert CustomerScore.objects.for_org(restarted).count() == CUSTOMERS
