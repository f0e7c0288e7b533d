"""Segmentation's part in a customer's export (hooked into ``crm.privacy`` by ``SegmentationConfig.ready``).

Erasure leaves scores, score history and segment memberships as they are: they hold no personal data, and the
tiers, stages and segment sizes the reports show must not move.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crm.models import Customer
from crm.privacy import EXPORT_FETCH_ROWS
from segmentation.models import CustomerScore, ScoreChange, SegmentMembership, SegmentSnapshotMember

SCORE_FIELDS = (
    "as_of",
    "purchase_days",
    "first_purchase_on",
    "last_purchase_on",
    "recency_days",
    "revenue",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "p_alive",
    "expected_purchases_90",
    "predicted_value",
    "customer_value",
    "tier",
    "stage",
    "churned",
    "churn_probability",
    "at_risk",
)


def customer_scores_rows(customer: Customer) -> Iterator[dict[str, Any]]:
    """The customer's nightly scores (one row at most)."""
    return iter(CustomerScore.objects.for_org(customer.organization_id).filter(customer=customer).values(*SCORE_FIELDS))


def customer_score_changes_rows(customer: Customer) -> Iterator[dict[str, Any]]:
    return (
        ScoreChange.objects.for_org(customer.organization_id)
        .filter(customer=customer)
        .order_by("changed_on", "pk")
        .values("kind", "changed_on", "from_value", "to_value")
        .iterator(chunk_size=EXPORT_FETCH_ROWS)
    )


def customer_segments_rows(customer: Customer) -> Iterator[dict[str, Any]]:
    """Segments the customer was in at the last nightly refresh, and saved snapshots (e.g. campaign audiences)."""
    org_id = customer.organization_id
    memberships = (
        SegmentMembership.objects.for_org(org_id)
        .filter(customer=customer)
        .order_by("segment_id")
        .values("segment_id", "segment__name")
    )
    for row in memberships.iterator(chunk_size=EXPORT_FETCH_ROWS):
        yield {"kind": "membership", "segment_id": row["segment_id"], "segment": row["segment__name"]}
    snapshots = (
        SegmentSnapshotMember.objects.for_org(org_id)
        .filter(customer=customer)
        .order_by("snapshot_id")
        .values("snapshot__segment_id", "snapshot__name", "snapshot__taken_at")
    )
    for row in snapshots.iterator(chunk_size=EXPORT_FETCH_ROWS):
        yield {
            "kind": "snapshot",
            "segment_id": row["snapshot__segment_id"],
            "snapshot": row["snapshot__name"],
            "taken_at": row["snapshot__taken_at"],
        }
