"""What every benchmark needs from PostgreSQL and the machine: scratch databases, child runs, a description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def recreate_database(name: str) -> None:
    drop_database(name)
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_child(command: list[str], environment: dict[str, str], *, quiet_stderr: bool = False) -> dict:
    """Run a command to completion; its wall time and its own peak RSS (``wait4`` reports it per child).

    Linux carries a process's RSS high-water mark across ``exec``, so keep the calling process small:
    the child's figure is never below the parent's peak at the moment it was started.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet_stderr else None,
        text=True,
    )
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.stdout.write(stdout)
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}")
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "stdout": stdout}


def machine_description() -> str:
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    with psycopg.connect(f"{SERVER_URL}/postgres") as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        shared_buffers = connection.execute("SHOW shared_buffers").fetchone()[0]
        max_wal_size = connection.execute("SHOW max_wal_size").fetchone()[0]
    return (
        f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{memory_kib / 1024 / 1024:.1f} GiB RAM, Python {platform.python_version()}, "
        f"PostgreSQL {version} (shared_buffers {shared_buffers}, max_wal_size {max_wal_size}) on the same host"
    )


def child_environment(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a benchmark's child process: this database, local settings, DEBUG off unless asked."""
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    environment.setdefault("DJANGO_DEBUG", "false")
    environment.update(overrides)
    return environment


def seed_and_score(environment: dict[str, str], customers: int, *, seed: int, org: str) -> dict:
    """Migrate, ``seed_demo`` and ``run_nightly`` in child processes; the seconds of the last two."""
    run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environment, quiet_stderr=True)
    seeded = run_child(
        [sys.executable, "manage.py", "seed_demo", "--customers", str(customers), "--seed", str(seed)],
        environment,
        quiet_stderr=True,
    )
    print(f"seeded {customers:,} customers in {seeded['seconds']:.1f} s", flush=True)
    nightly = run_child([sys.executable, "manage.py", "run_nightly", "--org", org], environment, quiet_stderr=True)
    print(f"scored them (run_nightly) in {nightly['seconds']:.1f} s", flush=True)
    return {"seed_seconds": seeded["seconds"], "nightly_seconds": nightly["seconds"]}


def release_database(prepared: dict) -> None:
    """Drop a benchmark's database unless it is to be kept (reused) for the next run."""
    if not prepared["keep"]:
        drop_database(prepared["database"])


def org_count(connection, table: str, org_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE organization_id = %s", [org_id])
        return cursor.fetchone()[0]
