"""The webhooks a nightly run sends once its writes are committed (``webhooks.services``).

Batched per night, never per customer: one ``segment.entered`` / ``segment.left`` event per segment and chunk of
500 customer ids (from the night's ``SegmentChange`` rows), one ``tier.changed`` event per (from, to) tier pair
and chunk (``ScoreChange`` rows of kind tier), one ``churn.flagged`` event per chunk of customers whose stage
became churned (``ScoreChange`` rows of kind stage), then ``nightly.finished``. Changes are sent for the current
night only: replaying a past night recomputes history that receivers have already been told about.

Running the same night again (a retry, a manual re-run) must not tell receivers twice: each change event's id is
deterministic (uuid5 over organization, type, day, subject = segment id or tier pair, chunk index; see
``webhooks.services.stable_event_id``) and an id already stored is not emitted again. ``nightly.finished`` is
about one run (its ``job_id``), so every run sends its own.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import transaction

from accounts.models import Organization
from reporting.models import JobRun, JobStatus
from segmentation.models import ScoreChange, ScoreChangeKind, Segment, SegmentChange, SegmentChangeKind, Stage
from webhooks.models import EventType
from webhooks.services import event_emit, events_emit_for_ids

SEGMENT_EVENTS = {SegmentChangeKind.ENTERED: EventType.SEGMENT_ENTERED, SegmentChangeKind.LEFT: EventType.SEGMENT_LEFT}


def _segment_changes(org: Organization, as_of: datetime.date) -> None:
    grouped: dict[tuple[int, str], list[int]] = defaultdict(list)
    changes = (
        SegmentChange.objects.for_org(org).filter(day=as_of).order_by().values_list("segment_id", "kind", "customer_id")
    )
    for segment_id, kind, customer_id in changes.iterator(chunk_size=10_000):
        grouped[(segment_id, kind)].append(customer_id)
    names = dict(Segment.objects.for_org(org).filter(pk__in={key[0] for key in grouped}).values_list("id", "name"))
    for (segment_id, kind), customer_ids in sorted(grouped.items()):
        events_emit_for_ids(
            org=org,
            event_type=SEGMENT_EVENTS[kind],
            ids=customer_ids,
            key="customer_ids",
            extra={"segment": {"id": segment_id, "name": names.get(segment_id, "")}, "day": as_of},
            stable_subject=f"{as_of.isoformat()}/segment:{segment_id}",
        )


def _score_changes(org: Organization, as_of: datetime.date) -> None:
    tiers: dict[tuple[str, str], list[int]] = defaultdict(list)
    churned: list[int] = []
    changes = (
        ScoreChange.objects.for_org(org)
        .filter(changed_on=as_of)
        .order_by()
        .values_list("kind", "from_value", "to_value", "customer_id")
    )
    for kind, from_value, to_value, customer_id in changes.iterator(chunk_size=10_000):
        if kind == ScoreChangeKind.TIER:
            tiers[(from_value, to_value)].append(customer_id)
        elif kind == ScoreChangeKind.STAGE and to_value == Stage.CHURNED:
            churned.append(customer_id)
    for (from_value, to_value), customer_ids in sorted(tiers.items()):
        events_emit_for_ids(
            org=org,
            event_type=EventType.TIER_CHANGED,
            ids=customer_ids,
            key="customer_ids",
            extra={"from": from_value or None, "to": to_value or None, "day": as_of},
            stable_subject=f"{as_of.isoformat()}/tier:{from_value}>{to_value}",
        )
    if churned:
        events_emit_for_ids(
            org=org,
            event_type=EventType.CHURN_FLAGGED,
            ids=churned,
            key="customer_ids",
            extra={"day": as_of},
            stable_subject=f"{as_of.isoformat()}/churn",
        )


@transaction.atomic
def nightly_webhooks_emit(*, org: Organization, job: JobRun, current: bool) -> None:
    """Emit the night's change events (current night, succeeded) and ``nightly.finished`` (always)."""
    if current and job.status == JobStatus.SUCCEEDED:
        _segment_changes(org, job.as_of)
        _score_changes(org, job.as_of)
    event_emit(
        org=org,
        event_type=EventType.NIGHTLY_FINISHED,
        payload={
            "job_id": job.pk,
            "as_of": job.as_of,
            "status": job.status,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "row_counts": job.row_counts,
            "error": job.error,
        },
    )
