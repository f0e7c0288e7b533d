"""The Webhooks page in a browser: an admin adds an endpoint, copies its secret once, sends a test event."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tests.e2e.test_pages import log_in
from tests.webhooks.conftest import start_receiver
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.e2e


def test_an_admin_adds_an_endpoint_sees_the_secret_once_and_sends_a_test_event(page, screenshot, org, member_factory):
    receiver, server = start_receiver()
    try:
        admin = member_factory(org, Role.ADMIN)
        log_in(page, admin.email)
        page.goto("/accounts/organization/")
        page.locator("#organization-tabs").get_by_role("link", name="Webhooks").click()
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Description").fill("Shop sync")
        page.get_by_label("Order created").check()
        page.get_by_role("button", name="Add endpoint").click()
        endpoint = WebhookEndpoint.objects.get()
        expect(page.locator("#new-webhook-secret-value")).to_have_text(endpoint.secret)
        screenshot("webhooks-created-en")

        page.locator(f"#webhook-endpoint-{endpoint.pk}").get_by_role("button", name="Send test event").click()
        expect(page.get_by_text("A test event is on its way")).to_be_visible()
        expect(page.locator("#new-webhook-secret")).to_have_count(0)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.SUCCEEDED  # eager Celery: sent on commit
        page.reload()
        expect(page.locator(f"#webhook-delivery-{delivery.pk}")).to_contain_text("HTTP 200")
        screenshot("webhooks-deliveries-en")
        assert receiver.requests[0].headers["Custops-Event-Type"] == "webhook.test"
    finally:
        server.shutdown()
        server.server_close()
