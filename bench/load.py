"""Load test: the API and the pages on the 1M-customer organization, served by gunicorn, while the nightly runs.

The database of bench/pages.py is reused when it holds the scored demo (``BENCH_PAGES_REUSE=1``), else built
(seed 1M, score). gunicorn serves it on 127.0.0.1 with ``LOAD_GUNICORN_WORKERS`` sync workers; locust
(bench/locustfile.py: three API users to one page user) runs headless with ``LOAD_USERS`` users, bounded in time:

1. **alone**: ``LOAD_SECONDS`` of traffic with nothing else running;
2. **during the nightly**: the same traffic while ``run_nightly --org demo`` re-scores the million customers,
   for as long as the nightly takes (its wall time alone is measured before, as the baseline of its own slowdown).

Recorded per phase: requests, failures (the goal is zero), throughput and p50/p95/p99 per route and overall.

    DJANGO_DEBUG=false python bench/run.py --only load
    python bench/run.py --quick --only load        # 3,000 customers, 15 s phases
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from bench.pages import DATABASE, ORG, SEED, scored_with_snapshots
from bench.postgres import (
    PROJECT_ROOT,
    SERVER_URL,
    child_environment,
    drop_database,
    machine_description,
    recreate_database,
    run_child,
    seed_and_score,
)

QUICK_DATABASE = "custops_bench_load"
DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 3_000
USERS = int(os.environ.get("LOAD_USERS", "16"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
WORKERS = int(os.environ.get("LOAD_GUNICORN_WORKERS", "4"))
DEMO_PASSWORD = "custops-demo-2026"  # noqa: S105 - the demo logins are published in the README
BIN = Path(sys.executable).parent


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_LOAD_CUSTOMERS", DEFAULT_CUSTOMERS))
    seconds = 15 if quick else SECONDS
    print(machine_description(), flush=True)
    database = QUICK_DATABASE if quick else DATABASE
    database_url = f"{SERVER_URL}/{database}"
    environment = child_environment(
        database_url,
        CUSTOPS_API_RATE_PER_KEY="100000000/min",  # counted as for any client, never refused
        CUSTOPS_API_RATE_PER_USER="100000000/min",
        CUSTOPS_LOGIN_FAILURE_LIMIT="1000",
    )
    environment.pop("REDIS_URL", None)  # the nightly runs in-process here; the cache is each worker's memory
    reused = not quick and scored_with_snapshots(database_url, customers)
    if reused:
        run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environment, quiet_stderr=True)
        print(f"reusing {database}: demo organization with {customers:,} scored customers", flush=True)
    else:
        recreate_database(database)
        seed_and_score(environment, customers, seed=SEED, org=ORG)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("ANALYZE")
        sizes = dict(
            connection.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
                [["crm_customer", "crm_order", "crm_event", "segmentation_customerscore", "segmentation_scorechange"]],
            ).fetchall()
        )
        sizes["database"] = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        rows = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("crm_customer", "crm_order", "crm_event")
        }
    print("sizes (bytes):", sizes, "rows:", rows, flush=True)
    try:
        result = run_phases(environment, seconds=seconds)
    finally:
        if quick:
            drop_database(database)
    result.update(
        {
            "customers": customers,
            "users": USERS,
            "gunicorn_workers": WORKERS,
            "reused": reused,
            "sizes_bytes": sizes,
            "rows": rows,
        }
    )
    print()
    for line in markdown_lines(result):
        print(line)
    return [result]


def _api_key(environment: dict[str, str]) -> str:
    created = run_child(
        [sys.executable, "manage.py", "create_api_key", "--org", ORG, "--name", "load test", "--scopes", "read"],
        environment,
        quiet_stderr=True,
    )
    # The command prints the key alone on its second line, between what it is for and how to store it.
    return created["stdout"].splitlines()[1].strip()


def run_phases(environment: dict[str, str], *, seconds: int) -> dict:
    nightly_alone = run_child(
        [sys.executable, "manage.py", "run_nightly", "--org", ORG], environment, quiet_stderr=True
    )["seconds"]
    print(f"nightly alone: {nightly_alone:.1f} s", flush=True)
    key = _api_key(environment)
    port = _free_port()
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        host = f"http://127.0.0.1:{port}"
        locust_env = {
            **environment,
            "CUSTOPS_LOAD_API_KEY": key,
            "CUSTOPS_LOAD_EMAIL": f"viewer1@{ORG}.custops.local",
            "CUSTOPS_LOAD_PASSWORD": DEMO_PASSWORD,
        }
        _warm_up(host, key)
        alone = locust_phase(host, locust_env, seconds=seconds)
        print(f"alone: {alone['total']['requests']:,} requests, {alone['total']['failures']} failures", flush=True)

        nightly: dict = {}

        def run_nightly_during_load() -> None:
            time.sleep(5)  # the users are all spawned
            nightly["seconds"] = run_child(
                [sys.executable, "manage.py", "run_nightly", "--org", ORG], environment, quiet_stderr=True
            )["seconds"]

        during_seconds = int(nightly_alone * 1.5) + 10
        runner = threading.Thread(target=run_nightly_during_load)
        runner.start()
        during = locust_phase(host, locust_env, seconds=during_seconds)
        runner.join()
        print(f"during the nightly: {during['total']['requests']:,} requests, {during['total']['failures']} failures")
    finally:
        web.terminate()
        web.wait(timeout=30)
    return {
        "phases": {"alone": alone, "during_nightly": during},
        "nightly_alone_seconds": nightly_alone,
        "nightly_under_load_seconds": nightly.get("seconds"),
        "command": "DJANGO_DEBUG=false python bench/run.py --only load",
    }


def locust_phase(host: str, environment: dict[str, str], *, seconds: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "load"
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(PROJECT_ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(USERS),
                "--spawn-rate",
                str(USERS),
                "--run-time",
                f"{seconds}s",
                "--stop-timeout",
                "10",
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=PROJECT_ROOT,
            env=environment,
            check=False,  # locust exits 1 when a request failed; the figures say which
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(f"{prefix}_stats.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
    routes = {}
    total = {}
    for row in rows:
        figures = {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "per_second": float(row["Requests/s"]),
            "p50_ms": float(row["50%"] or 0),
            "p95_ms": float(row["95%"] or 0),
            "p99_ms": float(row["99%"] or 0),
        }
        if row["Name"] == "Aggregated":
            total = figures
        else:
            routes[row["Name"]] = figures
    return {"seconds": seconds, "total": total, "routes": routes}


def _warm_up(host: str, key: str) -> None:
    """Every gunicorn worker loads its code on its first requests: not what a user of a running site waits for."""
    import urllib.request

    api = {"Authorization": f"Bearer {key}"}
    for _ in range(4 * WORKERS):
        for path, headers in (("/accounts/login/", {}), ("/api/v1/customers/?limit=50", api)):
            request = urllib.request.Request(host + path, headers=headers)
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not listen on {port} within {timeout}s")


def markdown_lines(result: dict) -> list[str]:
    lines = [
        f"{result['customers']:,} customers, {result['users']} locust users (3 API : 1 page), "
        f"gunicorn with {result['gunicorn_workers']} sync workers; nightly alone {result['nightly_alone_seconds']:.1f} s, "
        f"under load {result['nightly_under_load_seconds'] or 0:.1f} s",
        "",
        "| phase | route | requests | failures | req/s | p50 | p95 | p99 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, figures in result["phases"].items():
        for name, route in [*sorted(figures["routes"].items()), ("all", figures["total"])]:
            lines.append(
                f"| {phase} | {name} | {route['requests']:,} | {route['failures']} | {route['per_second']:.1f} "
                f"| {route['p50_ms']:.0f} ms | {route['p95_ms']:.0f} ms | {route['p99_ms']:.0f} ms |"
            )
    return lines
