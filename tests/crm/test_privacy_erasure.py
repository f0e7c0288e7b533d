"""Erasure: the person is anonymized in place, every copy of their data is scrubbed, the figures stay."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.core import serializers
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, IdempotencyKey, Role
from accounts.services import Actor
from accounts.tenancy import TenantModel
from campaigns.models import Campaign, Delivery, DeliveryStatus, Suppression, SuppressionReason
from campaigns.services import suppression_add
from crm import privacy, services
from crm.models import ConsentChange, Customer, Event, Feedback, ImportJob, ImportRejection, Note, Order, Task
from segmentation.models import CustomerScore, Segment, SegmentMembership
from tests.factories import CustomerFactory, EventFactory, FeedbackFactory, OrderFactory
from webhooks.models import EventType, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

NAME, EMAIL, PHONE, EXTERNAL_ID = "Zelda Quintessa", "zelda.q@example.net", "+86 139 9999 0000", "ZQ-001"
IDENTIFYING = ("zelda", "quintessa", "139 9999", "zq-001")


@pytest.fixture
def person(org, ops_user, write_api):
    """A customer created through the API (so an idempotent answer and a webhook payload hold their data)."""
    WebhookEndpoint.objects.create(organization=org, url="https://hooks.example.com/in", secret="whsec_x")
    response = write_api.post(
        "/api/v1/customers/",
        {
            "external_id": EXTERNAL_ID,
            "name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "consent_email": True,
            "consent_sms": True,
            "attributes": {"address": "12 West Lake Road"},
            "tags": ["vip"],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-zelda",
    )
    assert response.status_code == 201
    customer = Customer.objects.get(pk=response.json()["id"])
    actor = Actor(user=ops_user)
    services.customer_update(customer=customer, actor=actor, phone=PHONE + " ext 2")
    services.customer_update(customer=customer, actor=actor, phone=PHONE)
    services.note_create(org=org, actor=actor, customer=customer, body="Zelda prefers calls after six")
    services.task_create(org=org, actor=actor, customer=customer, title="Call Zelda Quintessa", description="Refund")
    OrderFactory(customer=customer, amount=Decimal("120.50"), external_id="ORD-1")
    EventFactory(customer=customer, name="app_open", properties={"email": EMAIL})
    FeedbackFactory(customer=customer, score=3, comment="Zelda here: late again")
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
        status=DeliveryStatus.BOUNCED,
        assigned_at=timezone.now(),
        email=EMAIL,
        error=f"550 <{EMAIL}> unknown",
        open_count=1,
    )
    suppression_add(org=org, email=EMAIL, reason=SuppressionReason.BOUNCE)
    job = ImportJob.objects.create(organization=org, kind="customers", original_filename="c.csv", stored_path="/x")
    ImportRejection.objects.create(
        organization=org, job=job, line=2, column="phone", reason="bad phone", values={"email": EMAIL.upper()}
    )
    ImportRejection.objects.create(
        organization=org, job=job, line=3, column="amount", reason="x", values={"customer_external_id": EXTERNAL_ID}
    )
    ImportRejection.objects.create(
        organization=org, job=job, line=4, column="phone", reason="bad phone", values={"email": "someone@else.org"}
    )
    return customer


@pytest.fixture
def admin(admin_user):
    return Actor(user=admin_user)


def everything_stored_about(org) -> str:
    """Every tenant row of the organization, serialized: where any copy of the person's data would show."""
    dumps = []
    for model in apps.get_models():
        if issubclass(model, TenantModel) and model is not IdempotencyKey:
            dumps.append(serializers.serialize("json", model.objects.filter(organization=org)))
    return "\n".join(dumps).lower()


def test_the_person_is_anonymized_and_nothing_identifying_is_left_anywhere(org, person, admin):
    assert EMAIL in everything_stored_about(org)

    privacy.customer_erase(customer=person, actor=admin, confirm=True)

    stored = everything_stored_about(org)
    assert [text for text in IDENTIFYING if text in stored] == []
    assert EMAIL not in stored and "west lake" not in stored
    assert not IdempotencyKey.objects.filter(key="create-zelda").exists()


def test_the_customer_row_keeps_what_the_figures_need(org, person, admin):
    privacy.customer_erase(customer=person, actor=admin, confirm=True)
    person.refresh_from_db()

    assert (person.name, person.email, person.phone, person.attributes) == ("", "", "", {})
    assert person.external_id == privacy.erased_external_id(org, EXTERNAL_ID)
    assert person.external_id.startswith("erased-")
    assert person.erased_at is not None and str(person) == "Erased customer"
    assert person.tags == ["vip"] and person.created_at is not None
    assert (person.consent_email, person.consent_sms) == (False, False)
    assert list(
        ConsentChange.objects.filter(customer=person, source="erasure").order_by("id").values_list("channel", "granted")
    ) == [("email", False), ("sms", False)]
    assert list(Order.objects.filter(customer=person).values_list("external_id", "amount")) == [
        ("ORD-1", Decimal("120.50"))
    ]
    assert list(Event.objects.filter(customer=person).values_list("name", "properties")) == [("app_open", {})]
    assert list(Feedback.objects.filter(customer=person).values_list("score", "comment")) == [(3, "")]
    assert list(Note.objects.filter(customer=person).values_list("body", flat=True)) == ["[erased]"]
    assert list(Task.objects.filter(customer=person).values_list("title", "description")) == [("[erased]", "")]
    assert CustomerScore.objects.get(customer=person).tier == "high"
    assert SegmentMembership.objects.filter(customer=person).count() == 1
    delivery = Delivery.objects.get(customer=person)
    assert (delivery.email, delivery.error, delivery.open_count) == ("", "550 <[erased]> unknown", 1)


def test_copies_elsewhere_are_scrubbed_and_unrelated_rows_are_not(org, person, admin):
    privacy.customer_erase(customer=person, actor=admin, confirm=True)

    created = AuditLog.objects.for_org(org).get(action="customer.create", object_id=str(person.pk))
    assert created.after["email"] == "" and created.after["external_id"].startswith("erased-")
    assert created.after["consent_email"] is True  # what happened stays; who it happened to does not
    payload = WebhookEvent.objects.for_org(org).get(event_type=EventType.CUSTOMER_CREATED).payload
    assert payload["customer"]["name"] == "" and payload["customer"]["id"] == person.pk
    rejections = dict(ImportRejection.objects.for_org(org).values_list("line", "values"))
    assert rejections == {2: {}, 3: {}, 4: {"email": "someone@else.org"}}
    assert list(Suppression.objects.for_org(org).values_list("email", "reason")) == [
        (privacy.hashed_email(org, EMAIL), SuppressionReason.BOUNCE)
    ]


def test_erasure_emits_customer_erased_with_the_id_only_and_is_audit_logged(org, person, admin, admin_user):
    privacy.customer_erase(customer=person, actor=admin, confirm=True)

    event = WebhookEvent.objects.for_org(org).get(event_type=EventType.CUSTOMER_ERASED)
    assert event.payload == {"customer_ids": [person.pk]}
    entry = AuditLog.objects.for_org(org).get(action="customer.erase")
    assert (entry.actor_user, entry.object_id) == (admin_user, str(person.pk))
    assert entry.after["consent_withdrawn"] == ["consent_email", "consent_sms"]
    assert entry.after["scrubbed"]["notes"] == 1 and entry.after["scrubbed"]["campaign_deliveries"] == 1


def test_erasing_twice_changes_nothing_the_second_time(org, person, admin):
    first = privacy.customer_erase(customer=person, actor=admin, confirm=True)
    erased_at, external_id = first.erased_at, first.external_id

    again = privacy.customer_erase(customer=Customer.objects.get(pk=person.pk), actor=admin, confirm=True)

    assert (again.erased_at, again.external_id) == (erased_at, external_id)
    assert AuditLog.objects.for_org(org).filter(action="customer.erase").count() == 1
    assert WebhookEvent.objects.for_org(org).filter(event_type=EventType.CUSTOMER_ERASED).count() == 1


def test_a_failure_part_way_leaves_nothing_half_erased(org, person, admin):
    def broken_receiver(sender, **kwargs):
        raise RuntimeError("campaign store unavailable")

    privacy.customer_erased.connect(broken_receiver, dispatch_uid="test.broken")
    try:
        with pytest.raises(RuntimeError):
            privacy.customer_erase(customer=person, actor=admin, confirm=True)
    finally:
        privacy.customer_erased.disconnect(dispatch_uid="test.broken")

    person.refresh_from_db()
    assert (person.email, person.erased_at) == (EMAIL, None)
    assert Note.objects.get(customer=person).body == "Zelda prefers calls after six"
    assert AuditLog.objects.for_org(org).get(action="customer.create").after["email"] == EMAIL
    assert not ConsentChange.objects.filter(source="erasure").exists()


def test_an_erased_customer_refuses_edits_and_new_records_with_a_clear_error(org, person, admin, write_api):
    privacy.customer_erase(customer=person, actor=admin, confirm=True)

    response = write_api.patch(f"/api/v1/customers/{person.pk}/", {"name": "Back again"}, format="json")
    assert response.status_code == 409
    assert "erased" in response.json()["detail"]
    note = write_api.post("/api/v1/notes/", {"customer": person.pk, "body": "hello"}, format="json")
    assert note.status_code == 400 and "customer" in note.json()["errors"]
    with pytest.raises(ValidationError) as refused:
        services.event_create(org=org, actor=admin, customer=person, name="x", occurred_at=timezone.now())
    assert "erased" in str(refused.value)


def test_imports_cannot_write_about_an_erased_customer(org, person, admin, write_api):
    privacy.customer_erase(customer=person, actor=admin, confirm=True)
    token = Customer.objects.get(pk=person.pk).external_id

    result = write_api.post(
        "/api/v1/events/bulk/",
        {"records": [{"customer_external_id": token, "name": "x", "occurred_at": "2025-01-01T00:00:00Z"}]},
        format="json",
    ).json()
    customers = write_api.post(
        "/api/v1/customers/bulk/", {"records": [{"external_id": token, "name": "Zelda"}]}, format="json"
    ).json()

    assert result["results"][0]["status"] == "rejected" and "erased" in str(result["results"][0]["errors"])
    assert customers["results"][0]["status"] == "rejected"
    assert Customer.objects.get(pk=person.pk).name == ""


def test_the_api_needs_confirmation_and_an_admin(org, person, session_api, ops_user, admin_user, api_key_client):
    url = f"/api/v1/customers/{person.pk}/erase/"

    assert session_api(ops_user).post(url, {"confirm": True}, format="json").status_code == 403
    assert api_key_client(org, ("read",)).post(url, {"confirm": True}, format="json").status_code == 403
    missing = session_api(admin_user).post(url, {}, format="json")
    refused = session_api(admin_user).post(url, {"confirm": False}, format="json")
    assert missing.status_code == 400 and "confirm" in missing.json()["errors"]
    assert refused.status_code == 400 and "confirm" in refused.json()["errors"]
    assert Customer.objects.get(pk=person.pk).erased_at is None

    done = session_api(admin_user).post(url, {"confirm": True}, format="json")
    assert done.status_code == 200
    assert done.json()["email"] == "" and done.json()["erased_at"] is not None
    assert api_key_client(org).post(url, {"confirm": True}, format="json").status_code == 200  # again: no change


def test_another_organizations_customer_cannot_be_erased(org, other_org, member_factory, session_api, client):
    theirs = CustomerFactory(organization=other_org, email="theirs@example.com")
    admin = member_factory(org, Role.ADMIN)
    client.force_login(admin)

    assert (
        session_api(admin).post(f"/api/v1/customers/{theirs.pk}/erase/", {"confirm": True}, format="json").status_code
        == 404
    )
    assert client.post(reverse("crm:customer-erase", args=[theirs.pk]), {"confirm": "on"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.erased_at is None and theirs.email == "theirs@example.com"


def test_the_page_asks_for_confirmation_then_shows_the_customer_as_erased(org, person, admin_user, ops_user, client):
    url = reverse("crm:customer-erase", args=[person.pk])
    client.force_login(ops_user)
    assert client.get(url).status_code == 403
    assert (
        'id="erase-customer-link"' not in client.get(reverse("crm:customer-detail", args=[person.pk])).content.decode()
    )
    client.force_login(admin_user)
    assert 'id="erase-customer-link"' in client.get(reverse("crm:customer-detail", args=[person.pk])).content.decode()

    unconfirmed = client.post(url, {})
    assert unconfirmed.status_code == 200 and "Tick the box" in unconfirmed.content.decode()
    assert Customer.objects.get(pk=person.pk).erased_at is None
    response = client.post(url, {"confirm": "on"}, follow=True)

    page = response.content.decode()
    assert 'id="erased-badge"' in page and 'id="erased-hint"' in page
    assert NAME not in page and EMAIL not in page
    assert 'id="note-form"' not in page


def test_a_later_import_of_the_same_address_is_suppressed_by_its_hash(org, person, admin):
    privacy.customer_erase(customer=person, actor=admin, confirm=True)
    comeback = services.customer_create(org=org, actor=admin, email=EMAIL.upper(), consent_email=True)

    assert Suppression.objects.for_org(org).filter(email=privacy.hashed_email(org, comeback.email)).exists()
    assert not Suppression.objects.for_org(org).filter(email=EMAIL).exists()
    assert json.dumps(list(Suppression.objects.for_org(org).values_list("email", "detail"))).find(EMAIL) == -1
