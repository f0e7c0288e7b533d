"""The nightly orchestrator: as-of cutoffs, bookkeeping, failure capture, abandoned runs, the command."""

from __future__ import annotations

import contextlib
import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from accounts.models import Organization
from config.celery_app import app
from reporting import nightly
from reporting.models import JobRun, JobStatus
from tests.factories import CustomerFactory, OrderFactory, OrganizationFactory
from tests.locks import another_session_holds_lock

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def _at(day: str, hour: int = 12, tz=UTC) -> datetime.datetime:
    return datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour), tzinfo=tz)


def test_inventory_counts_only_data_on_or_before_the_as_of_day_in_the_org_time_zone():
    """An order at 23:30 Shanghai time on the as-of day counts; one 30 minutes later does not."""
    org = OrganizationFactory(time_zone="Asia/Shanghai")
    customer = CustomerFactory(organization=org, created_at=_at("2026-01-01"))
    CustomerFactory(organization=org, created_at=_at("2026-04-01"))  # created after the as-of day
    OrderFactory(customer=customer, ordered_at=datetime.datetime(2026, 3, 1, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    OrderFactory(customer=customer, ordered_at=datetime.datetime(2026, 3, 1, 16, 0, tzinfo=UTC))  # 00:00 next day
    OrderFactory(customer=customer, ordered_at=_at("2026-02-01"), status="refunded", amount=Decimal("5"))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.status == JobStatus.SUCCEEDED
    assert job.row_counts["read"] == 2  # one customer + one purchase day (the refunded order is no purchase)
    assert job.row_counts["scores"] == 1
    assert set(job.step_seconds) == {name for name, _step in nightly.NIGHTLY_STEPS}
    assert job.finished_at >= job.started_at


def _add_step(monkeypatch, name, step):
    monkeypatch.setattr(nightly, "NIGHTLY_STEPS", [*nightly.NIGHTLY_STEPS, (name, step)])


def _raise(exc):
    def step(run):
        raise exc

    return step


def test_a_failing_step_marks_the_run_failed_with_the_exception_class_and_message(monkeypatch, org):
    _add_step(monkeypatch, "broken", _raise(RuntimeError("disk on fire")))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.status == JobStatus.FAILED
    assert job.error == "RuntimeError: disk on fire"
    assert "broken" not in job.row_counts
    assert JobRun.objects.get(pk=job.pk).error == "RuntimeError: disk on fire"


def test_a_failing_step_logs_the_full_traceback_at_error_level(monkeypatch, org, caplog):
    _add_step(monkeypatch, "broken", _raise(RuntimeError("disk on fire")))

    nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    (record,) = [r for r in caplog.records if r.name == "reporting.nightly" and r.levelname == "ERROR"]
    assert record.exc_info[1].args == ("disk on fire",)
    assert "Traceback (most recent call last)" in caplog.text


def test_a_failed_run_keeps_only_the_first_line_of_the_message(monkeypatch, org):
    _add_step(monkeypatch, "broken", _raise(ValueError("bad amount\nDETAIL: Key (email)=(ann@example.com)")))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.error == "ValueError: bad amount"


def test_a_failed_runs_message_is_cut_to_300_characters(monkeypatch, org):
    _add_step(monkeypatch, "broken", _raise(RuntimeError("x" * 1000)))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.error == "RuntimeError: " + "x" * 285 + "…"
    assert len(job.error) == 300


def test_a_database_error_is_recorded_without_the_values_of_the_failed_statement(monkeypatch, org):
    """Postgres puts the clashing value on the message's second line ("DETAIL: Key (slug)=(acme)..."); it stays out."""

    def duplicate_organization(run):
        Organization.objects.create(slug=run.org.slug, name="Duplicate")

    _add_step(monkeypatch, "duplicate", duplicate_organization)

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.status == JobStatus.FAILED
    assert job.error.startswith("IntegrityError: ")
    assert "\n" not in job.error
    assert "(acme)" not in job.error


def test_an_error_that_is_not_retryable_is_not_raised(monkeypatch, org):
    _add_step(monkeypatch, "broken", _raise(IntegrityError("duplicate key")))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.status == JobStatus.FAILED


@pytest.mark.parametrize("error_class", [OperationalError, InterfaceError])
def test_a_database_error_that_can_clear_is_recorded_then_raised_for_a_retry(monkeypatch, org, error_class):
    _add_step(monkeypatch, "flaky", _raise(error_class("server closed the connection unexpectedly")))

    with pytest.raises(error_class):
        nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    job = JobRun.objects.for_org(org).get()
    assert job.status == JobStatus.FAILED
    assert job.error == f"{error_class.__name__}: server closed the connection unexpectedly"
    assert job.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_database_connection_dies_is_still_recorded_as_failed(monkeypatch, org):
    """The server ends the run's own session mid-step; the outcome is saved over a new connection."""
    if connection.vendor != "postgresql":
        pytest.skip("ending one's own database session is a PostgreSQL feature")

    def lose_the_connection(run):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    _add_step(monkeypatch, "connection_lost", lose_the_connection)

    with pytest.raises(OperationalError):
        nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    job = JobRun.objects.for_org(org).get()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("OperationalError: ")


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_connection_dies_after_the_steps_committed_records_its_outcome_on_a_new_connection(
    monkeypatch, org, caplog
):
    """The server ends the run's session just after the steps commit; the first save fails, the second succeeds."""
    if connection.vendor != "postgresql":
        pytest.skip("ending another database session is a PostgreSQL feature")
    import psycopg

    def end_session_after_commit(run):
        pid = connection.connection.info.backend_pid

        def terminate():
            with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])

        transaction.on_commit(terminate)
        return 0

    _add_step(monkeypatch, "session_ends", end_session_after_commit)

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert JobRun.objects.for_org(org).get().status == JobStatus.SUCCEEDED == job.status
    # The outcome and its webhooks are saved together; that transaction fails on the dead session, and the outcome
    # is then saved alone on a new connection (Django reconnects, or _record_outcome does it itself).
    assert "recording its outcome alone" in caplog.text or "retrying on a new connection" in caplog.text


def test_rerunning_the_same_day_gives_the_same_counts(org):
    customer = CustomerFactory(organization=org, created_at=_at("2026-01-01"))
    OrderFactory(customer=customer, ordered_at=_at("2026-01-02"))
    first = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1))
    second = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1))
    assert first.row_counts == second.row_counts
    assert first.row_counts["read"] == 2
    assert JobRun.objects.for_org(org).count() == 2


def _running_job(org, started_at, as_of=datetime.date(2026, 2, 1)):
    return JobRun.objects.create(organization=org, as_of=as_of, status=JobStatus.RUNNING, started_at=started_at)


def test_a_run_marks_the_orgs_runs_older_than_the_hard_time_limit_abandoned(org):
    started = timezone.now() - datetime.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    stale = _running_job(org, started)

    nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    stale.refresh_from_db()
    assert stale.status == JobStatus.FAILED
    assert stale.error == "abandoned: the worker stopped before finishing"
    assert stale.finished_at > started


def test_a_run_leaves_a_live_running_run_alone(org):
    """Live: within the time limit and, on PostgreSQL, its worker's session holds the organization's lock."""
    recent = _running_job(org, timezone.now() - datetime.timedelta(minutes=10))

    with contextlib.ExitStack() as worker:
        if connection.vendor == "postgresql":
            worker.enter_context(another_session_holds_lock(nightly.NIGHTLY_LOCK_NAMESPACE, org.pk))
        nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    recent.refresh_from_db()
    assert recent.status == JobStatus.RUNNING


def test_a_run_leaves_other_organizations_abandoned_runs_alone(org, other_org):
    stale = _running_job(other_org, timezone.now() - datetime.timedelta(hours=3))

    nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    stale.refresh_from_db()
    assert stale.status == JobStatus.RUNNING


def test_run_nightly_rejects_a_day_after_the_orgs_local_today_and_records_nothing(org):
    with pytest.raises(ValueError, match="not over yet"):
        nightly.run_nightly(org=org, as_of=datetime.date(9999, 12, 31))
    assert not JobRun.objects.for_org(org).exists()


def test_run_nightly_rejects_the_orgs_local_tomorrow():
    org = OrganizationFactory(time_zone="America/Los_Angeles")
    tomorrow = timezone.localdate(timezone=nightly.organization_time_zone(org)) + datetime.timedelta(days=1)

    with pytest.raises(ValueError, match="not over yet"):
        nightly.run_nightly(org=org, as_of=tomorrow)


def test_run_nightly_refuses_the_orgs_local_today_and_accepts_yesterday(org):
    """A day is scored once it is over: a run for today would leave it marked done with half its orders."""
    today = timezone.localdate(timezone=datetime.UTC)  # the org fixture's zone is UTC

    with pytest.raises(ValueError, match=f"latest day to score is {today - datetime.timedelta(days=1)}"):
        nightly.run_nightly(org=org, as_of=today)
    yesterday = today - datetime.timedelta(days=1)
    assert nightly.run_nightly(org=org, as_of=yesterday).status == JobStatus.SUCCEEDED


def test_an_unknown_time_zone_counts_days_in_utc():
    """A customer created 23:30 UTC on the as-of day counts; an order at 00:00 UTC the next day does not."""
    org = OrganizationFactory(time_zone="Mars/Olympus_Mons")
    customer = CustomerFactory(organization=org, created_at=datetime.datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    OrderFactory(customer=customer, ordered_at=datetime.datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.row_counts["read"] == 1


def test_an_unknown_time_zone_is_logged_as_a_warning(caplog):
    org = OrganizationFactory(slug="martian", time_zone="Mars/Olympus_Mons")

    assert nightly.organization_time_zone(org) == datetime.UTC
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "organization martian has an unknown time zone 'Mars/Olympus_Mons'; using UTC")
    ]


def test_beat_schedule_points_at_registered_tasks():
    """Every beat entry names a task the worker really has, so a typo cannot silently stop the nightly runs."""
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert schedule, "beat has no schedule"
    for name, entry in schedule.items():
        assert entry["task"] in app.tasks, f"beat entry {name} points at unknown task {entry['task']}"


def test_run_nightly_command_reports_each_organization(org, capsys):
    call_command("run_nightly", "--org", org.slug, "--as-of", "2026-02-01")
    assert f"{org.slug} as of 2026-02-01: succeeded" in capsys.readouterr().out
    assert JobRun.objects.for_org(org).get().triggered_by == "command"


def test_run_nightly_command_runs_several_nights_oldest_first(org, capsys):
    call_command("run_nightly", "--org", org.slug, "--as-of", "2026-02-03", "--nights", "3")

    out = capsys.readouterr().out
    days = [line.split(" as of ")[1][:10] for line in out.splitlines() if " as of " in line]
    assert days == ["2026-02-01", "2026-02-02", "2026-02-03"]
    assert JobRun.objects.for_org(org).count() == 3
    with pytest.raises(CommandError, match="--nights must be between 1 and 400"):
        call_command("run_nightly", "--org", org.slug, "--nights", "0")


def test_run_nightly_command_rejects_unknown_org_and_bad_dates(org):
    with pytest.raises(CommandError, match="No organization with slug 'nope'"):
        call_command("run_nightly", "--org", "nope")
    with pytest.raises(CommandError, match="--as-of must be a date"):
        call_command("run_nightly", "--org", org.slug, "--as-of", "2026-02-30")


@pytest.mark.django_db(transaction=True)
def test_a_second_run_for_the_same_org_is_skipped_while_the_first_holds_the_lock(org):
    """Two runs never overlap: while another session holds the organization's lock, a run is recorded as skipped."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the overlap lock is a PostgreSQL advisory lock; SQLite serialises writers itself")
    import psycopg

    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=False) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s, %s)", [nightly.NIGHTLY_LOCK_NAMESPACE, org.pk])
        job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1))
    assert job.status == JobStatus.SKIPPED
    assert "already in progress" in job.error
    assert nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1)).status == JobStatus.SUCCEEDED


def test_run_nightly_command_rejects_a_future_as_of_and_records_nothing(org):
    with pytest.raises(CommandError, match="--as-of 9999-12-31 is not over yet for organization acme"):
        call_command("run_nightly", "--org", org.slug, "--as-of", "9999-12-31")
    assert not JobRun.objects.for_org(org).exists()


def test_run_nightly_command_prints_the_short_error_of_a_failed_run(monkeypatch, org, capsys):
    _add_step(monkeypatch, "broken", _raise(RuntimeError("disk on fire")))

    with pytest.raises(CommandError, match="1 nightly run"):
        call_command("run_nightly", "--org", org.slug, "--as-of", "2026-02-01")

    out = capsys.readouterr().out
    assert "acme as of 2026-02-01: failed" in out
    assert "RuntimeError: disk on fire" in out
    assert "Traceback" not in out


@pytest.mark.django_db(transaction=True)
def test_a_night_that_wrote_scores_analyzes_the_score_table(org):
    """Segment counts plan on the score table's statistics: they are refreshed once the night is committed."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("ANALYZE and its statistics are PostgreSQL's")

    def analyze_count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'segmentation_customerscore'")
            return cursor.fetchone()[0]

    before = analyze_count()
    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1))

    assert job.status == "succeeded"
    assert analyze_count() == before + 1
