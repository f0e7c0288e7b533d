"""Erasing customers leaves every figure the organization reports exactly as it was.

A demo organization is seeded and its nightly run computed; then the best customers (most orders, events, answers)
are erased and the same night is run again. KPI snapshots, channel metrics, cohorts, the customer mix, the
retention trend, every customer's scores and the segments' memberships must be identical. (Segments whose rules
read the erased fields themselves, e.g. "e-mail is set", lose the person by design; these read scores, orders and
events.)
"""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from accounts.models import Organization
from accounts.services import Actor
from accounts.timekeeping import local_today
from crm import privacy
from crm.models import Customer, Event
from reporting import nightly
from reporting.models import ChannelMetric, CohortCell, CustomerMixSnapshot, KpiSnapshot
from retention.models import RetentionTrend
from segmentation.models import CustomerScore, SegmentMembership, SegmentSize
from segmentation.services import segment_create

pytestmark = pytest.mark.django_db

IGNORED = {"id", "computed_at", "created_at", "updated_at"}


def rows(model, org: Organization, order: tuple[str, ...]) -> list[dict]:
    """The model's rows without ids and computation times, which a re-run changes by design."""
    fields = [field.attname for field in model._meta.concrete_fields if field.attname not in IGNORED]
    return list(model.objects.for_org(org).order_by(*order).values(*fields))


def figures(org: Organization) -> dict[str, list[dict]]:
    return {
        "kpis": rows(KpiSnapshot, org, ("day",)),
        "channel_metrics": rows(ChannelMetric, org, ("channel_id", "period", "period_start", "as_of")),
        "cohorts": rows(CohortCell, org, ("as_of", "cohort_month", "months_since")),
        "customer_mix": rows(CustomerMixSnapshot, org, ("as_of",)),
        "retention_trend": rows(RetentionTrend, org, ("as_of",)),
        "scores": rows(CustomerScore, org, ("customer_id",)),
        "segment_memberships": rows(SegmentMembership, org, ("segment_id", "customer_id")),
        "segment_sizes": rows(SegmentSize, org, ("segment_id", "day")),
    }


def test_kpis_scores_cohorts_and_segments_are_the_same_after_erasure(admin_user):
    call_command("seed_demo", customers=300, seed=5, stdout=StringIO(), stderr=StringIO())
    org = Organization.objects.get(slug="demo")
    event_name = Event.objects.for_org(org).values_list("name", flat=True).first()
    for name, rules in {
        "High tier": {"field": "tier", "op": "eq", "value": "high"},
        "Repeat buyers": {"field": "orders_count", "op": "gte", "value": 2},
        "Recently active": {"event": event_name, "op": "did", "within_days": 60},
    }.items():
        segment_create(org=org, actor=Actor(user=admin_user), name=name, rules=rules)
    as_of = local_today(org, datetime.datetime.now(datetime.UTC)) - datetime.timedelta(days=1)
    nightly.run_nightly(org=org, as_of=as_of)
    before = figures(org)
    assert [
        name for name in ("kpis", "scores", "cohorts", "segment_memberships", "channel_metrics") if not before[name]
    ] == []

    busiest = (
        Customer.objects.for_org(org)
        .annotate(n=Count("orders", distinct=True) + Count("events", distinct=True))
        .order_by("-n", "pk")[:5]
    )
    for customer in busiest:
        privacy.customer_erase(customer=customer, actor=Actor(user=admin_user), confirm=True)
    assert Customer.objects.for_org(org).filter(erased_at__isnull=False).count() == 5
    nightly.run_nightly(org=org, as_of=as_of)

    after = figures(org)
    for name in before:
        assert after[name] == before[name], f"{name} changed after erasure"
