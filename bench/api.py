"""Server time of the REST API's lists (a cursor page of 50) and reads, on a scored demo organization.

The database is the one ``bench/pages.py`` builds (``custops_bench_pages``, 1,000,000 customers scored by
``run_nightly``); ``BENCH_API_DATABASE`` names another. When it already holds the demo organization at that size,
scored and with a KPI snapshot, it is reused as it is: ``manage.py migrate`` brings its tables to the code's
migrations, ``manage.py seed_demo_campaigns`` adds the demo's segments and draft campaigns if it has none (so
those resources have rows to read) and every table is ANALYZEd; nothing else is written but one API key, deleted
at the end. Otherwise it is created, migrated, seeded (``seed_demo --customers N --seed 42``) and scored like
``bench/pages.py`` does, and kept for the next run (``BENCH_API_DROP=1`` drops it). ``--quick`` builds a 3,000-customer organization in
``BENCH_API_QUICK_DATABASE`` (``custops_bench_api``) and drops it at the end.

In one child process with Django set up (``DJANGO_DEBUG=false`` unless the environment sets it), requests go
in-process through ``rest_framework.test.APIClient`` with ``Authorization: Bearer <key>`` (a read-scoped key
of the demo organization):

* **server time** = the wall time around ``client.get(url)``: URL resolution, middleware, API-key
  authentication, the rate-limit counter (in the cache: Redis when ``REDIS_URL`` is set; the limit is raised
  so that it never refuses), filtering, the page query and the JSON rendering, as one request of a real server
  minus HTTP parsing and the socket. The PostgreSQL connection stays open between requests (``CONN_MAX_AGE``);
* the operations of ``OPERATIONS`` for each resource: the first page of the list (``page_size=50``), a deep
  page (the URL in ``next`` after following it ``DEEP_PAGES`` times), filtered lists, and the detail read of
  one row (the ids of the first and the deep page, a different one each round); ``updated_since`` far in the
  past is the first page of a full incremental sync;
* ``WARMUP`` untimed requests per operation, then ``RUNS`` timed rounds in which every operation is requested
  once in turn (so load from elsewhere falls on all alike); median, p95 (interpolated) and max;
* the query count of one more, untimed request under ``CaptureQueriesContext``;
* **baseline**, in the same rounds: a raw psycopg keyset read of 50 customers on its own connection
  (``BASELINE_SQL``): the least a page of 50 can cost. The goal column is p95 ≤ ``GOAL_MILLISECONDS``.

An operation answering anything but 200 is listed with its status and not timed; one with no row to read
(an empty list) is listed as skipped. ``BENCH_API_RUNS`` changes the number of timed rounds (default 50),
``BENCH_API_CUSTOMERS`` the size.
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import urlsplit

import psycopg

from bench.pages import ORG, SEED, scored_with_snapshots
from bench.postgres import (
    SERVER_URL,
    machine_description,
    org_count,
    recreate_database,
    release_database,
    run_child,
)
from bench.postgres import child_environment as postgres_child_environment
from bench.segments import load_average, summary

DATABASE = os.environ.get("BENCH_API_DATABASE", "custops_bench_pages")
QUICK_DATABASE = os.environ.get("BENCH_API_QUICK_DATABASE", "custops_bench_api")
DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 3_000
WARMUP = 5
RUNS = int(os.environ.get("BENCH_API_RUNS", "50"))
PAGE_SIZE = 50
DEEP_PAGES = 20
GOAL_MILLISECONDS = 50.0

#: (resource path under /api/v1/, the field that identifies a row in its detail URL, filters timed as lists,
#: whether a deep page is timed). ``{channel}`` in a filter is the first channel's code. ``updated_since`` far in
#: the past matches every row: the first page of a full sync, ordered by (updated_at, id).
OPERATIONS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("customers", "id", ("channel={channel}", "updated_since=2000-01-01T00:00:00Z"), True),
    ("orders", "id", ("status=completed",), True),
    ("scores", "customer", ("tier=high",), True),
    ("segments", "id", (), False),
    ("campaigns", "id", (), False),
    ("kpis", "id", (), False),
    ("channels", "id", (), False),
)

#: The baseline: one keyset page of 50 customers read by the (organization, id) index, nothing serialized.
BASELINE_SQL = (
    "SELECT * FROM crm_customer WHERE organization_id = %(org)s AND id < %(before)s ORDER BY id DESC LIMIT 50"
)


# Database -----------------------------------------------------------------------------------------------------


def child_environment(database_url: str) -> dict[str, str]:
    # Count every request as a client's would be counted, but never refuse one: the bench sends ~2,000 a minute.
    return postgres_child_environment(
        database_url, CUSTOPS_API_RATE_PER_KEY="100000000/min", CUSTOPS_API_RATE_PER_USER="100000000/min"
    )


def _manage(arguments: list[str], environment: dict[str, str]) -> dict:
    return run_child([sys.executable, "manage.py", *arguments], environment, quiet_stderr=True)


def prepare_database(customers: int, *, quick: bool) -> dict:
    """Reuse the pages benchmark's database when it fits, else build one; how, and how long it took."""
    name = QUICK_DATABASE if quick else DATABASE
    database_url = f"{SERVER_URL}/{name}"
    environment = child_environment(database_url)
    if not quick and scored_with_snapshots(database_url, customers):
        migrate = _manage(["migrate", "--noinput", "-v0"], environment)
        campaigns = _manage(["seed_demo_campaigns", "--org", ORG], environment)
        analyze_all(database_url)
        print(
            f"reusing {name}: demo organization with {customers:,} scored customers; migrate {migrate['seconds']:.1f} s; "
            f"{campaigns['stdout'].strip()}",
            flush=True,
        )
        return {"database": name, "reused": True, "keep": True, "migrate_seconds": migrate["seconds"]}
    recreate_database(name)
    _manage(["migrate", "--noinput", "-v0"], environment)
    seed = _manage(["seed_demo", "--customers", str(customers), "--seed", str(SEED)], environment)
    print(f"seeded {customers:,} customers in {seed['seconds']:.1f} s", flush=True)
    nightly = _manage(["run_nightly", "--org", ORG], environment)
    print(f"scored them and wrote the snapshots (run_nightly) in {nightly['seconds']:.1f} s", flush=True)
    _manage(["seed_demo_campaigns", "--org", ORG], environment)
    analyze_all(database_url)
    return {
        "database": name,
        "reused": False,
        "keep": not quick and os.environ.get("BENCH_API_DROP", "") in ("", "0", "false"),
        "seed_seconds": seed["seconds"],
        "nightly_seconds": nightly["seconds"],
    }


def analyze_all(database_url: str) -> None:
    """ANALYZE every table, as autovacuum would after the load and the migrations (it is off on this server)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("ANALYZE")


# The benchmark ------------------------------------------------------------------------------------------------


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_API_CUSTOMERS", DEFAULT_CUSTOMERS))
    print(machine_description(), flush=True)
    prepared = prepare_database(customers, quick=quick)
    database_url = f"{SERVER_URL}/{prepared['database']}"
    try:
        code = "import json, sys; from bench.api import measure; print(json.dumps(measure(sys.argv[1])))"
        child = run_child([sys.executable, "-c", code, database_url], child_environment(database_url))
        result = json.loads(child["stdout"].strip().splitlines()[-1])
    finally:
        release_database(prepared)
    result.update({"customers_requested": customers, "quick": quick, "database": prepared})
    print()
    for line in report_lines(result):
        print(line)
    return [result]


def _local(url: str) -> str:
    """A ``next`` link as the test client wants it: path and query, without the scheme and host."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def plan(client, channel_code: str | None) -> tuple[list[dict], list[dict]]:
    """The operations to time, each with its URL (or its list of detail URLs); the ones that cannot be timed."""
    cases: list[dict] = []
    skipped: list[dict] = []
    for resource, key, filters, deep in OPERATIONS:
        base = f"/api/v1/{resource}/"
        first_url = f"{base}?page_size={PAGE_SIZE}"
        response = client.get(first_url)
        if response.status_code != 200:
            skipped.append({"operation": f"{resource} list", "reason": f"status {response.status_code}"})
            continue
        cases.append({"resource": resource, "operation": "list, first page", "urls": [first_url]})
        page = response.json()
        rows = list(page["results"])
        if deep:
            url, depth = first_url, 0
            while depth < DEEP_PAGES and page.get("next"):
                url = _local(page["next"])
                page = client.get(url).json()
                depth += 1
            if depth == DEEP_PAGES:
                cases.append(
                    {"resource": resource, "operation": f"list, page {DEEP_PAGES + 1} (via next)", "urls": [url]}
                )
                rows += page["results"]
            else:
                skipped.append({"operation": f"{resource} deep page", "reason": f"only {depth + 1} pages"})
        for filter_query in filters:
            if "{channel}" in filter_query and channel_code is None:
                skipped.append({"operation": f"{resource} ?{filter_query}", "reason": "no channel"})
                continue
            query = filter_query.format(channel=channel_code)
            url = f"{base}?{query}&page_size={PAGE_SIZE}"
            cases.append({"resource": resource, "operation": f"list, ?{query}", "urls": [url]})
        ids = [row[key] for row in rows if row.get(key) is not None]
        if ids:
            cases.append(
                {"resource": resource, "operation": f"retrieve /{{{key}}}/", "urls": [f"{base}{i}/" for i in ids]}
            )
        else:
            reason = f"no `{key}` in its rows" if rows else "the list is empty"
            skipped.append({"operation": f"{resource} retrieve", "reason": reason})
    return cases, skipped


def measure(database_url: str) -> dict:
    """Runs in a child with Django configured for ``database_url``: the timings and query counts, as a dict."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.models import ApiKey, Organization
    from accounts.services import api_key_create
    from crm.models import Channel

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    org = Organization.objects.get(slug=ORG)
    first_channel = Channel.objects.for_org(org).order_by("pk").first()
    channel_code = first_channel.code if first_channel else None
    sizes = {
        table: org_count(connection, table, org.pk)
        for table in ("crm_customer", "crm_order", "segmentation_customerscore", "reporting_kpisnapshot")
    }
    key, plaintext = api_key_create(org=org, name="bench/api.py", scopes=["read"])
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        cases, skipped = plan(client, channel_code)

        timed: list[dict] = []
        for case in cases:
            statuses = {client.get(case["urls"][i % len(case["urls"])]).status_code for i in range(WARMUP)}
            if statuses != {200}:
                skipped.append({"operation": f"{case['resource']} {case['operation']}", "reason": f"status {statuses}"})
                continue
            with CaptureQueriesContext(connection) as captured:
                response = client.get(case["urls"][0])
            case["queries"] = len(captured.captured_queries)
            case["bytes"] = len(response.content)
            case["url"] = case["urls"][0]
            timed.append(case)

        before = _max_customer_id(connection, org.pk) + 1
        with psycopg.connect(database_url, autocommit=True) as raw:

            def baseline() -> None:
                with raw.cursor() as cursor:
                    cursor.execute(BASELINE_SQL, {"org": org.pk, "before": before})
                    assert len(cursor.fetchall()) == 50

            for _ in range(WARMUP):
                baseline()
            load_before = load_average()
            baseline_seconds: list[float] = []
            timings: list[list[float]] = [[] for _ in timed]
            for round_number in range(RUNS):
                started = time.perf_counter()
                baseline()
                baseline_seconds.append(time.perf_counter() - started)
                for index, case in enumerate(timed):
                    url = case["urls"][round_number % len(case["urls"])]
                    started = time.perf_counter()
                    response = client.get(url)
                    timings[index].append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:300]!r}")
            load_after = load_average()
    finally:
        ApiKey.objects.filter(pk=key.pk).delete()

    baseline_figures = summary(baseline_seconds)
    for case, seconds in zip(timed, timings, strict=True):
        case.update(summary(seconds))
        case["ratio_to_baseline"] = case["median_ms"] / baseline_figures["median_ms"]
        case["distinct_urls"] = len(case.pop("urls"))
    slowest = max(timed, key=lambda case: case["p95_ms"]) if timed else None
    return {
        "sizes": sizes,
        "channel_code": channel_code,
        "runs": RUNS,
        "warmup": WARMUP,
        "debug": settings.DEBUG,
        "cache": settings.CACHES["default"]["BACKEND"],
        "baseline_sql": BASELINE_SQL,
        "baseline": baseline_figures,
        "cases": timed,
        "skipped": skipped,
        "load_before": load_before,
        "load_after": load_after,
        "goal": {
            "target_ms": GOAL_MILLISECONDS,
            "slowest": f"{slowest['resource']} {slowest['operation']}" if slowest else None,
            "slowest_p95_ms": slowest["p95_ms"] if slowest else None,
            "met": bool(slowest) and slowest["p95_ms"] <= GOAL_MILLISECONDS,
        },
    }


def _max_customer_id(connection, org_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM crm_customer WHERE organization_id = %s", [org_id])
        return cursor.fetchone()[0] or 0


def report_lines(result: dict) -> list[str]:
    sizes = result["sizes"]
    baseline = result["baseline"]
    lines = [
        f"data: {sizes['crm_customer']:,} customers, {sizes['crm_order']:,} orders, "
        f"{sizes['segmentation_customerscore']:,} scores, {sizes['reporting_kpisnapshot']} KPI snapshots; "
        f"DEBUG {result['debug']}; cache {result['cache'].rsplit('.', 1)[-1]}",
        f"load average (1, 5, 15 min) before the runs {result['load_before']}, after {result['load_after']}",
        f"{result['runs']} timed rounds after {result['warmup']} warm-up requests per operation",
        f"baseline: {result['baseline_sql']}",
        "",
        f"| resource | operation | median | p95 | max | queries | bytes | ÷ baseline | p95 ≤ {GOAL_MILLISECONDS:.0f} ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
        f"| baseline | raw psycopg keyset page of 50 customers | {baseline['median_ms']:.2f} ms "
        f"| {baseline['p95_ms']:.2f} ms | {baseline['max_ms']:.2f} ms | 1 | — | 1× | — |",
    ]
    for case in result["cases"]:
        lines.append(
            f"| {case['resource']} | {case['operation']} | {case['median_ms']:.1f} ms | {case['p95_ms']:.1f} ms "
            f"| {case['max_ms']:.1f} ms | {case['queries']} | {case['bytes']:,} | {case['ratio_to_baseline']:,.0f}× "
            f"| {'yes' if case['p95_ms'] <= GOAL_MILLISECONDS else '**no**'} |"
        )
    for entry in result["skipped"]:
        lines.append(f"skipped: {entry['operation']}: {entry['reason']}")
    goal = result["goal"]
    if goal["slowest"]:
        lines.append(
            f"slowest p95: {goal['slowest']} {goal['slowest_p95_ms']:.1f} ms; goal p95 ≤ {goal['target_ms']:.0f} ms "
            f"{'met' if goal['met'] else 'NOT met'}"
        )
    return lines


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
