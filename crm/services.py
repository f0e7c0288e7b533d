"""Every change to CRM records goes through here: validated, transactional, audit-logged.

Services take the organization and the acting user or key explicitly, check that every referenced row
belongs to the same organization, and raise ``ValidationError`` keyed by field on bad input, leaving
nothing written.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.selectors import is_member
from accounts.services import Actor, audit_record, model_snapshot
from crm import validation
from crm.models import (
    Channel,
    ChannelSpend,
    Customer,
    Event,
    Feedback,
    FeedbackKind,
    Note,
    Order,
    Task,
    TaskStatus,
)

NPS_SCALE_MAX = 10
CSAT_DEFAULT_SCALE_MAX = 5


def _check_same_org(org: Organization, field: str, obj: models.Model | None) -> None:
    if obj is not None and obj.organization_id != org.pk:
        raise ValidationError(
            {field: [_("Unknown %(field)s: it does not exist in this organization.") % {"field": field}]}
        )


def _check_member(org: Organization, field: str, user: User | None) -> None:
    if user is not None and not is_member(org=org, user_id=user.pk):
        raise ValidationError({field: [_("This person is not a member of the organization.")]})


def _unknown_fields(changes: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in unknown})


def _save(instance: models.Model, *, actor: Actor, action: str, before: dict | None = None) -> models.Model:
    """Validate the whole row, save it, and record the change, all or nothing."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
            audit_record(
                org=instance.organization,
                actor=actor,
                action=action,
                instance=instance,
                before=before,
                after=model_snapshot(instance),
            )
    except IntegrityError as exc:
        # A concurrent writer got there first; report it like the unique check full_clean() would have.
        raise ValidationError({"external_id": [_("A record with this external id already exists.")]}) from exc
    return instance


def _delete(instance: models.Model, *, actor: Actor, action: str) -> None:
    with transaction.atomic():
        before = model_snapshot(instance)
        pk = instance.pk
        instance.delete()
        audit_record(
            org=instance.organization,
            actor=actor,
            action=action,
            object_type=instance._meta.model_name,
            object_id=str(pk),
            before=before,
        )


def _apply(instance: models.Model, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(instance, name, value)


# Channels ---------------------------------------------------------------------------------------------------

CHANNEL_FIELDS = {"code", "name", "kind", "is_active"}


def channel_create(
    *, org: Organization, actor: Actor, code: str, name: str, kind: str = "other", is_active: bool = True
) -> Channel:
    channel = Channel(
        organization=org, code=(code or "").strip(), name=(name or "").strip(), kind=kind, is_active=is_active
    )
    return _save(channel, actor=actor, action="channel.create")


def channel_update(*, channel: Channel, actor: Actor, **changes: Any) -> Channel:
    _unknown_fields(changes, CHANNEL_FIELDS)
    before = model_snapshot(channel)
    _apply(channel, changes)
    return _save(channel, actor=actor, action="channel.update", before=before)


def channel_delete(*, channel: Channel, actor: Actor) -> None:
    if channel.customers.exists() or channel.orders.exists():
        raise ValidationError(
            {"channel": [_("Customers or orders refer to this channel; deactivate it instead of deleting it.")]}
        )
    _delete(channel, actor=actor, action="channel.delete")


# Channel spend ---------------------------------------------------------------------------------------------


def channel_spend_create(
    *, org: Organization, actor: Actor, channel: Channel, date: datetime.date, amount: Any
) -> ChannelSpend:
    _check_same_org(org, "channel", channel)
    validation.check_business_date("date", date)
    spend = ChannelSpend(organization=org, channel=channel, date=date, amount=validation.check_amount("amount", amount))
    return _save(spend, actor=actor, action="channel_spend.create")


def channel_spend_update(*, spend: ChannelSpend, actor: Actor, **changes: Any) -> ChannelSpend:
    _unknown_fields(changes, {"channel", "date", "amount"})
    _check_same_org(spend.organization, "channel", changes.get("channel"))
    validation.check_business_date("date", changes.get("date"))
    if "amount" in changes:
        changes["amount"] = validation.check_amount("amount", changes["amount"])
    before = model_snapshot(spend)
    _apply(spend, changes)
    return _save(spend, actor=actor, action="channel_spend.update", before=before)


def channel_spend_delete(*, spend: ChannelSpend, actor: Actor) -> None:
    _delete(spend, actor=actor, action="channel_spend.delete")


# Customers -------------------------------------------------------------------------------------------------

CUSTOMER_FIELDS = {
    "external_id",
    "name",
    "email",
    "phone",
    "channel",
    "created_at",
    "owner",
    "consent_email",
    "consent_sms",
    "tags",
    "attributes",
}


def _clean_customer_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, CUSTOMER_FIELDS)
    _check_same_org(org, "channel", changes.get("channel"))
    _check_member(org, "owner", changes.get("owner"))
    validation.check_business_datetime("created_at", changes.get("created_at"))
    for name in ("external_id", "name", "email", "phone"):
        if isinstance(changes.get(name), str):
            changes[name] = changes[name].strip()
    if "email" in changes:
        changes["email"] = (changes["email"] or "").lower()
    if "tags" in changes:
        changes["tags"] = validation.clean_tags(changes["tags"])
    if "attributes" in changes:
        changes["attributes"] = validation.check_json_object("attributes", changes["attributes"])
    return changes


def _stamp_consent(customer: Customer, changes: dict[str, Any], now: datetime.datetime) -> None:
    for kind in ("email", "sms"):
        flag = f"consent_{kind}"
        if flag in changes and bool(changes[flag]) != getattr(customer, flag):
            setattr(customer, f"{flag}_at", now)


def customer_create(*, org: Organization, actor: Actor, **fields: Any) -> Customer:
    """Create a customer; without an ``external_id`` one is generated so every customer can be imported against."""
    fields = _clean_customer_changes(org, fields)
    if not fields.get("external_id"):
        fields["external_id"] = f"cust-{uuid.uuid4().hex[:16]}"
    customer = Customer(organization=org)
    _stamp_consent(customer, fields, timezone.now())
    _apply(customer, fields)
    return _save(customer, actor=actor, action="customer.create")


def customer_update(*, customer: Customer, actor: Actor, **changes: Any) -> Customer:
    changes = _clean_customer_changes(customer.organization, changes)
    if "external_id" in changes and not changes["external_id"]:
        raise ValidationError({"external_id": [_("The external id cannot be empty.")]})
    before = model_snapshot(customer)
    _stamp_consent(customer, changes, timezone.now())
    _apply(customer, changes)
    return _save(customer, actor=actor, action="customer.update", before=before)


def customer_delete(*, customer: Customer, actor: Actor) -> None:
    """Delete a customer with their orders, events, answers, notes and tasks."""
    _delete(customer, actor=actor, action="customer.delete")


# Orders ----------------------------------------------------------------------------------------------------

ORDER_FIELDS = {"external_id", "customer", "ordered_at", "amount", "currency", "status", "channel"}


def _clean_order_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, ORDER_FIELDS)
    _check_same_org(org, "customer", changes.get("customer"))
    _check_same_org(org, "channel", changes.get("channel"))
    validation.check_business_datetime("ordered_at", changes.get("ordered_at"))
    if "amount" in changes:
        changes["amount"] = validation.check_amount("amount", changes["amount"])
    if "currency" in changes:
        changes["currency"] = validation.check_currency("currency", changes["currency"])
    if isinstance(changes.get("external_id"), str):
        changes["external_id"] = changes["external_id"].strip()
    return changes


def order_create(*, org: Organization, actor: Actor, **fields: Any) -> Order:
    fields.setdefault("currency", org.currency)
    fields = _clean_order_changes(org, fields)
    order = Order(organization=org)
    _apply(order, fields)
    return _save(order, actor=actor, action="order.create")


def order_update(*, order: Order, actor: Actor, **changes: Any) -> Order:
    changes = _clean_order_changes(order.organization, changes)
    before = model_snapshot(order)
    _apply(order, changes)
    return _save(order, actor=actor, action="order.update", before=before)


def order_delete(*, order: Order, actor: Actor) -> None:
    _delete(order, actor=actor, action="order.delete")


# Events and feedback ---------------------------------------------------------------------------------------


def event_create(
    *,
    org: Organization,
    actor: Actor,
    customer: Customer,
    name: str,
    occurred_at: datetime.datetime,
    properties: dict | None = None,
) -> Event:
    _check_same_org(org, "customer", customer)
    validation.check_business_datetime("occurred_at", occurred_at)
    event = Event(
        organization=org,
        customer=customer,
        name=(name or "").strip(),
        occurred_at=occurred_at,
        properties=validation.check_json_object("properties", properties),
    )
    return _save(event, actor=actor, action="event.create")


def event_delete(*, event: Event, actor: Actor) -> None:
    _delete(event, actor=actor, action="event.delete")


def feedback_create(
    *,
    org: Organization,
    actor: Actor,
    customer: Customer,
    kind: str,
    score: int,
    answered_at: datetime.datetime,
    comment: str = "",
    scale_max: int | None = None,
) -> Feedback:
    """Record a survey answer. NPS is always 0–10; CSAT runs from 1 to the survey's own maximum."""
    _check_same_org(org, "customer", customer)
    validation.check_business_datetime("answered_at", answered_at)
    if kind == FeedbackKind.NPS:
        if scale_max not in (None, NPS_SCALE_MAX):
            raise ValidationError({"scale_max": [_("NPS is always asked on a 0–10 scale.")]})
        scale_max, lowest = NPS_SCALE_MAX, 0
    elif kind == FeedbackKind.CSAT:
        scale_max, lowest = scale_max or CSAT_DEFAULT_SCALE_MAX, 1
    else:
        raise ValidationError({"kind": [_("Use 'nps' or 'csat'.")]})
    if score is None or not lowest <= score <= scale_max:
        raise ValidationError(
            {"score": [_("The score must lie between %(low)d and %(high)d.") % {"low": lowest, "high": scale_max}]}
        )
    feedback = Feedback(
        organization=org,
        customer=customer,
        kind=kind,
        score=score,
        scale_max=scale_max,
        answered_at=answered_at,
        comment=(comment or "").strip(),
    )
    return _save(feedback, actor=actor, action="feedback.create")


def feedback_delete(*, feedback: Feedback, actor: Actor) -> None:
    _delete(feedback, actor=actor, action="feedback.delete")


# Notes and tasks -------------------------------------------------------------------------------------------


def note_create(*, org: Organization, actor: Actor, customer: Customer, body: str) -> Note:
    _check_same_org(org, "customer", customer)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": [_("Write something in the note.")]})
    note = Note(organization=org, customer=customer, body=body, author=actor.user)
    return _save(note, actor=actor, action="note.create")


def note_delete(*, note: Note, actor: Actor) -> None:
    _delete(note, actor=actor, action="note.delete")


TASK_FIELDS = {"customer", "title", "description", "owner", "due_date", "status"}


def _clean_task_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, TASK_FIELDS)
    _check_same_org(org, "customer", changes.get("customer"))
    _check_member(org, "owner", changes.get("owner"))
    if isinstance(changes.get("title"), str):
        changes["title"] = changes["title"].strip()
    return changes


def _stamp_completion(task: Task, now: datetime.datetime) -> None:
    if task.status == TaskStatus.DONE and task.completed_at is None:
        task.completed_at = now
    elif task.status != TaskStatus.DONE:
        task.completed_at = None


def task_create(*, org: Organization, actor: Actor, **fields: Any) -> Task:
    fields = _clean_task_changes(org, fields)
    task = Task(organization=org, created_by=actor.user)
    _apply(task, fields)
    _stamp_completion(task, timezone.now())
    return _save(task, actor=actor, action="task.create")


def task_update(*, task: Task, actor: Actor, **changes: Any) -> Task:
    changes = _clean_task_changes(task.organization, changes)
    before = model_snapshot(task)
    _apply(task, changes)
    _stamp_completion(task, timezone.now())
    return _save(task, actor=actor, action="task.update", before=before)


def task_complete(*, task: Task, actor: Actor) -> Task:
    return task_update(task=task, actor=actor, status=TaskStatus.DONE)


def task_delete(*, task: Task, actor: Actor) -> None:
    _delete(task, actor=actor, action="task.delete")
