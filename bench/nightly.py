"""How long ``manage.py run_nightly`` takes on PostgreSQL for a seeded demo, against a raw GROUP BY and the bare fits.

A fresh database ``custops_bench_nightly`` is created, migrated and seeded with ``manage.py seed_demo --customers
N``. Then ``manage.py run_nightly --org demo`` runs twice, each in a child process, exactly as a person would run
it; the child's wall time (Django start-up included) and peak RSS (``os.wait4``) are measured, and the run's own
per-step timings and row counts are read back from its ``reporting_jobrun`` row. The first run finds no earlier
scores (every customer's stage and tier is recorded as a change); the second replays the same as-of day (passed
with ``--as-of``), the usual repeat.

**Baselines**, in the same run and each in a child process so that the benchmark process stays small:

* the raw per-customer GROUP BY over the orders (``GROUP_BY``), with psycopg, all rows fetched (run twice; the faster run is the baseline);
* the BG/NBD fit on the same customers, (x, t_x, T) read from ``segmentation_customerscore`` after the nightly:
  ``retention.bgnbd.fit`` as the nightly calls it (identical rows merged into weighted rows first), against the
  same optimizer on the uncompressed rows, and the Gamma-Gamma fit of the repeat buyers.

Sizes: N = 1,000,000 customers by default, ``BENCH_NIGHTLY_CUSTOMERS`` overrides it; ``--quick`` uses N = 5,000.
Needs PostgreSQL at ``BENCH_POSTGRES_URL`` (default: trust auth as ``postgres`` on 127.0.0.1:5432).
"""

from __future__ import annotations

import json
import os
import sys
import time

import psycopg
from psycopg import sql

from bench.postgres import SERVER_URL, drop_database, machine_description, recreate_database, run_child

DATABASE = "custops_bench_nightly"
DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 5_000
SEED = 42
ORG = "demo"
GROUP_BY_REPEATS = 2
#: ``reporting.nightly.NIGHTLY_STEPS`` in order (the JobRun's JSON does not keep the order the steps ran in).
STEP_ORDER = ("read", "models", "scores", "channel_metrics", "kpis", "cohorts", "alerts")
GROUP_BY = (
    "SELECT customer_id, count(distinct ordered_at::date), min(ordered_at), max(ordered_at), sum(amount) "
    "FROM crm_order GROUP BY customer_id"
)

#: The goals of the issue: the whole pipeline, its ratio to the raw GROUP BY, the two fits, the peak RSS.
GOAL_PIPELINE_SECONDS = 90.0
GOAL_RATIO_TO_GROUP_BY = 6.0
GOAL_FIT_SECONDS = 5.0
GOAL_PEAK_RSS_MIB = 3e9 / 1024 / 1024  # 3 GB


def child_command(function: str, database_url: str) -> list[str]:
    """``python -c`` calling one of this module's baseline functions; it prints the figures as JSON."""
    code = f"import json, sys; from bench.nightly import {function}; print(json.dumps({function}(sys.argv[1])))"
    return [sys.executable, "-c", code, database_url]


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_NIGHTLY_CUSTOMERS", DEFAULT_CUSTOMERS))
    print(machine_description(), flush=True)
    with psycopg.connect(f"{SERVER_URL}/postgres") as connection:
        autovacuum = connection.execute("SHOW autovacuum").fetchone()[0]
    print(f"autovacuum: {autovacuum}", flush=True)  # decides whether the second run meets the first's old rows
    result = {**bench_size(customers), "autovacuum": autovacuum}
    print()
    for line in markdown_tables(result):
        print(line)
    return [result]


def bench_size(customers: int) -> dict:
    database_url = f"{SERVER_URL}/{DATABASE}"
    environment = {**os.environ, "DATABASE_URL": database_url}
    recreate_database(DATABASE)
    try:
        run_child([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], environment, quiet_stderr=True)
        seed_command = [sys.executable, "manage.py", "seed_demo", "--customers", str(customers), "--seed", str(SEED)]
        seed = run_child(seed_command, environment, quiet_stderr=True)
        print(f"seeded {customers:,} customers in {seed['seconds']:.1f} s", flush=True)
        sizes = data_sizes(database_url)

        first_command = [sys.executable, "manage.py", "run_nightly", "--org", ORG]
        first = nightly_run(first_command, environment, database_url)
        print(format_run("first run", first), flush=True)
        second_command = [*first_command, "--as-of", first["as_of"]]
        second = nightly_run(second_command, environment, database_url)
        print(format_run("second run", second), flush=True)
        sizes.update(score_sizes(database_url))

        grouped = run_child(child_command("group_by_baseline", database_url), environment)
        group_by = json.loads(grouped["stdout"])
        group_by["peak_rss_mib"] = grouped["peak_rss_mib"]
        print(
            f"raw GROUP BY: {group_by['rows']:,} rows in "
            f"{', '.join(f'{seconds:.2f} s' for seconds in group_by['runs_seconds'])}",
            flush=True,
        )
        fitted = run_child(child_command("fit_baseline", database_url), environment)
        fits = json.loads(fitted["stdout"])
        fits["peak_rss_mib"] = fitted["peak_rss_mib"]
        print(format_fits(fits), flush=True)
    finally:
        drop_database(DATABASE)

    group_by_seconds = group_by["seconds"]
    fit_seconds = fits["bgnbd_compressed"]["seconds"] + fits["gamma_gamma"]["seconds"]
    peak_rss = max(first["peak_rss_mib"], second["peak_rss_mib"])
    slowest = max(first["seconds"], second["seconds"])
    return {
        "command": " ".join(["python", *first_command[1:]]),
        "customers_requested": customers,
        **sizes,
        "seed_seconds": seed["seconds"],
        "runs": {"first": first, "second": second},
        "group_by": group_by,
        "fits": fits,
        "ratio_first_to_group_by": first["seconds"] / group_by_seconds,
        "ratio_second_to_group_by": second["seconds"] / group_by_seconds,
        "goals": [
            goal("whole pipeline (slower run, child wall time)", slowest, GOAL_PIPELINE_SECONDS, "s"),
            goal("pipeline ÷ raw GROUP BY (slower run)", slowest / group_by_seconds, GOAL_RATIO_TO_GROUP_BY, "x"),
            goal("BG/NBD + Gamma-Gamma fit", fit_seconds, GOAL_FIT_SECONDS, "s"),
            goal("peak RSS (larger run)", peak_rss, GOAL_PEAK_RSS_MIB, "MiB"),
        ],
    }


def goal(name: str, measured: float, target: float, unit: str) -> dict:
    return {"goal": name, "measured": measured, "target": target, "unit": unit, "met": measured <= target}


def nightly_run(command: list[str], environment: dict[str, str], database_url: str) -> dict:
    """Run the nightly in a child; its wall time and peak RSS, and what its JobRun recorded."""
    run = run_child(command, environment, quiet_stderr=True)
    with psycopg.connect(database_url) as connection:
        job = connection.execute(
            "SELECT id, status, as_of, step_seconds, row_counts, "
            "extract(epoch FROM finished_at - started_at), error "
            "FROM reporting_jobrun WHERE kind = 'nightly' ORDER BY started_at DESC, id DESC LIMIT 1"
        ).fetchone()
        job_id, status, as_of, step_seconds, row_counts, job_seconds, error = job
        report = connection.execute(
            "SELECT status, fit_seconds, compressed_rows, customers, repeaters, churn_model "
            "FROM retention_clvmodelreport WHERE as_of = %s",
            [as_of],
        ).fetchone()
        changes = connection.execute(
            "SELECT kind, count(*) FROM segmentation_scorechange WHERE changed_on = %s GROUP BY kind", [as_of]
        ).fetchall()
    if status != "succeeded":
        raise RuntimeError(f"nightly run {job_id} ended {status}: {error}")
    ordered = [name for name in STEP_ORDER if name in step_seconds]
    ordered += [name for name in step_seconds if name not in STEP_ORDER]
    return {
        "command": " ".join(["python", *command[1:]]),
        "seconds": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "job_id": job_id,
        "as_of": as_of.isoformat(),
        "job_seconds": float(job_seconds),
        # The run's transaction commits after the last step: deferred foreign-key checks run then.
        "outside_steps_seconds": float(job_seconds) - sum(step_seconds.values()),
        "step_seconds": {name: step_seconds[name] for name in ordered},
        "row_counts": {name: row_counts.get(name) for name in ordered},
        "model_status": report[0],
        "model_fit_seconds": report[1],
        "compressed_rows": report[2],
        "buyers": report[3],
        "repeaters": report[4],
        "churn_model": report[5],
        "score_changes": dict(changes),
        # The command's own line is the last one: alert e-mails may come first (console backend without Redis).
        "summary": run["stdout"].strip().splitlines()[-1] if run["stdout"].strip() else "",
    }


def data_sizes(database_url: str) -> dict:
    with psycopg.connect(database_url) as connection:
        return {
            name: connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
            for name, table in (
                ("customers", "crm_customer"),
                ("orders", "crm_order"),
                ("events", "crm_event"),
                ("feedback", "crm_feedback"),
            )
        }


def score_sizes(database_url: str) -> dict:
    """Purchase days (distinct local days with an order, summed over customers) and buyers, from the scores."""
    with psycopg.connect(database_url) as connection:
        scored, buyers, purchase_days = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE purchase_days > 0), coalesce(sum(purchase_days), 0) "
            "FROM segmentation_customerscore"
        ).fetchone()
    return {"scored_customers": scored, "buyers": buyers, "purchase_days": int(purchase_days)}


def group_by_baseline(database_url: str) -> dict:
    """The raw per-customer GROUP BY over the orders, every row fetched (runs in a child process)."""
    runs = []
    with psycopg.connect(database_url) as connection:
        for _ in range(GROUP_BY_REPEATS):
            started = time.perf_counter()
            rows = connection.execute(GROUP_BY).fetchall()
            runs.append(time.perf_counter() - started)
            count = len(rows)
            del rows
    return {"rows": count, "runs_seconds": runs, "seconds": min(runs)}


def fit_baseline(database_url: str) -> dict:
    """BG/NBD fitted with compression (the default) and on the raw rows, and Gamma-Gamma (runs in a child process).

    ``bgnbd.fit`` always merges identical rows, explicit weights or not (it calls ``unique_rows`` on whatever it is
    given), so ``fit(x, t_x, T, weights=np.ones(n))`` is timed as well but is not an uncompressed fit. The
    uncompressed fit builds the likelihood's design from the raw rows with unit weights and runs the same
    optimizer as ``fit`` (``minimize_log_params`` on ``_objective``, same starting points).
    """
    import numpy as np

    from retention import bgnbd, gammagamma
    from retention.fitting import minimize_log_params

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT frequency, recency_t_x, age_t, coalesce(mean_repeat_value, 0)::float8 "
            "FROM segmentation_customerscore WHERE purchase_days > 0"
        ).fetchall()
    data = np.array(rows, dtype=np.float64).reshape(-1, 4)
    del rows
    x, t_x, age, mean_value = (np.ascontiguousarray(data[:, column]) for column in range(4))
    customers = len(x)

    def timed(call):
        started = time.perf_counter()
        value = call()
        return value, time.perf_counter() - started

    def described(result, seconds: float) -> dict:
        return {
            "seconds": seconds,
            "rows": int(result.rows),
            "customers": float(result.customers),
            "iterations": int(result.iterations),
            "converged": bool(result.converged),
            "log_likelihood": float(result.log_likelihood),
            "params": result.params.as_dict(),
        }

    # One small untimed fit first, so that no variant pays for scipy's first calls.
    bgnbd.fit(x[:1000], t_x[:1000], age[:1000])
    compressed, compressed_seconds = timed(lambda: bgnbd.fit(x, t_x, age))
    unit_weights, unit_weights_seconds = timed(lambda: bgnbd.fit(x, t_x, age, weights=np.ones(customers)))

    def uncompressed_fit():
        design = bgnbd._Design.from_rows(x, t_x, age, np.ones(customers))
        optimum = minimize_log_params(
            lambda log_params: bgnbd._objective(log_params, design),
            bgnbd._starting_points(design, None),
            bgnbd.PARAM_NAMES,
            500,
            design.total_weight,
        )
        return design, optimum

    (design, optimum), uncompressed_seconds = timed(uncompressed_fit)
    repeat = (x > 0) & (mean_value > 0)
    gamma_gamma, gamma_gamma_seconds = timed(lambda: gammagamma.fit(x[repeat], mean_value[repeat]))
    return {
        "customers": customers,
        "repeaters": int(repeat.sum()),
        "bgnbd_compressed": described(compressed, compressed_seconds),
        "bgnbd_unit_weights": described(unit_weights, unit_weights_seconds),
        "bgnbd_uncompressed": {
            "seconds": uncompressed_seconds,
            "rows": design.rows,
            "customers": design.total_weight,
            "iterations": optimum.iterations,
            "converged": optimum.converged,
            "log_likelihood": optimum.mean_log_likelihood * design.total_weight,
            "params": dict(zip(bgnbd.PARAM_NAMES, map(float, optimum.values), strict=True)),
        },
        "gamma_gamma": described(gamma_gamma, gamma_gamma_seconds),
    }


def format_run(label: str, run: dict) -> str:
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run["step_seconds"].items())
    return (
        f"{label} (as of {run['as_of']}): {run['seconds']:.1f} s wall, JobRun {run['job_seconds']:.1f} s, "
        f"peak RSS {run['peak_rss_mib']:,.0f} MiB; changes recorded {run['score_changes']}\n    steps: {steps}, "
        f"outside the steps {run['outside_steps_seconds']:.1f} s\n"
        f"    rows: {run['row_counts']}"
    )


def format_fits(fits: dict) -> str:
    lines = [f"fits on {fits['customers']:,} buyers ({fits['repeaters']:,} repeat buyers with spend):"]
    for key in ("bgnbd_compressed", "bgnbd_unit_weights", "bgnbd_uncompressed", "gamma_gamma"):
        fit = fits[key]
        lines.append(
            f"    {key}: {fit['seconds']:.2f} s, {fit['rows']:,} rows, {fit['iterations']} iterations, "
            f"converged {fit['converged']}, log-likelihood {fit['log_likelihood']:.6g}"
        )
    return "\n".join(lines)


def markdown_tables(result: dict) -> list[str]:
    first, second = result["runs"]["first"], result["runs"]["second"]
    group_by = result["group_by"]
    fits = result["fits"]
    lines = [
        "| customers | orders | purchase days | events | buyers | run | nightly wall time | JobRun duration "
        "| peak RSS (nightly process) | raw GROUP BY | wall time ÷ GROUP BY | JobRun ÷ GROUP BY |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, run, ratio in (
        ("first", first, result["ratio_first_to_group_by"]),
        ("second (same as-of day)", second, result["ratio_second_to_group_by"]),
    ):
        lines.append(
            f"| {result['customers']:,} | {result['orders']:,} | {result['purchase_days']:,} | {result['events']:,} "
            f"| {result['buyers']:,} | {label} | {run['seconds']:.1f} s | {run['job_seconds']:.1f} s "
            f"| {run['peak_rss_mib']:,.0f} MiB | {group_by['seconds']:.2f} s | {ratio:.1f}x "
            f"| {run['job_seconds'] / group_by['seconds']:.1f}x |"
        )
    lines += ["", "| step | first run | rows | second run | rows |", "|---|---:|---:|---:|---:|"]
    for name in first["step_seconds"]:
        lines.append(
            f"| {name} | {first['step_seconds'][name]:.2f} s | {first['row_counts'][name]:,} "
            f"| {second['step_seconds'].get(name, 0):.2f} s | {second['row_counts'].get(name, 0):,} |"
        )
    lines.append(
        f"| outside the steps (JobRun duration − steps: the commit) | {first['outside_steps_seconds']:.2f} s | "
        f"| {second['outside_steps_seconds']:.2f} s | |"
    )
    lines += ["", "| fit | seconds | rows fitted | iterations | converged | log-likelihood |"]
    lines.append("|---|---:|---:|---:|---|---:|")
    for key, label in (
        ("bgnbd_compressed", "BG/NBD, `bgnbd.fit` (compressed, the default)"),
        ("bgnbd_unit_weights", "BG/NBD, `bgnbd.fit(..., weights=np.ones(n))` (still compresses)"),
        ("bgnbd_uncompressed", "BG/NBD, same optimizer on the raw rows"),
        ("gamma_gamma", "Gamma-Gamma, `gammagamma.fit` (repeat buyers)"),
    ):
        fit = fits[key]
        lines.append(
            f"| {label} | {fit['seconds']:.2f} s | {fit['rows']:,} | {fit['iterations']} | "
            f"{'yes' if fit['converged'] else 'no'} | {fit['log_likelihood']:,.1f} |"
        )
    lines += ["", "| goal | target | measured | met |", "|---|---:|---:|---|"]
    for entry in result["goals"]:
        unit = entry["unit"]
        number = "{:,.0f}" if unit == "MiB" else "{:.2f}" if unit == "x" else "{:.1f}"
        measured, target = number.format(entry["measured"]), number.format(entry["target"])
        lines.append(f"| {entry['goal']} | ≤ {target} {unit} | {measured} {unit} | {'yes' if entry['met'] else 'no'} |")
    return lines


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
