"""Contract fixes found by the schemathesis run (tests/integration/test_api_schemathesis.py), one case each, so a
regression shows here in seconds instead of after minutes of fuzzing."""

from __future__ import annotations

import pytest

from config.api.errors import _as_field_errors
from crm.models import Channel, Customer


def error_body(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in body["errors"].values())
    return body["errors"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/scores/abc/"),
        ("post", "/api/v1/alerts/0.5/acknowledge/"),
        ("get", "/api/v1/no-such-resource/"),
        ("delete", "/api/v1/scores/1/nothing/here/"),
    ],
)
def test_an_api_path_no_route_matches_is_a_json_404(write_api, method, path):
    assert error_body(getattr(write_api, method)(path), 404) == {}


def test_a_post_to_no_route_is_a_json_404_even_with_csrf_checks(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/api/v1/alerts/0.5/acknowledge/")
    assert error_body(response, 404) == {}


def test_a_page_path_no_route_matches_keeps_the_html_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_api_path_without_its_slash_still_redirects_to_the_resource(write_api):
    response = write_api.get("/api/v1/customers")
    assert response.status_code == 301
    assert response["Location"].endswith("/api/v1/customers/")


def test_a_server_error_under_api_is_json(rf):
    from config.error_views import server_error

    response = server_error(rf.get("/api/v1/customers/"))
    assert response.status_code == 500
    assert set(__import__("json").loads(response.content)) == {"detail", "errors"}
    assert server_error(rf.get("/reports/"))["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/?updated_since=2024-07-30T18:30:10%2B22:42",
        "/api/v1/customers/?created_after=2024-07-30T18:30:10%2B16:00",
        "/api/v1/orders/?ordered_before=2024-07-30T18:30:10-23:59",
    ],
)
def test_offsets_beyond_what_postgresql_stores_are_read_as_the_same_instant_in_utc(write_api, path):
    assert write_api.get(path).status_code == 200


def test_a_nul_byte_in_a_reference_is_a_400_naming_the_field(write_api, org):
    customer = Customer.objects.create(organization=org, external_id="c1")
    response = write_api.post(
        "/api/v1/orders/",
        {"customer": customer.pk, "channel": "\u0000abc", "ordered_at": "2025-01-01T00:00:00Z", "amount": "1"},
        format="json",
    )
    assert "channel" in error_body(response, 400)
    response = write_api.post("/api/v1/customers/", {"owner": "a\u0000@b.c", "channel": "\u0000x"}, format="json")
    assert {"owner", "channel"} <= set(error_body(response, 400))


def test_nested_errors_are_flattened_into_dotted_keys():
    detail = {
        "variants": [{}, {"weight": ["Too big."]}],
        "tags": {3: ["Not a valid string."]},
        "records": [["Bad row."], []],
        "name": ["Required."],
    }
    assert _as_field_errors(detail) == {
        "variants.1.weight": ["Too big."],
        "tags.3": ["Not a valid string."],
        "records.0": ["Bad row."],
        "name": ["Required."],
    }
    assert _as_field_errors(["Oops."]) == {"non_field_errors": ["Oops."]}


def test_a_nested_error_in_a_request_is_a_dotted_key(write_api):
    response = write_api.post("/api/v1/customers/", {"tags": ["a", "b", "c", {"x": 1}]}, format="json")
    assert "tags.3" in error_body(response, 400)


def test_a_note_written_with_an_api_key_has_a_null_author(write_api, org):
    customer = Customer.objects.create(organization=org, external_id="c1")
    response = write_api.post("/api/v1/notes/", {"customer": customer.pk, "body": "Called."}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["author"] is None


def test_a_channel_in_use_cannot_be_deleted_409(write_api, org):
    channel = Channel.objects.create(organization=org, code="web", name="Web", kind="paid")
    Customer.objects.create(organization=org, external_id="c1", channel=channel)
    errors = error_body(write_api.delete(f"/api/v1/channels/{channel.pk}/"), 409)
    assert list(errors) == ["channel"]
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_a_campaign_that_reached_customers_cannot_be_deleted_409(org, marketer_user, api_key_client):
    from django.utils import timezone

    from accounts.services import Actor
    from campaigns.models import Campaign, Delivery
    from campaigns.services import campaign_create
    from segmentation.services import segment_create

    actor = Actor(user=marketer_user)
    segment = segment_create(
        org=org, actor=actor, name="All", rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]}
    )
    campaign = campaign_create(
        org=org,
        actor=actor,
        name="Spring",
        segment=segment,
        variants=[{"name": "A", "subject": "Hi", "body": "Hello"}],
    )
    customer = Customer.objects.create(organization=org, external_id="c1", email="c1@example.com")
    Delivery.objects.create(
        organization=org, campaign=campaign, customer=customer, status="sent", assigned_at=timezone.now()
    )
    errors = error_body(api_key_client(org, ["read", "write"]).delete(f"/api/v1/campaigns/{campaign.pk}/"), 409)
    assert list(errors) == ["status"]
    assert Campaign.objects.filter(pk=campaign.pk).exists()
