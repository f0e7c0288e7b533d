"""How the nightly run's cost grows with the organization: wall time and peak memory from 100k to 3M customers.

For each size N a fresh database is seeded (``seed_demo --customers N --seed 42``) and scored once
(``run_nightly``, in a child process whose peak RSS the kernel reports), next to the raw per-customer
``GROUP BY`` over the orders measured on the same data in the same run (the least any per-customer score can
cost). The exponent k of cost ∝ N^k is the slope of a least-squares line through the log-log points: k = 1 is
linear growth, which is what a path to larger organizations needs; the step times say which part grows fastest.

    python bench/run.py --only scaling                      # 100k, 300k, 1M, 3M (about 35 minutes)
    BENCH_SCALING_SIZES=100000,1000000 python bench/run.py --only scaling
    python bench/run.py --quick --only scaling              # 2k, 6k, 20k: a smoke test

The log-log charts are written to docs/benchmarks/ (``nightly-scaling-seconds.svg``, ``nightly-scaling-memory.svg``).
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from bench.nightly import SEED, child_command, data_sizes, nightly_run
from bench.postgres import (
    PROJECT_ROOT,
    SERVER_URL,
    child_environment,
    drop_database,
    machine_description,
    recreate_database,
    run_child,
)
from bench.svgchart import loglog_chart

DATABASE = "custops_bench_scaling"
DEFAULT_SIZES = (100_000, 300_000, 1_000_000, 3_000_000)
QUICK_SIZES = (2_000, 6_000, 20_000)
ORG = "demo"
CHART_DIR = PROJECT_ROOT / "docs" / "benchmarks"


def main(*, quick: bool = False) -> list[dict]:
    sizes = QUICK_SIZES if quick else _sizes_from_environment()
    print(machine_description(), flush=True)
    points = [bench_size(customers) for customers in sizes]
    result = {"sizes": list(sizes), "points": points, "exponents": exponents(points)}
    if not quick:
        write_charts(points)
    print()
    for line in markdown_lines(result):
        print(line)
    return [result]


def _sizes_from_environment() -> tuple[int, ...]:
    raw = os.environ.get("BENCH_SCALING_SIZES", "")
    return tuple(int(size) for size in raw.split(",") if size.strip()) if raw else DEFAULT_SIZES


def bench_size(customers: int) -> dict:
    database_url = f"{SERVER_URL}/{DATABASE}"
    environment = child_environment(database_url)
    recreate_database(DATABASE)
    try:
        run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environment, quiet_stderr=True)
        seed = run_child(
            [sys.executable, "manage.py", "seed_demo", "--customers", str(customers), "--seed", str(SEED)],
            environment,
            quiet_stderr=True,
        )
        sizes = data_sizes(database_url)
        run = nightly_run([sys.executable, "manage.py", "run_nightly", "--org", ORG], environment, database_url)
        grouped = run_child(child_command("group_by_baseline", database_url), environment)
        group_by = json.loads(grouped["stdout"])
    finally:
        drop_database(DATABASE)
    point = {
        "customers": customers,
        "orders": sizes["orders"],
        "events": sizes["events"],
        "seed_seconds": seed["seconds"],
        "nightly_seconds": run["seconds"],
        "job_seconds": run["job_seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "step_seconds": run["step_seconds"],
        "group_by_seconds": group_by["seconds"],
        "group_by_peak_rss_mib": grouped["peak_rss_mib"],
    }
    print(
        f"N={customers:,}: seeded in {seed['seconds']:.1f} s; nightly {run['seconds']:.1f} s, "
        f"peak RSS {run['peak_rss_mib']:,.0f} MiB; raw GROUP BY {group_by['seconds']:.2f} s",
        flush=True,
    )
    return point


def slope(xs: list[float], ys: list[float]) -> float:
    """The exponent k of y ∝ x^k: the least-squares slope of log y on log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def exponents(points: list[dict]) -> dict[str, float]:
    customers = [point["customers"] for point in points]
    if len(points) < 2:
        return {}
    found = {
        "nightly_seconds": slope(customers, [point["nightly_seconds"] for point in points]),
        "peak_rss_mib": slope(customers, [point["peak_rss_mib"] for point in points]),
        "group_by_seconds": slope(customers, [point["group_by_seconds"] for point in points]),
    }
    for step in points[-1]["step_seconds"]:
        values = [point["step_seconds"].get(step, 0.0) for point in points]
        if all(value > 0 for value in values) and values[-1] >= 0.5:  # steps too short to time are left out
            found[f"step {step}"] = slope(customers, values)
    return found


def write_charts(points: list[dict]) -> None:
    CHART_DIR.mkdir(parents=True, exist_ok=True)
    customers = [point["customers"] for point in points]
    seconds = loglog_chart(
        title="Nightly run: wall time against customers (log-log)",
        x_label="customers",
        y_label="seconds",
        series={
            "nightly run": list(zip(customers, [point["nightly_seconds"] for point in points], strict=True)),
            "raw GROUP BY over orders": list(
                zip(customers, [point["group_by_seconds"] for point in points], strict=True)
            ),
        },
    )
    memory = loglog_chart(
        title="Nightly run: peak memory against customers (log-log)",
        x_label="customers",
        y_label="peak RSS (MiB)",
        series={"nightly run": list(zip(customers, [point["peak_rss_mib"] for point in points], strict=True))},
    )
    (CHART_DIR / "nightly-scaling-seconds.svg").write_text(seconds)
    (CHART_DIR / "nightly-scaling-memory.svg").write_text(memory)
    print(f"charts written to {CHART_DIR.relative_to(PROJECT_ROOT)}/", flush=True)


def markdown_lines(result: dict) -> list[str]:
    points = result["points"]
    lines = [
        "| customers | orders | seed | nightly (wall) | JobRun | peak RSS | raw GROUP BY | nightly ÷ GROUP BY | RSS per customer |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in points:
        lines.append(
            f"| {point['customers']:,} | {point['orders']:,} | {point['seed_seconds']:.1f} s "
            f"| {point['nightly_seconds']:.1f} s | {point['job_seconds']:.1f} s | {point['peak_rss_mib']:,.0f} MiB "
            f"| {point['group_by_seconds']:.2f} s | {point['nightly_seconds'] / point['group_by_seconds']:.1f}× "
            f"| {point['peak_rss_mib'] * 1024 / point['customers']:.2f} KiB |"
        )
    if result["exponents"]:
        lines += ["", "| cost | exponent k (cost ∝ N^k) |", "|---|---:|"]
        lines += [f"| {name} | {value:.2f} |" for name, value in result["exponents"].items() if math.isfinite(value)]
    return lines
