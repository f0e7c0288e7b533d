"""Text the database cannot store (NUL, lone surrogates) is a field error everywhere, never a 500."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import SYSTEM
from crm import services
from crm.models import Customer, Event
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Wang\x00Wei"),
        ("external_id", "C\x00"),
        ("attributes", {"level": "gold\x00"}),
        ("attributes", {"ke\x00y": "gold"}),
        ("attributes", {"nested": [{"deep": "\x00"}]}),
        ("attributes", {"broken": "\ud800"}),
    ],
)
def test_service_rejects_unstorable_customer_values_naming_the_field(org, field, value):
    with pytest.raises(ValidationError) as caught:
        services.customer_create(org=org, actor=SYSTEM, **{"external_id": "C1", field: value})
    assert field in caught.value.message_dict
    assert not Customer.objects.for_org(org).exists()


def test_note_with_a_nul_is_refused(org):
    customer = CustomerFactory(organization=org)
    with pytest.raises(ValidationError) as caught:
        services.note_create(org=org, actor=SYSTEM, customer=customer, body="call\x00back")
    assert "body" in caught.value.message_dict


def test_api_answers_400_for_nul_inside_json_attributes(write_api, org):
    response = write_api.post(
        "/api/v1/customers/", {"external_id": "n1", "attributes": {"a": "x\u0000y"}}, format="json"
    )
    assert response.status_code == 400
    assert "attributes" in response.json()["errors"]
    assert not Customer.objects.for_org(org).exists()


def test_api_answers_400_for_a_lone_surrogate_in_event_properties(write_api, org):
    customer = CustomerFactory(organization=org)
    body = json.dumps(
        {
            "customer": customer.pk,
            "name": "login",
            "occurred_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
            "properties": {"device": "\ud800"},
        }
    )
    response = write_api.post("/api/v1/events/", body, content_type="application/json")
    assert response.status_code == 400
    assert "properties" in response.json()["errors"]
    assert not Event.objects.for_org(org).exists()
