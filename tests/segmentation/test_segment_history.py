"""Nightly segment membership: entries, exits and sizes per night, re-runs that change nothing, snapshots."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLog
from accounts.services import Actor
from segmentation.models import (
    CustomerScore,
    Segment,
    SegmentChange,
    SegmentMembership,
    SegmentSize,
    SegmentSnapshot,
    SegmentSnapshotMember,
)
from segmentation.services import segment_memberships_refresh, segment_snapshot_take
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2026, 3, 2)
TUESDAY = datetime.date(2026, 3, 3)
WEDNESDAY = datetime.date(2026, 3, 4)
HIGH = {"field": "tier", "op": "eq", "value": "high"}


def scored(org, external_id: str, tier: str):
    customer = CustomerFactory(organization=org, external_id=external_id)
    CustomerScore.objects.create(
        organization=org, customer=customer, as_of=MONDAY, tier=tier, stage="growing", customer_value=Decimal("1")
    )
    return customer


def set_tier(customer, tier: str) -> None:
    CustomerScore.objects.filter(customer=customer).update(tier=tier)


def members(segment) -> set[str]:
    return set(SegmentMembership.objects.for_org(segment.organization_id).filter(segment=segment).values_list(
        "customer__external_id", flat=True
    ))  # fmt: skip


def changes(segment) -> list[tuple[datetime.date, str, str]]:
    rows = SegmentChange.objects.for_org(segment.organization_id).filter(segment=segment)
    return sorted(rows.values_list("day", "kind", "customer__external_id"))


def sizes(segment) -> list[tuple[datetime.date, int, int, int]]:
    rows = SegmentSize.objects.for_org(segment.organization_id).filter(segment=segment).order_by("day")
    return list(rows.values_list("day", "size", "entered", "left"))


@pytest.fixture
def high(org):
    return Segment.objects.create(organization=org, name="High value", rules=HIGH)


def test_the_first_night_records_every_member_as_an_entry_and_the_size(org, high):
    scored(org, "A", "high")
    scored(org, "B", "high")
    scored(org, "C", "mid")

    outcome = segment_memberships_refresh(org=org, as_of=MONDAY)

    assert members(high) == {"A", "B"}
    assert changes(high) == [(MONDAY, "entered", "A"), (MONDAY, "entered", "B")]
    assert sizes(high) == [(MONDAY, 2, 2, 0)]
    assert (outcome.sized, outcome.entered, outcome.left, outcome.skipped) == (1, 2, 0, [])


def test_the_next_night_records_who_entered_and_who_left(org, high):
    a, _b, c = scored(org, "A", "high"), scored(org, "B", "high"), scored(org, "C", "mid")
    segment_memberships_refresh(org=org, as_of=MONDAY)
    set_tier(a, "mid")
    set_tier(c, "high")

    outcome = segment_memberships_refresh(org=org, as_of=TUESDAY)

    assert members(high) == {"B", "C"}
    assert [row for row in changes(high) if row[0] == TUESDAY] == [(TUESDAY, "entered", "C"), (TUESDAY, "left", "A")]
    assert sizes(high) == [(MONDAY, 2, 2, 0), (TUESDAY, 2, 1, 1)]
    assert (outcome.entered, outcome.left) == (1, 1)


def test_re_running_a_night_duplicates_no_change_or_size_and_keeps_the_rows(org, high):
    a = scored(org, "A", "high")
    scored(org, "B", "high")
    segment_memberships_refresh(org=org, as_of=MONDAY)
    set_tier(a, "mid")
    segment_memberships_refresh(org=org, as_of=TUESDAY)
    before = sorted(SegmentChange.objects.values_list("pk", "day", "kind", "customer_id"))

    segment_memberships_refresh(org=org, as_of=TUESDAY)
    segment_memberships_refresh(org=org, as_of=TUESDAY)

    assert sorted(SegmentChange.objects.values_list("pk", "day", "kind", "customer_id")) == before
    assert sizes(high) == [(MONDAY, 2, 2, 0), (TUESDAY, 1, 0, 1)]
    assert members(high) == {"B"}


def test_re_running_a_night_after_late_data_replaces_only_the_changes_that_no_longer_hold(org, high):
    a, b = scored(org, "A", "high"), scored(org, "B", "mid")
    segment_memberships_refresh(org=org, as_of=MONDAY)
    set_tier(a, "mid")
    segment_memberships_refresh(org=org, as_of=TUESDAY)  # A left
    # Late data for Tuesday: A is high after all, and B became high.
    set_tier(a, "high")
    set_tier(b, "high")

    segment_memberships_refresh(org=org, as_of=TUESDAY)

    assert members(high) == {"A", "B"}
    assert changes(high) == [(MONDAY, "entered", "A"), (TUESDAY, "entered", "B")]
    assert sizes(high) == [(MONDAY, 1, 1, 0), (TUESDAY, 2, 1, 0)]


def test_replaying_an_earlier_night_undoes_the_later_nights(org, high):
    a = scored(org, "A", "high")
    scored(org, "B", "high")
    segment_memberships_refresh(org=org, as_of=MONDAY)
    set_tier(a, "mid")
    segment_memberships_refresh(org=org, as_of=TUESDAY)
    set_tier(a, "high")

    segment_memberships_refresh(org=org, as_of=MONDAY)

    assert members(high) == {"A", "B"}
    assert changes(high) == [(MONDAY, "entered", "A"), (MONDAY, "entered", "B")]
    assert sizes(high) == [(MONDAY, 2, 2, 0)]


def test_a_customer_leaving_and_coming_back_is_two_changes_on_two_nights(org, high):
    a = scored(org, "A", "high")
    segment_memberships_refresh(org=org, as_of=MONDAY)
    set_tier(a, "mid")
    segment_memberships_refresh(org=org, as_of=TUESDAY)
    set_tier(a, "high")
    segment_memberships_refresh(org=org, as_of=WEDNESDAY)

    assert changes(high) == [(MONDAY, "entered", "A"), (TUESDAY, "left", "A"), (WEDNESDAY, "entered", "A")]
    assert [row[1] for row in sizes(high)] == [1, 0, 1]


def test_a_segment_whose_rules_no_longer_validate_is_skipped_with_a_warning(org, high, caplog):
    scored(org, "A", "high")
    stale = Segment.objects.create(
        organization=org, name="Old tiers", rules={"field": "tier", "op": "eq", "value": "platinum"}
    )

    with caplog.at_level(logging.WARNING, logger="segmentation.services"):
        outcome = segment_memberships_refresh(org=org, as_of=MONDAY)

    assert outcome.skipped == [stale.pk]
    assert outcome.sized == 1
    assert sizes(high) == [(MONDAY, 1, 1, 0)]
    assert not SegmentSize.objects.filter(segment=stale).exists()
    (record,) = [r for r in caplog.records if r.name == "segmentation.services"]
    assert record.levelname == "WARNING"
    assert "Old tiers" in record.getMessage() and "platinum" in record.getMessage()


def test_rules_over_days_count_back_from_the_night_being_refreshed(org):
    """``created_days_ago`` is measured from ``as_of``, not from the day the job happens to run."""
    from django.utils import timezone

    created = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
    CustomerFactory(organization=org, external_id="NEW", created_at=created)
    recent = Segment.objects.create(
        organization=org, name="New this week", rules={"field": "created_days_ago", "op": "lte", "value": 7}
    )
    assert timezone.now().date() > datetime.date(2026, 3, 9)  # "today" would say NEW is older than a week

    segment_memberships_refresh(org=org, as_of=MONDAY)

    assert members(recent) == {"NEW"}


def test_each_organization_is_refreshed_on_its_own(org, other_org, high):
    scored(org, "OURS", "high")
    theirs = Segment.objects.create(organization=other_org, name="High value", rules=HIGH)
    scored(other_org, "THEIRS", "high")

    segment_memberships_refresh(org=org, as_of=MONDAY)

    assert members(high) == {"OURS"}
    assert not SegmentMembership.objects.filter(segment=theirs).exists()
    assert not SegmentSize.objects.filter(organization=other_org).exists()
    segment_memberships_refresh(org=other_org, as_of=MONDAY)
    assert members(theirs) == {"THEIRS"}
    assert members(high) == {"OURS"}
    assert set(SegmentMembership.objects.filter(segment=theirs).values_list("organization_id", flat=True)) == {
        other_org.pk
    }


def test_a_snapshot_keeps_the_members_and_rules_of_its_moment_and_is_audited(org, high, marketer_user):
    a = scored(org, "A", "high")
    scored(org, "B", "mid")

    snapshot = segment_snapshot_take(segment=high, actor=Actor(user=marketer_user), name="  Spring   launch ")
    set_tier(a, "mid")
    high.rules = {"field": "tier", "op": "eq", "value": "mid"}
    high.save()

    snapshot.refresh_from_db()
    assert (snapshot.name, snapshot.size, snapshot.rules, snapshot.taken_by_label) == (
        "Spring launch",
        1,
        HIGH,
        marketer_user.email,
    )
    assert list(SegmentSnapshotMember.objects.filter(snapshot=snapshot).values_list("customer_id", flat=True)) == [a.pk]
    audit = AuditLog.objects.get(organization=org, action="segment.snapshot")
    assert audit.after == {"segment": high.pk, "name": "Spring launch", "size": 1}


def test_a_snapshot_without_a_name_is_named_after_the_segment_and_moment(org, high):
    at = datetime.datetime(2026, 3, 2, 1, 30, tzinfo=datetime.UTC)
    snapshot = segment_snapshot_take(segment=high, actor=Actor(label="test"), name="", at=at)
    assert snapshot.name == "High value on 2026-03-02 01:30"  # the organization's zone is UTC
    assert SegmentSnapshot.objects.for_org(org).count() == 1


def test_a_snapshot_name_longer_than_120_characters_is_refused(org, high):
    with pytest.raises(ValidationError) as error:
        segment_snapshot_take(segment=high, actor=Actor(label="test"), name="x" * 121)
    assert "name" in error.value.message_dict
    assert not SegmentSnapshot.objects.exists()


def test_the_stored_membership_equals_the_live_query_for_every_kind_of_condition(org):
    """Each compiler's SQL and parameters (dates, decimals, JSON, LIKE patterns) survive the INSERT ... SELECT."""
    from segmentation.rules import segment_queryset
    from tests.factories import ChannelFactory, EventFactory, OrderFactory

    web = ChannelFactory(organization=org, code="web")
    rich = scored(org, "RICH", "high")
    rich.tags, rich.attributes, rich.email, rich.channel = ["vip"], {"city": "Shanghai"}, "rich@shop.example", web
    rich.save()
    OrderFactory(customer=rich, channel=web, amount=Decimal("700"))
    OrderFactory(customer=rich, amount=Decimal("100"))
    EventFactory(customer=rich, name="app_open")
    other = scored(org, "OTHER", "mid")
    OrderFactory(customer=other, amount=Decimal("5"))
    rule = {
        "any": [
            {
                "all": [
                    {"field": "tags", "op": "contains", "value": "vip"},
                    {"field": "attributes.city", "op": "in", "value": ["Shanghai", "Hangzhou"]},
                    {"field": "email", "op": "contains", "value": "%SHOP%"[1:-1]},
                    {"field": "orders_revenue", "op": "between", "value": [500, 5000.5]},
                    {"field": "orders_count", "op": "gte", "value": 2},
                    {"field": "bought_channel", "op": "eq", "value": "web"},
                    {"field": "channel", "op": "in", "value": ["web"]},
                    {"field": "customer_value", "op": "gte", "value": 0.5},
                    {"field": "created_days_ago", "op": "gte", "value": 1},
                    {"field": "last_order_days_ago", "op": "lte", "value": 3650},
                    {"event": "app_open", "op": "did", "within_days": 3650},
                    {"not": {"field": "phone", "op": "starts_with", "value": "+1"}},
                ]
            },
            {"field": "name", "op": "eq", "value": "100% not a name"},
        ]
    }
    segment = Segment.objects.create(organization=org, name="Everything", rules=rule)
    today = datetime.date.today()

    segment_memberships_refresh(org=org, as_of=today)

    live = set(segment_queryset(rule, org=org, today=today).values_list("external_id", flat=True))
    assert live == {"RICH"}
    assert members(segment) == live
