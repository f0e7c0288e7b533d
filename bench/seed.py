"""How long ``manage.py seed_demo`` takes on PostgreSQL, against the fastest load the server could do.

For each size, a fresh database ``custops_bench`` is created, migrated and seeded by ``manage.py`` in a
child process, exactly as a person would run it; the child's wall time and peak RSS are measured. In the
same run, the same number of order rows (simulated with the same seed, formatted before the clock starts)
are loaded with one raw ``COPY`` into a plain table without indexes or constraints: the floor for moving
that much data into this server. Two ratios are quoted: the whole seed (customers, orders, events,
feedback, spend, with every index and foreign-key check of the real schema) over that floor, and the seed's
orders phase alone over it.

Needs PostgreSQL at ``BENCH_POSTGRES_URL`` (default: trust auth as ``postgres`` on 127.0.0.1:5432).
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import time
import zoneinfo

import numpy as np
import psycopg
from psycopg import sql

from bench.postgres import PROJECT_ROOT, SERVER_URL, drop_database, machine_description, recreate_database, run_child

DATABASE = "custops_bench"
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (5_000,)
SEED = 42
ORDER_COLUMNS = (
    "id, external_id, ordered_at, amount, currency, status, created_at, channel_id, customer_id, organization_id"
)


def main(*, quick: bool = False) -> list[dict]:
    print(machine_description(), flush=True)
    results = []
    for customers in QUICK_SIZES if quick else SIZES:
        results.append(bench_size(customers))
        print(format_result(results[-1]), flush=True)
    print()
    print(
        "| customers | orders | events | seed wall time | peak RSS (seed process) | raw COPY of the orders | ratio seed/COPY | orders phase | ratio orders/COPY |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(markdown_row(result))
    return results


def bench_size(customers: int) -> dict:
    database_url = f"{SERVER_URL}/{DATABASE}"
    recreate_database(DATABASE)
    try:
        environment = {**os.environ, "DATABASE_URL": database_url}
        run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environment)
        command = [sys.executable, "manage.py", "seed_demo", "--customers", str(customers), "--seed", str(SEED)]
        seed = run_child(command, environment)
        with psycopg.connect(database_url) as connection:
            counts = {
                table: connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[
                    0
                ]
                for table in ("crm_customer", "crm_order", "crm_event", "crm_feedback", "crm_channelspend")
            }
            baseline = raw_copy_baseline(connection, customers)
    finally:
        drop_database(DATABASE)
    phases = seed_phases(seed["stdout"])
    orders_phase = phases.get("orders")
    return {
        "command": " ".join(["python", *command[1:]]),
        "customers": counts["crm_customer"],
        "orders": counts["crm_order"],
        "events": counts["crm_event"],
        "feedback": counts["crm_feedback"],
        "channel_spend": counts["crm_channelspend"],
        "seed_seconds": seed["seconds"],
        "seed_peak_rss_mib": seed["peak_rss_mib"],
        "orders_phase_seconds": orders_phase,
        "phases_seconds": phases,
        "baseline_rows": baseline["rows"],
        "baseline_seconds": baseline["seconds"],
        "ratio_seed_to_copy": seed["seconds"] / baseline["seconds"],
        "ratio_orders_to_copy": orders_phase / baseline["seconds"] if orders_phase else None,
    }


def raw_copy_baseline(connection: psycopg.Connection, customers: int) -> dict:
    """One ``COPY`` of the demo's orders into a plain table (no index, no constraint), data ready in memory."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from crm.bulk_load import Column, Kind, copy_text
    from crm.demo_data import ORDER_STATUSES, sequence_ids, simulate_demo

    today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()  # as seed_demo does
    orders = simulate_demo(customers=customers, seed=SEED, today=today).orders
    rows = len(orders)
    columns = {
        "id": Column(Kind.INTEGER, np.arange(1, rows + 1)),
        "external_id": Column(Kind.TEXT, sequence_ids("O", 0, rows, 9)),
        "ordered_at": Column(Kind.TIMESTAMP, orders.ordered_at),
        "amount": Column(Kind.MONEY, orders.cents),
        "currency": Column(Kind.TEXT, "CNY"),
        "status": Column(Kind.TEXT, np.array(ORDER_STATUSES)[orders.status]),
        "created_at": Column(Kind.TIMESTAMP, orders.ordered_at),
        "channel_id": Column(Kind.INTEGER, orders.channel + 1, null=orders.channel < 0),
        "customer_id": Column(Kind.INTEGER, orders.customer.astype(np.int64) + 1),
        "organization_id": Column(Kind.INTEGER, 1),
    }
    chunks = [copy_text(columns, start, min(start + 200_000, rows)) for start in range(0, rows, 200_000)]
    connection.execute("DROP TABLE IF EXISTS bench_order_baseline")
    connection.execute("CREATE TABLE bench_order_baseline (LIKE crm_order)")
    connection.commit()
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.copy(f"COPY bench_order_baseline ({ORDER_COLUMNS}) FROM STDIN") as copy:
        for chunk in chunks:
            copy.write(chunk)
    connection.commit()
    seconds = time.perf_counter() - started
    connection.execute("DROP TABLE bench_order_baseline")
    connection.commit()
    return {"rows": rows, "seconds": seconds}


def seed_phases(seed_output: str) -> dict[str, float]:
    """The phase times from the ``Timings:`` block that ``seed_demo`` prints."""
    timings = seed_output.split("Timings:", 1)[-1]
    return {name: float(seconds) for name, seconds in re.findall(r"^  (\S.*?)\s+([\d.]+) s$", timings, re.MULTILINE)}


def format_result(result: dict) -> str:
    return (
        f"{result['customers']:>10,} customers {result['orders']:>11,} orders {result['events']:>11,} events: "
        f"seed {result['seed_seconds']:.1f} s, peak RSS {result['seed_peak_rss_mib']:.0f} MiB; "
        f"raw COPY of {result['baseline_rows']:,} orders {result['baseline_seconds']:.2f} s; "
        f"seed/COPY {result['ratio_seed_to_copy']:.1f}x, orders phase {result['orders_phase_seconds']:.1f} s "
        f"= {result['ratio_orders_to_copy']:.1f}x the raw COPY\n"
        f"    phases: {', '.join(f'{name} {seconds:.1f} s' for name, seconds in result['phases_seconds'].items())}"
    )


def markdown_row(result: dict) -> str:
    return (
        f"| {result['customers']:,} | {result['orders']:,} | {result['events']:,} | {result['seed_seconds']:.1f} s "
        f"| {result['seed_peak_rss_mib']:,.0f} MiB | {result['baseline_seconds']:.2f} s "
        f"| {result['ratio_seed_to_copy']:.1f}x | {result['orders_phase_seconds']:.1f} s "
        f"| {result['ratio_orders_to_copy']:.1f}x |"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
