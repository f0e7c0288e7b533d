"""Fixes from the webhooks review: idempotent nightly events, emission in the state change's transaction, the
retry-due grace, the attempt deadline, leased deliveries on disable, hostile signature headers, SSRF, and the
deliveries list's endpoint filter and list conventions."""

from __future__ import annotations

import datetime
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from accounts.services import Actor
from crm.imports import pipeline
from crm.models import ImportJob
from reporting import nightly
from reporting.webhook_events import nightly_webhooks_emit
from segmentation.models import ScoreChange, SegmentChange
from segmentation.services import segment_create
from tests.factories import CustomerFactory, OrderFactory
from webhooks import services, signing
from webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 3, 31)


def _emit(org) -> WebhookDelivery:
    event = services.event_emit(org=org, event_type=EventType.CUSTOMER_CREATED, payload={"customer_ids": [1]})
    return WebhookDelivery.objects.get(event=event)


# 1. A nightly re-run of the same day sends nothing new ---------------------------------------------------------


def _night_of_changes(org, admin_user) -> list:
    customers = [CustomerFactory(organization=org) for _ in range(3)]
    segment = segment_create(
        org=org,
        actor=Actor(user=admin_user),
        name="VIP",
        rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]},
    )
    for customer in customers[:2]:
        SegmentChange.objects.create(organization=org, segment=segment, customer=customer, day=DAY, kind="entered")
        ScoreChange.objects.create(
            organization=org, customer=customer, kind="tier", changed_on=DAY, from_value="mid", to_value="high"
        )
    ScoreChange.objects.create(
        organization=org, customer=customers[2], kind="stage", changed_on=DAY, from_value="mature", to_value="churned"
    )
    return customers


def test_running_the_same_night_again_sends_no_change_event_twice(org, admin_user, queued, monkeypatch):
    services.endpoint_create(org=org, url="https://acme.example/all")
    monkeypatch.setattr(services, "EVENT_BATCH_SIZE", 1)
    _night_of_changes(org, admin_user)

    first = nightly.JobRun.objects.create(organization=org, as_of=DAY, status="succeeded", finished_at=timezone.now())
    nightly_webhooks_emit(org=org, job=first, current=True)
    changes = list(WebhookEvent.objects.for_org(org).exclude(event_type="nightly.finished").order_by("id"))
    assert [e.event_type for e in changes] == ["segment.entered"] * 2 + ["tier.changed"] * 2 + ["churn.flagged"]
    delivered = WebhookDelivery.objects.count()

    again = nightly.JobRun.objects.create(organization=org, as_of=DAY, status="succeeded", finished_at=timezone.now())
    nightly_webhooks_emit(org=org, job=again, current=True)

    rerun = list(WebhookEvent.objects.for_org(org).exclude(event_type="nightly.finished").order_by("id"))
    assert [e.event_id for e in rerun] == [e.event_id for e in changes]  # nothing new
    assert WebhookEvent.objects.for_org(org).filter(event_type="nightly.finished").count() == 2  # one per run
    assert WebhookDelivery.objects.count() == delivered + 1
    # Deterministic ids: uuid5 over organization, type, day, subject and chunk index.
    segment_id = changes[0].payload["segment"]["id"]
    assert changes[0].event_id == services.stable_event_id(
        org, "segment.entered", f"2026-03-31/segment:{segment_id}", 0
    )
    assert changes[1].event_id == services.stable_event_id(
        org, "segment.entered", f"2026-03-31/segment:{segment_id}", 1
    )
    assert changes[2].event_id == services.stable_event_id(org, "tier.changed", "2026-03-31/tier:mid>high", 0)


def test_stable_event_ids_differ_per_organization_type_subject_and_chunk(org, other_org):
    base = services.stable_event_id(org, "tier.changed", "2026-03-31/tier:mid>high", 0)
    assert base == services.stable_event_id(org.pk, "tier.changed", "2026-03-31/tier:mid>high", 0)
    assert (
        len(
            {
                base,
                services.stable_event_id(other_org, "tier.changed", "2026-03-31/tier:mid>high", 0),
                services.stable_event_id(org, "churn.flagged", "2026-03-31/tier:mid>high", 0),
                services.stable_event_id(org, "tier.changed", "2026-03-30/tier:mid>high", 0),
                services.stable_event_id(org, "tier.changed", "2026-03-31/tier:mid>high", 1),
            }
        )
        == 5
    )


# 2. The state change and its event commit together -------------------------------------------------------------


def test_a_nightly_run_writes_its_outcome_and_its_events_in_one_transaction(org, queued, monkeypatch):
    services.endpoint_create(org=org, url="https://acme.example/nightly", event_types=["nightly.finished"])
    customer = CustomerFactory(organization=org, created_at=timezone.now() - datetime.timedelta(days=90))
    OrderFactory(customer=customer, ordered_at=timezone.now() - datetime.timedelta(days=30))
    real_emit = nightly.nightly_webhooks_emit
    seen: dict = {}

    def emit_then_die(**kwargs):
        real_emit(**kwargs)
        raise RuntimeError("the worker died here")

    def record_alone(job, status, error=""):
        # Called only when the combined transaction failed: the outcome written in it was rolled back with the
        # event, so the row still says "running" and no event exists.
        seen["status_before"] = nightly.JobRun.objects.get(pk=job.pk).status
        seen["events_before"] = WebhookEvent.objects.for_org(org).count()
        real_record(job, status, error)

    real_record = nightly._record_outcome
    monkeypatch.setattr(nightly, "nightly_webhooks_emit", emit_then_die)
    monkeypatch.setattr(nightly, "_record_outcome", record_alone)
    job = nightly.run_nightly(org=org, as_of=timezone.localdate() - datetime.timedelta(days=1))

    assert seen == {"status_before": "running", "events_before": 0}
    job.refresh_from_db()
    assert job.status == "succeeded"  # the outcome is still recorded, alone


def test_an_import_writes_its_outcome_and_import_finished_in_one_transaction(org, queued, tmp_path, monkeypatch):
    services.endpoint_create(org=org, url="https://acme.example/all", event_types=["import.finished"])
    real_emit = pipeline.event_emit

    def emit_then_die(**kwargs):
        real_emit(**kwargs)
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(pipeline, "event_emit", emit_then_die)
    path = Path(tmp_path) / "customers.csv"
    path.write_text("external_id,name\nC1,A\n")
    job = pipeline.import_job_create(
        org=org, actor=Actor(label="test"), kind="customers", source=path, original_filename="customers.csv"
    )
    with pytest.raises(RuntimeError):
        pipeline.import_job_run(job=job)
    # Neither the finished state nor the event survived: the job is re-run later (stale jobs are re-queued)
    # and then both are written, never one without the other.
    assert ImportJob.objects.get(pk=job.pk).finished_at is None
    assert not WebhookEvent.objects.filter(event_type="import.finished").exists()


# 3. The beat task does not re-queue a backlog every minute ------------------------------------------------------


def test_retry_due_requeues_only_overdue_deliveries_and_each_at_most_once_per_grace_period(org, queued):
    services.endpoint_create(org=org, url="https://acme.example/hook")
    now = timezone.now()
    backlog = [_emit(org) for _ in range(5)]  # just created: their own messages are still in the queue
    WebhookDelivery.objects.filter(pk=backlog[0].pk).update(next_attempt_at=now - datetime.timedelta(seconds=60))
    WebhookDelivery.objects.filter(pk=backlog[1].pk).update(next_attempt_at=now - datetime.timedelta(minutes=10))

    assert services.deliveries_retry_due(now=now) == [backlog[1].pk]
    # A minute later the one that is now two minutes overdue, not the one re-queued a minute ago.
    assert services.deliveries_retry_due(now=now + datetime.timedelta(seconds=60)) == [backlog[0].pk]
    three_minutes = now + datetime.timedelta(minutes=3)
    assert sorted(services.deliveries_retry_due(now=three_minutes)) == sorted(d.pk for d in backlog)


# 4. One attempt ends by its deadline, whatever the receiver does ----------------------------------------------


def _trickling_server(*, headers_slowly: bool):
    """Headers (or a huge body) one byte every 0.1 s: each socket wait is short, the whole answer endless."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                if headers_slowly:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    while not stop.is_set():
                        self.wfile.write(b"X")
                        self.wfile.flush()
                        time.sleep(0.1)
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**9))
                    self.end_headers()
                    while not stop.is_set():
                        self.wfile.write(b"x" * 10)
                        self.wfile.flush()
                        time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", server, stop


@pytest.fixture
def trickle_headers():
    url, server, stop = _trickling_server(headers_slowly=True)
    yield url
    stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def trickle_body():
    url, server, stop = _trickling_server(headers_slowly=False)
    yield url
    stop.set()
    server.shutdown()
    server.server_close()


@override_settings(WEBHOOK_TIMEOUT_SECONDS=1, WEBHOOK_CLAIM_LEASE_SECONDS=3)
def test_a_receiver_trickling_its_answer_fails_the_attempt_within_the_deadline(org, queued, trickle_headers):
    services.endpoint_create(org=org, url=trickle_headers)
    delivery = _emit(org)
    started = time.monotonic()
    services.delivery_attempt(delivery_id=delivery.pk)
    assert time.monotonic() - started < 2.5  # deadline 1 s, far below the 3 s lease
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_response_code is None and "1" in delivery.last_error


@override_settings(WEBHOOK_TIMEOUT_SECONDS=1, WEBHOOK_CLAIM_LEASE_SECONDS=3)
def test_a_2xx_with_an_endless_body_succeeds_without_reading_the_body(org, queued, trickle_body):
    services.endpoint_create(org=org, url=trickle_body)
    delivery = _emit(org)
    started = time.monotonic()
    services.delivery_attempt(delivery_id=delivery.pk)
    assert time.monotonic() - started < 2.5
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.last_response_code == 200


@override_settings(WEBHOOK_TIMEOUT_SECONDS=10, WEBHOOK_CLAIM_LEASE_SECONDS=5)
def test_the_attempt_deadline_stays_below_the_lease():
    assert services.attempt_deadline_seconds() < 5


# 5. Disabling an endpoint leaves a delivery being sent right now alone -----------------------------------------


def test_disabling_an_endpoint_does_not_reset_a_delivery_whose_lease_is_held(org, queued):
    endpoint = services.endpoint_create(org=org, url="https://acme.example/hook")
    waiting, in_flight = _emit(org), _emit(org)
    lease = services._claim(in_flight.pk, timezone.now())
    assert lease is not None

    services.endpoint_update(endpoint=endpoint, is_active=False)

    waiting.refresh_from_db()
    in_flight.refresh_from_db()
    assert waiting.status == DeliveryStatus.FAILED
    assert in_flight.status == DeliveryStatus.PENDING and in_flight.claimed_until == lease


# 7. Hostile signature headers are refused, never a crash ------------------------------------------------------

NOW = 1_700_000_000
HOSTILE_HEADERS = [
    f"t={NOW},v1=é" + "0" * 63,  # non-ASCII signature: TypeError in compare_digest on str
    "t=²,v1=" + "0" * 64,  # "²".isdigit() is True, int("²") raises
    "t=" + "9" * 5000 + ",v1=" + "0" * 64,  # int() of 5000 digits raises (or is slow)
    "t=" + "1" * 13 + ",v1=" + "0" * 64,
    f"t={NOW},v1=" + "0" * 64 + ",x=" + "a" * 5000,  # absurdly long
    f"t=١٧٠٠٠٠٠٠٠٠,v1={'0' * 64}",  # Arabic-Indic digits
    "t=,v1=",
    "",
]


def _docs_verifier():
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    [code] = [
        block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify_custops_signature" in block
    ]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (our own documentation)
    return namespace["verify_custops_signature"]


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
def test_malformed_signature_headers_are_refused_by_the_library_and_the_documented_snippet(header):
    body = b'{"id":"x"}'
    assert signing.signature_verify(secret="whsec_x", header=header, body=body, now=NOW) is False
    assert _docs_verifier()("whsec_x", header, body, now=NOW) is False


def test_a_good_signature_still_verifies_in_both():
    body = b'{"id":"x"}'
    header = signing.signature_header("whsec_x", NOW, body)
    assert signing.signature_verify(secret="whsec_x", header=header, body=body, now=NOW)
    assert _docs_verifier()("whsec_x", header, body, now=NOW)


# 8. Server-side request forgery ----------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://0.0.0.0/hook",
]


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_endpoints_on_private_addresses_are_refused_at_save_time(org, url):
    with pytest.raises(ValidationError) as refused:
        services.endpoint_create(org=org, url=url)
    assert "url" in refused.value.message_dict


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_a_public_address_is_accepted_and_the_api_names_url_when_refusing(org, write_api):
    services.endpoint_create(org=org, url="https://93.184.216.34/hook")
    response = write_api.post("/api/v1/webhooks/", {"url": "http://169.254.169.254/"}, format="json")
    assert response.status_code == 400 and "url" in response.json()["errors"]


def test_the_address_is_checked_again_at_send_time(org, receiver, queued):
    services.endpoint_create(org=org, url=receiver.url)  # allowed while saving (test settings)
    delivery = _emit(org)
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False):  # e.g. its DNS now points inside
        services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert receiver.requests == [] and delivery.attempts == 1 and "127.0.0.1" in delivery.last_error


# 9. The deliveries list: endpoint filter scoped to the caller, list conventions --------------------------------


def test_the_endpoint_filter_accepts_only_the_callers_endpoints(org, other_org, write_api, queued):
    mine = services.endpoint_create(org=org, url="https://acme.example/hook")
    theirs = services.endpoint_create(org=other_org, url="https://globex.example/hook")
    _emit(org)
    ok = write_api.get(f"/api/v1/webhook-deliveries/?endpoint={mine.pk}")
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1
    other = write_api.get(f"/api/v1/webhook-deliveries/?endpoint={theirs.pk}")
    missing = write_api.get("/api/v1/webhook-deliveries/?endpoint=999999")
    assert other.status_code == missing.status_code == 400
    assert other.json() == missing.json() and "endpoint" in other.json()["errors"]


def test_the_deliveries_list_follows_the_list_conventions(org, write_api, queued):
    services.endpoint_create(org=org, url="https://acme.example/hook")
    first, second = _emit(org), _emit(org)
    url = "/api/v1/webhook-deliveries/"
    ordered = write_api.get(f"{url}?ordering=created_at")
    assert ordered.status_code == 200 and [row["id"] for row in ordered.json()["results"]] == [first.pk, second.pk]
    assert write_api.get(f"{url}?ordering=bogus").status_code == 400
    since = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert write_api.get(url, {"updated_since": since}).json()["results"] == []
    sparse = write_api.get(f"{url}?fields=status").json()["results"][0]
    assert set(sparse) == {"id", "status"}
    etag = write_api.get(url)["ETag"]
    assert write_api.get(url, headers={"If-None-Match": etag}).status_code == 304
