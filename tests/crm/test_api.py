"""REST API v1 for the CRM: scoping, roles and scopes, CRUD per resource, pagination, filters, error shape."""

from __future__ import annotations

import base64
import datetime
from decimal import Decimal

import pytest
from django.db.models.signals import pre_save
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog, Role
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Note, Order, Task, TaskStatus
from tests.factories import (
    ChannelFactory,
    ChannelSpendFactory,
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    NoteFactory,
    OrderFactory,
    TaskFactory,
    UserFactory,
)

YESTERDAY = (timezone.now() - datetime.timedelta(days=1)).replace(microsecond=0)
NEXT_WEEK = timezone.now() + datetime.timedelta(days=7)


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def error_body(response, status: int) -> dict:
    """Assert the status and the error shape of DESIGN.md §7; return the field errors."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body["errors"]


@pytest.fixture
def customer(org):
    return CustomerFactory(organization=org, external_id="C-1", name="Zhang Wei")


@pytest.fixture
def channel(org):
    return ChannelFactory(organization=org, code="web", name="Web shop")


# Authentication and permissions ----------------------------------------------------------------------------


def test_request_without_credentials_is_401_with_a_bearer_challenge(db):
    response = APIClient().get("/api/v1/customers/")
    assert error_body(response, 401) == {}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_read_key_may_list(read_api, customer):
    response = read_api.get("/api/v1/customers/")
    assert response.status_code == 200
    assert [row["external_id"] for row in response.json()["results"]] == ["C-1"]


def test_read_key_may_not_create(read_api, org):
    response = read_api.post("/api/v1/customers/", {"external_id": "C-2"}, format="json")
    error_body(response, 403)
    assert not Customer.objects.for_org(org).exists()


def test_read_key_may_not_delete(read_api, customer):
    error_body(read_api.delete(f"/api/v1/customers/{customer.pk}/"), 403)
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_write_only_key_may_not_read(org, api_key_client, customer):
    error_body(api_key_client(org, ("write",)).get("/api/v1/customers/"), 403)


def test_viewer_may_read_customers(session_api, viewer_user, customer):
    assert session_api(viewer_user).get(f"/api/v1/customers/{customer.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/customers/", {"external_id": "C-2"}),
        ("/api/v1/notes/", {"body": "Hello"}),
        ("/api/v1/tasks/", {"title": "Call back"}),
    ],
)
def test_viewer_may_not_write(session_api, viewer_user, customer, path, body):
    response = session_api(viewer_user).post(path, {**body, "customer": customer.pk}, format="json")
    error_body(response, 403)
    assert response.json()["detail"] == "Your role (viewer) may not change these records."


def test_ops_may_create_customers(session_api, ops_user, org):
    response = session_api(ops_user).post("/api/v1/customers/", {"external_id": "C-2"}, format="json")
    assert response.status_code == 201
    assert Customer.objects.for_org(org).get().external_id == "C-2"


def test_marketer_may_not_create_customers(session_api, marketer_user, org):
    response = session_api(marketer_user).post("/api/v1/customers/", {"external_id": "C-2"}, format="json")
    error_body(response, 403)
    assert response.json()["detail"] == "Your role (marketer) may not change these records."
    assert not Customer.objects.for_org(org).exists()


def test_marketer_may_not_change_orders(session_api, marketer_user, customer):
    order = OrderFactory(customer=customer, amount=Decimal("10.00"))
    error_body(session_api(marketer_user).patch(f"/api/v1/orders/{order.pk}/", {"amount": "1"}, format="json"), 403)
    order.refresh_from_db()
    assert order.amount == Decimal("10.00")


def test_marketer_may_add_notes(session_api, marketer_user, customer):
    response = session_api(marketer_user).post(
        "/api/v1/notes/", {"customer": customer.pk, "body": "Interested in the spring sale."}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["author"] == marketer_user.email


def test_marketer_may_add_tasks(session_api, marketer_user, customer):
    response = session_api(marketer_user).post(
        "/api/v1/tasks/", {"customer": customer.pk, "title": "Send the coupon"}, format="json"
    )
    assert response.status_code == 201


def test_signed_in_person_without_membership_is_refused(session_api, customer):
    response = session_api(UserFactory()).get("/api/v1/customers/")
    assert error_body(response, 403) == {}


def test_session_write_is_audited_as_the_person(session_api, ops_user, org):
    session_api(ops_user).post("/api/v1/channels/", {"code": "web", "name": "Web"}, format="json")
    entry = AuditLog.objects.for_org(org).get(action="channel.create")
    assert (entry.actor_user, entry.actor_api_key) == (ops_user, None)


def test_key_write_is_audited_as_the_key(write_api, org):
    write_api.post("/api/v1/channels/", {"code": "web", "name": "Web"}, format="json")
    entry = AuditLog.objects.for_org(org).get(action="channel.create")
    assert entry.actor_user is None
    assert entry.actor_api_key.name == "test integration"


# Organization scoping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_organizations_customer_is_not_found(write_api, other_org, method):
    foreign = CustomerFactory(organization=other_org, name="Foreign")
    response = getattr(write_api, method)(f"/api/v1/customers/{foreign.pk}/", {"name": "Taken"}, format="json")
    error_body(response, 404)
    foreign.refresh_from_db()
    assert foreign.name == "Foreign"


def test_organization_in_the_body_is_an_unknown_field_and_moves_nothing(write_api, org, other_org, customer):
    response = write_api.patch(
        f"/api/v1/customers/{customer.pk}/", {"organization": other_org.pk, "name": "Moved"}, format="json"
    )
    assert error_body(response, 400) == {"organization": ["Unknown field."]}
    customer.refresh_from_db()
    assert (customer.organization, customer.name) == (org, "Zhang Wei")


def test_organization_in_a_create_body_is_refused(write_api, other_org):
    response = write_api.post("/api/v1/customers/", {"external_id": "C-9", "organization": other_org.pk}, format="json")
    assert error_body(response, 400) == {"organization": ["Unknown field."]}
    assert not Customer.objects.exists()


def test_order_for_another_organizations_customer_is_refused(write_api, other_org):
    foreign = CustomerFactory(organization=other_org)
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer": foreign.pk, "ordered_at": iso(YESTERDAY), "amount": "10"},
        format="json",
    )
    assert list(error_body(response, 400)) == ["customer"]
    assert not Order.objects.exists()


def test_order_by_another_organizations_customer_external_id_is_refused(write_api, other_org):
    CustomerFactory(organization=other_org, external_id="X-1")
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer_external_id": "X-1", "ordered_at": iso(YESTERDAY), "amount": "10"},
        format="json",
    )
    assert error_body(response, 400) == {
        "customer_external_id": ["No customer with this external id exists in your organization."]
    }


def test_customer_with_another_organizations_channel_code_is_refused(write_api, other_org):
    ChannelFactory(organization=other_org, code="tv")
    response = write_api.post("/api/v1/customers/", {"channel": "tv"}, format="json")
    assert list(error_body(response, 400)) == ["channel"]


def test_task_owned_by_another_organizations_member_is_refused(write_api, other_org, member_factory):
    outsider = member_factory(other_org, Role.OPS)
    response = write_api.post("/api/v1/tasks/", {"title": "Call", "owner": outsider.email}, format="json")
    assert list(error_body(response, 400)) == ["owner"]


# Resources: create, read, update, delete -------------------------------------------------------------------


def test_customer_create_returns_the_stored_customer(write_api, org, channel, ops_user):
    response = write_api.post(
        "/api/v1/customers/",
        {
            "external_id": "C-7",
            "name": "Li Na",
            "email": "Li.Na@Example.com",
            "channel": "web",
            "owner": ops_user.email.upper(),
            "tags": ["vip"],
            "consent_email": True,
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["channel"], body["owner"], body["tags"]) == (
        "li.na@example.com",
        "web",
        ops_user.email,
        ["vip"],
    )
    assert body["consent_email_at"] is not None
    assert Customer.objects.for_org(org).get(pk=body["id"]).channel == channel


def test_customer_retrieve_returns_one_customer(write_api, customer):
    body = write_api.get(f"/api/v1/customers/{customer.pk}/").json()
    assert (body["id"], body["external_id"], body["name"]) == (customer.pk, "C-1", "Zhang Wei")


def test_customer_patch_changes_only_the_given_fields(write_api, customer):
    response = write_api.patch(f"/api/v1/customers/{customer.pk}/", {"phone": "+86 10 1234"}, format="json")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.phone, customer.name) == ("+86 10 1234", "Zhang Wei")


def test_customer_put_replaces_the_given_fields(write_api, customer):
    response = write_api.put(
        f"/api/v1/customers/{customer.pk}/", {"external_id": "C-1", "name": "Zhang Wei Jr."}, format="json"
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.name == "Zhang Wei Jr."


def test_customer_delete_removes_it(write_api, customer):
    assert write_api.delete(f"/api/v1/customers/{customer.pk}/").status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_order_create_by_customer_external_id(write_api, customer):
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer_external_id": "C-1", "ordered_at": iso(YESTERDAY), "amount": "59.90"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["customer"], body["customer_external_id"], body["amount"], body["currency"]) == (
        customer.pk,
        "C-1",
        "59.90",
        "CNY",
    )


def test_order_create_without_a_customer_names_the_missing_reference(write_api):
    response = write_api.post(
        "/api/v1/orders/", {"external_id": "O-1", "ordered_at": iso(YESTERDAY), "amount": "1"}, format="json"
    )
    assert error_body(response, 400) == {"customer": ["Give customer or customer_external_id."]}


def test_order_patch_changes_the_status(write_api, customer):
    order = OrderFactory(customer=customer)
    response = write_api.patch(f"/api/v1/orders/{order.pk}/", {"status": "refunded"}, format="json")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == "refunded"


def test_channel_create_and_rename(write_api, org):
    created = write_api.post("/api/v1/channels/", {"code": "web", "name": "Web", "kind": "paid"}, format="json")
    assert created.status_code == 201
    renamed = write_api.patch(f"/api/v1/channels/{created.json()['id']}/", {"name": "Web shop"}, format="json")
    assert renamed.json()["name"] == "Web shop"
    assert Channel.objects.for_org(org).get().name == "Web shop"


def test_channel_in_use_cannot_be_deleted(write_api, customer, channel):
    customer.channel = channel
    customer.save()
    errors = error_body(write_api.delete(f"/api/v1/channels/{channel.pk}/"), 409)  # still in use: a conflict
    assert list(errors) == ["channel"]
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_channel_spend_create_references_the_channel_by_code(write_api, channel):
    response = write_api.post(
        "/api/v1/channel-spend/", {"channel": "web", "date": "2025-03-01", "amount": "1200.00"}, format="json"
    )
    assert response.status_code == 201
    assert ChannelSpend.objects.get().channel == channel


def test_channel_spend_for_the_same_day_twice_names_date(write_api, channel):
    ChannelSpendFactory(channel=channel, date=datetime.date(2025, 3, 1))
    response = write_api.post(
        "/api/v1/channel-spend/", {"channel": "web", "date": "2025-03-01", "amount": "1"}, format="json"
    )
    assert list(error_body(response, 400)) == ["date"]


def test_channel_spend_put_replaces_the_amount(write_api, channel):
    spend = ChannelSpendFactory(channel=channel, date=datetime.date(2025, 3, 1))
    response = write_api.put(
        f"/api/v1/channel-spend/{spend.pk}/", {"channel": "web", "date": "2025-03-01", "amount": "99.00"}, format="json"
    )
    assert response.status_code == 200
    spend.refresh_from_db()
    assert spend.amount == Decimal("99.00")


def test_event_create_and_delete(write_api, customer):
    response = write_api.post(
        "/api/v1/events/",
        {"customer_external_id": "C-1", "name": "signup", "occurred_at": iso(YESTERDAY), "properties": {"plan": "pro"}},
        format="json",
    )
    assert response.status_code == 201
    event_id = response.json()["id"]
    assert write_api.delete(f"/api/v1/events/{event_id}/").status_code == 204
    assert not Event.objects.exists()


def test_events_cannot_be_edited(write_api, customer):
    event = EventFactory(customer=customer)
    error_body(write_api.patch(f"/api/v1/events/{event.pk}/", {"name": "other"}, format="json"), 405)


def test_feedback_create_records_an_nps_answer(write_api, customer):
    response = write_api.post(
        "/api/v1/feedback/",
        {"customer": customer.pk, "kind": "nps", "score": 10, "answered_at": iso(YESTERDAY)},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["score"], response.json()["scale_max"]) == (10, 10)


def test_feedback_with_nps_above_10_is_refused(write_api, customer):
    response = write_api.post(
        "/api/v1/feedback/",
        {"customer": customer.pk, "kind": "nps", "score": 11, "answered_at": iso(YESTERDAY)},
        format="json",
    )
    assert error_body(response, 400) == {"score": ["The value must lie between 0 and 10."]}
    assert not Feedback.objects.exists()


def test_feedback_with_csat_above_its_scale_is_refused(write_api, customer):
    response = write_api.post(
        "/api/v1/feedback/",
        {"customer": customer.pk, "kind": "csat", "score": 6, "answered_at": iso(YESTERDAY)},
        format="json",
    )
    assert error_body(response, 400) == {"score": ["The value must lie between 1 and 5."]}


def test_feedback_cannot_be_edited(write_api, customer):
    feedback = FeedbackFactory(customer=customer)
    error_body(write_api.put(f"/api/v1/feedback/{feedback.pk}/", {"score": 1}, format="json"), 405)


def test_note_through_a_key_has_no_author(write_api, customer):
    response = write_api.post("/api/v1/notes/", {"customer": customer.pk, "body": "From the helpdesk."}, format="json")
    assert response.status_code == 201
    assert response.json()["author"] is None


def test_empty_note_is_refused(write_api, customer):
    response = write_api.post("/api/v1/notes/", {"customer": customer.pk, "body": "   "}, format="json")
    assert list(error_body(response, 400)) == ["body"]
    assert not Note.objects.exists()


def test_notes_cannot_be_edited(write_api, customer):
    note = NoteFactory(customer=customer)
    error_body(write_api.patch(f"/api/v1/notes/{note.pk}/", {"body": "changed"}, format="json"), 405)


def test_task_patched_to_done_gets_a_completion_time(write_api, customer):
    task = TaskFactory(customer=customer)
    response = write_api.patch(f"/api/v1/tasks/{task.pk}/", {"status": "done"}, format="json")
    assert response.status_code == 200
    assert response.json()["completed_at"] is not None
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def test_task_delete_removes_it(write_api, customer):
    task = TaskFactory(customer=customer)
    assert write_api.delete(f"/api/v1/tasks/{task.pk}/").status_code == 204
    assert not Task.objects.exists()


# Bad input never becomes a 500 -----------------------------------------------------------------------------


def test_malformed_json_is_a_400(write_api):
    response = write_api.post("/api/v1/customers/", "{bad json", content_type="application/json")
    assert error_body(response, 400) == {}


def test_a_json_list_instead_of_an_object_is_a_400(write_api):
    response = write_api.post("/api/v1/customers/", "[1, 2]", content_type="application/json")
    assert error_body(response, 400) == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


def test_a_string_where_a_number_is_expected_names_the_field(write_api, customer):
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer": customer.pk, "ordered_at": iso(YESTERDAY), "amount": "lots"},
        format="json",
    )
    assert error_body(response, 400) == {"amount": ["A valid number is required."]}


def test_a_customer_id_that_is_not_a_number_names_the_field(write_api):
    response = write_api.post("/api/v1/notes/", {"customer": "abc", "body": "Hi"}, format="json")
    assert list(error_body(response, 400)) == ["customer"]


def test_a_negative_amount_is_refused(write_api, customer):
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer": customer.pk, "ordered_at": iso(YESTERDAY), "amount": "-5"},
        format="json",
    )
    assert list(error_body(response, 400)) == ["amount"]


def test_an_absurd_amount_is_refused(write_api, customer):
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer": customer.pk, "ordered_at": iso(YESTERDAY), "amount": "99999999999.00"},
        format="json",
    )
    assert error_body(response, 400) == {
        "amount": ["The amount is larger than 10000000, which is treated as a data error."]
    }


def test_a_naive_date_time_is_refused(write_api, customer):
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer": customer.pk, "ordered_at": "2025-01-31T09:30:00", "amount": "1"},
        format="json",
    )
    assert list(error_body(response, 400)) == ["ordered_at"]
    assert not Order.objects.exists()


def test_a_date_beyond_the_future_tolerance_is_refused(write_api, customer):
    response = write_api.post(
        "/api/v1/orders/",
        {"external_id": "O-1", "customer": customer.pk, "ordered_at": iso(NEXT_WEEK), "amount": "1"},
        format="json",
    )
    assert error_body(response, 400) == {
        "ordered_at": ["This date lies in the future; only past or present dates are accepted."]
    }


def test_an_over_long_string_names_the_field(write_api):
    response = write_api.post("/api/v1/customers/", {"name": "x" * 201}, format="json")
    assert list(error_body(response, 400)) == ["name"]


def test_an_invalid_email_names_the_field(write_api):
    response = write_api.post("/api/v1/customers/", {"email": "nobody"}, format="json")
    assert list(error_body(response, 400)) == ["email"]


def test_an_unknown_field_is_reported_with_the_other_field_errors(write_api):
    response = write_api.post("/api/v1/customers/", {"colour": "red", "email": "nobody"}, format="json")
    assert set(error_body(response, 400)) == {"colour", "email"}


def test_a_duplicate_external_id_names_external_id(write_api, customer):
    response = write_api.post("/api/v1/customers/", {"external_id": "C-1"}, format="json")
    assert error_body(response, 400) == {"external_id": ["A customer with this external id already exists."]}
    assert Customer.objects.count() == 1


def test_a_lost_race_on_external_id_is_a_400_naming_external_id(write_api, org):
    def competing_writer(sender, instance, **kwargs):
        pre_save.disconnect(competing_writer, sender=Customer)
        Customer.objects.create(organization=org, external_id="C-RACE")

    pre_save.connect(competing_writer, sender=Customer, weak=False)
    try:
        response = write_api.post("/api/v1/customers/", {"external_id": "C-RACE"}, format="json")
    finally:
        pre_save.disconnect(competing_writer, sender=Customer)
    assert error_body(response, 400) == {"external_id": ["A customer with this external id already exists."]}
    assert not Customer.objects.exists()


def test_an_integrity_error_no_service_explains_is_a_409_not_a_500(write_api, org):
    """A row broken between validation and insert (here: its external id nulled) gets a retryable 409."""

    def corrupting_writer(sender, instance, **kwargs):
        instance.external_id = None

    pre_save.connect(corrupting_writer, sender=Customer, weak=False)
    try:
        response = write_api.post("/api/v1/customers/", {"external_id": "C-9"}, format="json")
    finally:
        pre_save.disconnect(corrupting_writer, sender=Customer)
    assert error_body(response, 409) == {}
    assert not Customer.objects.exists()


def test_a_detail_url_with_a_non_numeric_id_is_a_404(write_api):
    error_body(write_api.get("/api/v1/customers/abc/"), 404)


def test_a_detail_url_with_an_id_beyond_bigint_is_a_404(write_api):
    error_body(write_api.get("/api/v1/customers/99999999999999999999999/"), 404)


# Pagination ------------------------------------------------------------------------------------------------


def test_cursor_pages_walk_every_row_once_newest_first(write_api, org):
    ids = [CustomerFactory(organization=org).pk for _ in range(5)]
    seen, url, pages = [], "/api/v1/customers/?page_size=2", 0
    while url:
        body = write_api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


def test_page_size_above_the_maximum_is_capped_at_500(write_api, org):
    Customer.objects.bulk_create(Customer(organization=org, external_id=f"C-{n}") for n in range(501))
    body = write_api.get("/api/v1/customers/?page_size=1000000").json()
    assert len(body["results"]) == 500
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["abc", "-1", "0", "1e3"])
def test_a_malformed_page_size_falls_back_to_the_default(write_api, customer, page_size):
    response = write_api.get(f"/api/v1/customers/?page_size={page_size}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_a_malformed_cursor_is_a_400_naming_cursor(write_api, customer):
    assert list(error_body(write_api.get("/api/v1/customers/?cursor=notacursor"), 400)) == ["cursor"]


def test_a_forged_cursor_with_a_non_numeric_position_is_a_400(write_api, customer):
    forged = base64.b64encode(b"o=0&p=abc").decode()
    assert list(error_body(write_api.get(f"/api/v1/customers/?cursor={forged}"), 400)) == ["cursor"]


# Filters ---------------------------------------------------------------------------------------------------


def result_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(row.get("external_id") or str(row["id"]) for row in response.json()["results"])


def test_customers_filter_by_tag(write_api, org):
    CustomerFactory(organization=org, external_id="T-1", tags=["vip"])
    CustomerFactory(organization=org, external_id="T-2", tags=["vip-gold"])
    assert result_ids(write_api.get("/api/v1/customers/?tag=vip")) == ["T-1"]


def test_customers_filter_by_channel_code(write_api, org, channel):
    CustomerFactory(organization=org, external_id="W-1", channel=channel)
    CustomerFactory(organization=org, external_id="N-1")
    assert result_ids(write_api.get("/api/v1/customers/?channel=web")) == ["W-1"]


def test_customers_filter_by_search_text(write_api, org):
    CustomerFactory(organization=org, external_id="S-1", name="Zhang Wei")
    CustomerFactory(organization=org, external_id="S-2", name="Li Na")
    assert result_ids(write_api.get("/api/v1/customers/?q=zhang")) == ["S-1"]


def test_customers_filter_by_creation_time(write_api, org):
    CustomerFactory(organization=org, external_id="OLD", created_at=timezone.now() - datetime.timedelta(days=30))
    CustomerFactory(organization=org, external_id="NEW", created_at=timezone.now() - datetime.timedelta(days=1))
    since = (timezone.now() - datetime.timedelta(days=7)).date().isoformat()
    assert result_ids(write_api.get(f"/api/v1/customers/?created_after={since}T00:00:00Z")) == ["NEW"]


def test_orders_filter_by_customer_id_and_status(write_api, customer, org):
    other = CustomerFactory(organization=org)
    OrderFactory(customer=customer, external_id="O-1")
    OrderFactory(customer=customer, external_id="O-2", status="refunded")
    OrderFactory(customer=other, external_id="O-3")
    assert result_ids(write_api.get(f"/api/v1/orders/?customer={customer.pk}&status=completed")) == ["O-1"]


def test_orders_filter_by_minimum_amount(write_api, customer):
    OrderFactory(customer=customer, external_id="O-1", amount=Decimal("9.99"))
    OrderFactory(customer=customer, external_id="O-2", amount=Decimal("10.00"))
    assert result_ids(write_api.get("/api/v1/orders/?min_amount=10")) == ["O-2"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ordered_after=notadate", "ordered_after"),
        ("customer=abc", "customer"),
        ("customer=1e30", "customer"),
        ("customer=99999999999999999999999", "customer"),
        ("status=shipped", "status"),
        ("min_amount=lots", "min_amount"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_filter(write_api, customer, query, field):
    assert list(error_body(write_api.get(f"/api/v1/orders/?{query}"), 400)) == [field]


def test_tasks_filter_by_status(write_api, customer):
    TaskFactory(customer=customer, title="open one")
    TaskFactory(customer=customer, title="done one", status=TaskStatus.DONE)
    response = write_api.get("/api/v1/tasks/?status=done")
    assert [row["title"] for row in response.json()["results"]] == ["done one"]


def test_channel_spend_for_a_month_is_dated_on_its_first_day(write_api, channel):
    created = write_api.post(
        "/api/v1/channel-spend/",
        {"channel": "web", "date": "2025-03-01", "period": "month", "amount": "3000"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["period"] == "month"
    refused = write_api.post(
        "/api/v1/channel-spend/",
        {"channel": "web", "date": "2025-04-15", "period": "month", "amount": "1"},
        format="json",
    )
    assert refused.status_code == 400
    assert "first day" in str(refused.json())
    assert ChannelSpend.objects.count() == 1
