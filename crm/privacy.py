"""What the organization owes the people in its CRM: a copy of their data (export), their identity removed while
the figures stay true (erasure), and behaviour data kept only as long as the organization's policy says
(retention). Every one of them is audit-logged without copying personal data into the audit row.

The apps above ``crm`` hold data about a customer too (scores and segments, campaign deliveries). They take part
through the two extension points below instead of being imported here (DESIGN.md §2):

- ``export_section_register(name, rows)``: ``rows(customer)`` yields the JSON-ready rows of one export section;
- ``customer_erased``: a signal sent inside the erasure's transaction, so a receiver's scrub commits or rolls back
  with the rest.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts.models import AuditLog, IdempotencyKey, Organization
from accounts.services import SYSTEM, Actor, audit_record
from crm.models import (
    ConsentChange,
    ConsentSource,
    Customer,
    Event,
    Feedback,
    ImportRejection,
    Note,
    Order,
    Task,
)
from crm.services import CONSENT_CHANNELS
from webhooks.models import EventType, WebhookEvent
from webhooks.selectors import events_naming_customer
from webhooks.services import event_emit, webhook_history_purge

#: What replaces free text written about an erased person (notes, task titles, rejected import rows).
ERASED_TEXT = "[erased]"
EXPORT_FORMAT = "custops.customer-export/1"
#: Rows fetched per query while an export streams, and characters sent per chunk of the response.
EXPORT_FETCH_ROWS = 2000
EXPORT_CHUNK_CHARS = 64 * 1024
#: Ids per ``IN (...)`` when erasure scrubs audit rows of a customer's notes, tasks, answers and events.
ID_CHUNK = 1000
#: Events deleted per statement by the retention purge, and statements per run before the task re-queues itself.
EVENT_PURGE_BATCH = 5000
PURGE_MAX_BATCHES = 200

#: The customer fields that identify a person and what erasure leaves in them (external_id: a keyed hash).
CUSTOMER_PII_FIELDS = ("name", "email", "phone", "external_id", "attributes")
#: Free-text fields of the rows about a customer, by audit ``object_type``: erasure blanks them in audit snapshots.
RELATED_PII_FIELDS = {
    "note": {"body": ERASED_TEXT},
    "task": {"title": ERASED_TEXT, "description": ""},
    "feedback": {"comment": ""},
    "event": {"properties": {}},
}

# Extension points ---------------------------------------------------------------------------------------------

ExportRows = Callable[[Customer], Iterable[dict[str, Any]]]
_export_sections: dict[str, ExportRows] = {}

#: Sent inside the erasure transaction, after the CRM's own scrub, with ``organization``, ``customer`` (already
#: anonymous), ``original`` (``{"name", "email", "phone", "external_id"}`` as they were) and ``actor``. A receiver
#: returns a dict of counts (what it scrubbed) for the audit row; an exception rolls the whole erasure back.
customer_erased = Signal()


def export_section_register(name: str, rows: ExportRows) -> None:
    """Add a section to every customer export (from an app's ``AppConfig.ready``); the name is its JSON key."""
    _export_sections[name] = rows


# Hashing ------------------------------------------------------------------------------------------------------


def privacy_hash(org: Organization | int, purpose: str, value: str) -> str:
    """A keyed, non-reversible digest of ``value`` (an e-mail address, an external id), the same every time.

    Keyed with ``CUSTOPS_PRIVACY_HASH_KEY`` so that nobody holding only the database can test guessed addresses
    against it; per organization, so one tenant's digest says nothing about another's customers.
    """
    org_id = org if isinstance(org, int) else org.pk
    return salted_hmac(
        f"custops.privacy.{purpose}", f"{org_id}:{value}", secret=settings.CUSTOPS_PRIVACY_HASH_KEY, algorithm="sha256"
    ).hexdigest()


def erased_external_id(org: Organization | int, external_id: str) -> str:
    """The stable token that replaces an erased customer's external id (unique, as the original was)."""
    return "erased-" + privacy_hash(org, "external-id", external_id)[:32]


def hashed_email(org: Organization | int, email: str) -> str:
    """How a suppression stores the address of an erased person: matched at send time, never shown in clear."""
    return "hmac-sha256:" + privacy_hash(org, "email", email.strip().lower())


# Export -------------------------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def customer_profile(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "channel": customer.channel.code if customer.channel_id else None,
        "owner": customer.owner.email if customer.owner_id else None,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "consent_email": customer.consent_email,
        "consent_email_at": customer.consent_email_at,
        "consent_sms": customer.consent_sms,
        "consent_sms_at": customer.consent_sms_at,
        "tags": customer.tags,
        "attributes": customer.attributes,
        "erased_at": customer.erased_at,
    }


def _rows(queryset, *fields: str) -> Iterator[dict[str, Any]]:
    """Rows as dicts, fetched ``EXPORT_FETCH_ROWS`` at a time (a server-side cursor on PostgreSQL)."""
    return queryset.order_by("pk").values(*fields).iterator(chunk_size=EXPORT_FETCH_ROWS)


CRM_EXPORT_SECTIONS = ("consent_history", "orders", "events", "feedback", "notes", "tasks", "webhook_events")


def _crm_sections(customer: Customer) -> dict[str, Iterable[dict[str, Any]]]:
    org_id = customer.organization_id
    return {
        "consent_history": _rows(
            ConsentChange.objects.for_org(org_id).filter(customer=customer),
            "channel",
            "granted",
            "source",
            "actor_label",
            "at",
        ),
        "orders": _rows(
            Order.objects.for_org(org_id).filter(customer=customer),
            "id",
            "external_id",
            "ordered_at",
            "amount",
            "currency",
            "status",
            "channel__code",
            "created_at",
        ),
        "events": _rows(
            Event.objects.for_org(org_id).filter(customer=customer), "id", "name", "occurred_at", "properties"
        ),
        "feedback": _rows(
            Feedback.objects.for_org(org_id).filter(customer=customer),
            "id",
            "kind",
            "score",
            "scale_max",
            "comment",
            "answered_at",
        ),
        "notes": _rows(
            Note.objects.for_org(org_id).filter(customer=customer), "id", "body", "author__email", "created_at"
        ),
        "tasks": _rows(
            Task.objects.for_org(org_id).filter(customer=customer),
            "id",
            "title",
            "description",
            "status",
            "due_date",
            "owner__email",
            "created_at",
            "completed_at",
        ),
        "webhook_events": _rows(
            events_naming_customer(org=org_id, customer_id=customer.pk),
            "event_id",
            "event_type",
            "payload",
            "created_at",
        ),
    }


def customer_export_sections(customer: Customer) -> dict[str, Iterable[dict[str, Any]]]:
    """Every section of the export, the CRM's first, then those the apps above registered."""
    sections = _crm_sections(customer)
    for name, rows in _export_sections.items():
        sections[name] = rows(customer)
    return sections


def customer_export_stream(*, customer: Customer, now: datetime.datetime | None = None) -> Iterator[str]:
    """The export as one JSON document, produced piece by piece.

    Each section is read through a cursor in chunks and written out row by row, so memory stays flat however
    many events a customer has; the pieces are gathered into chunks of about ``EXPORT_CHUNK_CHARS``.
    """
    header = {
        "format": EXPORT_FORMAT,
        "exported_at": now or timezone.now(),
        "organization": customer.organization.slug,
        "customer": customer_profile(customer),
    }
    buffer: list[str] = []
    size = 0

    def pieces() -> Iterator[str]:
        yield _json(header)[:-1]  # the header object, left open for the sections
        for name, rows in customer_export_sections(customer).items():
            yield f",{_json(name)}:["
            for index, row in enumerate(rows):
                yield ("," if index else "") + _json(row)
            yield "]"
        yield "}"

    for piece in pieces():
        buffer.append(piece)
        size += len(piece)
        if size >= EXPORT_CHUNK_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def customer_export(*, customer: Customer, actor: Actor) -> Iterator[str]:
    """Record who exported whom (ids only, no personal data), then hand back the document's stream."""
    audit_record(
        org=customer.organization,
        actor=actor,
        action="customer.export",
        instance=customer,
        after={"format": EXPORT_FORMAT, "sections": [*CRM_EXPORT_SECTIONS, *_export_sections]},
    )
    return customer_export_stream(customer=customer)


def export_filename(customer: Customer) -> str:
    return f"customer-{customer.pk}-data.json"


# Erasure ------------------------------------------------------------------------------------------------------


@dataclass
class _Scrub:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, count: int) -> None:
        if count:
            self.counts[name] = self.counts.get(name, 0) + count


def _chunks(ids: list[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _scrub_snapshot(snapshot: Any, replacements: dict[str, Any]) -> Any:
    if not isinstance(snapshot, dict):
        return snapshot
    return {key: replacements.get(key, value) for key, value in snapshot.items()}


def _scrub_audit(org: Organization, object_type: str, ids: list[int], replacements: dict[str, Any]) -> int:
    """Blank the personal fields in the before/after snapshots of the audit rows of these objects."""
    changed = 0
    for chunk in _chunks(ids):
        rows = list(
            AuditLog.objects.for_org(org).filter(object_type=object_type, object_id__in=[str(pk) for pk in chunk])
        )
        for row in rows:
            row.before = _scrub_snapshot(row.before, replacements)
            row.after = _scrub_snapshot(row.after, replacements)
        AuditLog.objects.bulk_update(rows, ["before", "after"], batch_size=500)
        changed += len(rows)
    return changed


def _scrub_import_rejections(org: Organization, original: dict[str, str]) -> int:
    """Rejected import rows that carried the person's e-mail address or external id keep only line and column."""
    about = Q(values__external_id=original["external_id"]) | Q(values__customer_external_id=original["external_id"])
    if original["email"]:
        about |= Q(values__email__iexact=original["email"])
    return ImportRejection.objects.for_org(org).filter(about).update(values={}, reason=ERASED_TEXT)


def _scrub_webhook_events(org: Organization, customer: Customer, replacements: dict[str, Any]) -> int:
    """Stored payloads of single-customer events (``customer.created/updated``) carry the record: anonymize it.

    Batched events and order events name the customer by id only, which stays meaningful and identifies nobody.
    """
    events = list(
        WebhookEvent.objects.for_org(org).filter(
            event_type__in=[EventType.CUSTOMER_CREATED, EventType.CUSTOMER_UPDATED], payload__customer__id=customer.pk
        )
    )
    for event in events:
        event.payload = {**event.payload, "customer": _scrub_snapshot(event.payload["customer"], replacements)}
    WebhookEvent.objects.bulk_update(events, ["payload"], batch_size=500)
    return len(events)


def _drop_idempotent_answers(org: Organization, original: dict[str, str]) -> int:
    """API answers kept for replay (24 hours) that contain the person's e-mail address or external id."""
    needles = [value.encode() for value in (original["email"], original["external_id"]) if value]
    if not needles:
        return 0
    stale = [
        key.pk
        for key in IdempotencyKey.objects.for_org(org)
        .filter(path__contains="/customers")
        .only("pk", "response_body")
        .iterator(chunk_size=500)
        if any(needle in bytes(key.response_body or b"") for needle in needles)
    ]
    IdempotencyKey.objects.filter(pk__in=stale).delete()
    return len(stale)


def customer_erase(*, customer: Customer, actor: Actor, confirm: bool) -> Customer:
    """Erase a person: anonymize them in place, keep every figure the organization reports exactly as it was.

    Removed: name, e-mail, phone, custom attributes (where addresses live), the external id (replaced by a stable
    keyed token), consent (withdrawn, recorded in the consent history), note bodies, task titles and descriptions,
    survey comments, event properties, and the same values wherever they were copied: audit snapshots, stored
    webhook payloads, rejected import rows, replayable API answers, and (through ``customer_erased``) campaign
    deliveries and suppressions. Kept: the row and its id, acquisition channel, creation date, owner, tags,
    orders (amounts, dates, statuses, channels), event names and times, survey scores, scores and segment
    memberships, so revenue, CLV, cohorts, retention and KPI snapshots do not move.

    One transaction: a failure anywhere leaves nothing half-erased. Erasing an erased customer changes nothing
    and records nothing.
    """
    if confirm is not True:
        raise ValidationError({"confirm": [_("Set confirm to true: erasure removes this person's data for good.")]})
    org = customer.organization
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk, organization=org)
        if locked.erased_at is not None:
            customer.refresh_from_db()
            return customer
        now = timezone.now()
        original = {name: getattr(locked, name) for name in ("name", "email", "phone", "external_id")}
        replacements = {
            "name": "",
            "email": "",
            "phone": "",
            "external_id": erased_external_id(org, locked.external_id),
            "attributes": {},
        }
        scrub = _Scrub()
        withdrawn = [flag for flag in CONSENT_CHANNELS if getattr(locked, flag)]
        for name, value in replacements.items():
            setattr(locked, name, value)
        for flag in withdrawn:
            setattr(locked, flag, False)
            setattr(locked, f"{flag}_at", now)
        locked.erased_at = now
        locked.save()
        ConsentChange.objects.bulk_create(
            ConsentChange(
                organization=org,
                customer=locked,
                channel=CONSENT_CHANNELS[flag],
                granted=False,
                source=ConsentSource.ERASURE,
                actor_label=actor.display[:200],
                at=now,
            )
            for flag in withdrawn
        )

        org_rows = {"organization": org, "customer": locked}
        note_ids = list(Note.objects.filter(**org_rows).values_list("pk", flat=True))
        task_ids = list(Task.objects.filter(**org_rows).values_list("pk", flat=True))
        feedback_ids = list(Feedback.objects.filter(**org_rows).values_list("pk", flat=True))
        scrub.add("notes", Note.objects.filter(pk__in=note_ids).update(body=ERASED_TEXT))
        scrub.add("tasks", Task.objects.filter(**org_rows).update(title=ERASED_TEXT, description="", updated_at=now))
        scrub.add(
            "feedback", Feedback.objects.filter(**org_rows).exclude(comment="").update(comment="", updated_at=now)
        )
        scrub.add("events", Event.objects.filter(**org_rows).update(properties={}, updated_at=now))

        audit = _scrub_audit(org, "customer", [locked.pk], replacements)
        audit += _scrub_audit(org, "note", note_ids, RELATED_PII_FIELDS["note"])
        audit += _scrub_audit(org, "task", task_ids, RELATED_PII_FIELDS["task"])
        audit += _scrub_audit(org, "feedback", feedback_ids, RELATED_PII_FIELDS["feedback"])
        if AuditLog.objects.for_org(org).filter(object_type="event").exists():
            event_ids = list(Event.objects.filter(**org_rows).values_list("pk", flat=True))
            audit += _scrub_audit(org, "event", event_ids, RELATED_PII_FIELDS["event"])
        scrub.add("audit_rows", audit)
        scrub.add("webhook_events", _scrub_webhook_events(org, locked, replacements))
        scrub.add("import_rejections", _scrub_import_rejections(org, original))
        scrub.add("idempotent_answers", _drop_idempotent_answers(org, original))
        for _receiver, counts in customer_erased.send(
            sender=Customer, organization=org, customer=locked, original=original, actor=actor
        ):
            for name, count in (counts or {}).items():
                scrub.add(name, count)

        audit_record(
            org=org,
            actor=actor,
            action="customer.erase",
            instance=locked,
            after={"erased_at": now.isoformat(), "consent_withdrawn": withdrawn, "scrubbed": scrub.counts},
        )
        event_emit(org=org, event_type=EventType.CUSTOMER_ERASED, payload={"customer_ids": [locked.pk]})
    customer.refresh_from_db()
    return customer


# Retention ----------------------------------------------------------------------------------------------------


@dataclass
class PurgeOutcome:
    events: int = 0
    webhook_events: int = 0
    webhook_deliveries: int = 0
    webhook_attempts: int = 0
    #: True when a run stopped at its batch limit with expired rows left (the task queues itself again).
    more: bool = False

    @property
    def total(self) -> int:
        return self.events + self.webhook_events + self.webhook_deliveries + self.webhook_attempts


def events_purge_expired(
    *, org: Organization, now: datetime.datetime, max_batches: int | None = None
) -> tuple[int, bool]:
    """Delete the organization's events older than its ``event_retention_days``; none when it keeps them forever.

    ``EVENT_PURGE_BATCH`` rows per statement, each batch its own transaction, at most ``max_batches`` per call:
    a first purge of years of events neither holds locks for minutes nor runs past a worker's time limit.
    Returns how many were deleted and whether expired rows remain.
    """
    if not org.event_retention_days:
        return 0, False
    cutoff = now - datetime.timedelta(days=org.event_retention_days)
    expired = Event.objects.for_org(org).filter(occurred_at__lt=cutoff)
    deleted = 0
    for _batch in range(max_batches or PURGE_MAX_BATCHES):
        ids = list(expired.values_list("pk", flat=True)[:EVENT_PURGE_BATCH])
        if not ids:
            return deleted, False
        with transaction.atomic():
            count, _per_model = Event.objects.filter(pk__in=ids).delete()
        deleted += count
        if len(ids) < EVENT_PURGE_BATCH:
            return deleted, False
    return deleted, expired.exists()


def retention_purge(
    *,
    org: Organization,
    now: datetime.datetime | None = None,
    max_batches: int | None = None,
    actor: Actor = SYSTEM,
) -> PurgeOutcome:
    """The daily purge of one organization: expired customer events and old webhook history, audit-logged.

    Campaign deliveries are not purged: they are each campaign's experiment record (variant or hold-out,
    opens, clicks, unsubscribes) that its results and uplift are computed from, and they hold no free-form data.
    """
    now = now or timezone.now()
    max_batches = max_batches or PURGE_MAX_BATCHES
    outcome = PurgeOutcome()
    outcome.events, more_events = events_purge_expired(org=org, now=now, max_batches=max_batches)
    webhook_counts, more_webhooks = webhook_history_purge(org=org, now=now, max_batches=max_batches)
    outcome.webhook_events = webhook_counts["events"]
    outcome.webhook_deliveries = webhook_counts["deliveries"]
    outcome.webhook_attempts = webhook_counts["attempts"]
    outcome.more = more_events or more_webhooks
    if outcome.total:
        audit_record(
            org=org,
            actor=actor,
            action="retention.purge",
            object_type="organization",
            object_id=str(org.pk),
            after={
                "events": outcome.events,
                "event_retention_days": org.event_retention_days,
                "webhook_events": outcome.webhook_events,
                "webhook_deliveries": outcome.webhook_deliveries,
                "webhook_attempts": outcome.webhook_attempts,
                "webhook_history_days": settings.WEBHOOK_HISTORY_DAYS,
                "more_to_delete": outcome.more,
            },
        )
    return outcome
