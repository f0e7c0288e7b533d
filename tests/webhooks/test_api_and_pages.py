"""The webhooks API and page: admins and keys only, the secret once, deliveries, redelivery, tenant isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Role
from webhooks import services
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

LIST = "/api/v1/webhooks/"


def test_an_api_key_creates_an_endpoint_and_sees_the_secret_in_that_response_only(org, write_api, queued):
    response = write_api.post(
        LIST, {"url": "https://shop.example/hook", "event_types": ["order.created"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret and body["event_types"] == ["order.created"] and body["is_active"]
    detail = write_api.get(f"{LIST}{endpoint.pk}/").json()
    assert "secret" not in detail
    assert all("secret" not in row for row in write_api.get(LIST).json()["results"])


def test_bad_input_is_a_400_naming_the_field(write_api):
    response = write_api.post(LIST, {"url": "https://x.example", "event_types": ["nope"], "extra": 1}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "extra" in errors and any(name.split(".")[0] == "event_types" for name in errors)  # "event_types.0"
    assert write_api.post(LIST, {"url": "not a url"}, format="json").status_code == 400


def test_patch_disables_and_reenables_and_delete_removes(org, write_api):
    endpoint = services.endpoint_create(org=org, url="https://shop.example/hook")
    response = write_api.patch(f"{LIST}{endpoint.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["disabled_at"]
    response = write_api.patch(f"{LIST}{endpoint.pk}/", {"is_active": True, "event_types": []}, format="json")
    assert response.json()["is_active"] and response.json()["disabled_at"] is None
    assert write_api.delete(f"{LIST}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_a_read_key_reads_but_cannot_write_and_non_admin_people_get_403(
    org, read_api, session_api, ops_user, viewer_user, admin_user
):
    endpoint = services.endpoint_create(org=org, url="https://shop.example/hook")
    assert read_api.get(LIST).status_code == 200
    assert read_api.post(LIST, {"url": "https://x.example"}, format="json").status_code == 403
    for user in (ops_user, viewer_user):
        assert session_api(user).get(LIST).status_code == 403
        assert session_api(user).get("/api/v1/webhook-deliveries/").status_code == 403
    admin = session_api(admin_user)
    assert admin.get(f"{LIST}{endpoint.pk}/").status_code == 200
    assert admin.post(LIST, {"url": "https://y.example/hook"}, format="json").status_code == 201


def test_deliveries_with_attempt_logs_and_redelivery_over_the_api(org, write_api, receiver, queued):
    endpoint = services.endpoint_create(org=org, url=receiver.url)
    receiver.plan = [500]
    event = services.event_emit(org=org, event_type=EventType.ORDER_CREATED, payload={"order_ids": [1]})
    delivery = WebhookDelivery.objects.get(event=event)
    services.delivery_attempt(delivery_id=delivery.pk)

    page = write_api.get(f"{LIST}{endpoint.pk}/deliveries/").json()
    [row] = page["results"]
    assert row["event_id"] == str(event.event_id) and row["status"] == "pending" and row["attempts"] == 1
    assert row["attempt_log"][0]["response_code"] == 500 and row["last_response_code"] == 500
    assert write_api.get(f"{LIST}{endpoint.pk}/deliveries/?status=bogus").status_code == 400

    response = write_api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202
    assert response.json()["event_id"] == str(event.event_id) and response.json()["redelivery_of"] == delivery.pk
    listed = write_api.get("/api/v1/webhook-deliveries/?status=pending").json()["results"]
    assert len(listed) == 2

    response = write_api.post(f"{LIST}{endpoint.pk}/test/")
    assert response.status_code == 202 and response.json()["event_type"] == "webhook.test"


def test_another_organizations_endpoints_and_deliveries_are_404(org, other_org, api_key_client, queued):
    endpoint = services.endpoint_create(org=org, url="https://acme.example/hook")
    event = services.event_emit(org=org, event_type=EventType.ORDER_CREATED, payload={})
    delivery = WebhookDelivery.objects.get(event=event)
    theirs = api_key_client(other_org)
    assert theirs.get(LIST).json()["results"] == []
    assert theirs.get(f"{LIST}{endpoint.pk}/").status_code == 404
    assert theirs.get(f"{LIST}{endpoint.pk}/deliveries/").status_code == 404
    assert theirs.patch(f"{LIST}{endpoint.pk}/", {"is_active": False}, format="json").status_code == 404
    assert theirs.delete(f"{LIST}{endpoint.pk}/").status_code == 404
    assert theirs.post(f"{LIST}{endpoint.pk}/test/").status_code == 404
    assert theirs.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").status_code == 404
    assert theirs.post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert theirs.get("/api/v1/webhook-deliveries/").json()["results"] == []
    endpoint.refresh_from_db()
    assert endpoint.is_active and WebhookDelivery.objects.count() == 1


def test_the_page_is_for_admins_and_shows_a_new_secret_once(client, org, admin_user, ops_user, queued):
    client.force_login(ops_user)
    assert client.get("/webhooks/").status_code in (302, 403)
    client.force_login(admin_user)
    page = client.get("/webhooks/")
    assert page.status_code == 200 and b"No webhook endpoints yet." in page.content
    response = client.post(
        "/webhooks/", {"url": "https://shop.example/hook", "event_types": ["order.created"], "is_active": "on"}
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200 and endpoint.secret.encode() in response.content
    assert response["Cache-Control"] == "no-store"
    assert endpoint.secret.encode() not in client.get("/webhooks/").content
    assert endpoint.event_types == ["order.created"]


def test_the_page_buttons_test_redeliver_disable_enable_edit_and_delete(client, org, admin_user, queued):
    client.force_login(admin_user)
    endpoint = services.endpoint_create(org=org, url="https://shop.example/hook")
    assert client.post(reverse("webhooks:webhook-endpoint-test", args=[endpoint.pk])).status_code == 302
    test_delivery = WebhookDelivery.objects.get()
    page = client.get("/webhooks/")
    assert b"webhook.test" in page.content and b"Redeliver" in page.content
    client.post(reverse("webhooks:webhook-delivery-redeliver", args=[test_delivery.pk]))
    assert WebhookDelivery.objects.count() == 2
    client.post(reverse("webhooks:webhook-endpoint-disable", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    client.post(reverse("webhooks:webhook-endpoint-enable", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.is_active
    response = client.post(
        reverse("webhooks:webhook-endpoint-edit", args=[endpoint.pk]),
        {"url": "https://shop.example/v2", "description": "shop", "is_active": "on"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://shop.example/v2" and endpoint.description == "shop"
    client.post(reverse("webhooks:webhook-endpoint-delete", args=[endpoint.pk]))
    assert not WebhookEndpoint.objects.exists()


def test_another_organizations_admin_gets_404_on_the_page_actions(client, org, other_org, member_factory, queued):
    endpoint = services.endpoint_create(org=org, url="https://acme.example/hook")
    delivery = services.endpoint_test_send(endpoint=endpoint)
    client.force_login(member_factory(other_org, Role.ADMIN))
    for name in ("endpoint-edit", "endpoint-disable", "endpoint-enable", "endpoint-delete", "endpoint-test"):
        assert client.post(reverse(f"webhooks:webhook-{name}", args=[endpoint.pk])).status_code == 404
    assert client.post(reverse("webhooks:webhook-delivery-redeliver", args=[delivery.pk])).status_code == 404
    assert b"acme.example" not in client.get("/webhooks/").content
