"""Bulk JSON endpoints: the import's rules, one result per record, the batch written as a whole."""

from __future__ import annotations

import pytest

from crm.models import Customer, Event, Order
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_bulk_customers_report_each_record_in_request_order(org, write_api):
    CustomerFactory(organization=org, external_id="C1", name="Same")
    response = write_api.post(
        "/api/v1/customers/bulk/",
        {
            "records": [
                {"external_id": "C1", "name": "Same"},
                {"external_id": "C2", "name": "New", "consent_email": True},
                {"external_id": "C3", "email": "not-an-email"},
                {"external_id": "C4", "shoe_size": 42},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [result["status"] for result in body["results"]] == ["unchanged", "created", "rejected", "rejected"]
    assert body["results"][2]["errors"] == {"email": ["Enter a valid email address."]}
    assert "shoe_size" in body["results"][3]["errors"]
    assert (body["created"], body["unchanged"], body["rejected"]) == (1, 1, 2)
    created = Customer.objects.for_org(org).get(external_id="C2")
    assert body["results"][1]["id"] == created.pk and created.consent_email is True


def test_bulk_orders_take_numbers_and_reject_unknown_customers(org, write_api):
    CustomerFactory(organization=org, external_id="C1")
    body = write_api.post(
        "/api/v1/orders/bulk/",
        {
            "records": [
                {
                    "external_id": "O1",
                    "customer_external_id": "C1",
                    "ordered_at": "2025-05-01T10:00:00Z",
                    "amount": 12.5,
                },
                {"external_id": "O2", "customer_external_id": "GHOST", "ordered_at": "2025-05-01", "amount": "3"},
            ]
        },
        format="json",
    ).json()
    assert [result["status"] for result in body["results"]] == ["created", "rejected"]
    assert "customer_external_id" in body["results"][1]["errors"]
    assert str(Order.objects.for_org(org).get().amount) == "12.50"


def test_a_repeated_key_in_one_request_keeps_the_later_record(org, write_api):
    body = write_api.post(
        "/api/v1/customers/bulk/",
        {"records": [{"external_id": "C1", "name": "First"}, {"external_id": "C1", "name": "Second"}]},
        format="json",
    ).json()
    assert [result["status"] for result in body["results"]] == ["superseded", "created"]
    assert Customer.objects.for_org(org).get().name == "Second"


def test_bulk_events_are_idempotent(org, write_api):
    CustomerFactory(organization=org, external_id="C1")
    payload = {"records": [{"customer_external_id": "C1", "name": "login", "occurred_at": "2025-05-01T10:00:00+08:00"}]}
    assert write_api.post("/api/v1/events/bulk/", payload, format="json").json()["created"] == 1
    assert write_api.post("/api/v1/events/bulk/", payload, format="json").json()["unchanged"] == 1
    assert Event.objects.for_org(org).count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"records": []},
        {"records": "nope"},
        {},
        {"records": [{}] * 10_001},
        {"records": [{"external_id": "x"}], "extra": 1},
    ],
)
def test_malformed_bulk_requests_are_400_naming_the_field(write_api, payload):
    response = write_api.post("/api/v1/customers/bulk/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]


def test_bulk_needs_a_write_key(read_api):
    assert (
        read_api.post("/api/v1/customers/bulk/", {"records": [{"external_id": "C1"}]}, format="json").status_code == 403
    )


def test_nested_values_are_rejected_per_record(org, write_api):
    body = write_api.post(
        "/api/v1/customers/bulk/", {"records": [{"external_id": "C1", "name": {"first": "Wang"}}]}, format="json"
    ).json()
    assert body["results"][0]["status"] == "rejected" and "name" in body["results"][0]["errors"]
    assert not Customer.objects.for_org(org).exists()
