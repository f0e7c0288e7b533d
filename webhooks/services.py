"""Webhooks: endpoints, event emission, signed delivery with retries, automatic disabling, redelivery.

Emission (``event_emit``, ``events_emit_many``) is called by the services of the apps to the right of this one
(crm, segmentation via the nightly, campaigns, reporting). It costs one indexed query when nobody listens: no
event row, no work. Otherwise the event and one delivery per subscribed endpoint are written in the caller's
transaction and queued only once it commits (``transaction.on_commit``), so a rolled-back write sends nothing.

Delivery is at-least-once. The row is the source of truth: a ``pending`` delivery whose ``next_attempt_at`` has
come is sent by whichever worker claims it first (``claimed_until`` is the lease); a worker that dies mid-attempt
leaves a lapsing lease, and the beat task ``webhooks-retry-due`` queues the delivery again. Every attempt of one
event carries the same event id, so receivers de-duplicate on it.

Retry schedule: after the n-th failed attempt wait ``WEBHOOK_RETRY_BASE_SECONDS × 2^(n-1)`` capped at
``WEBHOOK_RETRY_MAX_SECONDS`` (1, 2, 4, 8, 16, 32 min, then hourly), never past ``WEBHOOK_RETRY_WINDOW_SECONDS``
(24 h) after the delivery was created; one last attempt is made at that deadline, and if it fails the delivery is
``abandoned``.

Automatic disabling: when a delivery is abandoned and the endpoint has had no successful delivery since that
delivery was created (so every delivery to it failed for the whole 24 h window), the endpoint is disabled, its
other pending deliveries are marked failed, and the organization's admins get an e-mail. Re-enabling it is a
person's decision (page or API); nothing is re-sent automatically, but any delivery can be redelivered.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Role
from accounts.services import SYSTEM, Actor, audit_record
from webhooks import signing
from webhooks.models import (
    TEST_EVENT_TYPE,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
#: Ids per event when many records changed at once (imports, bulk writes, the nightly's segment and score
#: changes): one event per chunk of ids, never one HTTP call per row.
EVENT_BATCH_SIZE = 500
#: Most deliveries the beat task queues per minute; the rest wait for the next minute.
RETRY_DUE_LIMIT = 1000
ENDPOINT_FIELDS = {"url", "description", "event_types", "is_active"}
USER_AGENT = "custops-webhooks/1"
#: Namespace of the deterministic event ids of batched change events (``stable_event_id``); never change it.
STABLE_EVENT_NAMESPACE = uuid.UUID("5b0c6f0e-2d7a-4c59-9a53-3f1c2b6e8d41")


# Endpoints ---------------------------------------------------------------------------------------------------


def _clean_event_types(event_types: Any) -> list[str]:
    if event_types is None:
        return []
    if not isinstance(event_types, (list, tuple)) or not all(isinstance(item, str) for item in event_types):
        raise ValidationError({"event_types": [_("Give a list of event types.")]})
    unknown = sorted(set(event_types) - set(EventType.values))
    if unknown:
        raise ValidationError(
            {
                "event_types": [
                    _("Unknown event type %(types)s; choose from %(allowed)s.")
                    % {"types": ", ".join(unknown), "allowed": ", ".join(EventType.values)}
                ]
            }
        )
    return sorted(set(event_types))


def _endpoint_snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint: never the secret."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "is_active": endpoint.is_active,
    }


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def url_refusal(url: str) -> str:
    """Why custops must not POST to ``url`` (empty when it may): a host that resolves to a loopback, private,
    link-local, multicast or reserved address would let an organization make custops call its own network
    (server-side request forgery). Checked when an endpoint is saved and again before every attempt, since DNS
    can change. ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` (tests, local development) turns the check off."""
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return ""
    host = urlsplit(url).hostname
    if not host:
        return _("The URL has no host.")
    try:
        port = urlsplit(url).port
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        return _("The host %(host)s could not be resolved.") % {"host": host}
    addresses = sorted({info[4][0] for info in infos})
    refused = [address for address in addresses if not _address_is_public(address)]
    if refused or not addresses:
        return _(
            "The host %(host)s resolves to a private, loopback, link-local, multicast or reserved address "
            "(%(addresses)s); webhooks are only sent to public addresses."
        ) % {"host": host, "addresses": ", ".join(refused)}
    return ""


def _full_clean(endpoint: WebhookEndpoint) -> None:
    if endpoint.url and not endpoint.url.lower().startswith(("https://", "http://")):
        raise ValidationError({"url": [_("Use an http:// or https:// URL.")]})
    endpoint.full_clean(exclude=["organization"])
    refused = url_refusal(endpoint.url)
    if refused:
        raise ValidationError({"url": [refused]})


@transaction.atomic
def endpoint_create(
    *,
    org: Organization,
    actor: Actor = SYSTEM,
    url: str,
    description: str = "",
    event_types: Sequence[str] | None = None,
    is_active: bool = True,
) -> WebhookEndpoint:
    """Create an endpoint with a new signing secret (``endpoint.secret``; show it to the person once)."""
    endpoint = WebhookEndpoint(
        organization=org,
        url=(url or "").strip(),
        description=(description or "").strip(),
        event_types=_clean_event_types(event_types),
        is_active=bool(is_active),
        secret=SECRET_PREFIX + secrets.token_urlsafe(32),
    )
    if not endpoint.is_active:
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = _("Created disabled.")
    _full_clean(endpoint)
    endpoint.save()
    audit_record(
        org=org, actor=actor, action="webhook_endpoint.create", instance=endpoint, after=_endpoint_snapshot(endpoint)
    )
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, actor: Actor = SYSTEM, **changes: Any) -> WebhookEndpoint:
    """Change url, description, event types or active state; re-enabling clears the disabled reason."""
    unknown = sorted(set(changes) - ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in unknown})
    before = _endpoint_snapshot(endpoint)
    if "event_types" in changes:
        changes["event_types"] = _clean_event_types(changes["event_types"])
    for name in ("url", "description"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    was_active = endpoint.is_active
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if endpoint.is_active and not was_active:
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    elif was_active and not endpoint.is_active:
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = _("Disabled by %(who)s.") % {"who": actor.display}
    _full_clean(endpoint)
    endpoint.save()
    if was_active and not endpoint.is_active:
        _stop_pending(endpoint)
    audit_record(
        org=endpoint.organization,
        actor=actor,
        action="webhook_endpoint.update",
        instance=endpoint,
        before=before,
        after=_endpoint_snapshot(endpoint),
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor = SYSTEM) -> None:
    """Delete an endpoint with its deliveries and their attempt logs."""
    before = _endpoint_snapshot(endpoint)
    pk = endpoint.pk
    endpoint.delete()
    audit_record(
        org=endpoint.organization,
        actor=actor,
        action="webhook_endpoint.delete",
        object_type="webhookendpoint",
        object_id=str(pk),
        before=before,
    )


def _stop_pending(endpoint: WebhookEndpoint) -> int:
    """A disabled endpoint gets nothing more: its pending deliveries end as failed (each can be redelivered).

    A delivery whose lease is still held is being sent right now: it is left alone, otherwise the worker could
    no longer write its outcome (the lease is its proof) and a success would be shown as failed. Its next
    attempt, if it fails, finds the endpoint disabled and stops then.
    """
    now = timezone.now()
    return WebhookDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), endpoint=endpoint, status=DeliveryStatus.PENDING
    ).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        claimed_until=None,
        last_error=_("The endpoint was disabled before this delivery succeeded."),
    )


# Emission ------------------------------------------------------------------------------------------------------


def _subscribed_endpoints(org: Organization | int, event_type: str) -> list[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.for_org(org).filter(is_active=True).only("id", "event_types")
    return [endpoint for endpoint in endpoints if endpoint.subscribes_to(event_type)]


def _json_ready(payload: dict) -> dict:
    """Dates, decimals and UUIDs as the JSON the receiver will get, so the stored payload is what is sent."""
    if not isinstance(payload, dict):
        raise TypeError("a webhook payload is a dict")
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def _enqueue_after_commit(delivery_ids: list[int]) -> None:
    if delivery_ids:
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids))


def deliveries_enqueue(delivery_ids: Iterable[int]) -> None:
    """Queue one task per delivery; if the broker is down the rows stay due and the beat task retries them."""
    from webhooks.tasks import deliver

    for delivery_id in delivery_ids:
        try:
            deliver.delay(delivery_id)
        except Exception:
            logger.exception("could not queue webhook delivery %s; the retry-due task will", delivery_id)


def events_emit_many(
    *,
    org: Organization,
    event_type: str,
    payloads: Iterable[dict],
    event_ids: Sequence[uuid.UUID] | None = None,
) -> list[WebhookEvent]:
    """Emit one event per payload to every active endpoint of ``org`` subscribed to ``event_type``.

    Returns the events written: none (and no rows, no work) when no endpoint listens. With ``event_ids`` (one per
    payload, from ``stable_event_id``) emission is idempotent: an id already stored is skipped, so running the
    same emission twice (a nightly re-run of a day) sends nothing new, and receivers could de-duplicate anyway.
    """
    if event_type not in EventType.values:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = _subscribed_endpoints(org, event_type)
    if not endpoints:
        return []
    payloads = list(payloads)
    if event_ids is not None:
        event_ids = list(event_ids)
        if len(event_ids) != len(payloads):
            raise ValueError("give one event id per payload")
        existing = set(WebhookEvent.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True))
        events = [
            WebhookEvent(organization_id=org.pk, event_type=event_type, payload=_json_ready(payload), event_id=event_id)
            for payload, event_id in zip(payloads, event_ids, strict=True)
            if event_id not in existing
        ]
    else:
        events = [
            WebhookEvent(organization_id=org.pk, event_type=event_type, payload=_json_ready(payload))
            for payload in payloads
        ]
    if not events:
        return []
    now = timezone.now()
    with transaction.atomic():
        WebhookEvent.objects.bulk_create(events)
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(organization_id=org.pk, endpoint=endpoint, event=event, next_attempt_at=now)
                for event in events
                for endpoint in endpoints
            ]
        )
        _enqueue_after_commit([delivery.pk for delivery in deliveries])
    return events


def event_emit(*, org: Organization, event_type: str, payload: dict) -> WebhookEvent | None:
    """Emit one event; ``None`` when no active endpoint of ``org`` subscribes to ``event_type``."""
    events = events_emit_many(org=org, event_type=event_type, payloads=[payload])
    return events[0] if events else None


def id_chunks(ids: Iterable[int], size: int | None = None) -> list[list[int]]:
    """Sorted ids cut into chunks of ``size`` (``EVENT_BATCH_SIZE``): the ``*_ids`` lists of batched events."""
    size = size or EVENT_BATCH_SIZE
    ordered = sorted({int(pk) for pk in ids})
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def stable_event_id(org: Organization | int, event_type: str, subject: str, chunk: int) -> uuid.UUID:
    """The same event id every time the same change is emitted: uuid5 over organization, type, subject (e.g.
    ``"2025-03-01/segment:12"``) and chunk index. Receivers de-duplicate on it; ``events_emit_many`` skips it."""
    org_id = org if isinstance(org, int) else org.pk
    return uuid.uuid5(STABLE_EVENT_NAMESPACE, f"{org_id}|{event_type}|{subject}|{chunk}")


def events_emit_for_ids(
    *,
    org: Organization,
    event_type: str,
    ids: Iterable[int],
    key: str,
    extra: dict | None = None,
    stable_subject: str | None = None,
) -> list[WebhookEvent]:
    """One event per ``EVENT_BATCH_SIZE`` ids: ``{key: [ids…], **extra}``; checks subscribers before any work.

    With ``stable_subject`` each chunk's event id is ``stable_event_id(org, event_type, stable_subject, index)``
    and emitting the same chunks again sends nothing.
    """
    if not _subscribed_endpoints(org, event_type):
        return []
    payloads = [{**(extra or {}), key: chunk} for chunk in id_chunks(ids)]
    event_ids = None
    if stable_subject is not None:
        event_ids = [stable_event_id(org, event_type, stable_subject, index) for index in range(len(payloads))]
    return events_emit_many(org=org, event_type=event_type, payloads=payloads, event_ids=event_ids)


# Delivery ------------------------------------------------------------------------------------------------------


def request_body(event: WebhookEvent, organization_slug: str) -> bytes:
    """The JSON body of every attempt of ``event``: byte-for-byte the same each time."""
    document = {
        "id": str(event.event_id),
        "type": event.event_type,
        "created_at": event.created_at.isoformat(),
        "organization": organization_slug,
        "data": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


def request_headers(event: WebhookEvent, secret: str, body: bytes, *, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Custops-Event-Id": str(event.event_id),
        "Custops-Event-Type": event.event_type,
        "Custops-Signature": signing.signature_header(secret, timestamp, body),
    }


def _claim(delivery_id: int, now: datetime.datetime) -> datetime.datetime | None:
    """Take the lease on a due delivery; ``None`` when it is not due, finished, or another worker holds it."""
    lease = now + datetime.timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE_SECONDS)
    # A broker's ETA timer may fire a few milliseconds early; that message must not be dropped as "not due".
    due_by = now + datetime.timedelta(seconds=1)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=due_by)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=lease)
    )
    return lease if claimed else None


def attempt_deadline_seconds() -> float:
    """Longest one attempt may take, all of it (connect, send, headers): ``WEBHOOK_TIMEOUT_SECONDS``, kept
    below the claim lease so an attempt always ends while its worker still holds the delivery."""
    lease = settings.WEBHOOK_CLAIM_LEASE_SECONDS
    return max(0.1, min(float(settings.WEBHOOK_TIMEOUT_SECONDS), lease * 0.8))


def _post_once(url: str, body: bytes, headers: dict[str, str], deadline: float) -> tuple[int | None, str]:
    refused = url_refusal(url)
    if refused:
        return None, refused
    try:
        # stream=True: only the status line and headers are read; the body (which we never need) is not.
        response = requests.post(url, data=body, headers=headers, timeout=deadline, allow_redirects=False, stream=True)
    except requests.Timeout:
        return None, _("No answer within %(seconds)s seconds.") % {"seconds": round(deadline, 1)}
    except requests.RequestException as exc:
        return None, (_("Could not connect: %(error)s") % {"error": type(exc).__name__})[:500]
    response.close()
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, _("The endpoint answered HTTP %(code)s.") % {"code": response.status_code}


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST once: the response code (or ``None``) and an error text (empty when the code is a 2xx).

    ``requests``' timeout bounds each socket wait, not the call: a receiver trickling a byte every few seconds
    could hold the worker (and outlive the lease) for ever. The request runs in a daemon thread that this
    worker waits for at most ``attempt_deadline_seconds()``; past it the attempt counts as a timeout (the
    thread ends at its next socket timeout, and never reads the response body).
    """
    deadline = attempt_deadline_seconds()
    outcome: list[tuple[int | None, str]] = []

    def attempt() -> None:
        try:
            outcome.append(_post_once(url, body, headers, deadline))
        except Exception as exc:  # never let the thread die silently
            outcome.append((None, (_("Could not connect: %(error)s") % {"error": type(exc).__name__})[:500]))

    thread = threading.Thread(target=attempt, name="webhook-post", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive() or not outcome:
        return None, _("No answer within %(seconds)s seconds.") % {"seconds": round(deadline, 1)}
    return outcome[0]


def _next_attempt(delivery: WebhookDelivery, now: datetime.datetime) -> datetime.datetime | None:
    """When to try again after ``delivery.attempts`` failures; ``None`` once the retry window is over."""
    deadline = delivery.created_at + datetime.timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    if now >= deadline:
        return None
    delay = signing.retry_delay_seconds(
        delivery.attempts, base=settings.WEBHOOK_RETRY_BASE_SECONDS, cap=settings.WEBHOOK_RETRY_MAX_SECONDS
    )
    return min(now + datetime.timedelta(seconds=delay), deadline)


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Send a due delivery once and record the outcome; ``None`` when there was nothing to send.

    Safe to run twice or concurrently: only the worker holding the lease sends. The HTTP call happens outside
    any transaction (a slow receiver holds no lock); the outcome is written only if the lease is still ours.
    """
    now = timezone.now()
    lease = _claim(delivery_id, now)
    if lease is None:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event", "organization").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        WebhookDelivery.objects.filter(pk=delivery.pk, claimed_until=lease).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            claimed_until=None,
            last_error=_("The endpoint was disabled before this delivery succeeded."),
        )
        _stop_pending(endpoint)
        delivery.refresh_from_db()
        return delivery
    body = request_body(delivery.event, delivery.organization.slug)
    headers = request_headers(delivery.event, endpoint.secret, body, timestamp=int(time.time()))
    started = time.perf_counter()
    code, error = _post(endpoint.url, body, headers)
    duration_ms = int((time.perf_counter() - started) * 1000)
    finished = timezone.now()
    succeeded = not error
    with transaction.atomic():
        WebhookDeliveryAttempt.objects.create(
            organization_id=delivery.organization_id,
            delivery=delivery,
            attempted_at=now,
            response_code=code,
            duration_ms=duration_ms,
            error=error[:500],
            succeeded=succeeded,
        )
        delivery.attempts += 1
        delivery.last_response_code = code
        delivery.last_error = error[:500]
        delivery.claimed_until = None
        if succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = _next_attempt(delivery, finished)
            if delivery.next_attempt_at is None:
                delivery.status = DeliveryStatus.ABANDONED
        fields = ["attempts", "last_response_code", "last_error", "claimed_until", "status", "delivered_at"]
        written = WebhookDelivery.objects.filter(pk=delivery.pk, claimed_until=lease).update(
            **{name: getattr(delivery, name) for name in fields}, next_attempt_at=delivery.next_attempt_at
        )
        if not written:
            logger.warning(
                "webhook delivery %s: lease lapsed during the attempt; outcome kept in the log only", delivery.pk
            )
            return delivery
        if delivery.status == DeliveryStatus.ABANDONED:
            _disable_if_failing(endpoint, since=delivery.created_at)
    return delivery


def deliveries_retry_due(*, now: datetime.datetime | None = None, limit: int = RETRY_DUE_LIMIT) -> list[int]:
    """Ids of pending deliveries overdue and not leased (a retry whose message was lost, a dead worker).

    Only rows overdue by ``WEBHOOK_RETRY_DUE_GRACE_SECONDS``: a delivery due a moment ago still has its own
    message in the queue, and re-queueing every due row each minute would pile duplicates onto a backlog. The
    rows taken get ``next_attempt_at = now``, so one that waits in a long queue is re-queued at most once per
    grace period (the claim makes any duplicate message a no-op anyway).
    """
    now = now or timezone.now()
    overdue = now - datetime.timedelta(seconds=settings.WEBHOOK_RETRY_DUE_GRACE_SECONDS)
    unleased = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    ids = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(unleased)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if ids:
        WebhookDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue).filter(
            unleased
        ).update(next_attempt_at=now)
    return ids


# Automatic disabling --------------------------------------------------------------------------------------------


def _disable_if_failing(endpoint: WebhookEndpoint, *, since: datetime.datetime) -> bool:
    """Disable ``endpoint`` when nothing reached it since ``since`` (an abandoned delivery's creation)."""
    if WebhookDelivery.objects.filter(
        endpoint=endpoint, status=DeliveryStatus.SUCCEEDED, delivered_at__gte=since
    ).exists():
        return False
    hours = settings.WEBHOOK_RETRY_WINDOW_SECONDS // 3600
    reason = _("Every delivery failed for %(hours)s hours.") % {"hours": hours}
    disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason=reason, updated_at=timezone.now()
    )
    if not disabled:
        return False
    endpoint.is_active = False
    endpoint.disabled_reason = reason
    _stop_pending(endpoint)
    audit_record(
        org=endpoint.organization,
        actor=Actor(label="webhooks"),
        action="webhook_endpoint.disable",
        instance=endpoint,
        after={"is_active": False, "reason": reason},
    )
    endpoint_id = endpoint.pk
    transaction.on_commit(lambda: endpoint_disabled_notify(endpoint_id=endpoint_id))
    return True


def admin_emails(org: Organization) -> list[str]:
    """The e-mail addresses of the organization's admins (active users only)."""
    return list(
        Membership.objects.filter(organization=org, role=Role.ADMIN, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def endpoint_disabled_notify(*, endpoint_id: int) -> int:
    """E-mail the admins that an endpoint was disabled; returns the recipients (0 if none or mail failed)."""
    endpoint = WebhookEndpoint.objects.select_related("organization").filter(pk=endpoint_id).first()
    if endpoint is None:
        return 0
    recipients = admin_emails(endpoint.organization)
    if not recipients:
        return 0
    subject = _("[custops] %(organization)s: webhook endpoint disabled") % {"organization": endpoint.organization.name}
    body = _(
        "The webhook endpoint %(url)s of %(organization)s was disabled: %(reason)s\n\n"
        "Deliveries to it are no longer attempted. Once the receiver works again, enable the endpoint on the "
        "Webhooks page (%(link)s) and redeliver the events it missed."
    ) % {
        "url": endpoint.url,
        "organization": endpoint.organization.name,
        "reason": endpoint.disabled_reason,
        "link": settings.CUSTOPS_PUBLIC_URL.rstrip("/") + "/webhooks/",
    }
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        logger.exception("could not e-mail the admins that webhook endpoint %s was disabled", endpoint_id)
        return 0
    return len(recipients)


# Manual redelivery and test events ------------------------------------------------------------------------------


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, actor: Actor = SYSTEM) -> WebhookDelivery:
    """Send the same event (same event id, same body) to the same endpoint again, as a new delivery row."""
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        raise ValidationError(_("The endpoint is disabled; enable it before redelivering."))
    again = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        endpoint=endpoint,
        event=delivery.event,
        next_attempt_at=timezone.now(),
        redelivery_of=delivery,
    )
    audit_record(
        org=delivery.organization,
        actor=actor,
        action="webhook_delivery.redeliver",
        instance=again,
        after={"redelivery_of": delivery.pk, "event_id": str(delivery.event.event_id)},
    )
    _enqueue_after_commit([again.pk])
    return again


@transaction.atomic
def endpoint_test_send(*, endpoint: WebhookEndpoint, actor: Actor = SYSTEM) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this endpoint only, whatever it subscribes to."""
    if not endpoint.is_active:
        raise ValidationError(_("The endpoint is disabled; enable it before sending a test event."))
    event = WebhookEvent.objects.create(
        organization_id=endpoint.organization_id,
        event_type=TEST_EVENT_TYPE,
        payload={"message": "This is a test event from custops.", "endpoint_id": endpoint.pk},
    )
    delivery = WebhookDelivery.objects.create(
        organization_id=endpoint.organization_id, endpoint=endpoint, event=event, next_attempt_at=timezone.now()
    )
    audit_record(org=endpoint.organization, actor=actor, action="webhook_endpoint.test", instance=endpoint)
    _enqueue_after_commit([delivery.pk])
    return delivery


# History ------------------------------------------------------------------------------------------------------

#: Events deleted per statement by the history purge: their deliveries and attempts go with them (cascade).
HISTORY_PURGE_BATCH = 1000


def webhook_history_purge(
    *, org: Organization, now: datetime.datetime, max_batches: int, batch_size: int = HISTORY_PURGE_BATCH
) -> tuple[dict[str, int], bool]:
    """Delete the organization's events older than ``WEBHOOK_HISTORY_DAYS`` with their deliveries and attempts.

    Payloads carry customers' names and addresses, and the page and API only need recent history to debug a
    receiver. An event that still has a pending delivery, or was redelivered within the window, stays until
    that delivery is done and old. Works in batches of ``batch_size`` events, each in its own transaction so
    locks stay short; returns the counts and whether rows remain after ``max_batches`` batches.
    """
    cutoff = now - datetime.timedelta(days=settings.WEBHOOK_HISTORY_DAYS)
    expired = (
        WebhookEvent.objects.for_org(org)
        .filter(created_at__lt=cutoff)
        .exclude(deliveries__status=DeliveryStatus.PENDING)
        .exclude(deliveries__created_at__gte=cutoff)
    )
    counts = {"events": 0, "deliveries": 0, "attempts": 0}
    for _batch in range(max_batches):
        ids = list(expired.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return counts, False
        with transaction.atomic():
            _total, deleted = WebhookEvent.objects.filter(pk__in=ids).delete()
        counts["events"] += deleted.get(WebhookEvent._meta.label, 0)
        counts["deliveries"] += deleted.get(WebhookDelivery._meta.label, 0)
        counts["attempts"] += deleted.get(WebhookDeliveryAttempt._meta.label, 0)
        if len(ids) < batch_size:
            return counts, False
    return counts, expired.exists()
