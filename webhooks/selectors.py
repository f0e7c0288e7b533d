"""Reads of webhooks for the page and the API; every query scoped to one organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import Organization
from webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint

#: Deliveries shown on the page, newest first.
RECENT_DELIVERIES = 50


def endpoints_list(*, org: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_org(org).order_by("-id")


def deliveries_list(*, org: Organization, endpoint: WebhookEndpoint | None = None) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.for_org(org).select_related("event", "endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return deliveries.order_by("-id")


def deliveries_recent(*, org: Organization, limit: int = RECENT_DELIVERIES) -> list[WebhookDelivery]:
    """The latest deliveries with their attempt logs, for the page."""
    attempts = WebhookDeliveryAttempt.objects.order_by("-attempted_at", "-id")
    return list(deliveries_list(org=org).prefetch_related(Prefetch("attempt_log", queryset=attempts))[:limit])
