"""Reads of the nightly scores for pages and reports."""

from __future__ import annotations

import datetime

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum, Window
from django.db.models.functions import RowNumber

from accounts.models import Organization
from crm.models import Customer, Event
from segmentation.models import (
    CustomerScore,
    ScoreChange,
    Segment,
    SegmentChange,
    SegmentSize,
    SegmentSnapshot,
)
from segmentation.rules import segment_queryset


def scores_list(
    *, org: Organization, tier: str = "", stage: str = "", segment: str = "", at_risk: bool | None = None
) -> QuerySet[CustomerScore]:
    """Scored customers, most valuable first, narrowed by the filters given."""
    scores = CustomerScore.objects.for_org(org).select_related("customer")
    if tier:
        scores = scores.filter(tier=tier)
    if stage:
        scores = scores.filter(stage=stage)
    if segment:
        scores = scores.filter(rfm_segment=segment)
    if at_risk is not None:
        scores = scores.filter(at_risk=at_risk)
    return scores.order_by("-customer_value", "customer_id")


def score_breakdown(*, org: Organization, field: str) -> list[dict]:
    """Customers and total value per value of ``field`` (tier, stage or rfm_segment)."""
    return list(
        CustomerScore.objects.for_org(org)
        .values(field)
        .annotate(customers=Count("id"), value=Sum("customer_value"))
        .order_by(field)
    )


def score_for_customer(*, org: Organization, customer_id: int) -> CustomerScore | None:
    return CustomerScore.objects.for_org(org).filter(customer_id=customer_id).first()


def scores_as_of(*, org: Organization):
    """The as-of day of the stored scores (one per organization), or None before the first run."""
    return CustomerScore.objects.for_org(org).order_by().values_list("as_of", flat=True).first()


PREVIEW_SAMPLE = 20


def segments_list(*, org: Organization) -> QuerySet[Segment]:
    return Segment.objects.for_org(org).select_related("created_by")


def segment_members(*, org: Organization, rules: object, today: datetime.date) -> QuerySet[Customer]:
    """The organization's customers matching ``rules`` (validated and compiled to one query)."""
    return segment_queryset(rules, org=org, today=today)


def segment_preview(*, org: Organization, rules: object, today: datetime.date, sample: int = PREVIEW_SAMPLE) -> dict:
    """The size of a segment and a few of its most valuable members, for the builder's live count."""
    members = segment_members(org=org, rules=rules, today=today)
    first = list(
        members.select_related("score").order_by(F("score__customer_value").desc(nulls_last=True), "id")[:sample]
    )
    return {"count": members.count(), "sample": first}


def latest_score_changes(*, org: Organization, kind: str, on_or_before: datetime.date) -> QuerySet[ScoreChange]:
    """Each customer's last ``kind`` change (stage or tier) on or before a day: their value at that day's end.

    Picked in the database with a window function, so a reader gets one row per customer, never the history.
    """
    return (
        ScoreChange.objects.for_org(org)
        .filter(kind=kind, changed_on__lte=on_or_before)
        .annotate(
            recency=Window(
                RowNumber(), partition_by=[F("customer_id")], order_by=[F("changed_on").desc(), F("id").desc()]
            )
        )
        .filter(recency=1)
    )


# Segment history ---------------------------------------------------------------------------------------------


def with_latest_size(segments: QuerySet[Segment]) -> QuerySet[Segment]:
    """Segments annotated with their latest nightly size: ``latest_size``, ``latest_size_day``,
    ``latest_entered`` and ``latest_left`` (all None before the first night that sized them)."""
    latest = SegmentSize.objects.filter(segment_id=OuterRef("pk")).order_by("-day")
    return segments.annotate(
        latest_size=Subquery(latest.values("size")[:1]),
        latest_size_day=Subquery(latest.values("day")[:1]),
        latest_entered=Subquery(latest.values("entered")[:1]),
        latest_left=Subquery(latest.values("left")[:1]),
    )


def segment_sizes_list(*, org: Organization, segment: Segment) -> QuerySet[SegmentSize]:
    """One row per night the segment was sized, oldest first."""
    return SegmentSize.objects.for_org(org).filter(segment=segment).order_by("day")


def segment_size_histories(
    *, org: Organization, segment_ids: list[int], since: datetime.date
) -> dict[int, list[SegmentSize]]:
    """The nightly sizes since a day of several segments at once (one query), oldest first per segment."""
    histories: dict[int, list[SegmentSize]] = {segment_id: [] for segment_id in segment_ids}
    rows = SegmentSize.objects.for_org(org).filter(segment_id__in=segment_ids, day__gte=since).order_by("day")
    for row in rows:
        histories[row.segment_id].append(row)
    return histories


def segment_snapshots_list(*, org: Organization, segment: Segment) -> QuerySet[SegmentSnapshot]:
    return SegmentSnapshot.objects.for_org(org).filter(segment=segment).order_by("-taken_at", "-id")


def snapshot_members(*, org: Organization, snapshot: SegmentSnapshot) -> QuerySet[Customer]:
    """The customers kept in a snapshot (those deleted since are gone with their data)."""
    return Customer.objects.for_org(org).filter(segment_snapshots__snapshot=snapshot).order_by("pk")


def customer_segment_changes(*, org: Organization, customer: Customer) -> dict[int, SegmentChange]:
    """The customer's latest entry or exit per segment, for "in since" / "out since" on the customer page."""
    latest: dict[int, SegmentChange] = {}
    for change in SegmentChange.objects.for_org(org).filter(customer=customer).order_by("-day", "-id")[:500]:
        latest.setdefault(change.segment_id, change)
    return latest


def recent_event_names(*, org: Organization, limit: int = 50, window: int = 5000) -> list[str]:
    """Names among the organization's most recent events, for the builder's suggestions.

    Only the latest ``window`` events are read: a DISTINCT over every event is a full scan at tens of millions.
    """
    recent = Event.objects.for_org(org).order_by("-id").values_list("name", flat=True)[:window]
    return sorted(set(recent))[:limit]
