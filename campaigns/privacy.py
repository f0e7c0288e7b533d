"""Campaigns' part in a customer's export and erasure (hooked into ``crm.privacy`` by ``CampaignsConfig.ready``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Value
from django.db.models.functions import Replace

from accounts.models import Organization
from campaigns.models import Delivery, Suppression, SuppressionReason
from crm.models import Customer
from crm.privacy import ERASED_TEXT, EXPORT_FETCH_ROWS, hashed_email


def customer_deliveries_rows(customer: Customer) -> Iterator[dict[str, Any]]:
    """Every campaign message meant for the customer: campaign, variant or hold-out, status, opens and clicks."""
    return (
        Delivery.objects.for_org(customer.organization_id)
        .filter(customer=customer)
        .order_by("pk")
        .values(
            "campaign_id",
            "campaign__name",
            "variant__name",
            "status",
            "skip_reason",
            "email",
            "assigned_at",
            "sent_at",
            "opened_at",
            "open_count",
            "clicked_at",
            "click_count",
            "unsubscribed_at",
        )
        .iterator(chunk_size=EXPORT_FETCH_ROWS)
    )


def scrub_erased_customer(
    sender, *, organization: Organization, customer: Customer, original: dict[str, str], **kwargs
) -> dict[str, int]:
    """Blank the address on the customer's deliveries and keep their suppression, as a keyed hash only.

    The erasure suppression is what stops a later import of the same address from being mailed again; an
    existing suppression of the address in clear becomes the hashed one, so the reason and date stay.
    """
    deliveries = Delivery.objects.for_org(organization).filter(customer=customer)
    scrubbed = deliveries.exclude(email="").update(email="")
    email = original["email"]
    if not email:
        return {"campaign_deliveries": scrubbed}
    deliveries.filter(error__contains=email).update(error=Replace("error", Value(email), Value(ERASED_TEXT)))
    digest = hashed_email(organization, email)
    in_clear = Suppression.objects.for_org(organization).filter(email__iexact=email)
    if Suppression.objects.for_org(organization).filter(email=digest).exists():
        in_clear.delete()
    elif in_clear.exists():
        in_clear.update(email=digest, detail="")
    else:
        Suppression.objects.create(organization=organization, email=digest, reason=SuppressionReason.ERASURE)
    return {"campaign_deliveries": scrubbed, "suppressions": 1}
