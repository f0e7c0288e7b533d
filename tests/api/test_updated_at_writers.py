"""``updated_at`` moves on every change, whichever writer makes it: what ``?updated_since=`` relies on.

The import runs through the ORM writer on SQLite and the ``COPY`` + upsert writer on PostgreSQL; run this file on
both (``DATABASE_URL=postgres://...``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import Role
from accounts.services import Actor
from crm.bulk_load import Column, Kind, bulk_insert
from crm.imports import pipeline
from crm.models import Customer, Event, Order, Task
from crm.services import owner_unassign
from tests.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db

IMPORTER = Actor(label="test")
LONG_AGO = timezone.now() - datetime.timedelta(days=30)


def run(org, kind: str, text: str, tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text(text)
    job = pipeline.import_job_create(org=org, actor=IMPORTER, kind=kind, source=path, original_filename=name)
    return pipeline.import_job_run(job=job)


def age(model, org) -> None:
    model.objects.for_org(org).update(updated_at=LONG_AGO)


def stamps(model, org, key: str = "external_id") -> dict[str, datetime.datetime]:
    return dict(model.objects.for_org(org).values_list(key, "updated_at"))


def test_a_reimport_moves_updated_at_of_changed_rows_only(org, tmp_path):
    run(org, "customers", "external_id,name\nC1,Wang Wei\nC2,Li Na\n", tmp_path, "a.csv")
    age(Customer, org)
    run(org, "customers", "external_id,name\nC1,Wang Wei\nC2,Li Na Zhang\nC3,New\n", tmp_path, "b.csv")
    after = stamps(Customer, org)
    assert after["C1"] == LONG_AGO
    assert after["C2"] > LONG_AGO and after["C3"] > LONG_AGO

    orders = "external_id,customer_external_id,ordered_at,amount\nO1,C1,2025-03-01T10:00:00Z,10\nO2,C1,2025-03-02T10:00:00Z,20\n"
    run(org, "orders", orders, tmp_path, "o1.csv")
    assert all(value > LONG_AGO for value in stamps(Order, org).values())
    age(Order, org)
    run(org, "orders", orders.replace(",20\n", ",25\n"), tmp_path, "o2.csv")
    after = stamps(Order, org)
    assert after["O1"] == LONG_AGO and after["O2"] > LONG_AGO


def test_the_bulk_endpoint_moves_updated_at(org, write_api):
    customer = CustomerFactory(organization=org, external_id="C1", name="Old")
    Customer.objects.filter(pk=customer.pk).update(updated_at=LONG_AGO)
    response = write_api.post(
        "/api/v1/customers/bulk/", {"records": [{"external_id": "C1", "name": "New"}]}, format="json"
    )
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert customer.updated_at > LONG_AGO
    since = (LONG_AGO + datetime.timedelta(days=1)).isoformat()
    listed = write_api.get("/api/v1/customers/", {"updated_since": since}).json()["results"]
    assert [row["id"] for row in listed] == [customer.pk]


def test_save_with_update_fields_moves_updated_at(org):
    task = TaskFactory(customer=CustomerFactory(organization=org))
    Task.objects.filter(pk=task.pk).update(updated_at=LONG_AGO)
    task.refresh_from_db()
    task.title = "Call back"
    task.save(update_fields=["title"])
    task.refresh_from_db()
    assert task.updated_at > LONG_AGO


def test_queryset_updates_of_services_move_updated_at(org, member_factory):
    user = member_factory(org, Role.OPS)
    customer = CustomerFactory(organization=org, owner=user)
    Customer.objects.filter(pk=customer.pk).update(updated_at=LONG_AGO)
    owner_unassign(org=org, user=user, actor=Actor(label="test"))
    customer.refresh_from_db()
    assert customer.owner is None and customer.updated_at > LONG_AGO


def test_copy_writers_get_updated_at_from_the_database(org):
    """The ``COPY`` path (demo data, nightly scores) does not send the column; the database default fills it."""
    customer = CustomerFactory(organization=org)
    before = timezone.now() - datetime.timedelta(seconds=5)
    bulk_insert(
        Event,
        {
            "organization_id": Column(Kind.INTEGER, org.pk),
            "customer_id": Column(Kind.INTEGER, np.array([customer.pk, customer.pk])),
            "name": Column(Kind.TEXT, "page_view"),
            "occurred_at": Column(Kind.TIMESTAMP, np.datetime64("2025-01-01T00:00:00", "us")),
            "properties": Column(Kind.JSON, "{}"),
        },
        rows=2,
    )
    values = list(Event.objects.for_org(org).values_list("updated_at", flat=True))
    assert len(values) == 2 and all(value is not None and value >= before for value in values)
