"""Every change to CRM records goes through here: validated, transactional, audit-logged.

Services take the organization and the acting user or key explicitly, check that every referenced row
belongs to the same organization, and raise ``ValidationError`` keyed by field on bad input, leaving
nothing written.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
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
    ConsentChange,
    ConsentChannel,
    ConsentSource,
    Customer,
    Event,
    Feedback,
    FeedbackKind,
    Note,
    Order,
    Task,
    TaskStatus,
)
from webhooks.models import EventType
from webhooks.services import event_emit, events_emit_for_ids

NPS_SCALE_MAX = 10
CSAT_DEFAULT_SCALE_MAX = 5
CSAT_SCALE_LIMIT = 100
FEEDBACK_COMMENT_MAX_LENGTH = 5000
NOTE_MAX_LENGTH = 10000
TASK_DESCRIPTION_MAX_LENGTH = 10000


def _check_same_org(org: Organization, field: str, obj: Any, model: type[models.Model]) -> None:
    """A referenced row must be a ``model`` of this organization; anything else is reported as unknown."""
    if obj is None:
        return
    if not isinstance(obj, model):
        raise ValidationError(
            {field: [_("Expected a %(model)s.") % {"model": model._meta.verbose_name}]},
        )
    if obj.organization_id != org.pk:
        raise ValidationError(
            {field: [_("Unknown %(field)s: it does not exist in this organization.") % {"field": field}]}
        )


def _check_not_erased(field: str, customer: Any) -> None:
    """Nothing new is recorded about an erased person: a new order, event, answer, note or task would undo it."""
    if isinstance(customer, Customer) and customer.erased_at is not None:
        raise ValidationError(
            {field: [_("This customer was erased; nothing new can be recorded about them.")]},
        )


def _check_member(org: Organization, field: str, user: Any) -> None:
    if user is None:
        return
    if not isinstance(user, User) or not is_member(org=org, user_id=user.pk):
        raise ValidationError({field: [_("This person is not a member of the organization.")]})


def _unknown_fields(changes: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in unknown})


def _clean_strings(changes: dict[str, Any], names: tuple[str, ...]) -> None:
    """Strip the text fields present in ``changes``; ``None`` becomes "" (the columns are NOT NULL)."""
    for name in names:
        if name not in changes:
            continue
        value = changes[name]
        if value is None:
            changes[name] = ""
        elif isinstance(value, str):
            changes[name] = value.strip()
        else:
            raise ValidationError({name: [_("Enter text.")]})


def _constraint_field(constraint: models.BaseConstraint) -> str:
    """The field a constraint error is reported on: the last one that is not the organization.

    ``(organization, external_id)`` names ``external_id``; ``(organization, channel, date)`` names ``date``.
    Integrations fix the field the error names, so "non_field_errors" would leave them guessing. A
    constraint without fields (a check on an expression) stays a non-field error.
    """
    fields = [name for name in getattr(constraint, "fields", ()) if name != "organization"]
    return fields[-1] if fields else NON_FIELD_ERRORS


def _full_clean(instance: models.Model) -> None:
    """``full_clean()`` with uniqueness errors keyed by field instead of ``__all__``."""
    errors: dict[str, list] = {}
    try:
        instance.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for constraint in instance._meta.constraints:
        try:
            constraint.validate(type(instance), instance, exclude=set(errors))
        except ValidationError as exc:
            errors.setdefault(_constraint_field(constraint), []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)


def _violated_unique_constraint(model: type[models.Model], exc: IntegrityError) -> models.UniqueConstraint | None:
    """The unique constraint an ``IntegrityError`` reports, if any.

    Postgres names the constraint; SQLite lists the columns ("UNIQUE constraint failed: t.a, t.b").
    """
    message = str(exc)
    table = model._meta.db_table
    for constraint in model._meta.constraints:
        if not isinstance(constraint, models.UniqueConstraint) or not constraint.fields:
            continue
        columns = [f"{table}.{model._meta.get_field(name).column}" for name in constraint.fields]
        if constraint.name in message or all(column in message for column in columns):
            return constraint
    return None


def _save(instance: models.Model, *, actor: Actor, action: str, before: dict | None = None) -> models.Model:
    """Validate the whole row, save it, and record the change, all or nothing."""
    validation.check_storable(instance)
    _full_clean(instance)
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
        # A concurrent writer inserted the same key after our check; report it as the check would have.
        constraint = _violated_unique_constraint(type(instance), exc)
        if constraint is None:
            raise
        raise ValidationError({_constraint_field(constraint): [constraint.get_violation_error_message()]}) from exc
    return instance


def _update(
    instance: models.Model,
    changes: dict[str, Any],
    *,
    actor: Actor,
    action: str,
    stamp: Callable[[Any], None] | None = None,
) -> models.Model:
    """Apply ``changes`` and save; on bad input the caller's instance is put back as it was."""
    before = model_snapshot(instance)
    previous = {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
    try:
        _apply(instance, changes)
        if stamp is not None:
            stamp(instance)
        return _save(instance, actor=actor, action=action, before=before)
    except (ValidationError, ValueError, IntegrityError):
        for attname, value in previous.items():
            setattr(instance, attname, value)
        raise


def _delete(instance: models.Model, *, actor: Actor, action: str, keep_only: tuple[str, ...] | None = None) -> None:
    """Delete and audit; ``keep_only`` limits what the audit keeps of the row (no personal data after deletion)."""
    with transaction.atomic():
        before = model_snapshot(instance)
        if keep_only is not None:
            before = {name: value for name, value in before.items() if name in keep_only}
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


def _clean_channel_changes(changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, CHANNEL_FIELDS)
    _clean_strings(changes, ("code", "name", "kind"))
    if "is_active" in changes and not isinstance(changes["is_active"], bool):
        raise ValidationError({"is_active": [_("Use true or false.")]})
    return changes


def channel_create(
    *, org: Organization, actor: Actor, code: str, name: str, kind: str = "other", is_active: bool = True
) -> Channel:
    fields = _clean_channel_changes({"code": code, "name": name, "kind": kind, "is_active": is_active})
    channel = Channel(organization=org, **fields)
    return _save(channel, actor=actor, action="channel.create")


def channel_update(*, channel: Channel, actor: Actor, **changes: Any) -> Channel:
    changes = _clean_channel_changes(changes)
    return _update(channel, changes, actor=actor, action="channel.update")


def channel_delete(*, channel: Channel, actor: Actor) -> None:
    """Delete an unused channel; one that customers or orders refer to is kept for their history."""
    if channel.customers.exists() or channel.orders.exists():
        raise ValidationError(
            {"channel": [_("Customers or orders refer to this channel; deactivate it instead of deleting it.")]}
        )
    _delete(channel, actor=actor, action="channel.delete")


# Channel spend ---------------------------------------------------------------------------------------------

CHANNEL_SPEND_FIELDS = {"channel", "date", "period", "amount"}


def _clean_channel_spend_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, CHANNEL_SPEND_FIELDS)
    _check_same_org(org, "channel", changes.get("channel"), Channel)
    validation.check_business_date("date", changes.get("date"))
    if "amount" in changes:
        changes["amount"] = validation.check_amount("amount", changes["amount"])
    return changes


def channel_spend_create(
    *, org: Organization, actor: Actor, channel: Channel, date: datetime.date, amount: Any, period: str = "day"
) -> ChannelSpend:
    fields = _clean_channel_spend_changes(org, {"channel": channel, "date": date, "amount": amount, "period": period})
    spend = ChannelSpend(organization=org, **fields)
    return _save(spend, actor=actor, action="channel_spend.create")


def channel_spend_update(*, spend: ChannelSpend, actor: Actor, **changes: Any) -> ChannelSpend:
    changes = _clean_channel_spend_changes(spend.organization, changes)
    return _update(spend, changes, actor=actor, action="channel_spend.update")


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
CONSENT_FLAGS = ("consent_email", "consent_sms")


def _clean_customer_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, CUSTOMER_FIELDS)
    _check_same_org(org, "channel", changes.get("channel"), Channel)
    _check_member(org, "owner", changes.get("owner"))
    validation.check_business_datetime("created_at", changes.get("created_at"))
    _clean_strings(changes, ("external_id", "name", "email", "phone"))
    if "email" in changes:
        changes["email"] = changes["email"].lower()
    for flag in CONSENT_FLAGS:
        if flag in changes and not isinstance(changes[flag], bool):
            raise ValidationError({flag: [_("Use true or false.")]})
    if "tags" in changes:
        changes["tags"] = validation.clean_tags(changes["tags"])
    if "attributes" in changes:
        changes["attributes"] = validation.check_json_object("attributes", changes["attributes"])
    return changes


#: The consent flag of each channel of ``ConsentChange``.
CONSENT_CHANNELS = {"consent_email": ConsentChannel.EMAIL, "consent_sms": ConsentChannel.SMS}


def _consent_stamper(customer: Customer, changes: dict[str, Any]):
    """Record when each consent flag changes: proof of consent is asked for by date, not by flag."""
    was = {flag: getattr(customer, flag) for flag in CONSENT_FLAGS}
    now = timezone.now()

    def stamp(instance: Customer) -> None:
        for flag in CONSENT_FLAGS:
            if flag in changes and changes[flag] != was[flag]:
                setattr(instance, f"{flag}_at", now)

    return stamp


def default_consent_source(actor: Actor) -> str:
    """Where a consent change came from when the caller does not say: an API key writes through the API."""
    return ConsentSource.API if actor.api_key is not None else ConsentSource.PAGE


def consent_changes_record(
    *, customer: Customer, was: dict[str, bool], source: str, actor: Actor
) -> list[ConsentChange]:
    """One ``ConsentChange`` per flag whose stored value differs from ``was`` (the values before the write)."""
    changes = [
        ConsentChange(
            organization_id=customer.organization_id,
            customer=customer,
            channel=channel,
            granted=getattr(customer, flag),
            source=source,
            actor_label=actor.display[:200],
            at=getattr(customer, f"{flag}_at") or timezone.now(),
        )
        for flag, channel in CONSENT_CHANNELS.items()
        if getattr(customer, flag) != was[flag]
    ]
    return ConsentChange.objects.bulk_create(changes)


class CustomerErasedError(ValidationError):
    """A change refused because the customer was erased: the request may be fine, the record's state is not."""


def _refuse_erased(customer: Customer) -> None:
    if customer.erased_at is not None:
        raise CustomerErasedError(
            {
                "customer": [
                    _("This customer was erased: the record is kept anonymous for the figures and cannot change.")
                ]
            }
        )


def customer_create(*, org: Organization, actor: Actor, consent_source: str | None = None, **fields: Any) -> Customer:
    """Create a customer; without an ``external_id`` one is generated so every customer can be imported against."""
    fields = _clean_customer_changes(org, fields)
    if not fields.get("external_id"):
        fields["external_id"] = f"cust-{uuid.uuid4().hex[:16]}"
    customer = Customer(organization=org)
    was = {flag: getattr(customer, flag) for flag in CONSENT_FLAGS}
    stamp = _consent_stamper(customer, fields)
    _apply(customer, fields)
    stamp(customer)
    with transaction.atomic():
        _save(customer, actor=actor, action="customer.create")
        consent_changes_record(
            customer=customer, was=was, source=consent_source or default_consent_source(actor), actor=actor
        )
        event_emit(org=org, event_type=EventType.CUSTOMER_CREATED, payload=customer_webhook_payload(customer))
    return customer


def customer_update(*, customer: Customer, actor: Actor, consent_source: str | None = None, **changes: Any) -> Customer:
    """Change a customer; ``consent_source`` says where a consent change came from (default: page or API)."""
    _refuse_erased(customer)
    changes = _clean_customer_changes(customer.organization, changes)
    if "external_id" in changes and not changes["external_id"]:
        raise ValidationError({"external_id": [_("The external id cannot be empty.")]})
    stamp = _consent_stamper(customer, changes)
    before = {name: getattr(customer, name, None) for name in changes}
    was = {flag: getattr(customer, flag) for flag in CONSENT_FLAGS}
    with transaction.atomic():
        _update(customer, changes, actor=actor, action="customer.update", stamp=stamp)
        consent_changes_record(
            customer=customer, was=was, source=consent_source or default_consent_source(actor), actor=actor
        )
        # Only what really changed: a PATCH that repeats the stored values tells integrations nothing.
        changed = sorted(name for name in changes if getattr(customer, name, None) != before[name])
        if changed:
            event_emit(
                org=customer.organization,
                event_type=EventType.CUSTOMER_UPDATED,
                payload={**customer_webhook_payload(customer), "changed": changed},
            )
    return customer


def customer_webhook_payload(customer: Customer) -> dict[str, Any]:
    """The ``data`` of a single customer.created/updated webhook; batched events carry ``customer_ids`` only."""
    return {
        "customer_ids": [customer.pk],
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "channel": customer.channel_id,
            "created_at": customer.created_at,
            "updated_at": customer.updated_at,
        },
    }


#: What the audit log keeps of a deleted customer: enough to trace the deletion, nothing that identifies a person.
CUSTOMER_DELETE_AUDIT_FIELDS = ("id", "external_id", "channel_id", "created_at")


def customer_delete(*, customer: Customer, actor: Actor) -> None:
    """Delete a customer with their orders, events, answers, notes and tasks; the audit keeps no personal data."""
    _delete(customer, actor=actor, action="customer.delete", keep_only=CUSTOMER_DELETE_AUDIT_FIELDS)


# Orders ----------------------------------------------------------------------------------------------------

ORDER_FIELDS = {"external_id", "customer", "ordered_at", "amount", "currency", "status", "channel"}


def _clean_order_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, ORDER_FIELDS)
    _check_same_org(org, "customer", changes.get("customer"), Customer)
    _check_not_erased("customer", changes.get("customer"))
    _check_same_org(org, "channel", changes.get("channel"), Channel)
    validation.check_business_datetime("ordered_at", changes.get("ordered_at"))
    _clean_strings(changes, ("external_id", "status"))
    if "amount" in changes:
        changes["amount"] = validation.check_amount("amount", changes["amount"])
    if "currency" in changes:
        changes["currency"] = validation.check_currency("currency", changes["currency"])
    return changes


def order_create(*, org: Organization, actor: Actor, **fields: Any) -> Order:
    """Record an order; the currency defaults to the organization's."""
    fields.setdefault("currency", org.currency)
    fields = _clean_order_changes(org, fields)
    order = Order(organization=org)
    _apply(order, fields)
    with transaction.atomic():
        _save(order, actor=actor, action="order.create")
        event_emit(org=org, event_type=EventType.ORDER_CREATED, payload=order_webhook_payload(order))
    return order


def order_webhook_payload(order: Order) -> dict[str, Any]:
    """The ``data`` of a single order.created webhook; batched events carry ``order_ids`` only."""
    return {
        "order_ids": [order.pk],
        "order": {
            "id": order.pk,
            "external_id": order.external_id,
            "customer": order.customer_id,
            "ordered_at": order.ordered_at,
            "amount": str(order.amount),
            "currency": order.currency,
            "status": order.status,
            "channel": order.channel_id,
        },
    }


def order_update(*, order: Order, actor: Actor, **changes: Any) -> Order:
    changes = _clean_order_changes(order.organization, changes)
    return _update(order, changes, actor=actor, action="order.update")


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
    _check_same_org(org, "customer", customer, Customer)
    _check_not_erased("customer", customer)
    validation.check_business_datetime("occurred_at", occurred_at)
    fields = {"name": name}
    _clean_strings(fields, ("name",))
    event = Event(
        organization=org,
        customer=customer,
        name=fields["name"],
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
    _check_same_org(org, "customer", customer, Customer)
    _check_not_erased("customer", customer)
    validation.check_business_datetime("answered_at", answered_at)
    if kind == FeedbackKind.NPS:
        if scale_max not in (None, NPS_SCALE_MAX):
            raise ValidationError({"scale_max": [_("NPS is always asked on a 0–10 scale.")]})
        scale_max, lowest = NPS_SCALE_MAX, 0
    elif kind == FeedbackKind.CSAT:
        if scale_max is None:
            scale_max = CSAT_DEFAULT_SCALE_MAX
        scale_max, lowest = validation.check_integer("scale_max", scale_max, low=2, high=CSAT_SCALE_LIMIT), 1
    else:
        raise ValidationError({"kind": [_("Use 'nps' or 'csat'.")]})
    validation.check_integer("score", score, low=lowest, high=scale_max)
    feedback = Feedback(
        organization=org,
        customer=customer,
        kind=kind,
        score=score,
        scale_max=scale_max,
        answered_at=answered_at,
        comment=validation.clean_text("comment", comment, max_length=FEEDBACK_COMMENT_MAX_LENGTH),
    )
    return _save(feedback, actor=actor, action="feedback.create")


def feedback_delete(*, feedback: Feedback, actor: Actor) -> None:
    _delete(feedback, actor=actor, action="feedback.delete")


# Notes and tasks -------------------------------------------------------------------------------------------


def note_create(*, org: Organization, actor: Actor, customer: Customer, body: str) -> Note:
    """Add a note by the acting person (an API key writes notes without an author)."""
    _check_same_org(org, "customer", customer, Customer)
    _check_not_erased("customer", customer)
    body = validation.clean_text("body", body, max_length=NOTE_MAX_LENGTH)
    if not body:
        raise ValidationError({"body": [_("Write something in the note.")]})
    note = Note(organization=org, customer=customer, body=body, author=actor.user)
    return _save(note, actor=actor, action="note.create")


def note_delete(*, note: Note, actor: Actor) -> None:
    _delete(note, actor=actor, action="note.delete")


TASK_FIELDS = {"customer", "title", "description", "owner", "due_date", "status"}


def _clean_task_changes(org: Organization, changes: dict[str, Any]) -> dict[str, Any]:
    _unknown_fields(changes, TASK_FIELDS)
    _check_same_org(org, "customer", changes.get("customer"), Customer)
    _check_not_erased("customer", changes.get("customer"))
    _check_member(org, "owner", changes.get("owner"))
    _clean_strings(changes, ("title", "status"))
    if "description" in changes:
        changes["description"] = validation.clean_text(
            "description", changes["description"], max_length=TASK_DESCRIPTION_MAX_LENGTH
        )
    return changes


def _stamp_completion(task: Task) -> None:
    """Keep ``completed_at`` in step with the status: set when first done, cleared when reopened."""
    if task.status == TaskStatus.DONE and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != TaskStatus.DONE:
        task.completed_at = None


def task_create(*, org: Organization, actor: Actor, **fields: Any) -> Task:
    fields = _clean_task_changes(org, fields)
    task = Task(organization=org, created_by=actor.user)
    _apply(task, fields)
    _stamp_completion(task)
    return _save(task, actor=actor, action="task.create")


def task_update(*, task: Task, actor: Actor, **changes: Any) -> Task:
    changes = _clean_task_changes(task.organization, changes)
    return _update(task, changes, actor=actor, action="task.update", stamp=_stamp_completion)


def task_complete(*, task: Task, actor: Actor) -> Task:
    return task_update(task=task, actor=actor, status=TaskStatus.DONE)


def task_delete(*, task: Task, actor: Actor) -> None:
    _delete(task, actor=actor, action="task.delete")


@transaction.atomic
def owner_unassign(*, org: Organization, user: User, actor: Actor) -> dict[str, int]:
    """Hand a departing member's open tasks and customers back to the team (owner left empty).

    Left pointing at someone who can no longer sign in, they would show up in nobody's "mine" and not as
    "unassigned" either.
    """
    # QuerySet.update() skips auto_now: stamp updated_at so API syncs by ``updated_since`` see the change.
    now = timezone.now()
    with transaction.atomic():
        tasks = Task.objects.for_org(org).filter(owner=user, status=TaskStatus.OPEN).update(owner=None, updated_at=now)
        customer_ids = list(Customer.objects.for_org(org).filter(owner=user).values_list("id", flat=True))
        customers = Customer.objects.for_org(org).filter(pk__in=customer_ids).update(owner=None, updated_at=now)
        counts = {"open_tasks": tasks, "customers": customers}
        audit_record(
            org=org,
            actor=actor,
            action="owner.unassign",
            object_type="user",
            object_id=str(user.pk),
            before={"owner": user.email},
            after=counts,
        )
        events_emit_for_ids(
            org=org,
            event_type=EventType.CUSTOMER_UPDATED,
            ids=customer_ids,
            key="customer_ids",
            extra={"changed": ["owner"]},
        )
    return counts
