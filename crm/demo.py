"""The demo organization, written: turns the simulator's arrays (``crm/demo_data.py``) into rows.

The organization, its users and its channels go through the services like any other write; the millions
of customers, orders and events go through ``crm/bulk_load.py`` (``COPY`` on PostgreSQL). Everything is
written in one transaction, so an interrupted seed leaves nothing half-built.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

import numpy as np
from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from accounts.models import Organization, Role, User
from accounts.services import Actor, audit_record, membership_set, organization_create, user_create
from accounts.tenancy import TenantModel
from crm.bulk_load import TEXT, Column, Kind, bulk_insert
from crm.demo_data import (
    EVENT_NAMES,
    FEEDBACK_KINDS,
    ORDER_STATUSES,
    TASK_STATUSES,
    DemoData,
    attributes_json,
    event_properties_json,
    sequence_ids,
    tags_json,
)
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Note, Order, Task
from crm.services import channel_create

DEMO_PASSWORD = "custops-demo-2026"  # noqa: S105 (demo accounts only; printed for the person trying the product)
DEMO_URL = "http://127.0.0.1:8000/"
DEMO_TIME_ZONE = "Asia/Shanghai"
DEMO_CURRENCY = "CNY"
USERS_PER_ROLE = 2
SEED_ACTOR = Actor(label="seed_demo")
# The tables a seed fills in bulk, analysed afterwards on PostgreSQL.
BULK_TABLES = (ChannelSpend, Customer, Order, Event, Feedback, Note, Task)


@dataclass
class SeedReport:
    org: Organization
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def demo_logins(slug: str) -> list[tuple[str, str]]:
    """The demo accounts of an organization as (e-mail, role): ``admin1@<slug>.custops.local`` and so on."""
    domain = f"{slug.replace('_', '-')}.custops.local"
    return [(f"{role}{number}@{domain}", role) for role in Role.values for number in range(1, USERS_PER_ROLE + 1)]


def demo_organization_seed(
    *, slug: str, data: DemoData, replace: bool = False, progress: tqdm | None = None
) -> SeedReport:
    """Build the demo organization from simulated data, all in one transaction.

    With ``replace``, an existing organization with this slug is deleted first (with all its data); the
    demo users are kept and reused, with the demo password set again.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Django's foreign keys are deferred to the commit. Checking them at the end of each COPY instead
            # costs the same, keeps the server's queue of pending checks to one table, and makes a broken
            # reference fail at the table that has it.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        existing = Organization.objects.filter(slug=slug).first()
        if existing is not None:
            if not replace:
                raise ValidationError({"slug": [f"The organization {slug} already exists."]})
            _organization_delete(existing)
            timings["delete old organization"] = time.perf_counter() - started
        phase = time.perf_counter()
        org = organization_create(
            slug=slug,
            name="Demo Retail" if slug == "demo" else f"Demo Retail ({slug})",
            actor=SEED_ACTOR,
            time_zone=DEMO_TIME_ZONE,
            currency=DEMO_CURRENCY,
        )
        users = _demo_users(org)
        channel_ids = _demo_channels(org, data)
        timings["organization, users, channels"] = time.perf_counter() - phase
        counts = _write_rows(org, data, users, channel_ids, progress, timings)
        audit_record(
            org=org,
            actor=SEED_ACTOR,
            action="demo.seed",
            instance=org,
            after={"seed": data.seed, "today": data.today.isoformat(), **counts},
        )
        phase = time.perf_counter()
    timings["commit"] = time.perf_counter() - phase
    if connection.vendor == "postgresql":
        phase = time.perf_counter()
        with connection.cursor() as cursor:
            # Fresh statistics, so the first nightly run plans its joins for millions of rows, not for none.
            tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in BULK_TABLES)
            cursor.execute(f"ANALYZE {tables}")
        timings["analyze"] = time.perf_counter() - phase
    return SeedReport(org=org, counts=counts, timings=timings)


def _organization_delete(org: Organization) -> None:
    """Delete an organization with everything in it, fast enough for millions of rows.

    ``org.delete()`` alone would have Django's collector load every customer and cascade in batches of a
    hundred (155 s measured for a million customers on PostgreSQL; this takes 47 s). Instead every tenant table, including other apps' (DESIGN.md §2: every business row
    belongs to an organization), is emptied with one ``DELETE ... WHERE organization_id``, tables that refer
    to others before the tables they refer to; then the collector removes the organization and the little
    left (memberships). A table outside the tenancy base that still refers to these rows makes the database
    refuse, and the whole seed rolls back.
    """
    tenant_models = [model for model in apps.get_models() if issubclass(model, TenantModel)]
    referrers: dict[type, set[type]] = {model: set() for model in tenant_models}
    for model in tenant_models:
        for model_field in model._meta.concrete_fields:
            if model_field.related_model in referrers and model_field.related_model is not model:
                referrers[model_field.related_model].add(model)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in TopologicalSorter(referrers).static_order():
            table = quote(model._meta.db_table)
            column = quote(model._meta.get_field("organization").column)
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [org.pk])  # noqa: S608 (names from models)
    org.delete()


def _demo_users(org: Organization) -> dict[str, list[User]]:
    """Two members per role, sharing the demo password; ``admin1`` may also use the Django admin.

    The password is hashed once and the hash shared: a full-strength hash costs a few hundred
    milliseconds, and these accounts share one published password anyway.
    """
    password_hash = make_password(DEMO_PASSWORD)
    users: dict[str, list[User]] = {role: [] for role in Role.values}
    for email, role in demo_logins(org.slug):
        number = email.split("@")[0].removeprefix(role)
        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_create(email=email, password=None, first_name="Demo", last_name=f"{Role(role).label} {number}")
        user.password = password_hash
        user.is_active = True
        if role == Role.ADMIN and number == "1":
            user.is_staff = True
            user.is_superuser = True
        user.save()
        membership_set(org=org, user=user, role=role, actor=SEED_ACTOR)
        users[role].append(user)
    return users


def _demo_channels(org: Organization, data: DemoData) -> np.ndarray:
    """Create the channels through the service; date each from its launch so reports show when it began."""
    ids = []
    for profile, launch in zip(data.channels, data.channel_launch, strict=True):
        channel = channel_create(org=org, actor=SEED_ACTOR, code=profile.code, name=profile.name, kind=profile.kind)
        launched_at = _utc(data.window_start + (launch - data.channel_launch.min()).astype("timedelta64[s]"))
        Channel.objects.filter(pk=channel.pk).update(created_at=launched_at)
        ids.append(channel.pk)
    return np.array(ids, dtype=np.int64)


def _utc(stamp: np.datetime64) -> datetime.datetime:
    return stamp.astype("datetime64[us]").astype(datetime.datetime).replace(tzinfo=datetime.UTC)


def _lookup(values: tuple[str, ...], codes: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """A lazy text column: the names of coded values, made a chunk at a time."""
    vocabulary = np.array(values, dtype=TEXT)
    return lambda start, stop: vocabulary[codes[start:stop]]


def _write_rows(
    org: Organization,
    data: DemoData,
    users: dict[str, list[User]],
    channel_ids: np.ndarray,
    progress: tqdm | None,
    timings: dict[str, float],
) -> dict[str, int]:
    customers, orders, events, feedback = data.customers, data.orders, data.events, data.feedback
    ops_ids = np.array([user.pk for user in users[Role.OPS]], dtype=np.int64)
    now = np.datetime64(timezone.now().replace(tzinfo=None), "s")
    org_id = Column(Kind.INTEGER, org.pk)
    no_time = np.datetime64("NaT", "s")

    def write(label: str, model: type, columns: dict[str, Column], rows: int, **options: bool) -> np.ndarray | None:
        phase = time.perf_counter()
        if progress is not None:
            progress.set_description(label)
        ids = bulk_insert(
            model, columns, rows=rows, progress=progress.update if progress is not None else None, **options
        )
        timings[label] = time.perf_counter() - phase
        return ids

    write(
        "channel spend",
        ChannelSpend,
        {
            "organization_id": org_id,
            "channel_id": Column(Kind.INTEGER, channel_ids[data.spend.channel]),
            "date": Column(Kind.DATE, data.spend.month),
            "period": Column(Kind.TEXT, "month"),
            "amount": Column(Kind.MONEY, data.spend.cents),
        },
        len(data.spend.cents),
    )
    customer_ids = write(
        "customers",
        Customer,
        {
            "organization_id": org_id,
            "external_id": Column(Kind.TEXT, lambda start, stop: sequence_ids("C", start, stop, 7)),
            "name": Column(Kind.TEXT, customers.name),
            "email": Column(Kind.TEXT, customers.email),
            "phone": Column(Kind.TEXT, customers.phone),
            "channel_id": Column(Kind.INTEGER, channel_ids[customers.channel]),
            "created_at": Column(Kind.TIMESTAMP, customers.created_at),
            "updated_at": Column(Kind.TIMESTAMP, now),
            "owner_id": Column(
                Kind.INTEGER, ops_ids[np.maximum(customers.owner_slot, 0)], null=customers.owner_slot < 0
            ),
            "consent_email": Column(Kind.BOOLEAN, customers.consent_email),
            "consent_email_at": Column(
                Kind.TIMESTAMP, np.where(customers.consent_email, customers.created_at, no_time)
            ),
            "consent_sms": Column(Kind.BOOLEAN, customers.consent_sms),
            "consent_sms_at": Column(Kind.TIMESTAMP, np.where(customers.consent_sms, customers.created_at, no_time)),
            "tags": Column(Kind.JSON, lambda start, stop: tags_json(customers.tag_mask[start:stop])),
            "attributes": Column(Kind.JSON, lambda start, stop: attributes_json(customers.city[start:stop])),
        },
        len(customers),
        returning_ids=True,
    )
    order_channel = orders.channel
    write(
        "orders",
        Order,
        {
            "organization_id": org_id,
            "external_id": Column(Kind.TEXT, lambda start, stop: sequence_ids("O", start, stop, 9)),
            "customer_id": Column(Kind.INTEGER, lambda start, stop: customer_ids[orders.customer[start:stop]]),
            "ordered_at": Column(Kind.TIMESTAMP, orders.ordered_at),
            "amount": Column(Kind.MONEY, orders.cents),
            "currency": Column(Kind.TEXT, DEMO_CURRENCY),
            "status": Column(Kind.TEXT, _lookup(ORDER_STATUSES, orders.status)),
            "channel_id": Column(Kind.INTEGER, channel_ids[np.maximum(order_channel, 0)], null=order_channel < 0),
            "created_at": Column(Kind.TIMESTAMP, orders.ordered_at),
        },
        len(orders),
    )
    write(
        "events",
        Event,
        {
            "organization_id": org_id,
            "customer_id": Column(Kind.INTEGER, lambda start, stop: customer_ids[events.customer[start:stop]]),
            "name": Column(Kind.TEXT, _lookup(EVENT_NAMES, events.name)),
            "occurred_at": Column(Kind.TIMESTAMP, events.occurred_at),
            "properties": Column(Kind.JSON, lambda start, stop: event_properties_json(events.sku[start:stop])),
        },
        len(events),
    )
    write(
        "feedback",
        Feedback,
        {
            "organization_id": org_id,
            "customer_id": Column(Kind.INTEGER, customer_ids[feedback.customer]),
            "kind": Column(Kind.TEXT, _lookup(FEEDBACK_KINDS, feedback.kind)),
            "score": Column(Kind.INTEGER, feedback.score),
            "scale_max": Column(Kind.INTEGER, feedback.scale_max),
            "comment": Column(Kind.TEXT, feedback.comment),
            "answered_at": Column(Kind.TIMESTAMP, feedback.answered_at),
        },
        len(feedback),
    )
    notes, tasks = data.notes, data.tasks
    write(
        "notes",
        Note,
        {
            "organization_id": org_id,
            "customer_id": Column(Kind.INTEGER, customer_ids[notes.customer]),
            "author_id": Column(Kind.INTEGER, ops_ids[notes.author_slot]),
            "body": Column(Kind.TEXT, notes.body),
            "created_at": Column(Kind.TIMESTAMP, notes.created_at),
        },
        len(notes),
    )
    task_owner = ops_ids[tasks.owner_slot]
    write(
        "tasks",
        Task,
        {
            "organization_id": org_id,
            "customer_id": Column(Kind.INTEGER, customer_ids[tasks.customer]),
            "title": Column(Kind.TEXT, tasks.title),
            "description": Column(Kind.TEXT, ""),
            "owner_id": Column(Kind.INTEGER, task_owner),
            "created_by_id": Column(Kind.INTEGER, task_owner),
            "due_date": Column(Kind.DATE, tasks.due_date),
            "status": Column(Kind.TEXT, _lookup(TASK_STATUSES, tasks.status)),
            "created_at": Column(Kind.TIMESTAMP, tasks.created_at),
            "completed_at": Column(Kind.TIMESTAMP, tasks.completed_at),
        },
        len(tasks),
    )
    return {
        "channels": len(channel_ids),
        "channel_spend": len(data.spend.cents),
        "customers": len(customers),
        "customers_without_orders": int(len(customers) - len(np.unique(orders.customer))),
        "orders": len(orders),
        "events": len(events),
        "feedback": len(feedback),
        "notes": len(notes),
        "tasks": len(tasks),
    }


def total_rows(data: DemoData) -> int:
    return (
        len(data.spend.cents)
        + len(data.customers)
        + len(data.orders)
        + len(data.events)
        + len(data.feedback)
        + len(data.notes)
        + len(data.tasks)
    )
