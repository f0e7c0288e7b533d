"""Campaign e-mail goes out exactly once through real processes, even when a worker is killed mid-send.

A local aiosmtpd sink (in this process, on a free port) records every message it accepts, by envelope
recipient and Message-ID. Real Celery workers (prefork, two processes) consume the send_batch tasks from
Redis and talk SMTP to the sink through Django's SMTP backend, with small batches, a short claim lease and a
short Redis visibility timeout, so that recovering from a SIGKILL fits in a test. The scheduler's minute
(``campaigns_tick``) is called from the test, as beat would call it, until no delivery is left in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.utils import timezone

from accounts.services import Actor
from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SkipReason,
    Suppression,
    SuppressionReason,
)
from crm.models import Customer
from segmentation.models import CustomerScore
from segmentation.services import segment_create
from tests.integration.conftest import BIN, REPO, free_port

pytestmark = pytest.mark.integration

CONCURRENCY = 2
BATCH_SIZE = 25
LEASE_SECONDS = 8
VISIBILITY_TIMEOUT = 2
IN_FLIGHT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.HANDED_OVER)
ACTOR = Actor(label="campaign integration test")
VARIANTS = [
    {"name": "A", "subject": "Hello {{ first_name }}", "body": "Hi {{ name }}, see https://shop.example/a"},
    {"name": "B", "subject": "An offer, {{ first_name }}", "body": "Use {{ offer_code }}", "offer_code": "B10"},
]


# The SMTP sink -------------------------------------------------------------------------------------------------


class SinkHandler:
    """Accepts every message (recording recipient and Message-ID) unless told to refuse; optionally slow."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[tuple[str, str]] = []
        self.delay = 0.0  # seconds spent "processing" each message before answering the end of DATA
        self.refuse_data = 0  # answer 451 to the end of DATA of this many next messages
        self.refused = 0
        self.reject_rcpt: set[str] = set()  # addresses answered 550 at RCPT
        self.rejected: list[str] = []
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        if address.lower() in self.reject_rcpt:
            with self.lock:
                self.rejected.append(address.lower())
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.refuse_data > 0:
                self.refuse_data -= 1
                self.refused += 1
                return "451 4.3.0 Temporary local problem, try again later"
            message_id = str(BytesHeaderParser().parsebytes(envelope.content)["Message-ID"])
            self.accepted.extend((rcpt.lower(), message_id) for rcpt in envelope.rcpt_tos)
        return "250 2.0.0 Accepted"

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def messages(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.accepted)


@pytest.fixture
def sink():
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


# Workers in their own process group, so the whole group (main process and pool) can be SIGKILLed ---------------


class Worker:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        args = [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(CONCURRENCY),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{name}-{os.getpid()}@%h",
        ]
        self.process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if "ready." in self.output():
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start within {timeout}s:\n{self.output()[-4000:]}")

    def kill_group(self) -> None:
        """SIGKILL the main process and every pool process at once: nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # until the pool processes are gone too
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a statement a pool process had already sent still completes in PostgreSQL

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # pool processes left behind, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def task_ids(self, event: str) -> set[str]:
        return set(re.findall(rf"campaigns\.tasks\.send_batch\[([0-9a-f-]+)\] {event}", self.output()))


def _forget_queued_tasks() -> None:
    """Empty the queue and the broker's record of taken-but-unacknowledged tasks (another test's leftovers)."""
    from config.celery_app import app

    app.control.purge()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("unacked", "unacked_index", "unacked_mutex")
    client.close()


@pytest.fixture
def workers(real_services, sink, tmp_path, settings):
    """Start workers with ``workers.start(name)``; the test process queues with the same batch size and lease."""
    from config.celery_app import app

    settings.CAMPAIGN_BATCH_SIZE = BATCH_SIZE
    settings.CAMPAIGN_CLAIM_LEASE_SECONDS = LEASE_SECONDS
    env = {
        **real_services,
        # The test settings pin the in-memory e-mail backend; the local settings read it from the environment.
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": "5",
        "CAMPAIGN_BATCH_SIZE": str(BATCH_SIZE),
        "CAMPAIGN_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    }
    started: list[Worker] = []

    class Workers:
        @staticmethod
        def start(name: str) -> Worker:
            worker = Worker(name, env, tmp_path)
            started.append(worker)
            worker.wait_ready()
            return worker

    _forget_queued_tasks()
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield Workers
    finally:
        for worker in reversed(started):
            worker.stop()
        app.conf.task_always_eager = previous
        _forget_queued_tasks()


# Data and helpers ----------------------------------------------------------------------------------------------


def _audience(org, count: int, *, tiers: tuple[str, ...]) -> list[Customer]:
    """``count`` customers with consent and a score, cycling through ``tiers``; e-mails c<i>@example.com."""
    Customer.objects.bulk_create(
        Customer(
            organization=org,
            external_id=f"CAMP{i:05d}",
            name=f"Camp Customer{i}",
            email=f"c{i}@example.com",
            consent_email=True,
        )
        for i in range(count)
    )
    customers = list(Customer.objects.for_org(org).order_by("external_id"))
    as_of = timezone.localdate() - datetime.timedelta(days=1)
    CustomerScore.objects.bulk_create(
        CustomerScore(
            organization=org,
            customer=customer,
            as_of=as_of,
            tier=tiers[i % len(tiers)],
            stage="growing",
            customer_value=Decimal(100 + i),
            purchase_days=2,
        )
        for i, customer in enumerate(customers)
    )
    return customers


def _no_quiet_hours(org) -> None:
    org.quiet_hours_start = org.quiet_hours_end = 0
    org.campaign_frequency_cap = 0
    org.save()


def _wait_for(condition, timeout: float, what: str, worker: Worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; worker log:\n{worker.output()[-4000:]}")


def _tick_until_final(campaign: Campaign, timeout: float, worker: Worker) -> int:
    """Run the scheduler's minute every half second until no delivery is pending or in flight."""
    ticks = 0
    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(campaign=campaign, status__in=IN_FLIGHT).exists():
        assert time.monotonic() < deadline, (
            f"deliveries still in flight after {timeout}s: {_statuses(campaign)}; "
            f"worker log:\n{worker.output()[-4000:]}"
        )
        services.campaigns_tick()
        ticks += 1
        time.sleep(0.5)
    return ticks


def _statuses(campaign: Campaign) -> Counter:
    return Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))


# Tests ---------------------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_send_never_sends_anyone_the_campaign_twice(org, sink, workers):
    started = time.monotonic()
    _no_quiet_hours(org)
    customers = _audience(
        org, 600, tiers=("high", "mid", "high", "mid", "high", "mid", "high", "mid", "mid", "potential")
    )
    by_email = {c.email: c for c in customers}
    email_of = {c.pk: c.email for c in customers}
    refusing = [c for i, c in enumerate(customers) if i % 20 == 3]
    Customer.objects.filter(pk__in=[c.pk for c in refusing]).update(consent_email=False)
    suppressed = [c for i, c in enumerate(customers) if i % 20 == 7]
    for customer in suppressed:
        services.suppression_add(org=org, email=customer.email, reason=SuppressionReason.MANUAL)
    segment = segment_create(
        org=org,
        actor=ACTOR,
        name="High and mid",
        rules={"all": [{"field": "tier", "op": "in", "value": ["high", "mid"]}]},
    )
    campaign = services.campaign_create(
        org=org, actor=ACTOR, name="Kill test", segment=segment, holdout_share=Decimal("0.1"), variants=VARIANTS
    )

    sink.delay = 0.02
    launched = services.campaign_launch(campaign=campaign, actor=ACTOR)  # batches are queued on commit
    deliveries = Delivery.objects.filter(campaign=campaign)
    enrolled = set(deliveries.values_list("customer_id", flat=True))
    holdout = set(deliveries.filter(status=DeliveryStatus.HOLDOUT).values_list("customer_id", flat=True))
    pending = list(
        deliveries.filter(status=DeliveryStatus.PENDING).order_by("pk").values_list("customer_id", flat=True)
    )
    # After launch, before any worker: some enrolled customers withdraw consent, others get suppressed.
    late_refusing, late_suppressed = pending[5::40], pending[25::40]
    Customer.objects.filter(pk__in=late_refusing).update(consent_email=False)
    for customer_id in late_suppressed:
        services.suppression_add(org=org, email=email_of[customer_id], reason=SuppressionReason.UNSUBSCRIBE)
    expected = set(pending) - set(late_refusing) - set(late_suppressed)
    out_of_audience = {c.pk for i, c in enumerate(customers) if i % 10 == 9}  # the potential tier
    assert launched.enrolled == len(enrolled) and holdout and len(expected) > 300
    assert not enrolled & ({c.pk for c in refusing + suppressed} | out_of_audience)  # never enrolled

    first = workers.start("camp-worker-1")
    _wait_for(lambda: sink.count() >= len(expected) // 4, 30, "a quarter of the messages", first)
    first.kill_group()
    at_kill = sink.count()
    in_flight_at_kill = dict(
        deliveries.filter(status__in=[DeliveryStatus.SENDING, DeliveryStatus.HANDED_OVER]).values_list("pk", "status")
    )
    handed_over_at_kill = {pk for pk, status in in_flight_at_kill.items() if status == DeliveryStatus.HANDED_OVER}
    assert 0 < at_kill < len(expected), at_kill
    assert in_flight_at_kill, "the worker was killed between batches, not mid-send"
    assert len(handed_over_at_kill) <= CONCURRENCY
    lost_tasks = first.task_ids("received") - first.task_ids("succeeded")
    assert lost_tasks, "no batch task was running when the worker was killed"

    # Past the visibility timeout, the new worker takes the killed worker's unacknowledged tasks back at start.
    time.sleep(VISIBILITY_TIMEOUT + 0.5)
    sink.delay = 0
    second = workers.start("camp-worker-2")
    ticks = _tick_until_final(campaign, 45, second)

    messages = sink.messages()
    recipients = Counter(rcpt for rcpt, _ in messages)
    message_ids = Counter(message_id for _, message_id in messages)
    received = Counter(by_email[rcpt].pk for rcpt in recipients.elements())
    statuses = _statuses(campaign)
    unknown = set(deliveries.filter(status=DeliveryStatus.UNKNOWN).values_list("pk", flat=True))
    unknown_customers = set(deliveries.filter(status=DeliveryStatus.UNKNOWN).values_list("customer_id", flat=True))
    print(
        f"\nkill test: {len(customers)} customers, {len(enrolled)} enrolled, {len(expected)} expected;"
        f" {at_kill} messages before the kill, {len(in_flight_at_kill)} rows in flight"
        f" ({len(handed_over_at_kill)} handed over), {len(lost_tasks)} tasks lost with the worker"
        f" and redelivered;"
        f" {ticks} ticks; messages {len(messages)}; statuses {dict(statuses)};"
        f" {time.monotonic() - started:.1f}s"
    )

    # Nobody twice: by envelope recipient and by Message-ID.
    assert [rcpt for rcpt, n in recipients.items() if n > 1] == []
    assert [mid for mid, n in message_ids.items() if n > 1] == []
    # Nothing for the hold-out, the non-consenting, the suppressed and customers outside the audience.
    assert not set(received) & holdout
    assert not set(received) & ({c.pk for c in refusing + suppressed} | out_of_audience)
    assert not set(received) & (set(late_refusing) | set(late_suppressed))
    assert set(received) <= expected
    # Everyone else exactly once, except deliveries whose fate is unknown (handed over when the worker died).
    assert unknown == handed_over_at_kill
    assert len(unknown) <= CONCURRENCY
    assert expected - set(received) <= unknown_customers
    assert all(received[customer_id] <= 1 for customer_id in unknown_customers)
    assert statuses[DeliveryStatus.SENT] + statuses[DeliveryStatus.UNKNOWN] == len(expected)
    assert statuses[DeliveryStatus.HOLDOUT] == len(holdout)
    assert statuses[DeliveryStatus.SKIPPED] == len(late_refusing) + len(late_suppressed)
    skip_reasons = Counter(deliveries.filter(status=DeliveryStatus.SKIPPED).values_list("skip_reason", flat=True))
    assert skip_reasons == {SkipReason.NO_CONSENT: len(late_refusing), SkipReason.SUPPRESSED: len(late_suppressed)}
    # The Message-ID a sent delivery records is the one the server received.
    seen = {by_email[rcpt].pk: message_id for rcpt, message_id in messages}
    sent = deliveries.filter(status=DeliveryStatus.SENT).values_list("customer_id", "message_id", "email")
    assert {customer_id: message_id for customer_id, message_id, _ in sent} == {
        customer_id: seen[customer_id] for customer_id, _, _ in sent
    }
    assert all(email == email_of[customer_id] for customer_id, _, email in sent)
    # Rows claimed but not yet handed over when the worker died went back to the queue and were sent once.
    sending_at_kill = set(in_flight_at_kill) - handed_over_at_kill
    assert set(deliveries.filter(pk__in=sending_at_kill).values_list("status", flat=True)) <= {DeliveryStatus.SENT}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    # The tasks the killed worker had taken were handed to the new worker (acks_late + visibility timeout).
    assert lost_tasks <= second.task_ids("received")


def test_temporary_refusals_are_retried_and_a_refused_recipient_is_bounced_and_suppressed(org, sink, workers):
    started = time.monotonic()
    _no_quiet_hours(org)
    customers = _audience(org, 120, tiers=("mid",))
    by_email = {c.email: c for c in customers}
    campaign = services.campaign_create(
        org=org, actor=ACTOR, name="Retry test", tier="mid", holdout_share=Decimal("0.1"), variants=VARIANTS
    )
    services.campaign_launch(campaign=campaign, actor=ACTOR)
    deliveries = Delivery.objects.filter(campaign=campaign)
    holdout = set(deliveries.filter(status=DeliveryStatus.HOLDOUT).values_list("customer_id", flat=True))
    pending = list(deliveries.filter(status=DeliveryStatus.PENDING).order_by("pk"))
    bounced = pending[len(pending) // 2]
    bounced_email = bounced.customer.email
    sink.reject_rcpt = {bounced_email}
    sink.refuse_data = 30

    worker = workers.start("camp-worker-retry")
    ticks = _tick_until_final(campaign, 30, worker)

    messages = sink.messages()
    recipients = Counter(rcpt for rcpt, _ in messages)
    statuses = _statuses(campaign)
    print(
        f"\nretry test: {len(pending)} to send, {len(holdout)} hold-out; {sink.refused} answered 451,"
        f" {len(sink.rejected)} refused at RCPT; {ticks} ticks; messages {len(messages)};"
        f" statuses {dict(statuses)}; {time.monotonic() - started:.1f}s"
    )
    assert sink.refused == 30
    assert deliveries.filter(attempts__gte=2).exists()  # rows of refused batches were claimed again
    assert "mail server unavailable" in worker.output()  # the batch went through the task's retry path
    expected = {row.customer.email for row in pending} - {bounced_email}
    assert set(recipients) == expected
    assert all(n == 1 for n in recipients.values())
    assert not {by_email[rcpt].pk for rcpt in recipients} & holdout
    assert statuses == {
        DeliveryStatus.SENT: len(expected),
        DeliveryStatus.BOUNCED: 1,
        DeliveryStatus.HOLDOUT: len(holdout),
    }
    bounced.refresh_from_db()
    assert bounced.status == DeliveryStatus.BOUNCED and bounced.error.startswith("550")
    suppression = Suppression.objects.for_org(org).get(email=bounced_email)
    assert suppression.reason == SuppressionReason.BOUNCE and suppression.delivery_id == bounced.pk
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
