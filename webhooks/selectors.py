"""Reads of webhooks for the page and the API; every query scoped to one organization."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import Organization
from webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent

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


def events_naming_customer(*, org: Organization | int, customer_id: int) -> QuerySet[WebhookEvent]:
    """Stored events whose payload names one customer: their own record (``customer.id``), one of their orders
    (``order.customer``), or a batched ``customer_ids`` list that holds them.

    PostgreSQL answers the list case with jsonb containment; SQLite has none and looks inside the list with
    ``json_each`` (as ``crm.selectors.with_tag`` does for tags).
    """
    customer_id = int(customer_id)
    single = Q(payload__customer__id=customer_id) | Q(payload__order__customer=customer_id)
    events = WebhookEvent.objects.for_org(org)
    if connection.vendor == "postgresql":
        return events.filter(single | Q(payload__customer_ids__contains=[customer_id]))
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    column = connection.ops.quote_name(WebhookEvent._meta.get_field("payload").column)
    listed = RawSQL(  # noqa: S611 (only quoted identifiers are interpolated; the id is a bound parameter)
        f"EXISTS (SELECT 1 FROM json_each({table}.{column}, '$.customer_ids') AS item WHERE item.value = %s)",  # noqa: S608
        [customer_id],
        output_field=BooleanField(),
    )
    return events.filter(single | Q(listed))
