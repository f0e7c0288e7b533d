"""A scored audience for campaign tests: customers of each tier, with and without e-mail consent."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import Actor
from campaigns import services
from segmentation.models import CustomerScore, Segment
from tests.factories import CustomerFactory


def score(customer, tier: str, value: str = "100") -> CustomerScore:
    return CustomerScore.objects.create(
        organization=customer.organization,
        customer=customer,
        as_of=timezone.localdate() - datetime.timedelta(days=1),
        tier=tier,
        stage="growing",
        customer_value=Decimal(value),
        purchase_days=2,
    )


@pytest.fixture
def audience(org, other_org):
    """60 high-tier customers who consent, 5 who do not, 3 without address, 10 mid-tier; 5 of another org."""
    consenting = [CustomerFactory(organization=org, consent_email=True) for _ in range(60)]
    for customer in consenting:
        score(customer, "high")
    refusing = [CustomerFactory(organization=org, consent_email=False) for _ in range(5)]
    no_address = [CustomerFactory(organization=org, consent_email=True, email="") for _ in range(3)]
    for customer in refusing + no_address:
        score(customer, "high")
    mid = [CustomerFactory(organization=org, consent_email=True) for _ in range(10)]
    for customer in mid:
        score(customer, "mid")
    theirs = [CustomerFactory(organization=other_org, consent_email=True) for _ in range(5)]
    for customer in theirs:
        score(customer, "high")
    return {"consenting": consenting, "refusing": refusing, "no_address": no_address, "mid": mid, "theirs": theirs}


@pytest.fixture
def marketer_actor(marketer_user):
    return Actor(user=marketer_user)


@pytest.fixture
def high_segment(org, marketer_actor):
    from segmentation.services import segment_create

    return segment_create(
        org=org, actor=marketer_actor, name="High tier", rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]}
    )


@pytest.fixture
def make_campaign(org, marketer_actor):
    def make(**fields):
        fields.setdefault("name", f"Campaign {Segment.objects.count()}-{len(fields)}-{timezone.now().timestamp()}")
        fields.setdefault(
            "variants",
            [
                {"name": "A", "subject": "Hello {{ first_name }}", "body": "Hi {{ name }}, see https://shop.example/a"},
                {"name": "B", "subject": "Offer {{ offer_code }}", "body": "Use {{ offer_code }}", "offer_code": "B10"},
            ],
        )
        return services.campaign_create(org=org, actor=marketer_actor, **fields)

    return make
