"""The nightly orchestrator: as-of cutoffs, bookkeeping, failure capture, scheduling by organization hour."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from config.celery_app import app
from reporting import nightly
from reporting.models import JobRun, JobStatus
from tests.factories import CustomerFactory, OrderFactory, OrganizationFactory

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
    assert job.row_counts == {"data_inventory": 2}  # one customer + one completed order
    assert set(job.step_seconds) == {"data_inventory"}
    assert job.finished_at >= job.started_at


def test_a_failing_step_marks_the_run_failed_with_its_traceback(monkeypatch, org):
    def broken_step(org, as_of):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nightly, "NIGHTLY_STEPS", [*nightly.NIGHTLY_STEPS, ("broken", broken_step)])

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))

    assert job.status == JobStatus.FAILED
    assert "disk on fire" in job.error
    assert "broken" not in job.row_counts


def test_rerunning_the_same_day_gives_the_same_counts(org):
    customer = CustomerFactory(organization=org, created_at=_at("2026-01-01"))
    OrderFactory(customer=customer, ordered_at=_at("2026-01-02"))
    first = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1))
    second = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 1))
    assert first.row_counts == second.row_counts == {"data_inventory": 2}
    assert JobRun.objects.for_org(org).count() == 2


def test_organizations_are_due_in_their_own_nightly_hour():
    shanghai = OrganizationFactory(time_zone="Asia/Shanghai", nightly_hour=2)
    london = OrganizationFactory(time_zone="Europe/London", nightly_hour=2)
    # 18:05 UTC on 2026-01-10 is 02:05 on 2026-01-11 in Shanghai and 18:05 in London.
    now = datetime.datetime(2026, 1, 10, 18, 5, tzinfo=UTC)
    assert nightly.organizations_due(now=now) == [shanghai]
    assert nightly.local_yesterday(shanghai, now) == datetime.date(2026, 1, 10)
    assert london not in nightly.organizations_due(now=datetime.datetime(2026, 1, 11, 3, 5, tzinfo=UTC))
    assert nightly.organizations_due(now=datetime.datetime(2026, 1, 11, 2, 5, tzinfo=UTC)) == [london]


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
