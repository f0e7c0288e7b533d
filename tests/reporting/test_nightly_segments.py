"""The nightly run's last step records every segment's members, entries, exits and size from the night's scores.

Uses the hand-computed shop of ``test_nightly_engine``: as of 2026-03-31, B and E are growing, F is mature,
A reactivated, C churned and D acquired.
"""

from __future__ import annotations

import datetime
import logging

import pytest

from reporting import nightly
from reporting.models import JobStatus
from segmentation.models import Segment, SegmentChange, SegmentMembership, SegmentSize
from tests.reporting.test_nightly_engine import AS_OF, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

GROWING = {"field": "stage", "op": "eq", "value": "growing"}


def test_segment_sizes_is_the_last_nightly_step():
    assert nightly.NIGHTLY_STEPS[-1] == ("segment_sizes", nightly.step_segment_sizes)


def test_a_nightly_run_records_each_segments_members_and_size_from_that_nights_scores(shop):  # noqa: F811
    org, people = shop
    growing = Segment.objects.create(organization=org, name="Growing", rules=GROWING)

    job = nightly.run_nightly(org=org, as_of=AS_OF)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.row_counts["segment_sizes"] == 1
    assert "segment_sizes" in job.step_seconds
    members = SegmentMembership.objects.for_org(org).filter(segment=growing).values_list("customer_id", flat=True)
    assert set(members) == {people["B"].pk, people["E"].pk}
    size = SegmentSize.objects.for_org(org).get(segment=growing)
    assert (size.day, size.size, size.entered, size.left) == (AS_OF, 2, 2, 0)


def test_re_running_the_night_records_no_second_size_or_change(shop):  # noqa: F811
    org, _people = shop
    growing = Segment.objects.create(organization=org, name="Growing", rules=GROWING)
    nightly.run_nightly(org=org, as_of=AS_OF)
    changes = list(SegmentChange.objects.for_org(org).values_list("pk", "customer_id", "kind", "day"))

    nightly.run_nightly(org=org, as_of=AS_OF)

    assert list(SegmentChange.objects.for_org(org).values_list("pk", "customer_id", "kind", "day")) == changes
    assert SegmentSize.objects.for_org(org).filter(segment=growing).count() == 1


def test_replaying_a_past_night_leaves_the_current_membership_alone(shop):  # noqa: F811
    org, _people = shop
    growing = Segment.objects.create(organization=org, name="Growing", rules=GROWING)
    nightly.run_nightly(org=org, as_of=AS_OF)
    before = list(SegmentSize.objects.for_org(org).values_list("segment_id", "day", "size"))

    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 28))

    assert job.row_counts["segment_sizes"] == 0
    assert list(SegmentSize.objects.for_org(org).values_list("segment_id", "day", "size")) == before
    assert SegmentMembership.objects.for_org(org).filter(segment=growing).count() == 2


def test_a_segment_with_stale_rules_does_not_fail_the_night(shop, caplog):  # noqa: F811
    org, _people = shop
    Segment.objects.create(organization=org, name="Growing", rules=GROWING)
    Segment.objects.create(organization=org, name="Stale", rules={"field": "stage", "op": "eq", "value": "teen"})

    with caplog.at_level(logging.WARNING):
        job = nightly.run_nightly(org=org, as_of=AS_OF)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.row_counts["segment_sizes"] == 1
    assert any("Stale" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
