"""How fast ``manage.py import_csv`` loads customers and orders on PostgreSQL, against psql's ``\\copy``.

A fresh database ``custops_bench_import`` is created, migrated and given one organization (``bench``).
Two CSV files are generated with numpy: N customers (``external_id,name,email,created_at``) and 10×N orders
(``external_id,customer_external_id,ordered_at,amount``). Each is imported by ``manage.py import_csv`` in a
child process, exactly as a person would run it; the child's wall time (Django start-up included) and peak
RSS (``os.wait4``) are measured. **Baseline**: in the same run, ``psql -c "\\copy ... CSV HEADER"`` loads each
file into a bare table with the same columns (text and numeric, no index, no constraint): the floor for
moving that file into this server.

Sizes: N = 100,000 by default (1,000,000 orders), ``BENCH_IMPORT_CUSTOMERS`` overrides it; ``--quick`` uses
N = 2,000. Needs PostgreSQL at ``BENCH_POSTGRES_URL`` (default: trust auth as ``postgres`` on 127.0.0.1:5432).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from bench.postgres import SERVER_URL, drop_database, machine_description, recreate_database, run_child

DATABASE = "custops_bench_import"
DEFAULT_CUSTOMERS = 100_000
QUICK_CUSTOMERS = 2_000
ORDERS_PER_CUSTOMER = 10
CHUNK_ROWS = 500_000
SEED = 42
BARE_TABLES = {
    "customers": "bare_customers (external_id text, name text, email text, created_at text)",
    "orders": "bare_orders (external_id text, customer_external_id text, ordered_at text, amount numeric)",
}


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_IMPORT_CUSTOMERS", DEFAULT_CUSTOMERS))
    print(machine_description(), flush=True)
    results = bench_size(customers)
    for result in results:
        print(format_result(result), flush=True)
    print()
    print("| kind | rows | import wall time | rows/s | peak RSS (import) | psql \\copy | import ÷ \\copy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(markdown_row(result))
    return results


def bench_size(customers: int) -> list[dict]:
    database_url = f"{SERVER_URL}/{DATABASE}"
    recreate_database(DATABASE)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
            folder_path = Path(folder)
            environment = {
                **os.environ,
                "DATABASE_URL": database_url,
                "DJANGO_MEDIA_ROOT": str(folder_path / "media"),
            }
            run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environment, quiet_stderr=True)
            run_child(
                [sys.executable, "manage.py", "create_org", "bench", "--name", "Bench"], environment, quiet_stderr=True
            )
            started = time.perf_counter()
            # In a spawned child: the numpy strings would otherwise raise this process's RSS high-water mark,
            # which a forked (or vforked) import child reports as its own peak.
            files = {"customers": folder_path / "customers.csv", "orders": folder_path / "orders.csv"}
            generator = multiprocessing.get_context("spawn").Process(
                target=write_csv_files, args=(folder_path, customers)
            )
            generator.start()
            generator.join()
            if generator.exitcode != 0:
                raise RuntimeError(f"generating the CSV files failed with exit code {generator.exitcode}")
            print(f"generated {customers:,} customers and {customers * ORDERS_PER_CUSTOMER:,} orders "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
            results = []
            for kind in ("customers", "orders"):
                rows = customers * (ORDERS_PER_CUSTOMER if kind == "orders" else 1)
                command = [
                    sys.executable,
                    "manage.py",
                    "import_csv",
                    "--org",
                    "bench",
                    "--kind",
                    kind,
                    str(files[kind]),
                ]
                imported = run_child(command, environment, quiet_stderr=True)
                with psycopg.connect(database_url) as connection:
                    table = "crm_customer" if kind == "customers" else "crm_order"
                    stored = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                    stored_rows = stored.fetchone()[0]
                if stored_rows != rows:
                    raise RuntimeError(f"{kind}: expected {rows:,} rows stored, found {stored_rows:,}")
                baseline = psql_copy_baseline(database_url, kind, files[kind], environment)
                results.append(
                    {
                        "kind": kind,
                        "rows": rows,
                        "file_mib": files[kind].stat().st_size / 1024 / 1024,
                        "command": " ".join(["python", *command[1:-1], files[kind].name]),
                        "seconds": imported["seconds"],
                        "rows_per_second": rows / imported["seconds"],
                        "peak_rss_mib": imported["peak_rss_mib"],
                        "copy_seconds": baseline["seconds"],
                        "ratio_to_copy": imported["seconds"] / baseline["seconds"],
                        "summary": imported["stdout"].strip().splitlines()[0] if imported["stdout"].strip() else "",
                    }
                )
    finally:
        drop_database(DATABASE)
    return results


def write_csv_files(folder: Path, customers: int) -> dict[str, Path]:
    """The two files, written chunk by chunk with numpy string operations (no Python loop per row)."""
    generator = np.random.default_rng(SEED)
    paths = {"customers": folder / "customers.csv", "orders": folder / "orders.csv"}
    epoch = np.datetime64("2023-01-01T00:00:00", "s")
    span_seconds = 2 * 365 * 24 * 3600
    with paths["customers"].open("w") as handle:
        handle.write("external_id,name,email,created_at\n")
        for start in range(0, customers, CHUNK_ROWS):
            numbers = np.arange(start, min(start + CHUNK_ROWS, customers)).astype(np.str_)
            created = epoch + generator.integers(0, span_seconds, size=len(numbers)).astype("timedelta64[s]")
            lines = _join_columns(
                [
                    np.strings.add("C", numbers),
                    np.strings.add("Customer ", numbers),
                    np.strings.add(np.strings.add("c", numbers), "@example.com"),
                    np.strings.replace(np.datetime_as_string(created, unit="s"), "T", " "),
                ]
            )
            handle.write("\n".join(lines.tolist()) + "\n")
    orders = customers * ORDERS_PER_CUSTOMER
    with paths["orders"].open("w") as handle:
        handle.write("external_id,customer_external_id,ordered_at,amount\n")
        for start in range(0, orders, CHUNK_ROWS):
            count = min(start + CHUNK_ROWS, orders) - start
            numbers = np.arange(start, start + count).astype(np.str_)
            buyers = generator.integers(0, customers, size=count).astype(np.str_)
            ordered = epoch + generator.integers(0, span_seconds, size=count).astype("timedelta64[s]")
            cents = generator.integers(100, 100_000, size=count)
            amounts = np.strings.add(
                np.strings.add((cents // 100).astype(np.str_), "."), np.strings.zfill((cents % 100).astype(np.str_), 2)
            )
            lines = _join_columns(
                [
                    np.strings.add("O", numbers),
                    np.strings.add("C", buyers),
                    np.strings.replace(np.datetime_as_string(ordered, unit="s"), "T", " "),
                    amounts,
                ]
            )
            handle.write("\n".join(lines.tolist()) + "\n")
    return paths


def _join_columns(columns: list[np.ndarray]) -> np.ndarray:
    line = columns[0]
    for column in columns[1:]:
        line = np.strings.add(np.strings.add(line, ","), column)
    return line


def psql_copy_baseline(database_url: str, kind: str, path: Path, environment: dict[str, str]) -> dict:
    definition = BARE_TABLES[kind]
    table = definition.split(" ", 1)[0]
    run_child(
        ["psql", "-X", "-q", "-d", database_url, "-c", f"DROP TABLE IF EXISTS {table}"], environment, quiet_stderr=True
    )
    run_child(
        ["psql", "-X", "-q", "-d", database_url, "-c", f"CREATE TABLE {definition}"], environment, quiet_stderr=True
    )
    copied = run_child(
        ["psql", "-X", "-q", "-d", database_url, "-c", f"\\copy {table} FROM '{path}' CSV HEADER"],
        environment,
        quiet_stderr=True,
    )
    run_child(["psql", "-X", "-q", "-d", database_url, "-c", f"DROP TABLE {table}"], environment, quiet_stderr=True)
    return copied


def format_result(result: dict) -> str:
    return (
        f"{result['kind']:>9}: {result['rows']:>11,} rows ({result['file_mib']:.0f} MiB) imported in "
        f"{result['seconds']:.1f} s = {result['rows_per_second']:,.0f} rows/s, peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB; psql \\copy {result['copy_seconds']:.2f} s; "
        f"import/\\copy {result['ratio_to_copy']:.1f}x\n    {result['summary']}"
    )


def markdown_row(result: dict) -> str:
    return (
        f"| {result['kind']} | {result['rows']:,} | {result['seconds']:.1f} s | {result['rows_per_second']:,.0f} "
        f"| {result['peak_rss_mib']:,.0f} MiB | {result['copy_seconds']:.2f} s | {result['ratio_to_copy']:.1f}x |"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
