"""Emission from each hooked service: who is sent what, batching, and nothing after a rollback."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.services import Actor
from crm import services as crm_services
from crm.imports import pipeline
from reporting import nightly
from reporting.webhook_events import nightly_webhooks_emit
from segmentation.models import ScoreChange, SegmentChange
from segmentation.services import segment_create
from tests.factories import CustomerFactory, OrderFactory
from webhooks import services
from webhooks.models import EventType, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db

ACTOR = Actor(label="test")


def events(org, event_type=None) -> list[WebhookEvent]:
    rows = WebhookEvent.objects.for_org(org).order_by("id")
    return list(rows.filter(event_type=event_type) if event_type else rows)


def test_no_subscribed_endpoint_means_no_event_row_and_no_work(org, other_org, queued, django_assert_num_queries):
    services.endpoint_create(org=other_org, url="https://globex.example/hook")
    services.endpoint_create(org=org, url="https://acme.example/hook", event_types=["order.created"])
    services.endpoint_create(org=org, url="https://acme.example/off", is_active=False)
    with django_assert_num_queries(1):
        assert services.event_emit(org=org, event_type=EventType.CUSTOMER_CREATED, payload={"a": 1}) is None
    assert services.events_emit_many(org=org, event_type=EventType.CUSTOMER_CREATED, payloads=[{}, {}]) == []
    assert not WebhookEvent.objects.exists() and queued == []


def test_an_event_goes_to_each_subscribed_active_endpoint_of_its_organization_after_commit(
    org, other_org, queued, django_capture_on_commit_callbacks
):
    all_types = services.endpoint_create(org=org, url="https://acme.example/all")
    orders = services.endpoint_create(org=org, url="https://acme.example/orders", event_types=["order.created"])
    services.endpoint_create(org=org, url="https://acme.example/customers", event_types=["customer.created"])
    services.endpoint_create(org=other_org, url="https://globex.example/all")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event = services.event_emit(org=org, event_type=EventType.ORDER_CREATED, payload={"when": timezone.now()})
        assert queued == []  # not before the commit
    assert len(callbacks) == 1
    deliveries = WebhookDelivery.objects.filter(event=event)
    assert {d.endpoint_id for d in deliveries} == {all_types.pk, orders.pk}
    assert sorted(queued) == sorted(d.pk for d in deliveries)
    assert isinstance(event.payload["when"], str)  # stored as the JSON that is sent


def test_a_rolled_back_write_sends_nothing(org, queued, django_capture_on_commit_callbacks):
    services.endpoint_create(org=org, url="https://acme.example/all")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        crm_services.customer_create(org=org, actor=ACTOR, external_id="C1", name="Wang Wei")
        raise RuntimeError("the caller failed after the write")
    assert callbacks == [] and queued == []
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()


def test_customer_create_update_and_order_create_emit_their_events(org, queued, django_capture_on_commit_callbacks):
    services.endpoint_create(org=org, url="https://acme.example/all")
    with django_capture_on_commit_callbacks(execute=True):
        customer = crm_services.customer_create(org=org, actor=ACTOR, external_id="C1", email="W@Example.com")
        crm_services.customer_update(customer=customer, actor=ACTOR, name="Wang Wei")
        order = crm_services.order_create(
            org=org,
            actor=ACTOR,
            external_id="O1",
            customer=customer,
            ordered_at=timezone.now() - datetime.timedelta(hours=1),
            amount=Decimal("12.50"),
        )
    created, updated, ordered = events(org)
    assert created.event_type == "customer.created"
    assert created.payload["customer_ids"] == [customer.pk]
    assert created.payload["customer"]["email"] == "w@example.com"
    assert updated.event_type == "customer.updated" and updated.payload["changed"] == ["name"]
    assert updated.payload["customer"]["name"] == "Wang Wei"
    assert ordered.event_type == "order.created"
    assert ordered.payload["order"] | {"ordered_at": None} == {
        "id": order.pk,
        "external_id": "O1",
        "customer": customer.pk,
        "ordered_at": None,
        "amount": "12.50",
        "currency": org.currency,
        "status": order.status,
        "channel": None,
    }
    assert len(queued) == 3


def test_a_rejected_customer_write_emits_nothing(org, queued):
    services.endpoint_create(org=org, url="https://acme.example/all")
    with pytest.raises(Exception):  # noqa: B017 (the service's ValidationError)
        crm_services.customer_create(org=org, actor=ACTOR, external_id="C1", email="not an address")
    assert not WebhookEvent.objects.exists()


def _import(org, kind, text, tmp_path):
    path = tmp_path / "file.csv"
    path.write_text(text)
    job = pipeline.import_job_create(org=org, actor=ACTOR, kind=kind, source=path, original_filename="file.csv")
    return pipeline.import_job_run(job=job)


def test_an_import_emits_batched_id_events_and_import_finished_with_counts(
    org, queued, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    services.endpoint_create(org=org, url="https://acme.example/all")
    CustomerFactory(organization=org, external_id="C1", name="Old name")
    CustomerFactory(organization=org, external_id="C7", name="Customer 7")
    monkeypatch.setattr(services, "EVENT_BATCH_SIZE", 2)
    rows = "".join(f"C{n},Customer {n}\n" for n in range(1, 8))
    with django_capture_on_commit_callbacks(execute=True):
        job = _import(org, "customers", "external_id,name\n" + rows + ",missing id\n", tmp_path)

    created = events(org, "customer.created")
    assert [len(e.payload["customer_ids"]) for e in created] == [2, 2, 1]  # 5 new customers, 2 ids per event
    new_ids = sorted(id_ for e in created for id_ in e.payload["customer_ids"])
    assert new_ids == sorted(org_customer_ids(org, exclude=("C1", "C7")))
    [updated] = events(org, "customer.updated")
    assert len(updated.payload["customer_ids"]) == 1
    [finished] = events(org, "import.finished")
    assert finished.payload | {"finished_at": None} == {
        "import_id": job.pk,
        "kind": "customers",
        "status": "succeeded",
        "rows_total": 8,
        "rows_created": 5,
        "rows_updated": 1,
        "rows_unchanged": 1,
        "rows_rejected": 1,
        "finished_at": None,
    }


def org_customer_ids(org, exclude):
    from crm.models import Customer

    return Customer.objects.for_org(org).exclude(external_id__in=exclude).values_list("id", flat=True)


def test_an_order_import_emits_order_created_for_new_orders_only(org, queued, tmp_path):
    services.endpoint_create(org=org, url="https://acme.example/orders", event_types=["order.created"])
    customer = CustomerFactory(organization=org, external_id="C1")
    existing = OrderFactory(customer=customer, external_id="O1")
    text = "external_id,customer_external_id,ordered_at,amount\nO1,C1,2025-03-01,9\nO2,C1,2025-03-02,10\n"
    _import(org, "orders", text, tmp_path)
    [event] = events(org)
    assert event.event_type == "order.created"
    assert len(event.payload["order_ids"]) == 1 and existing.pk not in event.payload["order_ids"]


def test_a_failed_import_sends_import_finished_only(org, queued, tmp_path, monkeypatch):
    services.endpoint_create(org=org, url="https://acme.example/all")

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "_note_repeats_of_earlier_batches", crash)
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 1)
    job = _import(org, "customers", "external_id,name\nC1,A\nC2,B\n", tmp_path)
    assert job.status == "failed"
    assert [e.event_type for e in events(org)] == ["import.finished"]
    assert events(org)[0].payload["status"] == "failed"


def test_the_nightly_emits_segment_tier_and_churn_events_in_batches_then_nightly_finished(
    org, queued, admin_user, monkeypatch
):
    services.endpoint_create(org=org, url="https://acme.example/all")
    monkeypatch.setattr(services, "EVENT_BATCH_SIZE", 2)
    day = datetime.date(2026, 3, 31)
    customers = [CustomerFactory(organization=org) for _ in range(5)]
    segment = segment_create(
        org=org,
        actor=Actor(user=admin_user),
        name="VIP",
        rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]},
    )
    for customer in customers[:3]:
        SegmentChange.objects.create(organization=org, segment=segment, customer=customer, day=day, kind="entered")
    SegmentChange.objects.create(organization=org, segment=segment, customer=customers[3], day=day, kind="left")
    SegmentChange.objects.create(
        organization=org, segment=segment, customer=customers[4], day=day - datetime.timedelta(days=1), kind="left"
    )
    for customer in customers[:3]:
        ScoreChange.objects.create(
            organization=org, customer=customer, kind="tier", changed_on=day, from_value="mid", to_value="high"
        )
    ScoreChange.objects.create(organization=org, customer=customers[3], kind="tier", changed_on=day, to_value="low")
    ScoreChange.objects.create(
        organization=org, customer=customers[4], kind="stage", changed_on=day, from_value="mature", to_value="churned"
    )
    ScoreChange.objects.create(
        organization=org, customer=customers[3], kind="stage", changed_on=day, from_value="growing", to_value="mature"
    )
    job = nightly.JobRun.objects.create(organization=org, as_of=day, status="succeeded", finished_at=timezone.now())

    nightly_webhooks_emit(org=org, job=job, current=True)

    ids = [c.pk for c in customers]
    summary = [(e.event_type, e.payload.get("customer_ids")) for e in events(org)]
    assert (
        summary
        == [
            ("segment.entered", ids[0:2]),
            ("segment.entered", ids[2:3]),
            ("segment.left", ids[3:4]),
            ("tier.changed", ids[3:4]),  # "" -> low sorts before mid -> high
            ("tier.changed", ids[0:2]),
            ("tier.changed", ids[2:3]),
            ("churn.flagged", ids[4:5]),
            ("nightly.finished", None),
        ]
    )
    entered = events(org, "segment.entered")[0]
    assert entered.payload["segment"] == {"id": segment.pk, "name": "VIP"} and entered.payload["day"] == "2026-03-31"
    tier = events(org, "tier.changed")
    assert (tier[0].payload["from"], tier[0].payload["to"]) == (None, "low")
    assert (tier[1].payload["from"], tier[1].payload["to"]) == ("mid", "high")
    assert events(org, "nightly.finished")[0].payload["job_id"] == job.pk


def test_a_real_nightly_run_emits_nightly_finished_after_its_commit(org, queued):
    services.endpoint_create(org=org, url="https://acme.example/nightly", event_types=["nightly.finished"])
    customer = CustomerFactory(organization=org, created_at=timezone.now() - datetime.timedelta(days=90))
    OrderFactory(customer=customer, ordered_at=timezone.now() - datetime.timedelta(days=30))
    job = nightly.run_nightly(org=org, as_of=timezone.localdate() - datetime.timedelta(days=1))
    [event] = events(org)
    assert event.event_type == "nightly.finished"
    assert event.payload["status"] == job.status == "succeeded" and event.payload["job_id"] == job.pk


def test_a_campaign_that_finishes_sending_emits_campaign_finished(org, queued, django_capture_on_commit_callbacks):
    from campaigns.models import CampaignStatus
    from tests.campaigns.conftest import score
    from tests.campaigns.test_sending import no_quiet_hours

    no_quiet_hours(org)
    services.endpoint_create(org=org, url="https://acme.example/campaigns", event_types=["campaign.finished"])
    for _ in range(3):
        score(CustomerFactory(organization=org, consent_email=True), "high")
    from campaigns import services as campaign_services

    actor = Actor(label="test")
    campaign = campaign_services.campaign_create(
        org=org,
        actor=actor,
        name="Spring",
        tier="high",
        variants=[{"name": "A", "subject": "Hello", "body": "Hi {{ name }}"}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_services.campaign_launch(campaign=campaign, actor=actor)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    [event] = events(org)
    assert event.event_type == "campaign.finished"
    assert event.payload["campaign"]["id"] == campaign.pk
    assert sum(event.payload["deliveries"].values()) == 3


def test_a_bulk_write_over_the_api_emits_batched_events_not_one_per_record(org, write_api, queued):
    services.endpoint_create(org=org, url="https://acme.example/customers", event_types=["customer.created"])
    records = [{"external_id": f"B{n}", "name": f"Bulk {n}"} for n in range(3)]
    response = write_api.post("/api/v1/customers/bulk/", {"records": records}, format="json")
    assert response.status_code in (200, 201), response.content
    [event] = events(org)
    assert event.event_type == "customer.created" and len(event.payload["customer_ids"]) == 3
    assert "customer" not in event.payload


def test_an_update_that_changes_nothing_emits_nothing(org, queued, django_capture_on_commit_callbacks):
    services.endpoint_create(org=org, url="https://acme.example/all")
    customer = CustomerFactory(organization=org, external_id="C1", name="Wang Wei")
    with django_capture_on_commit_callbacks(execute=True):
        crm_services.customer_update(customer=customer, actor=ACTOR, name="Wang Wei")
    assert events(org, "customer.updated") == []


def test_handing_a_members_customers_back_emits_customer_updated(org, queued, member_factory):
    from accounts.models import Role

    services.endpoint_create(org=org, url="https://acme.example/all", event_types=["customer.updated"])
    leaver = member_factory(org, Role.OPS)
    theirs = [CustomerFactory(organization=org, owner=leaver) for _ in range(3)]
    CustomerFactory(organization=org)

    crm_services.owner_unassign(org=org, user=leaver, actor=ACTOR)

    [event] = events(org)
    assert sorted(event.payload["customer_ids"]) == sorted(c.pk for c in theirs)
    assert event.payload["changed"] == ["owner"]


def test_customers_created_for_an_order_write_emit_customer_created(org, write_api, queued):
    services.endpoint_create(org=org, url="https://acme.example/customers", event_types=["customer.created"])
    records = [
        {"external_id": "O1", "customer_external_id": "NEW-1", "ordered_at": "2026-01-02T10:00:00+08:00", "amount": "5"}
    ]
    response = write_api.post(
        "/api/v1/orders/bulk/", {"records": records, "create_missing_customers": True}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    [event] = events(org)
    from crm.models import Customer

    new_customer = Customer.objects.for_org(org).get(external_id="NEW-1")
    assert event.payload["customer_ids"] == [new_customer.pk]
