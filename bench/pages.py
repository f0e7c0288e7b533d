"""Server time of every report page and of the home page per role, on a scored demo organization.

The database ``custops_bench_pages`` is created, migrated, seeded with ``manage.py seed_demo --customers N --seed
42`` and scored with ``manage.py run_nightly --org demo`` (so the snapshot tables the pages read exist), each in a
child process, and the score tables are ANALYZEd (as ``bench/segments.py`` does). Then, in one child process with
Django set up (``DJANGO_DEBUG=false`` unless the environment sets it), each page of ``PAGES`` is requested
in-process with ``django.test.Client`` (``force_login`` as the demo member of the page's role, the language in
Django's language cookie), in English and in Simplified Chinese:

* **server time** = the wall time around ``client.get(url)``: URL resolution, middleware (session, organization,
  locale), the view, its queries and the template rendering, as one request of a real server minus the HTTP
  parsing and the socket. The connection to PostgreSQL stays open between requests, as with ``CONN_MAX_AGE``;
* ``WARMUP`` untimed requests per page first (template compilation, first queries), then ``RUNS`` timed rounds
  in which every page is requested once in turn, so that load from elsewhere on the machine falls on all of them
  alike; median, p95 (interpolated between the closest ranks) and max per page;
* the query count of one more, untimed request under ``CaptureQueriesContext`` (which forces the debug cursor,
  so it is never inside a timed request);
* **baseline**, in the same rounds: a raw psycopg ``SELECT`` of the organization's latest ``KpiSnapshot`` row
  (``BASELINE_SQL``) on its own connection: the least a page showing a figure of the nightly can cost. Pages are
  quoted as a ratio of it.

Pages are found by URL name with ``reverse()``; a page whose route does not exist (yet) is listed as "route
missing" and skipped, a page answering with anything but 200 is listed with its status and not timed.

Sizes: N = 1,000,000 customers by default, ``BENCH_PAGES_CUSTOMERS`` overrides it; ``--quick`` uses N = 3,000.
``BENCH_PAGES_REUSE=1`` reuses an existing ``custops_bench_pages`` (``BENCH_PAGES_DATABASE`` names it) that holds
a scored demo organization of that size and keeps it afterwards; otherwise it is created fresh and dropped at the
end. ``BENCH_PAGES_RUNS`` changes the number of timed rounds (default 20).
"""

from __future__ import annotations

import json
import os
import sys
import time

import psycopg

from bench.postgres import (
    SERVER_URL,
    child_environment,
    machine_description,
    org_count,
    recreate_database,
    release_database,
    run_child,
    seed_and_score,
)
from bench.segments import analyze_scores, goal, load_average, summary

DATABASE = os.environ.get("BENCH_PAGES_DATABASE", "custops_bench_pages")
DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 3_000
SEED = 42
ORG = "demo"
WARMUP = 3
RUNS = int(os.environ.get("BENCH_PAGES_RUNS", "20"))
GOAL_MILLISECONDS = 150.0
LANGUAGES = ("en", "zh-hans")

#: (label, URL names to try in turn, role of the member who opens it, how to fill its arguments).
#: Home is timed for every role (each role sees its own blocks); the report pages as an admin, who sees every
#: control. ``"channel"`` as arguments means the code of the organization's first channel.
PAGES: tuple[tuple[str, tuple[str, ...], str, str | None], ...] = (
    ("home (ops)", ("home",), "ops", None),
    ("home (marketer)", ("home",), "marketer", None),
    ("home (admin)", ("home",), "admin", None),
    ("home (viewer)", ("home",), "viewer", None),
    ("KPI overview /reports/", ("reporting:kpi-overview",), "admin", None),
    ("channels /reports/channels/", ("reporting:channel-report", "reporting:channel-list"), "admin", None),
    ("channel detail /reports/channels/<code>/", ("reporting:channel-detail",), "admin", "channel"),
    ("cohorts /reports/cohorts/", ("reporting:cohort-report",), "admin", None),
    ("customers and value /reports/customers/", ("reporting:customer-value",), "admin", None),
    ("scores /reports/scores/", ("reporting:score-list",), "admin", None),
    ("CLV model /reports/models/clv/", ("reporting:clv-model",), "admin", None),
    ("at-risk /reports/at-risk/", ("reporting:at-risk",), "admin", None),
    ("alerts /reports/alerts/", ("reporting:alert-list",), "admin", None),
    ("jobs /reports/jobs/", ("reporting:job-list",), "admin", None),
    ("segments /segments/", ("segmentation:segment-list",), "admin", None),
    ("campaigns /campaigns/", ("campaigns:campaign-list",), "admin", None),
)

#: The baseline: one snapshot row of the nightly, read by its index, nothing rendered.
BASELINE_SQL = (
    "SELECT id, day, computed_at, values FROM reporting_kpisnapshot "
    "WHERE organization_id = %(org)s ORDER BY day DESC LIMIT 1"
)


# Database: seeded and scored once ------------------------------------------------------------------------------


def reuse_requested() -> bool:
    return os.environ.get("BENCH_PAGES_REUSE", "") not in ("", "0", "false")


def scored_with_snapshots(database_url: str, customers: int) -> bool:
    """Whether the database holds the demo organization with ``customers`` customers, all scored, and a KPI snapshot."""
    try:
        with psycopg.connect(database_url, connect_timeout=5) as connection:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM crm_customer WHERE organization_id = o.id), "
                "(SELECT count(*) FROM segmentation_customerscore WHERE organization_id = o.id), "
                "(SELECT count(*) FROM reporting_kpisnapshot WHERE organization_id = o.id) "
                "FROM accounts_organization o WHERE o.slug = %s",
                [ORG],
            ).fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] == customers and row[1] == customers and row[2] > 0


def prepare_database(customers: int) -> dict:
    """Create, migrate, seed and score ``DATABASE`` (or reuse it, with ``BENCH_PAGES_REUSE=1``); how long it took."""
    database_url = f"{SERVER_URL}/{DATABASE}"
    environment = child_environment(database_url)
    if reuse_requested() and scored_with_snapshots(database_url, customers):
        print(f"reusing {DATABASE}: demo organization with {customers:,} scored customers", flush=True)
        return {"database": DATABASE, "reused": True, "keep": True, **analyze_scores(database_url)}
    recreate_database(DATABASE)
    timings = seed_and_score(environment, customers, seed=SEED, org=ORG)
    return {
        "database": DATABASE,
        "reused": False,
        "keep": reuse_requested(),
        **timings,
        **analyze_scores(database_url),
    }


# The benchmark ------------------------------------------------------------------------------------------------


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_PAGES_CUSTOMERS", DEFAULT_CUSTOMERS))
    print(machine_description(), flush=True)
    prepared = prepare_database(customers)
    database_url = f"{SERVER_URL}/{DATABASE}"
    try:
        code = "import json, sys; from bench.pages import measure; print(json.dumps(measure(sys.argv[1])))"
        child = run_child([sys.executable, "-c", code, database_url], child_environment(database_url))
        result = json.loads(child["stdout"].strip().splitlines()[-1])
    finally:
        release_database(prepared)
    result.update({"customers_requested": customers, "quick": quick, "database": prepared})
    print()
    for line in report_lines(result):
        print(line)
    return [result]


def page_url(names: tuple[str, ...], arguments: str | None, channel_code: str | None) -> tuple[str | None, str]:
    """The page's path from the first of ``names`` that resolves, else None and why."""
    from django.urls import NoReverseMatch, reverse

    args = []
    if arguments == "channel":
        if channel_code is None:
            return None, "no channel in the organization"
        args = [channel_code]
    for name in names:
        try:
            return reverse(name, args=args), name
        except NoReverseMatch:
            continue
    return None, f"route missing ({' / '.join(names)} not in the URLconf)"


def measure(database_url: str) -> dict:
    """Runs in a child with Django configured for ``database_url``: the timings and query counts, as a dict."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Organization, User
    from crm.demo import demo_logins
    from crm.models import Channel

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    org = Organization.objects.get(slug=ORG)
    first_channel = Channel.objects.for_org(org).order_by("pk").first()
    channel_code = first_channel.code if first_channel else None
    # The first demo member of each role (admin1@demo.custops.local, ...).
    members: dict[str, User] = {}
    for email, role in demo_logins(org.slug):
        if role not in members:
            members[role] = User.objects.get(email=email)
    sizes = {
        "customers": org_count(connection, "crm_customer", org.pk),
        "scores": org_count(connection, "segmentation_customerscore", org.pk),
        "orders": org_count(connection, "crm_order", org.pk),
        "kpi_snapshots": org_count(connection, "reporting_kpisnapshot", org.pk),
    }

    # One logged-in client per (role, language): a session row each, read by every request as a browser's would.
    clients: dict[tuple[str, str], Client] = {}
    for role, user in members.items():
        for language in LANGUAGES:
            client = Client(raise_request_exception=False)
            client.force_login(user)
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
            clients[role, language] = client

    cases: list[dict] = []
    skipped: list[dict] = []
    for label, names, role, arguments in PAGES:
        url, how = page_url(names, arguments, channel_code)
        for language in LANGUAGES:
            entry = {"page": label, "language": language, "role": role, "url": url}
            if url is None:
                skipped.append({**entry, "reason": how})
                continue
            client = clients[role, language]
            statuses = set()
            for _ in range(WARMUP):
                response = client.get(url)
                statuses.add(response.status_code)
            if statuses != {200}:
                skipped.append({**entry, "reason": f"status {sorted(statuses)} (not timed)"})
                continue
            size = len(response.content)
            if f'<html lang="{language}"'.encode() not in response.content[:500]:
                raise RuntimeError(f"{url} was not served in {language}: the language cookie was not honoured")
            with CaptureQueriesContext(connection) as captured:
                client.get(url)
            cases.append({**entry, "name": how, "bytes": size, "queries": len(captured.captured_queries)})

    with psycopg.connect(database_url, autocommit=True) as raw:

        def baseline() -> None:
            with raw.cursor() as cursor:
                cursor.execute(BASELINE_SQL, {"org": org.pk})
                cursor.fetchone()

        for _ in range(WARMUP):
            baseline()
        load_before = load_average()
        baseline_seconds: list[float] = []
        timings: list[list[float]] = [[] for _ in cases]
        for _ in range(RUNS):
            started = time.perf_counter()
            baseline()
            baseline_seconds.append(time.perf_counter() - started)
            for index, case in enumerate(cases):
                client = clients[case["role"], case["language"]]
                started = time.perf_counter()
                response = client.get(case["url"])
                timings[index].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{case['url']} ({case['language']}) answered {response.status_code}")
        load_after = load_average()

    baseline_figures = summary(baseline_seconds)
    for case, seconds in zip(cases, timings, strict=True):
        case.update(summary(seconds))
        case["ratio_to_baseline"] = case["median_ms"] / baseline_figures["median_ms"]
    slowest = max(cases, key=lambda case: case["p95_ms"]) if cases else None
    slowest_median = max(cases, key=lambda case: case["median_ms"]) if cases else None
    return {
        **sizes,
        "channel_code": channel_code,
        "runs": RUNS,
        "warmup": WARMUP,
        "languages": list(LANGUAGES),
        "debug": settings.DEBUG,
        "baseline_sql": BASELINE_SQL,
        "baseline": baseline_figures,
        "cases": cases,
        "skipped": skipped,
        "load_before": load_before,
        "load_after": load_after,
        "goals": [
            goal(
                f"every page, median (slowest: {slowest_median['page']}, {slowest_median['language']})",
                slowest_median["median_ms"],
                GOAL_MILLISECONDS,
                "ms",
            ),
            goal(
                f"every page, p95 (slowest: {slowest['page']}, {slowest['language']})",
                slowest["p95_ms"],
                GOAL_MILLISECONDS,
                "ms",
            ),
        ]
        if cases
        else [],
        "pages_over_goal": sorted(
            {f"{case['page']} ({case['language']})" for case in cases if case["median_ms"] > GOAL_MILLISECONDS}
        ),
    }


def report_lines(result: dict) -> list[str]:
    baseline = result["baseline"]
    lines = [
        f"data: {result['customers']:,} customers, {result['scores']:,} scores, {result['orders']:,} orders, "
        f"{result['kpi_snapshots']} KPI snapshots; first channel {result['channel_code']!r}; DEBUG {result['debug']}",
        f"load average (1, 5, 15 min) before the runs {result['load_before']}, after {result['load_after']}",
        f"baseline: {result['baseline_sql']}",
        "",
        f"| page | language | role | median | p95 | max | queries | ÷ baseline | ≤ {GOAL_MILLISECONDS:.0f} ms (median) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
        f"| baseline: raw psycopg read of the latest `KpiSnapshot` row | — | — | {baseline['median_ms']:.2f} ms "
        f"| {baseline['p95_ms']:.2f} ms | {baseline['max_ms']:.2f} ms | 1 | 1× | — |",
    ]
    for case in result["cases"]:
        lines.append(
            f"| {case['page']} | {case['language']} | {case['role']} | {case['median_ms']:.1f} ms "
            f"| {case['p95_ms']:.1f} ms | {case['max_ms']:.1f} ms | {case['queries']} "
            f"| {case['ratio_to_baseline']:,.0f}× | {'yes' if case['median_ms'] <= GOAL_MILLISECONDS else '**no**'} |"
        )
    for entry in result["skipped"]:
        lines.append(f"skipped: {entry['page']} ({entry['language']}, {entry['role']}): {entry['reason']}")
    if result["goals"]:
        lines += ["", "| goal | target | measured | met |", "|---|---:|---:|---|"]
        for entry in result["goals"]:
            lines.append(
                f"| {entry['goal']} | ≤ {entry['target']:.0f} {entry['unit']} | {entry['measured']:.1f} {entry['unit']} "
                f"| {'yes' if entry['met'] else 'no'} |"
            )
    lines.append(
        f"pages with a median over {GOAL_MILLISECONDS:.0f} ms: {', '.join(result['pages_over_goal']) or 'none'}"
    )
    return lines


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
