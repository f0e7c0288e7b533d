"""Scheduling: which organizations are due each hour, the hourly fanout, and the per-organization task."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from config.celery_app import app
from reporting import nightly, tasks
from reporting.models import JobRun, JobStatus
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def _utc(year, month, day, hour, minute=5) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)


def _job(org, as_of, status, started_at=None):
    return JobRun.objects.create(organization=org, as_of=as_of, status=status, started_at=started_at or timezone.now())


# Due or not --------------------------------------------------------------------------------------------------


def test_an_org_is_not_due_before_its_nightly_hour():
    OrganizationFactory(time_zone="Asia/Shanghai", nightly_hour=2)
    # 17:05 UTC on 2026-01-10 is 01:05 on 2026-01-11 in Shanghai.
    assert nightly.organizations_due(now=_utc(2026, 1, 10, 17)) == []


def test_an_org_is_due_in_its_nightly_hour_for_its_local_yesterday():
    shanghai = OrganizationFactory(time_zone="Asia/Shanghai", nightly_hour=2)
    now = _utc(2026, 1, 10, 18)  # 02:05 on 2026-01-11 in Shanghai

    assert nightly.organizations_due(now=now) == [shanghai]
    assert nightly.local_yesterday(shanghai, now) == datetime.date(2026, 1, 10)


def test_an_org_whose_run_has_not_happened_stays_due_later_that_day():
    """A fanout that was late, or a worker that was down, still leads to the day's run."""
    shanghai = OrganizationFactory(time_zone="Asia/Shanghai", nightly_hour=2)
    assert nightly.organizations_due(now=_utc(2026, 1, 11, 3)) == [shanghai]  # 11:05 in Shanghai


def test_an_org_is_not_due_once_its_run_for_local_yesterday_succeeded():
    """Already ran today: later hourly fanouts leave it alone."""
    shanghai = OrganizationFactory(time_zone="Asia/Shanghai", nightly_hour=2)
    _job(shanghai, datetime.date(2026, 1, 10), JobStatus.SUCCEEDED)

    assert nightly.organizations_due(now=_utc(2026, 1, 11, 3)) == []


def test_an_org_is_not_due_while_its_run_for_local_yesterday_is_running():
    org = OrganizationFactory(time_zone="UTC", nightly_hour=2)
    now = _utc(2026, 1, 11, 3)
    _job(org, datetime.date(2026, 1, 10), JobStatus.RUNNING, started_at=now - datetime.timedelta(minutes=55))

    assert nightly.organizations_due(now=now) == []


def test_an_org_is_due_again_when_its_running_run_outlived_the_hard_time_limit():
    """A "running" row older than Celery's hard time limit belongs to a worker that died."""
    org = OrganizationFactory(time_zone="UTC", nightly_hour=2)
    now = _utc(2026, 1, 11, 4)
    started = now - datetime.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    _job(org, datetime.date(2026, 1, 10), JobStatus.RUNNING, started_at=started)

    assert nightly.organizations_due(now=now) == [org]


def test_an_org_is_due_again_after_its_run_failed():
    org = OrganizationFactory(time_zone="UTC", nightly_hour=2)
    _job(org, datetime.date(2026, 1, 10), JobStatus.FAILED)

    assert nightly.organizations_due(now=_utc(2026, 1, 11, 3)) == [org]


def test_a_succeeded_run_for_another_day_does_not_make_an_org_done():
    org = OrganizationFactory(time_zone="UTC", nightly_hour=2)
    _job(org, datetime.date(2026, 1, 9), JobStatus.SUCCEEDED)

    assert nightly.organizations_due(now=_utc(2026, 1, 11, 3)) == [org]


def test_another_orgs_succeeded_run_does_not_make_an_org_done():
    org = OrganizationFactory(time_zone="UTC", nightly_hour=2)
    _job(OrganizationFactory(time_zone="UTC", nightly_hour=23), datetime.date(2026, 1, 10), JobStatus.SUCCEEDED)

    assert nightly.organizations_due(now=_utc(2026, 1, 11, 3)) == [org]


def test_berlin_org_runs_right_after_the_missing_hour_of_the_spring_forward_night():
    """On 2026-03-29 Berlin clocks jump from 02:00 CET to 03:00 CEST: 02:05 never happens, 03:05 does."""
    berlin = OrganizationFactory(time_zone="Europe/Berlin", nightly_hour=2)

    assert nightly.organizations_due(now=_utc(2026, 3, 29, 0)) == []  # 01:05 CET
    assert nightly.organizations_due(now=_utc(2026, 3, 29, 1)) == [berlin]  # 03:05 CEST
    assert nightly.local_yesterday(berlin, _utc(2026, 3, 29, 1)) == datetime.date(2026, 3, 28)


def test_berlin_org_is_due_at_the_first_0205_of_the_fall_back_night():
    """On 2026-10-25 Berlin clocks fall back from 03:00 CEST to 02:00 CET: 02:05 happens twice."""
    berlin = OrganizationFactory(time_zone="Europe/Berlin", nightly_hour=2)

    assert nightly.organizations_due(now=_utc(2026, 10, 25, 0)) == [berlin]  # 02:05 CEST
    assert nightly.local_yesterday(berlin, _utc(2026, 10, 25, 0)) == datetime.date(2026, 10, 24)


def test_berlin_org_is_not_due_again_at_the_second_0205_of_the_fall_back_night():
    berlin = OrganizationFactory(time_zone="Europe/Berlin", nightly_hour=2)
    _job(berlin, datetime.date(2026, 10, 24), JobStatus.SUCCEEDED)  # the run of the first 02:05

    assert nightly.organizations_due(now=_utc(2026, 10, 25, 1)) == []  # 02:05 CET


def test_an_org_with_an_unknown_time_zone_is_scheduled_in_utc():
    martian = OrganizationFactory(time_zone="Mars/Olympus_Mons", nightly_hour=2)

    assert nightly.organizations_due(now=_utc(2026, 1, 11, 1)) == []
    assert nightly.organizations_due(now=_utc(2026, 1, 11, 2)) == [martian]


# The hourly fanout -------------------------------------------------------------------------------------------


def test_fanout_runs_every_due_org_even_next_to_one_with_an_unknown_time_zone():
    """Tasks run eagerly in tests, so each enqueued run is recorded at once. Hour 0 is due all day."""
    good = OrganizationFactory(time_zone="UTC", nightly_hour=0)
    martian = OrganizationFactory(time_zone="Mars/Olympus_Mons", nightly_hour=0)
    yesterday = timezone.now().astimezone(UTC).date() - datetime.timedelta(days=1)

    enqueued = tasks.nightly_fanout.apply().get()

    assert sorted(enqueued) == sorted([good.pk, martian.pk])
    for org in (good, martian):
        job = JobRun.objects.for_org(org).get()
        assert (job.as_of, job.status, job.triggered_by) == (yesterday, JobStatus.SUCCEEDED, "beat")


def test_fanout_does_not_enqueue_an_org_that_already_ran_today():
    org = OrganizationFactory(time_zone="UTC", nightly_hour=0)
    _job(org, timezone.now().astimezone(UTC).date() - datetime.timedelta(days=1), JobStatus.SUCCEEDED)

    assert tasks.nightly_fanout.apply().get() == []
    assert JobRun.objects.for_org(org).count() == 1


def test_fanout_logs_an_org_it_cannot_enqueue_and_enqueues_the_others(monkeypatch, caplog):
    unlucky = OrganizationFactory(slug="unlucky", time_zone="UTC", nightly_hour=0)
    lucky = OrganizationFactory(slug="lucky", time_zone="UTC", nightly_hour=0)
    send = tasks.nightly_for_org.apply_async

    def broker_refuses_unlucky(args, **options):
        if args[0] == unlucky.pk:
            raise ConnectionError("broker refused the message")
        return send(args, **options)

    monkeypatch.setattr(tasks.nightly_for_org, "apply_async", broker_refuses_unlucky)

    assert tasks.nightly_fanout.apply().get() == [lucky.pk]
    assert "could not enqueue the nightly run for organization unlucky" in caplog.text


def test_fanout_sends_runs_that_expire_before_the_next_fanout(monkeypatch):
    OrganizationFactory(time_zone="UTC", nightly_hour=0)
    sent_options = []
    send = tasks.nightly_for_org.apply_async

    def record(args, **options):
        sent_options.append(options)
        return send(args, **options)

    monkeypatch.setattr(tasks.nightly_for_org, "apply_async", record)

    tasks.nightly_fanout.apply().get()

    (options,) = sent_options
    assert 0 < options["expires"] < 3600


def test_beat_fanout_entry_expires_before_the_next_one_is_sent():
    """A backlog of hourly fanouts (no worker for a while) collapses instead of all firing at once."""
    entry = app.conf.beat_schedule["nightly-fanout"]
    assert entry["task"] == "reporting.tasks.nightly_fanout"
    assert 0 < entry["options"]["expires"] <= 3600


# The per-organization task -----------------------------------------------------------------------------------


def test_a_scheduled_run_for_a_day_that_already_succeeded_does_nothing(org):
    """A duplicated fanout message must not run the pipeline twice."""
    _job(org, datetime.date(2026, 3, 1), JobStatus.SUCCEEDED)

    assert tasks.nightly_for_org.apply(args=(org.pk, "2026-03-01", "beat")).get() is None
    assert JobRun.objects.for_org(org).count() == 1


def test_a_manual_run_for_a_day_that_already_succeeded_runs_again(org):
    _job(org, datetime.date(2026, 3, 1), JobStatus.SUCCEEDED)

    job_id = tasks.nightly_for_org.apply(args=(org.pk, "2026-03-01", "api")).get()

    assert JobRun.objects.get(pk=job_id).status == JobStatus.SUCCEEDED
    assert JobRun.objects.for_org(org).count() == 2


def test_the_task_retries_a_database_error_that_can_clear(monkeypatch, org):
    """The first attempt loses its connection and is recorded as failed; Celery's retry then succeeds."""
    attempts = []

    def flaky(run):
        attempts.append(run.as_of)
        if len(attempts) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return 0

    monkeypatch.setattr(nightly, "NIGHTLY_STEPS", [*nightly.NIGHTLY_STEPS, ("flaky", flaky)])

    job_id = tasks.nightly_for_org.apply(args=(org.pk, "2026-03-01", "test"), throw=False).get()

    statuses = list(JobRun.objects.for_org(org).order_by("id").values_list("status", "error"))
    assert statuses == [
        (JobStatus.FAILED, "OperationalError: server closed the connection unexpectedly"),
        (JobStatus.SUCCEEDED, ""),
    ]
    assert JobRun.objects.get(pk=job_id).status == JobStatus.SUCCEEDED
