"""What each kind of CSV import accepts (DESIGN.md §7) and how a batch of its rows is written.

Every kind cleans one row at a time in Python (parsing and the same checks the services apply) and then
writes a whole batch set-based: one query to find the rows that exist, one bulk insert, one bulk update.
Unchanged rows are not touched, so re-importing a file changes nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organization
from accounts.timekeeping import organization_time_zone
from crm import validation
from crm.imports import postgres_writer
from crm.imports import values as parse
from crm.models import (
    Channel,
    ChannelKind,
    ChannelSpend,
    ConsentChange,
    ConsentChannel,
    ConsentSource,
    Customer,
    Event,
    Feedback,
    FeedbackKind,
    ImportKind,
    Order,
    OrderStatus,
    SpendPeriod,
)
from webhooks.models import EventType
from webhooks.services import events_emit_for_ids

NPS_SCALE_MAX = 10
CSAT_DEFAULT_SCALE_MAX = 5


class RowError(Exception):
    """A row cannot be imported; ``column`` names the cell at fault ("" for the row as a whole)."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass
class ImportContext:
    """What every row of one import shares: the organization, its zone, its channels and the options."""

    org: Organization
    create_missing_customers: bool = False
    now: datetime.datetime = field(default_factory=timezone.now)
    channel_ids: dict[str, int] = field(default_factory=dict)
    time_zone: datetime.tzinfo = datetime.UTC
    #: Where consent changes written by this import come from, and who is named in the consent history.
    consent_source: str = ConsentSource.IMPORT
    actor_label: str = ""

    @classmethod
    def for_org(
        cls,
        org: Organization,
        *,
        create_missing_customers: bool = False,
        consent_source: str = ConsentSource.IMPORT,
        actor_label: str = "",
    ) -> ImportContext:
        context = cls(
            org=org,
            create_missing_customers=create_missing_customers,
            time_zone=organization_time_zone(org),
            consent_source=consent_source,
            actor_label=actor_label[:200],
        )
        context.reload_channels()
        return context

    def reload_channels(self) -> None:
        self.channel_ids = dict(Channel.objects.for_org(self.org).values_list("code", "id"))


@dataclass
class CleanRow:
    line: int
    raw: dict[str, str]
    key: tuple
    fields: dict[str, Any]
    customer_external_id: str = ""
    #: Set by ``write_batch``: "created", "updated", "unchanged" or "rejected", and the row's id once written.
    outcome: str = ""
    record_id: int | None = None
    #: Customers only: the stored e-mail consent before the write (False for a new customer).
    consent_email_before: bool = False


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[CleanRow, str, str]] = field(default_factory=list)


# Cell parsers: each turns one cell into a value or raises RowError naming the column -----------------------------


def _guard(column: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ValidationError as exc:
        raise RowError(column, " ".join(exc.messages)) from None
    except ValueError as exc:
        raise RowError(column, str(exc)) from None


def _required(values: dict[str, str], column: str) -> str:
    text = values.get(column, "")
    if not text:
        raise RowError(column, _("This column is required and the cell is empty."))
    return text


def _text(values: dict[str, str], column: str, max_length: int) -> str:
    return _guard(column, lambda: validation.clean_text(column, values.get(column, ""), max_length=max_length))


def _datetime(values: dict[str, str], column: str, context: ImportContext) -> datetime.datetime:
    def check() -> datetime.datetime:
        moment = parse.parse_datetime(values[column], default_tz=context.time_zone)
        validation.check_business_datetime(column, moment)
        return moment

    return _guard(column, check)


def _amount(values: dict[str, str], column: str) -> Decimal:
    return _guard(column, lambda: validation.check_amount(column, parse.parse_amount(values[column])))


def _channel(values: dict[str, str], column: str, context: ImportContext) -> int | None:
    code = values.get(column, "")
    if not code:
        return None
    channel_id = context.channel_ids.get(code) or context.channel_ids.get(code.lower())
    if channel_id is None:
        raise RowError(
            column, _("Unknown channel code '%(code)s': import the channels first or fix the code.") % {"code": code}
        )
    return channel_id


def _choice(values: dict[str, str], column: str, choices: Iterable[str], default: str) -> str:
    text = values.get(column, "").strip().lower()
    if not text:
        return default
    allowed = list(choices)
    if text not in allowed:
        raise RowError(
            column, _("'%(value)s' is not one of: %(allowed)s.") % {"value": text, "allowed": ", ".join(allowed)}
        )
    return text


# The kinds -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindSpec:
    kind: str
    model: type[models.Model]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key_fields: tuple[str, ...]
    clean: Callable[[dict[str, str], ImportContext], tuple[tuple, dict[str, Any], str]]
    #: True when rows refer to a customer by ``customer_external_id`` (resolved per batch).
    refers_to_customer: bool = False
    #: Fields only set when a row creates its record (a re-import does not move them).
    create_only: tuple[str, ...] = ()
    #: Values a new record gets for the columns its row leaves empty, where the model's default is not right.
    create_defaults: Callable[[ImportContext], dict[str, Any]] | None = None

    def defaults_for_new_records(self, context: ImportContext) -> dict[str, Any]:
        return self.create_defaults(context) if self.create_defaults else {}

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


def _clean_customer(values: dict[str, str], context: ImportContext) -> tuple[tuple, dict[str, Any], str]:
    external_id = _text({"external_id": _required(values, "external_id")}, "external_id", 100)
    fields: dict[str, Any] = {}
    if values.get("name"):
        fields["name"] = _text(values, "name", 200)
    if values.get("email"):
        email = _text(values, "email", 254).lower()
        _guard("email", lambda: validate_email(email))
        fields["email"] = email
    if values.get("phone"):
        fields["phone"] = _text(values, "phone", 40)
    if values.get("channel"):
        fields["channel_id"] = _channel(values, "channel", context)
    if values.get("created_at"):
        fields["created_at"] = _datetime(values, "created_at", context)
    if "consent_email" in values and values["consent_email"] != "":
        fields["consent_email"] = _guard("consent_email", lambda: parse.parse_bool(values["consent_email"]))
    return (external_id,), {"external_id": external_id, **fields}, ""


def _clean_order(values: dict[str, str], context: ImportContext) -> tuple[tuple, dict[str, Any], str]:
    external_id = _text({"external_id": _required(values, "external_id")}, "external_id", 100)
    customer_external_id = _required(values, "customer_external_id")
    _required(values, "ordered_at")
    _required(values, "amount")
    fields: dict[str, Any] = {
        "external_id": external_id,
        "ordered_at": _datetime(values, "ordered_at", context),
        "amount": _amount(values, "amount"),
    }
    # Empty optional cells are left out: a new order gets the defaults, a stored one keeps its values.
    if values.get("currency"):
        fields["currency"] = _guard("currency", lambda: validation.check_currency("currency", values["currency"]))
    if values.get("status"):
        fields["status"] = _choice(values, "status", OrderStatus.values, OrderStatus.COMPLETED)
    if values.get("channel"):
        fields["channel_id"] = _channel(values, "channel", context)
    return (external_id,), fields, customer_external_id


def _clean_channel(values: dict[str, str], context: ImportContext) -> tuple[tuple, dict[str, Any], str]:
    code = _required(values, "code").strip().lower()
    if not all(ch.isalnum() or ch in "-_" for ch in code) or len(code) > 50:
        raise RowError("code", _("Use at most 50 letters, digits, hyphens or underscores."))
    fields: dict[str, Any] = {"code": code, "name": _text({"name": _required(values, "name")}, "name", 120)}
    if values.get("kind"):
        fields["kind"] = _choice(values, "kind", ChannelKind.values, ChannelKind.OTHER)
    return (code,), fields, ""


def _clean_channel_spend(values: dict[str, str], context: ImportContext) -> tuple[tuple, dict[str, Any], str]:
    channel_id = _channel({"channel": _required(values, "channel")}, "channel", context)

    def day() -> datetime.date:
        value = parse.parse_month(_required(values, "date"))
        validation.check_business_date("date", value)
        return value

    spend_date = _guard("date", day)
    _required(values, "amount")
    period = SpendPeriod.MONTH if parse.is_month(values["date"]) else SpendPeriod.DAY
    fields = {"channel_id": channel_id, "date": spend_date, "period": period, "amount": _amount(values, "amount")}
    return (channel_id, spend_date), fields, ""


def _clean_event(values: dict[str, str], context: ImportContext) -> tuple[tuple, dict[str, Any], str]:
    customer_external_id = _required(values, "customer_external_id")
    name = _text({"name": _required(values, "name")}, "name", 100)
    _required(values, "occurred_at")
    occurred_at = _datetime(values, "occurred_at", context)
    return (name, occurred_at), {"name": name, "occurred_at": occurred_at}, customer_external_id


def _clean_feedback(values: dict[str, str], context: ImportContext) -> tuple[tuple, dict[str, Any], str]:
    customer_external_id = _required(values, "customer_external_id")
    kind = _choice({"kind": _required(values, "kind")}, "kind", FeedbackKind.values, FeedbackKind.NPS)
    score = _guard("score", lambda: parse.parse_int(_required(values, "score")))
    if kind == FeedbackKind.NPS:
        lowest, scale_max = 0, NPS_SCALE_MAX
    else:
        lowest = 1
        scale_max = (
            _guard("scale_max", lambda: parse.parse_int(values["scale_max"]))
            if values.get("scale_max")
            else CSAT_DEFAULT_SCALE_MAX
        )
        if not 2 <= scale_max <= 100:
            raise RowError("scale_max", _("The scale maximum must lie between 2 and 100."))
    if not lowest <= score <= scale_max:
        raise RowError(
            "score", _("The score must lie between %(low)d and %(high)d.") % {"low": lowest, "high": scale_max}
        )
    _required(values, "answered_at")
    answered_at = _datetime(values, "answered_at", context)
    fields = {
        "kind": kind,
        "score": score,
        "scale_max": scale_max,
        "answered_at": answered_at,
    }
    if values.get("comment"):
        fields["comment"] = _text(values, "comment", 5000)
    return (kind, answered_at), fields, customer_external_id


KINDS: dict[str, KindSpec] = {
    ImportKind.CUSTOMERS: KindSpec(
        ImportKind.CUSTOMERS,
        Customer,
        ("external_id",),
        ("name", "email", "phone", "channel", "created_at", "consent_email"),
        ("external_id",),
        _clean_customer,
    ),
    ImportKind.ORDERS: KindSpec(
        ImportKind.ORDERS,
        Order,
        ("external_id", "customer_external_id", "ordered_at", "amount"),
        ("currency", "channel", "status"),
        ("external_id",),
        _clean_order,
        refers_to_customer=True,
        create_defaults=lambda context: {"currency": context.org.currency},
    ),
    ImportKind.CHANNELS: KindSpec(
        ImportKind.CHANNELS,
        Channel,
        ("code", "name"),
        ("kind",),
        ("code",),
        _clean_channel,
    ),
    ImportKind.CHANNEL_SPEND: KindSpec(
        ImportKind.CHANNEL_SPEND,
        ChannelSpend,
        ("channel", "date", "amount"),
        (),
        ("channel_id", "date"),
        _clean_channel_spend,
    ),
    ImportKind.EVENTS: KindSpec(
        ImportKind.EVENTS,
        Event,
        ("customer_external_id", "name", "occurred_at"),
        (),
        ("customer_id", "name", "occurred_at"),
        _clean_event,
        refers_to_customer=True,
    ),
    ImportKind.FEEDBACK: KindSpec(
        ImportKind.FEEDBACK,
        Feedback,
        ("customer_external_id", "kind", "score", "answered_at"),
        ("comment", "scale_max"),
        ("customer_id", "kind", "answered_at"),
        _clean_feedback,
        refers_to_customer=True,
    ),
}


# Writing a batch -------------------------------------------------------------------------------------------------


def _resolve_customers(rows: list[CleanRow], context: ImportContext, result: BatchResult) -> list[CleanRow]:
    """Attach ``customer_id`` to rows; unknown customers are rejected or, if asked, created bare."""
    wanted = {row.customer_external_id for row in rows}
    known, erased = {}, set()
    for external_id, pk, erased_at in (
        Customer.objects.for_org(context.org)
        .filter(external_id__in=wanted)
        .values_list("external_id", "id", "erased_at")
    ):
        known[external_id] = pk
        if erased_at is not None:
            erased.add(external_id)
    missing = wanted - known.keys()
    if missing and context.create_missing_customers:
        Customer.objects.bulk_create(
            [
                Customer(organization=context.org, external_id=external_id, created_at=context.now)
                for external_id in sorted(missing)
            ],
            batch_size=1000,
        )
        created = dict(
            Customer.objects.for_org(context.org).filter(external_id__in=missing).values_list("external_id", "id")
        )
        known.update(created)
        # Customers made for an order are new customers too: integrations hear of them like any other.
        events_emit_for_ids(
            org=context.org, event_type=EventType.CUSTOMER_CREATED, ids=sorted(created.values()), key="customer_ids"
        )
    resolved = []
    for row in rows:
        if row.customer_external_id in erased:
            row.outcome = "rejected"
            result.rejected.append((row, "customer_external_id", str(ERASED_CUSTOMER_MESSAGE)))
            continue
        customer_id = known.get(row.customer_external_id)
        if customer_id is None:
            row.outcome = "rejected"
            result.rejected.append(
                (
                    row,
                    "customer_external_id",
                    _(
                        "No customer with external id '%(id)s' in this organization: import the customers first, or use the option to create missing customers."
                    )
                    % {"id": row.customer_external_id},
                )
            )
            continue
        row.fields["customer_id"] = customer_id
        resolved.append(row)
    return resolved


ERASED_CUSTOMER_MESSAGE = gettext_lazy("This customer was erased; nothing can be imported about them.")


def _customer_rows_before(rows: list[CleanRow], context: ImportContext, result: BatchResult) -> list[CleanRow]:
    """Keep rows of customers who were not erased, noting each existing customer's e-mail consent on the row.

    One indexed query per batch. The consent read here is compared with the row after the write, so both write
    paths (the ORM one and ``postgres_writer``) record consent history the same way.
    """
    stored = {
        external_id: (consent_email, erased_at)
        for external_id, consent_email, erased_at in Customer.objects.for_org(context.org)
        .filter(external_id__in=[row.fields["external_id"] for row in rows])
        .values_list("external_id", "consent_email", "erased_at")
    }
    kept = []
    for row in rows:
        consent_email, erased_at = stored.get(row.fields["external_id"], (False, None))
        if erased_at is not None:
            row.outcome = "rejected"
            result.rejected.append((row, "external_id", str(ERASED_CUSTOMER_MESSAGE)))
            continue
        row.consent_email_before = consent_email
        kept.append(row)
    return kept


def _record_consent_changes(rows: list[CleanRow], context: ImportContext) -> None:
    """One ``ConsentChange`` per written row whose e-mail consent differs from before (new customers: from "no")."""
    ConsentChange.objects.bulk_create(
        [
            ConsentChange(
                organization=context.org,
                customer_id=row.record_id,
                channel=ConsentChannel.EMAIL,
                granted=row.fields["consent_email"],
                source=context.consent_source,
                actor_label=context.actor_label,
                at=context.now,
            )
            for row in rows
            if row.outcome in ("created", "updated")
            and "consent_email" in row.fields
            and row.fields["consent_email"] != row.consent_email_before
        ],
        batch_size=1000,
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime):
        return a == b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    return a == b


def write_batch(spec: KindSpec, rows: list[CleanRow], context: ImportContext) -> BatchResult:
    """Insert new rows and update changed ones of one batch; rows are already unique by key within the batch.

    On PostgreSQL, kinds with a unique key go through ``postgres_writer`` (``COPY`` and one upsert) with the
    same outcomes; the ORM path below serves SQLite, events and feedback.
    """
    result = BatchResult()
    if spec.refers_to_customer:
        rows = _resolve_customers(rows, context, result)
    if spec.model is Customer:
        rows = _customer_rows_before(rows, context, result)
    if not rows:
        return result
    if postgres_writer.can_upsert(spec):
        postgres_writer.upsert_batch(spec, rows, context, result)
        _after_write(spec, rows, context)
        return result
    key_fields = spec.key_fields

    def key_of(values: dict[str, Any]) -> tuple:
        return tuple(values[name] for name in key_fields)

    lookup = {f"{key_fields[0]}__in": {row.fields[key_fields[0]] for row in rows}}
    if len(key_fields) > 1:
        lookup[f"{key_fields[-1]}__in"] = {row.fields[key_fields[-1]] for row in rows}
    existing = {
        key_of({name: getattr(obj, name) for name in key_fields}): obj
        for obj in spec.model.objects.for_org(context.org).filter(**lookup)
    }
    to_create, to_update, updated_fields = [], [], set()
    new_defaults = spec.defaults_for_new_records(context)
    created_rows = []
    for row in rows:
        current = existing.get(key_of(row.fields))
        if current is None:
            to_create.append(spec.model(organization=context.org, **{**new_defaults, **row.fields}))
            created_rows.append(row)
            row.outcome = "created"
            continue
        row.record_id = current.pk
        changed = [
            name
            for name, value in row.fields.items()
            if name not in spec.create_only and not _same(getattr(current, name), value)
        ]
        if not changed:
            result.unchanged += 1
            row.outcome = "unchanged"
            continue
        row.outcome = "updated"
        for name in changed:
            setattr(current, name, row.fields[name])
        if isinstance(current, Customer) and "consent_email" in changed:
            current.consent_email_at = context.now
            changed.append("consent_email_at")
        # bulk_update skips auto_now: stamp it here, or ``?updated_since=`` would never return this row.
        current.updated_at = context.now
        changed.append("updated_at")
        updated_fields.update(changed)
        to_update.append(current)
    for obj in to_create:
        if isinstance(obj, Customer) and obj.consent_email:
            obj.consent_email_at = context.now
    spec.model.objects.bulk_create(to_create, batch_size=1000)
    for row, obj in zip(created_rows, to_create, strict=True):
        row.record_id = obj.pk
    if to_update:
        spec.model.objects.bulk_update(to_update, sorted(updated_fields), batch_size=1000)
    result.created = len(to_create)
    result.updated = len(to_update)
    _after_write(spec, rows, context)
    return result


def _after_write(spec: KindSpec, rows: list[CleanRow], context: ImportContext) -> None:
    if spec.model is Customer:
        _record_consent_changes(rows, context)
    _emit_webhooks(spec, rows, context)


#: Webhook event types of rows an import or bulk write created or updated (other kinds send none).
_WEBHOOK_EVENTS = {
    (Customer, "created"): (EventType.CUSTOMER_CREATED, "customer_ids"),
    (Customer, "updated"): (EventType.CUSTOMER_UPDATED, "customer_ids"),
    (Order, "created"): (EventType.ORDER_CREATED, "order_ids"),
}


def _emit_webhooks(spec: KindSpec, rows: list[CleanRow], context: ImportContext) -> None:
    """Batched events of the rows written: one event per 500 ids (``{"customer_ids": [...]}``), never one per row.

    Queued when the import's transaction commits, so a failed import sends nothing.
    """
    for (model, outcome), (event_type, key) in _WEBHOOK_EVENTS.items():
        if spec.model is not model:
            continue
        ids = [row.record_id for row in rows if row.outcome == outcome and row.record_id is not None]
        if ids:
            events_emit_for_ids(org=context.org, event_type=event_type, ids=ids, key=key)
