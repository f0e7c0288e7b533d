"""The backup drill dumps a seeded organization, restores it into a fresh database and finds the same figures."""

from __future__ import annotations

import io
import subprocess

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from crm.models import Order, OrderStatus
from reporting.backup_drill import RESTORED_ALIAS, database_alias, differences, headline_numbers

pytestmark = pytest.mark.integration


def _databases() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database")
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore back up PostgreSQL only; run with DATABASE_URL=postgres://...")


@pytest.fixture
def seeded(postgres):
    """A small demo organization with a nightly run: committed, since pg_dump reads from its own connection."""
    call_command("seed_demo", "--org", "drill", "--customers", "300", "--seed", "11", stdout=io.StringIO())
    call_command("run_nightly", "--org", "drill", stdout=io.StringIO())
    target = f"{connection.settings_dict['NAME']}_drill"
    yield target
    subprocess.run(
        ["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", connection.settings_dict["USER"], target], check=False
    )


def test_drill_restores_the_same_headline_numbers(seeded, tmp_path, capsys):
    dump = tmp_path / "custops.dump"

    call_command("backup_restore_drill", "--target", seeded, "--dump-file", str(dump))

    out = capsys.readouterr().out
    assert "figures equal after the restore" in out, out
    assert dump.stat().st_size > 10_000
    assert seeded not in _databases()  # dropped after the comparison
    figures = headline_numbers(using="default")
    org_figures = {name: value for name, value in figures.items() if "(drill)" in name}
    assert org_figures[next(name for name in org_figures if name.endswith(": customers"))] == 300
    assert any(" KPI " in name for name in org_figures)
    assert any("scores tier high" in name for name in org_figures)


def test_drill_reports_a_restored_database_that_differs(seeded, tmp_path, capsys):
    call_command("backup_restore_drill", "--target", seeded, "--keep-restored")
    assert seeded in _databases()

    with database_alias(RESTORED_ALIAS, name=seeded):
        order = Order.objects.using(RESTORED_ALIAS).filter(status=OrderStatus.COMPLETED).first()
        Order.objects.using(RESTORED_ALIAS).filter(pk=order.pk).delete()
        found = differences(headline_numbers(using="default"), headline_numbers(using=RESTORED_ALIAS))

    names = {name for name, _, _ in found}
    assert any(name.endswith("(drill): orders") for name in names)
    assert any(name.endswith("(drill): completed revenue") for name in names)
    assert "table crm_order: rows" in names

    with pytest.raises(CommandError, match="already exists"):
        call_command("backup_restore_drill", "--target", seeded)


def test_drill_refuses_to_restore_over_its_source(postgres):
    with pytest.raises(CommandError, match="must not be the source"):
        call_command("backup_restore_drill", "--target", connection.settings_dict["NAME"])


def test_differences_lists_changed_and_missing_figures():
    source = {"a": 1, "b": "10.00", "c": 3}
    restored = {"a": 1, "b": "9.00", "d": 4}
    assert differences(source, restored) == [("b", "10.00", "9.00"), ("c", 3, None), ("d", None, 4)]
    assert differences(source, dict(source)) == []
