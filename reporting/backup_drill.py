"""The backup and restore drill: dump the database, restore the dump into a fresh one, compare headline numbers.

A backup is only as good as its last restore. The drill makes a custom-format ``pg_dump``, restores it with
``pg_restore`` into a new database on the same server, and compares figures an operator would check by eye:
per organization, customers, orders, completed-order revenue, KPI snapshots (and the latest one's values),
scores by tier and nightly runs; and the row count of every table. Any difference fails the drill.

The source figures are read in the very snapshot that ``pg_dump`` saves (a REPEATABLE READ transaction exports
it and ``pg_dump --snapshot`` uses it), so the drill holds on a live database taking writes.

Platform-wide on purpose: it reads every organization, each through ``for_org``, and prints only figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.db.models import Count, Sum
from django.db.utils import load_backend

from accounts.models import Organization
from crm.models import Customer, Order, OrderStatus
from reporting.models import NIGHTLY, JobRun, KpiSnapshot
from segmentation.models import CustomerScore

SOURCE_ALIAS = "backup_drill_source"
RESTORED_ALIAS = "backup_drill_restored"


class DrillError(Exception):
    """The drill could not run (a tool failed, the target exists, not PostgreSQL)."""


@dataclass
class DrillResult:
    source: str
    restored: str
    dump_bytes: int
    dump_seconds: float
    restore_seconds: float
    figures: int
    #: ``(figure, source value, restored value)`` for every figure that differs.
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)


def headline_numbers(*, using: str) -> dict[str, Any]:
    """The figures the drill compares, by name, read through the connection ``using``."""
    figures: dict[str, Any] = {}
    for org in Organization.objects.using(using).order_by("pk"):
        prefix = f"org {org.pk} ({org.slug})"
        orders = Order.objects.using(using).for_org(org)
        figures[f"{prefix}: customers"] = Customer.objects.using(using).for_org(org).count()
        figures[f"{prefix}: orders"] = orders.count()
        revenue = orders.filter(status=OrderStatus.COMPLETED).aggregate(total=Sum("amount"))["total"]
        figures[f"{prefix}: completed revenue"] = str(revenue or 0)
        snapshots = KpiSnapshot.objects.using(using).for_org(org).order_by("-day")
        figures[f"{prefix}: KPI snapshots"] = snapshots.count()
        latest = snapshots.first()
        if latest is not None:
            for code, value in sorted(latest.values.items()):
                figures[f"{prefix}: KPI {latest.day} {code}"] = value
        tiers = CustomerScore.objects.using(using).for_org(org).order_by().values("tier").annotate(n=Count("pk"))
        for row in sorted(tiers, key=lambda row: row["tier"]):
            figures[f"{prefix}: scores tier {row['tier'] or '-'}"] = row["n"]
        figures[f"{prefix}: nightly runs"] = JobRun.objects.using(using).for_org(org).filter(kind=NIGHTLY).count()
    for model in sorted(apps.get_models(), key=lambda model: model._meta.db_table):
        if model._meta.managed and not model._meta.proxy:
            figures[f"table {model._meta.db_table}: rows"] = model._base_manager.using(using).count()
    return figures


def differences(source: dict[str, Any], restored: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Figures whose values differ, or that only one side has, in name order."""
    names = sorted(source.keys() | restored.keys())
    return [(name, source.get(name), restored.get(name)) for name in names if source.get(name) != restored.get(name)]


@contextmanager
def database_alias(alias: str, *, name: str) -> Iterator[str]:
    """A connection alias to database ``name`` on the default database's server, closed and removed after.

    The connection is registered for this block only and never added to ``settings.DATABASES``: it is the
    drill's own, like the connections a test opens for a process it starts.
    """
    settings_dict = {**connections["default"].settings_dict, "NAME": name}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        wrapper.close()
        del connections[alias]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DrillError(f"{name} not found: install the PostgreSQL client (Debian: postgresql-client)")
    return path


def _connection_args() -> tuple[list[str], dict[str, str]]:
    """Host, port and user as options; the password through PGPASSWORD, never on a command line."""
    db = connections["default"].settings_dict
    args = ["--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - our args
    if result.returncode != 0:
        raise DrillError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def drill_run(*, target: str, dump_path: Path, keep_restored: bool = False) -> DrillResult:
    """Dump the default database to ``dump_path``, restore it as ``target``, compare; drop ``target`` unless kept."""
    source = connections["default"].settings_dict
    if connections["default"].vendor != "postgresql":
        raise DrillError("the backup drill needs PostgreSQL (DATABASE_URL=postgres://...)")
    if target == source["NAME"]:
        raise DrillError("the restore target must not be the source database")
    pg_dump, pg_restore, createdb, dropdb = (_tool(name) for name in ("pg_dump", "pg_restore", "createdb", "dropdb"))
    options, env = _connection_args()

    with database_alias(SOURCE_ALIAS, name=source["NAME"]), transaction.atomic(using=SOURCE_ALIAS):
        with connections[SOURCE_ALIAS].cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        started = time.monotonic()
        _run(
            [pg_dump, *options, "--format=custom", f"--snapshot={snapshot}", f"--file={dump_path}", source["NAME"]],
            env,
        )
        dump_seconds = time.monotonic() - started
        source_figures = headline_numbers(using=SOURCE_ALIAS)

    _run([createdb, *options, "--template=template0", target], env)
    try:
        started = time.monotonic()
        _run(
            [
                pg_restore,
                *options,
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--dbname={target}",
                str(dump_path),
            ],
            env,
        )
        restore_seconds = time.monotonic() - started
        with database_alias(RESTORED_ALIAS, name=target):
            restored_figures = headline_numbers(using=RESTORED_ALIAS)
    finally:
        if not keep_restored:
            _run([dropdb, *options, "--if-exists", target], env)
    return DrillResult(
        source=source["NAME"],
        restored=target,
        dump_bytes=dump_path.stat().st_size,
        dump_seconds=dump_seconds,
        restore_seconds=restore_seconds,
        figures=len(source_figures),
        differences=differences(source_figures, restored_figures),
    )
