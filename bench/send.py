"""Campaign sending throughput: real Celery workers on Redis sending to a local SMTP sink, against raw smtplib.

Uses the scored demo organization of ``bench/segments.py`` (database ``custops_bench_seg``: ``seed_demo
--customers N --seed 42`` then ``run_nightly``; ``BENCH_SEG_REUSE=1`` reuses and keeps it). Then:

* an **SMTP sink** in a child process (aiosmtpd): it accepts every message, counts it and keeps the wall-clock
  time of the first and the last one, never the bodies;
* **two Celery worker processes**: ``celery -A config worker --concurrency 2`` (prefork; ``BENCH_SEND_CONCURRENCY``
  overrides), broker and results in Redis database 14 (``BENCH_SEND_REDIS``; emptied before and after), Django's
  SMTP backend pointed at the sink, ``DJANGO_DEBUG=false`` unless the environment sets it;
* **the campaign**: a segment of the bench organization (customers acquired through one channel, ``SEND_SHARE``:
  at 1M, xiaohongshu's 50,240 customers, 36,948 of them eligible for e-mail), two variants with personalization
  and offer codes, the default 10% hold-out; ``campaign_launch`` is called in a child process and the clock runs
  from that call to the sink's last message. The organization's quiet hours are switched off (they would defer
  every batch) and its frequency cap (3 a week) is kept; campaigns and segments of earlier runs (``Bench ...``)
  are deleted first. Messages/s are quoted from launch to the last message and from the first message to the
  last, with the CPU the worker pool and the sink used meanwhile.
* **baseline**, in the same run: one process sending the same number of messages to the same sink over one
  connection with ``smtplib.SMTP.sendmail`` (the bytes of one real campaign message, one recipient each): the rate
  the sink itself can take from one sender.
* ``campaign_enroll`` alone, timed for an audience of the whole organization (a segment matching every customer;
  the eligible ones are enrolled, the ``with transaction.atomic()`` commit included) and for the playbook's
  potential-tier campaign; their delivery rows are deleted afterwards.
* ``deliveries_send`` in one process on ``PROFILE_ROWS`` rows of another campaign (another channel's customers), in
  batches of ``CAMPAIGN_BATCH_SIZE`` as the workers get them: timed with the CPU each process spends (this one, its
  PostgreSQL backend, the sink), then ``PROFILE_ROWS`` more under ``cProfile``: where the time of a batch goes.

Sizes: N = 1,000,000 customers by default (``BENCH_SEG_CUSTOMERS``); ``--quick`` uses N = 5,000 (and skips nothing).
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.postgres import PROJECT_ROOT, SERVER_URL, machine_description, run_child
from bench.segments import (
    DATABASE,
    DEFAULT_CUSTOMERS,
    ORG,
    QUICK_CUSTOMERS,
    child_environment,
    load_average,
    prepare_database,
    release_database,
)

REDIS_URL = os.environ.get("BENCH_SEND_REDIS", "redis://127.0.0.1:6379/14")
#: Worker processes (``celery worker --concurrency``); the goal is stated for 2.
WORKER_CONCURRENCY = int(os.environ.get("BENCH_SEND_CONCURRENCY", "2"))
#: The campaign goes to the customers of one acquisition channel: the one closest to this share of the customers
#: (xiaohongshu at 1M: 50,240 customers, 36,948 of them eligible for e-mail), or ``BENCH_SEND_CHANNEL``.
SEND_SHARE = 0.05
SEND_CHANNEL = os.environ.get("BENCH_SEND_CHANNEL", "")
PROFILE_ROWS = 1000
GOAL_MESSAGES_PER_SECOND = 500.0
TIMEOUT_SECONDS = 45 * 60
BIN = Path(sys.executable).parent

VARIANTS = [
    {
        "name": "A: 10% off",
        "subject": "{{ first_name }}, 10% off your next order",
        "body": "Hello {{ name }},\n\nThank you for shopping with us. Here is 10% off your next order with code "
        "{{ offer_code }}, valid for 14 days: https://shop.example/offers/back10\n\nSee you soon.",
        "offer_code": "BACK10",
    },
    {
        "name": "B: free shipping",
        "subject": "Free shipping on your next order, {{ first_name }}",
        "body": "Hello {{ name }},\n\nYour next order ships free with code {{ offer_code }}, valid for 14 days: "
        "https://shop.example/offers/shipfree\n\nSee you soon.",
        "offer_code": "SHIPFREE",
    },
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The SMTP sink (its own process) ------------------------------------------------------------------------------


def run_sink(port: int, status_path: str) -> None:
    """Accept and count messages on 127.0.0.1:``port``; write the counts to ``status_path`` every 0.1 s."""
    from aiosmtpd.controller import Controller

    class CountingHandler:
        count = 0
        size = 0
        first: float | None = None
        last: float | None = None

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            now = time.time()
            if self.first is None:
                self.first = now
            self.last = now
            self.count += 1
            self.size += len(envelope.content)
            return "250 OK"

    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=10 * 1024 * 1024)
    controller.start()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    path = Path(status_path)
    written = None
    while not stopping:
        status = (handler.count, handler.size, handler.first, handler.last)
        if status != written:
            scratch = path.with_suffix(".tmp")
            scratch.write_text(json.dumps(dict(zip(("count", "bytes", "first", "last"), status, strict=True))))
            scratch.replace(path)
            written = status
        time.sleep(0.1)
    controller.stop()


def sink_status(status_path: Path) -> dict:
    return json.loads(status_path.read_text())


def wait_for_sink(status_path: Path, count: int, timeout: float = 30) -> dict:
    """The sink's status once it has counted ``count`` messages (it writes every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        status = sink_status(status_path)
        if status["count"] >= count or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


# The benchmark ------------------------------------------------------------------------------------------------


def main(*, quick: bool = False) -> list[dict]:
    customers = QUICK_CUSTOMERS if quick else int(os.environ.get("BENCH_SEG_CUSTOMERS", DEFAULT_CUSTOMERS))
    print(machine_description(), flush=True)
    prepared = prepare_database(customers)
    database_url = f"{SERVER_URL}/{DATABASE}"
    try:
        result = bench_send(database_url)
    finally:
        release_database(prepared)
    result.update({"customers_requested": customers, "database": prepared})
    print()
    for line in report_lines(result):
        print(line)
    return [result]


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def bench_send(database_url: str) -> dict:
    port = free_port()
    environment = {
        **child_environment(database_url),
        "REDIS_URL": REDIS_URL,
        "REDIS_CACHE_URL": REDIS_URL,
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "false",
        "PYTHONUNBUFFERED": "1",
    }

    flush_redis()
    with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
        folder_path = Path(folder)
        status_path = folder_path / "sink.json"
        logs = {name: (folder_path / f"{name}.log").open("w") for name in ("sink", "worker")}
        sink_code = "import sys; from bench.send import run_sink; run_sink(int(sys.argv[1]), sys.argv[2])"
        sink = subprocess.Popen(
            [sys.executable, "-c", sink_code, str(port), str(status_path)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=logs["sink"],
            stderr=subprocess.STDOUT,
        )
        worker = None
        try:
            wait_for(lambda: status_path.exists(), "the SMTP sink", lambda: read(folder_path / "sink.log"))
            worker = subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "--concurrency",
                    str(WORKER_CONCURRENCY),
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--hostname",
                    f"bench-send-{os.getpid()}@%h",
                ],
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=logs["worker"],
                stderr=subprocess.STDOUT,
            )
            worker_log = folder_path / "worker.log"
            wait_for(lambda: "ready." in read(worker_log), "the Celery worker", lambda: read(worker_log), timeout=120)
            print(
                f"SMTP sink on 127.0.0.1:{port}, Celery worker (--concurrency {WORKER_CONCURRENCY}) ready", flush=True
            )

            sample_path = folder_path / "message.eml"
            load_before = load_average()
            sent_before = sink_status(status_path)["count"]
            cpu_before = {"machine": machine_cpu(), "workers": tree_cpu(worker.pid), "sink": process_cpu(sink.pid)}
            driven = run_child(child_command("drive", database_url, str(sample_path)), environment)
            campaign = json.loads(driven["stdout"].strip().splitlines()[-1])
            sink_after = wait_for_sink(status_path, sent_before + campaign["counts"].get("sent", 0))
            cpu = cpu_use(cpu_before, worker.pid, sink.pid)
            load_after = load_average()
            sink_messages = sink_after["count"] - sent_before
            print(
                f"campaign: {campaign['counts']} in {campaign['done_at'] - campaign['launch_started']:.1f} s; "
                f"the sink counted {sink_messages:,}; load {load_before} -> {load_after}",
                flush=True,
            )

            messages = campaign["counts"].get("sent", 0)
            baseline_run = run_child(
                child_command("smtplib_baseline", str(port), str(sample_path), str(messages)), environment
            )
            baseline = json.loads(baseline_run["stdout"].strip().splitlines()[-1])
            print(f"smtplib baseline: {baseline['messages']:,} in {baseline['seconds']:.1f} s", flush=True)

            profiled = run_child(child_command("profile_batch", database_url, str(sink.pid)), environment)
            profile = json.loads(profiled["stdout"].strip().splitlines()[-1])
            print(f"profiled deliveries_send on {profile['rows']:,} rows: {profile['seconds']:.2f} s", flush=True)

            enrolled_run = run_child(child_command("enroll_big", database_url), environment)
            enroll = json.loads(enrolled_run["stdout"].strip().splitlines()[-1])
            for case in enroll["cases"]:
                print(f"campaign_enroll, {case['audience']}: {case['enrolled']:,} rows in {case['seconds']:.1f} s")
        finally:
            for process in (worker, sink):
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(timeout=10)
            for log in logs.values():
                log.close()
            worker_tail = read(folder_path / "worker.log")[-3000:]
            flush_redis()

    first, last = sink_after["first"], sink_after["last"]
    launch_to_last = last - campaign["launch_started"]
    first_to_last = last - first
    rate_launch = messages / launch_to_last if launch_to_last > 0 else 0.0
    rate_first = messages / first_to_last if first_to_last > 0 else 0.0
    return {
        **campaign,
        "worker_concurrency": WORKER_CONCURRENCY,
        "sink_messages": sink_messages,
        "sink_bytes": sink_after["bytes"],
        "sink_first": first,
        "sink_last": last,
        "exactly_once": sink_messages == messages,
        "launch_to_last_seconds": launch_to_last,
        "first_to_last_seconds": first_to_last,
        "launch_to_first_seconds": first - campaign["launch_started"],
        "rate_launch_to_last": rate_launch,
        "rate_first_to_last": rate_first,
        "baseline": baseline,
        "ratio_to_baseline_launch": rate_launch / baseline["rate"],
        "ratio_to_baseline_first": rate_first / baseline["rate"],
        "load_before": load_before,
        "load_after": load_after,
        "cpu": cpu,
        "profile": profile,
        "enroll": enroll,
        "worker_log_tail": worker_tail,
        "goals": [
            {
                "goal": f"messages/s, launch to last message, {WORKER_CONCURRENCY} worker processes",
                "measured": rate_launch,
                "target": GOAL_MESSAGES_PER_SECOND,
                "met": rate_launch >= GOAL_MESSAGES_PER_SECOND,
            },
            {
                "goal": "messages/s, first to last message",
                "measured": rate_first,
                "target": GOAL_MESSAGES_PER_SECOND,
                "met": rate_first >= GOAL_MESSAGES_PER_SECOND,
            },
        ],
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (the worker's prefork pool)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(child) for child in task.read_text().split()]
    return process_cpu(pid) + sum(tree_cpu(child) for child in children)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def cpu_use(before: dict, worker_pid: int, sink_pid: int) -> dict:
    """CPU seconds used during the campaign: the machine (every process, other people's included), the worker
    pool and the sink. (Celery closes the database connection around every task, so the workers' PostgreSQL
    backends live one batch each and are not counted here; ``profile_batch`` measures one.)"""
    busy, total = machine_cpu()
    machine_busy = busy - before["machine"][0]
    return {
        "machine_busy_seconds": machine_busy,
        "machine_busy_share": machine_busy / (total - before["machine"][1]),
        "workers_seconds": tree_cpu(worker_pid) - before["workers"],
        "sink_seconds": process_cpu(sink_pid) - before["sink"],
    }


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for(condition, what: str, output, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout} s:\n{output()[-3000:]}")
        time.sleep(0.2)


def child_command(function: str, *args: str) -> list[str]:
    code = f"import json, sys; from bench.send import {function}; print(json.dumps({function}(*sys.argv[1:])))"
    return [sys.executable, "-c", code, *args]


# Children with Django ------------------------------------------------------------------------------------------


def _setup():
    import django

    django.setup()
    from accounts.models import Organization

    org = Organization.objects.get(slug=ORG)
    # Quiet hours (21:00-08:00 local by default) would defer every batch to the morning.
    Organization.objects.filter(pk=org.pk).update(quiet_hours_start=0, quiet_hours_end=0)
    org.refresh_from_db()
    return org


def channel_sizes() -> dict[str, int]:
    """The demo organization's acquisition channels and their customers, most customers first."""
    from django.db.models import Count

    from crm.models import Channel

    return dict(
        Channel.objects.filter(organization__slug=ORG)
        .annotate(n=Count("customers"))
        .order_by("-n", "code")
        .values_list("code", "n")
    )


def send_channel() -> str:
    """``BENCH_SEND_CHANNEL``, or the channel closest to ``SEND_SHARE`` of the customers (xiaohongshu at 1M)."""
    sizes = channel_sizes()
    total = sum(sizes.values())
    return SEND_CHANNEL or min(sizes, key=lambda code: abs(sizes[code] - SEND_SHARE * total))


def profile_channel() -> str:
    """The smallest channel that is not the one the campaign goes to (e-mail at 1M)."""
    sending = send_channel()
    return [code for code in channel_sizes() if code != sending][-1]


def remove_earlier_runs(org, prefix: str = "Bench ") -> int:
    """Delete the campaigns and segments earlier runs left in a reused database (their messages would count
    against the frequency cap); returns the deliveries removed."""
    from django.db import connection

    from campaigns.models import Campaign
    from segmentation.models import Segment

    earlier = Campaign.objects.filter(organization=org, name__startswith=prefix)
    with connection.cursor() as cursor:  # a plain DELETE: Django's collector is slow on 100,000s of rows
        cursor.execute(
            "DELETE FROM campaigns_delivery WHERE campaign_id = ANY(%s)", [list(earlier.values_list("pk", flat=True))]
        )
        removed = cursor.rowcount
    earlier.delete()
    Segment.objects.filter(organization=org, name__startswith=prefix).delete()
    return removed


def _segment(org, name: str, rules: dict):
    from accounts.services import SYSTEM
    from segmentation.services import segment_create

    return segment_create(org=org, actor=SYSTEM, name=f"{name} {time.time():.3f}", rules=rules)


def _campaign(org, name: str, **fields):
    from accounts.services import SYSTEM
    from campaigns import services

    return services.campaign_create(
        org=org, actor=SYSTEM, name=f"{name} {time.time():.3f}", variants=[dict(v) for v in VARIANTS], **fields
    )


def drive(database_url: str, sample_path: str) -> dict:
    """Launch a campaign to one channel's customers and wait until every message is sent (runs in a child)."""
    org = _setup()
    from django.db.models import Count, Max, Min
    from django.utils import timezone

    from accounts.services import SYSTEM
    from accounts.timekeeping import local_today
    from campaigns import services
    from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
    from campaigns.selectors import eligible_audience

    remove_earlier_runs(org)
    code = send_channel()
    rule = {"field": "channel", "op": "eq", "value": code}
    segment = _segment(org, "Bench send", rule)
    campaign = _campaign(org, "Bench send", segment=segment)
    eligible = eligible_audience(campaign=campaign, today=local_today(org, timezone.now())).count()

    launch_started = time.time()
    outcome = services.campaign_launch(campaign=campaign, actor=SYSTEM)
    launch_done = time.time()
    open_statuses = [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.HANDED_OVER]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    progress, progress_at = -1, time.monotonic()
    while True:
        waiting = Delivery.objects.filter(campaign=campaign, status__in=open_statuses).count()
        status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get()
        if waiting == 0 and status != CampaignStatus.SENDING:
            break
        if waiting != progress:
            progress, progress_at = waiting, time.monotonic()
        if time.monotonic() > deadline or time.monotonic() - progress_at > 180:
            raise RuntimeError(f"sending stalled with {waiting} deliveries open (campaign {status})")
        time.sleep(0.1)
    done_at = time.time()
    rows = Delivery.objects.filter(campaign=campaign)
    counts = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    span = rows.filter(status=DeliveryStatus.SENT).aggregate(first=Min("sent_at"), last=Max("sent_at"))
    sample = rows.filter(status=DeliveryStatus.SENT).select_related("customer", "variant", "campaign").first()
    if sample is not None:
        Path(sample_path).write_bytes(services.build_email(sample).message().as_bytes(linesep="\r\n"))
    return {
        "channel": code,
        "rule": rule,
        "campaign_id": campaign.pk,
        "eligible": eligible,
        "enrolled": outcome.enrolled,
        "counts": counts,
        "batch_size": _batch_size(),
        "launch_started": launch_started,
        "launch_seconds": launch_done - launch_started,
        "done_at": done_at,
        "db_first_sent_at": span["first"].timestamp() if span["first"] else None,
        "db_last_sent_at": span["last"].timestamp() if span["last"] else None,
        "message_bytes": Path(sample_path).stat().st_size if sample is not None else 0,
    }


def _batch_size() -> int:
    from django.conf import settings

    return settings.CAMPAIGN_BATCH_SIZE


def smtplib_baseline(port: str, sample_path: str, count: str) -> dict:
    """Send ``count`` copies of one campaign message over one connection, one recipient each (no Django)."""
    data = Path(sample_path).read_bytes()
    messages = int(count)
    with smtplib.SMTP("127.0.0.1", int(port)) as smtp:
        smtp.ehlo()
        started = time.perf_counter()
        for index in range(messages):
            smtp.sendmail("noreply@custops.local", [f"customer{index}@example.com"], data)
        seconds = time.perf_counter() - started
    return {"messages": messages, "seconds": seconds, "rate": messages / seconds, "message_bytes": len(data)}


def profile_batch(database_url: str, sink_pid: str) -> dict:
    """``deliveries_send`` on ``PROFILE_ROWS`` rows of a fresh campaign, in batches of ``CAMPAIGN_BATCH_SIZE``: timed
    with the CPU of this process, its PostgreSQL backend and the sink; then ``PROFILE_ROWS`` more under cProfile."""
    import cProfile
    import io
    import pstats

    org = _setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus

    remove_earlier_runs(org, "Bench profile")
    code = profile_channel()
    segment = _segment(org, "Bench profile", {"field": "channel", "op": "eq", "value": code})
    campaign = _campaign(org, "Bench profile", segment=segment)
    now = timezone.now()
    with transaction.atomic():  # launched without queuing: only this process sends
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING, launched_at=now)
        campaign.refresh_from_db()
        services.campaign_enroll(campaign=campaign, now=now)
    pending = list(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[: 2 * PROFILE_ROWS]
    )
    # The rows in batches of CAMPAIGN_BATCH_SIZE, one deliveries_send call each, as the workers get them.
    size = _batch_size()
    plain_ids, ids = pending[: len(pending) // 2], pending[len(pending) // 2 :]

    def send(rows: list[int]) -> tuple[int, int]:
        sent = skipped = 0
        for start in range(0, len(rows), size):
            outcome = services.deliveries_send(campaign_id=campaign.pk, delivery_ids=rows[start : start + size])
            sent, skipped = sent + outcome.sent, skipped + outcome.skipped
        return sent, skipped

    # Without the profiler first: the real single-process rate and the CPU it costs each process.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu_before = (time.process_time(), process_cpu(backend), process_cpu(int(sink_pid)))
    started = time.perf_counter()
    plain_sent, _ = send(plain_ids)
    plain_seconds = time.perf_counter() - started
    cpu_after = (time.process_time(), process_cpu(backend), process_cpu(int(sink_pid)))
    plain_cpu = dict(
        zip(("python", "postgres", "sink"), (b - a for a, b in zip(cpu_before, cpu_after, strict=True)), strict=True)
    )
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    sent, skipped = send(ids)
    profiler.disable()
    seconds = time.perf_counter() - started
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.STOPPED)

    stats = pstats.Stats(profiler)
    buckets = profile_buckets(stats)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    return {
        "channel": code,
        "plain_rows": len(plain_ids),
        "plain_sent": plain_sent,
        "plain_seconds": plain_seconds,
        "plain_ms_per_message": plain_seconds * 1000 / max(1, plain_sent),
        "plain_cpu_seconds": plain_cpu,
        "batch_size": size,
        "rows": len(ids),
        "sent": sent,
        "skipped": skipped,
        "seconds": seconds,
        "ms_per_message": seconds * 1000 / max(1, sent),
        "buckets": buckets,
        "top_tottime": text.getvalue(),
    }


#: (label, file name ending, function name): cumulative time of these calls in the profile.
PROFILE_FUNCTIONS = (
    ("claim the batch (_claim: SELECT ... FOR UPDATE, skips, UPDATE to sending)", "campaigns/services.py", "_claim"),
    ("build the message (build_email: template, 3 signed links)", "campaigns/services.py", "build_email"),
    ("  of which render_message", "campaigns/messages.py", "render_message"),
    ("  of which tracking_links (signing)", "campaigns/services.py", "tracking_links"),
    ("serialize the message (EmailMessage.message)", "django/core/mail/message.py", "message"),
    ("SMTP conversation (smtp_send_marked, incl. handed_over UPDATE)", "campaigns/services.py", "smtp_send_marked"),
    ("  of which mark handed_over (UPDATE, autocommit)", "campaigns/services.py", "mark_handed_over"),
    ("all QuerySet.update calls (handed_over + sent + claim)", "django/db/models/query.py", "update"),
    ("all psycopg execute (server round trips incl. commits)", "psycopg/cursor.py", "execute"),
    ("socket reads (waiting for SMTP replies)", "~", "<method 'readline' of '_io.BufferedReader' objects>"),
    ("socket writes", "~", "<method 'sendall' of '_socket.socket' objects>"),
    ("opening the SMTP connection", "django/core/mail/backends/smtp.py", "open"),
)


def profile_buckets(stats) -> list[dict]:
    found = []
    for label, filename, function in PROFILE_FUNCTIONS:
        total, calls = 0.0, 0
        for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
            if name == function and file.endswith(filename):
                total += ct
                calls += nc
        found.append({"what": label, "seconds": total, "calls": calls})
    return found


def enroll_big(database_url: str) -> dict:
    """Time ``campaign_enroll`` for an audience of the whole organization and for the potential tier."""
    org = _setup()
    from django.db import connection, transaction
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from accounts.timekeeping import local_today
    from campaigns import services
    from campaigns.models import Campaign, Delivery
    from campaigns.selectors import campaign_audience, eligible_audience

    cases = []
    everyone = _segment(org, "Bench everyone", {"field": "created_days_ago", "op": "gte", "value": 0})
    for label, fields in (
        ("segment matching every customer", {"segment": everyone}),
        ("potential tier (playbook)", {"tier": "potential"}),
    ):
        campaign = _campaign(org, f"Bench enroll {label}", **fields)
        now = timezone.now()
        today = local_today(org, now)
        audience = campaign_audience(campaign=campaign, today=today).count()
        started = time.perf_counter()
        eligible = eligible_audience(campaign=campaign, today=today).count()
        count_seconds = time.perf_counter() - started
        # The audience query campaign_enroll runs first, alone: how much of its time is reading the ids.
        already = Delivery.objects.filter(campaign=campaign, customer_id=OuterRef("pk"))
        started = time.perf_counter()
        ids = list(
            eligible_audience(campaign=campaign, today=today)
            .exclude(Exists(already))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        ids_seconds = time.perf_counter() - started
        del ids
        started, cpu_started = time.perf_counter(), time.process_time()
        with transaction.atomic():
            enrolled = services.campaign_enroll(campaign=campaign, now=now)
            before_commit = time.perf_counter()
        seconds, python_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        cases.append(
            {
                "audience": label,
                "audience_customers": audience,
                "eligible": eligible,
                "eligible_count_seconds": count_seconds,
                "audience_ids_seconds": ids_seconds,
                "enrolled": enrolled,
                "seconds": seconds,
                "commit_seconds": started + seconds - before_commit,
                "python_cpu_seconds": python_cpu,
                "rows_per_second": enrolled / seconds if seconds else 0.0,
            }
        )
        with connection.cursor() as cursor:  # no suppression points at these rows: a plain DELETE is enough
            cursor.execute("DELETE FROM campaigns_delivery WHERE campaign_id = %s", [campaign.pk])
        Campaign.objects.filter(pk=campaign.pk).delete()
    everyone.delete()
    return {"cases": cases, "deliveries_left": Delivery.objects.filter(organization=org).count()}


def report_lines(result: dict) -> list[str]:
    baseline = result["baseline"]
    counts = result["counts"]
    lines = [
        f"campaign {result['campaign_id']} to channel {result['channel']}: {result['eligible']:,} eligible, "
        f"{result['enrolled']:,} enrolled, statuses {counts}; batches of {result['batch_size']}; "
        f"{result['worker_concurrency']} worker processes",
        f"message size {result['message_bytes']:,} bytes; sink counted {result['sink_messages']:,} "
        f"(exactly once: {result['exactly_once']})",
        f"launch (enroll + queue) {result['launch_seconds']:.2f} s; launch to first message "
        f"{result['launch_to_first_seconds']:.2f} s",
        f"load average before {result['load_before']}, after {result['load_after']}",
        "",
        "| what | messages | seconds | messages/s | ÷ smtplib baseline |",
        "|---|---:|---:|---:|---:|",
        f"| campaign, launch to last message | {result['sink_messages']:,} | {result['launch_to_last_seconds']:.1f} "
        f"| {result['rate_launch_to_last']:,.0f} | {result['ratio_to_baseline_launch']:.2f} |",
        f"| campaign, first to last message | {result['sink_messages']:,} | {result['first_to_last_seconds']:.1f} "
        f"| {result['rate_first_to_last']:,.0f} | {result['ratio_to_baseline_first']:.2f} |",
        f"| raw smtplib loop, one process, one connection | {baseline['messages']:,} | {baseline['seconds']:.1f} "
        f"| {baseline['rate']:,.0f} | 1.00 |",
        "",
        "| campaign_enroll | audience | eligible | rows enrolled | seconds (commit included) | rows/s "
        "| audience ids query alone | commit | Python CPU of the enrolling process |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in result["enroll"]["cases"]:
        lines.append(
            f"| {case['audience']} | {case['audience_customers']:,} | {case['eligible']:,} | {case['enrolled']:,} "
            f"| {case['seconds']:.1f} | {case['rows_per_second']:,.0f} | {case['audience_ids_seconds']:.1f} s "
            f"| {case['commit_seconds']:.1f} s | {case['python_cpu_seconds']:.1f} s |"
        )
    cpu = result["cpu"]
    messages = max(1, result["sink_messages"])
    lines += [
        "",
        f"CPU during the campaign: machine {cpu['machine_busy_seconds']:.1f} s busy "
        f"({cpu['machine_busy_share']:.0%} of both cores, other people's work included); per message: workers "
        f"{cpu['workers_seconds'] * 1000 / messages:.2f} ms, sink {cpu['sink_seconds'] * 1000 / messages:.2f} ms",
    ]
    profile = result["profile"]
    lines += [
        "",
        f"deliveries_send on {profile['plain_rows']:,} rows in batches of {profile['batch_size']}, one process, "
        f"no profiler: {profile['plain_sent']:,} sent "
        f"in {profile['plain_seconds']:.2f} s ({profile['plain_ms_per_message']:.2f} ms a message, "
        f"{1000 / profile['plain_ms_per_message']:,.0f} messages/s); CPU per message: "
        + ", ".join(
            f"{name} {seconds * 1000 / max(1, profile['plain_sent']):.2f} ms"
            for name, seconds in profile["plain_cpu_seconds"].items()
        )
        + f" (together {sum(profile['plain_cpu_seconds'].values()) * 1000 / max(1, profile['plain_sent']):.2f} ms: "
        f"{2 * max(1, profile['plain_sent']) / max(1e-9, sum(profile['plain_cpu_seconds'].values())):,.0f} "
        "messages/s if two cores did nothing else)",
        f"cProfile of deliveries_send on {profile['rows']:,} more rows: {profile['sent']:,} sent in "
        f"{profile['seconds']:.2f} s under the profiler ({profile['ms_per_message']:.2f} ms a message)",
        "",
        "| part of the batch | seconds (cumulative) | calls |",
        "|---|---:|---:|",
    ]
    for bucket in profile["buckets"]:
        lines.append(f"| {bucket['what']} | {bucket['seconds']:.2f} | {bucket['calls']:,} |")
    lines += ["", profile["top_tottime"], "| goal | target | measured | met |", "|---|---:|---:|---|"]
    for entry in result["goals"]:
        lines.append(
            f"| {entry['goal']} | ≥ {entry['target']:.0f} | {entry['measured']:,.0f} | {'yes' if entry['met'] else 'no'} |"
        )
    return lines


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
