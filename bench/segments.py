"""How long the live count of a segment takes on a scored 1M-customer organization, against hand-written SQL.

The database ``custops_bench_seg`` is created, migrated, seeded with ``manage.py seed_demo --customers N --seed
42`` and scored with ``manage.py run_nightly --org demo`` (as ``bench/nightly.py`` does), each in a child process.
Then, in one child process with Django set up, the preview of a three-level rule (``RULE``: all → any → not →
all, over a score choice, an order aggregate, consent and a score number) is timed ``RUNS`` times after one
untimed warm-up:

* ``segment_queryset(RULE, ...).count()``: validation, compilation and the COUNT the builder's live count runs;
* ``segment_preview(...)``: that count plus the sample of the 20 most valuable members (what the API returns);
* **baselines**: hand-written ``SELECT count(*)`` of the same predicate on a psycopg cursor, as first written
  (``HAND_SQL``, a correlated COUNT of the orders) and tuned (``HAND_SQL_TUNED``, cheap arm first, EXISTS ... OFFSET 1);
  the ratio goal is taken against the faster of the two;
* a reference that is not the same predicate (``FLOOR_SQL``): the join and column conditions without the orders.

Runs of all cases alternate, so that load from elsewhere on the machine falls on all of them alike. The counts
must agree. ``EXPLAIN (ANALYZE, BUFFERS)`` of the ORM's COUNT and of the hand-written ones is printed, and the
load average before and after the runs. The score tables are ANALYZEd first (``analyze_scores``).

Sizes: N = 1,000,000 customers by default, ``BENCH_SEG_CUSTOMERS`` overrides it; ``--quick`` uses N = 5,000.
``BENCH_SEG_REUSE=1`` reuses an existing ``custops_bench_seg`` holding a scored demo organization of that size and
keeps it afterwards (``bench/send.py`` uses the same database); otherwise it is created fresh and dropped at the end.
Children run with ``DJANGO_DEBUG=false`` unless the environment sets it.
"""

from __future__ import annotations

import json
import os
import statistics
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

DATABASE = os.environ.get("BENCH_SEG_DATABASE", "custops_bench_seg")
DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 5_000
SEED = 42
ORG = "demo"
RUNS = 10
GOAL_MILLISECONDS = 300.0
GOAL_RATIO = 3.0

#: Three levels below the root: tier in (high, mid) AND (at least 2 completed orders OR NOT (consents AND low churn)).
RULE = {
    "all": [
        {"field": "tier", "op": "in", "value": ["high", "mid"]},
        {
            "any": [
                {"field": "orders_count", "op": "gte", "value": 2},
                {
                    "not": {
                        "all": [
                            {"field": "consent_email", "op": "eq", "value": True},
                            {"field": "churn_probability", "op": "lt", "value": 0.3},
                        ]
                    }
                },
            ]
        },
    ]
}

#: The same predicate as a person would write it. A missing churn probability never matches ``lt`` (rules.py,
#: "Missing values"), hence the ``coalesce``; ``orders_count`` counts completed orders of the organization.
HAND_SQL = """
SELECT count(*)
FROM crm_customer c
JOIN segmentation_customerscore s ON s.customer_id = c.id
WHERE c.organization_id = %(org)s
  AND s.tier IN ('high', 'mid')
  AND (
    (SELECT count(*) FROM crm_order o
      WHERE o.organization_id = %(org)s AND o.customer_id = c.id AND o.status = 'completed') >= 2
    OR NOT (c.consent_email AND coalesce(s.churn_probability < 0.3, false))
  )
"""

#: The same predicate as one would write it knowing where the time goes: the cheap arm of the OR first (PostgreSQL
#: evaluates OR operands in the order written and stops at the first true one), and "at least 2 completed orders" as
#: an EXISTS that stops at the second order instead of counting them all.
HAND_SQL_TUNED = """
SELECT count(*)
FROM crm_customer c
JOIN segmentation_customerscore s ON s.customer_id = c.id
WHERE c.organization_id = %(org)s
  AND s.tier IN ('high', 'mid')
  AND (
    NOT (c.consent_email AND coalesce(s.churn_probability < 0.3, false))
    OR EXISTS (SELECT 1 FROM crm_order o
      WHERE o.organization_id = %(org)s AND o.customer_id = c.id AND o.status = 'completed' OFFSET 1)
  )
"""

#: Not the same predicate: the join and the column conditions alone, without the orders arm. What any form of this
#: rule pays before it looks at a single order (a reference, not a baseline).
FLOOR_SQL = """
SELECT count(*)
FROM crm_customer c
JOIN segmentation_customerscore s ON s.customer_id = c.id
WHERE c.organization_id = %(org)s
  AND s.tier IN ('high', 'mid')
  AND NOT (c.consent_email AND coalesce(s.churn_probability < 0.3, false))
"""


# Database: seeded and scored once ------------------------------------------------------------------------------


def reuse_requested() -> bool:
    return os.environ.get("BENCH_SEG_REUSE", "") not in ("", "0", "false")


def scored_organization(database_url: str, customers: int) -> bool:
    """Whether the database holds the demo organization with ``customers`` customers, all scored."""
    try:
        with psycopg.connect(database_url, connect_timeout=5) as connection:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM crm_customer WHERE organization_id = o.id), "
                "(SELECT count(*) FROM segmentation_customerscore WHERE organization_id = o.id) "
                "FROM accounts_organization o WHERE o.slug = %s",
                [ORG],
            ).fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] == customers and row[1] == customers


def prepare_database(customers: int) -> dict:
    """Create, migrate, seed and score ``DATABASE`` (or reuse it, with ``BENCH_SEG_REUSE=1``); how long it took."""
    database_url = f"{SERVER_URL}/{DATABASE}"
    environment = child_environment(database_url)
    if reuse_requested() and scored_organization(database_url, customers):
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


def analyze_scores(database_url: str) -> dict:
    """ANALYZE the tables the nightly rewrote, as autovacuum would soon after it.

    ``seed_demo`` analyzes what it loads, the nightly does not; on a server with autovacuum off (as this one is)
    the planner would otherwise guess a few thousand rows for ``tier IN ('high', 'mid')`` (264,000 at 1M).
    """
    with psycopg.connect(database_url, autocommit=True) as connection:
        autovacuum = connection.execute("SHOW autovacuum").fetchone()[0]
        started = time.perf_counter()
        connection.execute("ANALYZE segmentation_customerscore, segmentation_scorechange")
        seconds = time.perf_counter() - started
    print(f"autovacuum {autovacuum}; ANALYZE of the score tables: {seconds:.1f} s", flush=True)
    return {"autovacuum": autovacuum, "analyze_seconds": seconds}


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def summary(seconds: list[float]) -> dict:
    """Median and p95 (linear interpolation between the closest ranks) in milliseconds."""
    ordered = sorted(seconds)
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    p95 = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return {
        "runs_ms": [round(s * 1000, 2) for s in seconds],
        "median_ms": statistics.median(seconds) * 1000,
        "p95_ms": p95 * 1000,
        "min_ms": ordered[0] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


# The benchmark ------------------------------------------------------------------------------------------------


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_SEG_CUSTOMERS", DEFAULT_CUSTOMERS))
    print(machine_description(), flush=True)
    prepared = prepare_database(customers)
    database_url = f"{SERVER_URL}/{DATABASE}"
    try:
        code = "import json, sys; from bench.segments import measure; print(json.dumps(measure(sys.argv[1])))"
        child = run_child([sys.executable, "-c", code, database_url], child_environment(database_url))
        result = json.loads(child["stdout"].strip().splitlines()[-1])
    finally:
        release_database(prepared)
    result.update({"customers_requested": customers, "database": prepared})
    print()
    for line in report_lines(result):
        print(line)
    return [result]


def measure(database_url: str) -> dict:
    """Runs in a child with Django configured for ``database_url``: the timings, counts and plans, as a dict."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import Organization
    from accounts.timekeeping import local_today
    from segmentation.rules import segment_queryset
    from segmentation.selectors import segment_preview

    org = Organization.objects.get(slug=ORG)
    today = local_today(org, timezone.now())
    params = {"org": org.pk}
    sizes = {
        "customers": org_count(connection, "crm_customer", org.pk),
        "scores": org_count(connection, "segmentation_customerscore", org.pk),
        "orders": org_count(connection, "crm_order", org.pk),
    }

    def orm_count() -> int:
        return segment_queryset(RULE, org=org, today=today).count()

    def preview() -> int:
        return segment_preview(org=org, rules=RULE, today=today)["count"]

    with psycopg.connect(database_url, autocommit=True) as raw:

        def raw_count(query: str):
            def count() -> int:
                with raw.cursor() as cursor:
                    cursor.execute(query, params)
                    return cursor.fetchone()[0]

            return count

        cases = {
            "orm_count": orm_count,
            "segment_preview": preview,
            "hand_sql": raw_count(HAND_SQL),
            "hand_sql_tuned": raw_count(HAND_SQL_TUNED),
            "floor": raw_count(FLOOR_SQL),
        }
        counts = {name: call() for name, call in cases.items()}  # the warm-up
        load_before = load_average()
        timings: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):
            for name, call in cases.items():
                started = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - started)
        load_after = load_average()

        with CaptureQueriesContext(connection) as captured:
            orm_count()
        orm_sql = captured.captured_queries[-1]["sql"]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + orm_sql)
            orm_plan = "\n".join(row[0] for row in cursor.fetchall())
        hand_plans = {}
        for name, query in (("hand_sql", HAND_SQL), ("hand_sql_tuned", HAND_SQL_TUNED)):
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params)
                hand_plans[name] = "\n".join(row[0] for row in cursor.fetchall())
        settings_row = raw.execute(
            "SELECT current_setting('max_parallel_workers_per_gather'), current_setting('work_mem'), "
            "current_setting('jit')"
        ).fetchone()

    figures = {name: summary(seconds) for name, seconds in timings.items()}
    # The goal is measured against the faster of the two hand-written forms.
    best = min(("hand_sql", "hand_sql_tuned"), key=lambda name: figures[name]["median_ms"])
    ratio = figures["orm_count"]["median_ms"] / figures[best]["median_ms"]
    same_predicate = {name: count for name, count in counts.items() if name != "floor"}
    return {
        **sizes,
        "rule": RULE,
        "today": today.isoformat(),
        "counts": counts,
        "counts_agree": len(set(same_predicate.values())) == 1,
        "runs": RUNS,
        "figures": figures,
        "best_hand": best,
        "ratio_orm_to_hand_median": ratio,
        "ratio_orm_to_hand_p95": figures["orm_count"]["p95_ms"] / figures[best]["p95_ms"],
        "load_before": load_before,
        "load_after": load_after,
        "server_settings": dict(zip(("max_parallel_workers_per_gather", "work_mem", "jit"), settings_row, strict=True)),
        "orm_sql": orm_sql,
        "hand_sql": " ".join(HAND_SQL.split()),
        "hand_sql_tuned": " ".join(HAND_SQL_TUNED.split()),
        "orm_plan": orm_plan,
        "hand_plans": hand_plans,
        "goals": [
            goal("preview count, median", figures["orm_count"]["median_ms"], GOAL_MILLISECONDS, "ms"),
            goal("preview count, p95", figures["orm_count"]["p95_ms"], GOAL_MILLISECONDS, "ms"),
            goal(f"preview count ÷ hand-written COUNT ({best}), median", ratio, GOAL_RATIO, "x"),
        ],
    }


def goal(name: str, measured: float, target: float, unit: str) -> dict:
    return {"goal": name, "measured": measured, "target": target, "unit": unit, "met": measured <= target}


def report_lines(result: dict) -> list[str]:
    figures = result["figures"]
    lines = [
        f"data: {result['customers']:,} customers, {result['scores']:,} scores, {result['orders']:,} orders; "
        f"today {result['today']}",
        f"counts: {result['counts']} (agree: {result['counts_agree']})",
        f"load average (1, 5, 15 min) before the runs {result['load_before']}, after {result['load_after']}",
        f"server: {result['server_settings']}",
        "",
        "ORM SQL of the count:",
        result["orm_sql"],
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of the ORM count:",
        result["orm_plan"],
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of the hand-written count:",
        result["hand_plans"]["hand_sql"],
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of the tuned hand-written count:",
        result["hand_plans"]["hand_sql_tuned"],
        "",
        f"| what ({result['runs']} runs after one warm-up) | median | p95 | min | max "
        "| ÷ hand-written | ÷ tuned hand-written |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    hand = figures["hand_sql"]["median_ms"]
    tuned = figures["hand_sql_tuned"]["median_ms"]
    for name, label in (
        ("orm_count", "`segment_queryset(rule).count()`"),
        ("segment_preview", "`segment_preview` (count + 20-member sample)"),
        ("hand_sql", "hand-written `SELECT count(*)`, correlated COUNT (psycopg)"),
        ("hand_sql_tuned", "hand-written, cheap arm first + `EXISTS ... OFFSET 1` (psycopg)"),
        ("floor", "reference: the join and column conditions only, no orders (psycopg)"),
    ):
        figure = figures[name]
        lines.append(
            f"| {label} | {figure['median_ms']:.1f} ms | {figure['p95_ms']:.1f} ms | {figure['min_ms']:.1f} ms "
            f"| {figure['max_ms']:.1f} ms | {figure['median_ms'] / hand:.2f}x | {figure['median_ms'] / tuned:.2f}x |"
        )
    lines += ["", "| goal | target | measured | met |", "|---|---:|---:|---|"]
    for entry in result["goals"]:
        number = "{:.2f}" if entry["unit"] == "x" else "{:.1f}"
        lines.append(
            f"| {entry['goal']} | ≤ {number.format(entry['target'])} {entry['unit']} "
            f"| {number.format(entry['measured'])} {entry['unit']} | {'yes' if entry['met'] else 'no'} |"
        )
    return lines


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
