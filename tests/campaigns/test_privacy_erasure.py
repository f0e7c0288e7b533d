"""An erased person's address stays suppressed (as a keyed hash): imported again, they are not mailed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from accounts.services import Actor
from campaigns import services
from campaigns.models import Delivery, DeliveryStatus, SkipReason
from crm import privacy
from crm.imports.bulk import bulk_upsert
from crm.models import Customer
from tests.campaigns.conftest import score

pytestmark = pytest.mark.django_db


def test_a_person_imported_again_after_erasure_is_skipped_as_suppressed(
    org, audience, make_campaign, marketer_actor, admin_user
):
    erased = audience["consenting"][0]
    address = erased.email
    privacy.customer_erase(customer=erased, actor=Actor(user=admin_user), confirm=True)
    bulk_upsert(
        org=org,
        actor=Actor(label="shop sync"),
        kind="customers",
        records=[{"external_id": "COMEBACK-1", "email": address.upper(), "consent_email": True}],
    )
    comeback = Customer.objects.get(organization=org, external_id="COMEBACK-1")
    org.quiet_hours_start = org.quiet_hours_end = 0  # send whatever the hour of the test run
    org.save()
    score(comeback, "high")
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "deliveries_dispatch", lambda **kwargs: 0)
        services.campaign_launch(campaign=campaign, actor=marketer_actor)

    services.deliveries_send(
        campaign_id=campaign.pk,
        delivery_ids=list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True)),
    )

    row = Delivery.objects.get(campaign=campaign, customer=comeback)
    assert (row.status, row.skip_reason) == (DeliveryStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert address not in [message.to[0] for message in mail.outbox]
    assert (
        not Delivery.objects.filter(campaign=campaign, customer=erased).exclude(status=DeliveryStatus.SKIPPED).exists()
    )
