"""Per-customer export: one JSON document with everything held about the person, streamed, audit-logged."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from accounts.services import Actor, organization_update
from campaigns.models import Campaign, Delivery, DeliveryStatus
from crm import privacy, services
from crm.models import Event
from segmentation.models import CustomerScore, Segment, SegmentMembership
from tests.factories import (
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    NoteFactory,
    OrderFactory,
    TaskFactory,
)
from webhooks.models import EventType, WebhookEndpoint
from webhooks.services import events_emit_for_ids

pytestmark = pytest.mark.django_db


def body(response) -> dict:
    assert response.streaming, "the export is streamed, not built in memory"
    return json.loads(b"".join(response.streaming_content))


@pytest.fixture
def person(org, ops_user):
    WebhookEndpoint.objects.create(organization=org, url="https://hooks.example.com/in", secret="whsec_x")
    customer = services.customer_create(
        org=org,
        actor=Actor(user=ops_user),
        external_id="ZQ-001",
        name="Zelda Quintessa",
        email="zelda.q@example.net",
        phone="+86 139 9999 0000",
        consent_email=True,
    )
    OrderFactory(customer=customer, amount=Decimal("120.50"))
    EventFactory(customer=customer, name="app_open", properties={"city": "Hangzhou"})
    FeedbackFactory(customer=customer, score=3, comment="Late delivery again")
    NoteFactory(customer=customer, body="Prefers calls after six")
    TaskFactory(customer=customer, title="Call Zelda about the refund")
    CustomerScore.objects.create(
        organization=org, customer=customer, as_of=timezone.localdate(), stage="growing", tier="high", purchase_days=2
    )
    segment = Segment.objects.create(
        organization=org, name="VIP", rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]}
    )
    SegmentMembership.objects.create(organization=org, segment=segment, customer=customer)
    campaign = Campaign.objects.create(organization=org, name="Spring")
    Delivery.objects.create(
        organization=org,
        campaign=campaign,
        customer=customer,
        status=DeliveryStatus.SENT,
        assigned_at=timezone.now(),
        email=customer.email,
        opened_at=timezone.now(),
        open_count=2,
        click_count=1,
    )
    events_emit_for_ids(org=org, event_type=EventType.SEGMENT_ENTERED, ids=[customer.pk], key="customer_ids")
    return customer


def test_the_export_holds_every_section_about_the_person(org, person, read_api):
    document = body(read_api.get(f"/api/v1/customers/{person.pk}/export/"))

    assert document["format"] == privacy.EXPORT_FORMAT
    assert document["customer"]["email"] == "zelda.q@example.net"
    assert document["customer"]["phone"] == "+86 139 9999 0000"
    assert [row["granted"] for row in document["consent_history"]] == [True]
    assert [row["amount"] for row in document["orders"]] == ["120.50"]
    assert document["events"][0]["properties"] == {"city": "Hangzhou"}
    assert document["feedback"][0]["comment"] == "Late delivery again"
    assert document["notes"][0]["body"] == "Prefers calls after six"
    assert document["tasks"][0]["title"] == "Call Zelda about the refund"
    assert document["scores"][0]["tier"] == "high"
    vip = Segment.objects.for_org(org).get(name="VIP")
    assert document["segment_memberships"] == [{"kind": "membership", "segment_id": vip.pk, "segment": "VIP"}]
    assert document["campaign_deliveries"][0]["open_count"] == 2
    assert document["campaign_deliveries"][0]["campaign__name"] == "Spring"
    webhook_types = sorted(row["event_type"] for row in document["webhook_events"])
    assert webhook_types == ["customer.created", "segment.entered"]


def test_the_export_is_audit_logged_without_personal_data(org, person, admin_user, session_api):
    session_api(admin_user).get(f"/api/v1/customers/{person.pk}/export/")

    entry = AuditLog.objects.for_org(org).get(action="customer.export")
    assert (entry.actor_user, entry.object_type, entry.object_id) == (admin_user, "customer", str(person.pk))
    recorded = json.dumps([entry.before, entry.after])
    assert "zelda" not in recorded.lower() and "139 9999" not in recorded


def test_viewers_cannot_export_when_the_organization_keeps_personal_data_from_them(org, person, viewer_user, client):
    client.force_login(viewer_user)
    assert client.get(reverse("crm:customer-export", args=[person.pk])).status_code == 200
    organization_update(org=org, viewers_export_customer_pii=False)

    api = client.get(f"/api/v1/customers/{person.pk}/export/")
    page = client.get(reverse("crm:customer-export", args=[person.pk]))
    detail = client.get(reverse("crm:customer-detail", args=[person.pk])).content.decode()

    assert api.status_code == 403 and page.status_code == 403
    assert 'id="export-data"' not in detail
    assert AuditLog.objects.for_org(org).filter(action="customer.export").count() == 1


def test_the_page_download_is_an_attachment(org, person, ops_user, client):
    client.force_login(ops_user)
    response = client.get(reverse("crm:customer-export", args=[person.pk]))

    assert response["Content-Disposition"] == f'attachment; filename="customer-{person.pk}-data.json"'
    assert body(response)["customer"]["name"] == "Zelda Quintessa"


def test_another_organizations_customer_cannot_be_exported(org, other_org, api_key_client, member_factory, client):
    theirs = CustomerFactory(organization=other_org)
    client.force_login(member_factory(org, Role.ADMIN))

    assert api_key_client(org).get(f"/api/v1/customers/{theirs.pk}/export/").status_code == 404
    assert client.get(reverse("crm:customer-export", args=[theirs.pk])).status_code == 404
    assert not AuditLog.objects.filter(action="customer.export").exists()


def test_a_customer_with_thousands_of_events_streams_in_chunks_with_a_bounded_number_of_queries(org, read_api):
    """3,000 events come in about 64 KB chunks, read 2,000 rows per query: memory does not grow with the history."""
    customer = CustomerFactory(organization=org)
    start = timezone.now() - datetime.timedelta(days=100)
    Event.objects.bulk_create(
        Event(
            organization=org,
            customer=customer,
            name="page_view",
            occurred_at=start + datetime.timedelta(minutes=minute),
            properties={"path": f"/products/{minute}", "referrer": "https://search.example/?q=shoes"},
        )
        for minute in range(3000)
    )
    response = read_api.get(f"/api/v1/customers/{customer.pk}/export/")

    with CaptureQueriesContext(connection) as queries:
        chunks = list(response.streaming_content)
    document = json.loads(b"".join(chunks))

    assert len(document["events"]) == 3000
    assert len(chunks) > 3
    assert max(len(chunk) for chunk in chunks) < 2 * privacy.EXPORT_CHUNK_CHARS
    assert len(queries) < 40  # one query (or cursor fetch) per 2,000 rows and section, not one per row
