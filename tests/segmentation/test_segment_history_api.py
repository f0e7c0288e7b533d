"""Segment size history and snapshots through the API: /segments/{id}/sizes/, /segments/{id}/snapshots/, ``size``."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from accounts.models import AuditLog
from segmentation.models import CustomerScore, Segment, SegmentSize, SegmentSnapshot
from segmentation.services import segment_memberships_refresh
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HIGH = {"field": "tier", "op": "eq", "value": "high"}
MONDAY = datetime.date(2026, 3, 2)
TUESDAY = datetime.date(2026, 3, 3)


@pytest.fixture
def high(org):
    for external_id, tier in (("A", "high"), ("B", "high"), ("C", "mid")):
        customer = CustomerFactory(organization=org, external_id=external_id)
        CustomerScore.objects.create(
            organization=org, customer=customer, as_of=MONDAY, tier=tier, stage="growing", customer_value=Decimal(1)
        )
    return Segment.objects.create(organization=org, name="High value", rules=HIGH)


def test_a_segment_shows_its_latest_nightly_size_or_null_before_the_first(org, write_api, high):
    assert write_api.get(f"/api/v1/segments/{high.pk}/").json()["size"] is None

    segment_memberships_refresh(org=org, as_of=MONDAY)
    CustomerScore.objects.filter(customer__external_id="C").update(tier="high")
    segment_memberships_refresh(org=org, as_of=TUESDAY)

    body = write_api.get(f"/api/v1/segments/{high.pk}/").json()
    assert (body["size"], body["size_as_of"]) == (3, "2026-03-03")
    listed = write_api.get("/api/v1/segments/").json()["results"]
    assert [(row["name"], row["size"]) for row in listed] == [("High value", 3)]


def test_sizes_lists_each_night_newest_first_with_entries_and_exits(org, read_api, high):
    segment_memberships_refresh(org=org, as_of=MONDAY)
    CustomerScore.objects.filter(customer__external_id="A").update(tier="mid")
    segment_memberships_refresh(org=org, as_of=TUESDAY)

    response = read_api.get(f"/api/v1/segments/{high.pk}/sizes/")

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"day": "2026-03-03", "size": 1, "entered": 0, "left": 1},
        {"day": "2026-03-02", "size": 2, "entered": 2, "left": 0},
    ]


def test_a_marketer_takes_a_snapshot_and_lists_it(org, session_api, marketer_user, high):
    client = session_api(marketer_user)

    created = client.post(f"/api/v1/segments/{high.pk}/snapshots/", {"name": "Before launch"}, format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["name"], body["size"], body["rules"], body["taken_by"]) == (
        "Before launch",
        2,
        HIGH,
        marketer_user.email,
    )
    listed = client.get(f"/api/v1/segments/{high.pk}/snapshots/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    assert AuditLog.objects.filter(organization=org, action="segment.snapshot").count() == 1


def test_a_snapshot_name_that_is_too_long_or_an_unknown_field_is_a_400(write_api, high):
    too_long = write_api.post(f"/api/v1/segments/{high.pk}/snapshots/", {"name": "x" * 121}, format="json")
    assert too_long.status_code == 400 and "name" in too_long.json()["errors"]
    unknown = write_api.post(f"/api/v1/segments/{high.pk}/snapshots/", {"members": [1]}, format="json")
    assert unknown.status_code == 400 and "members" in unknown.json()["errors"]
    assert not SegmentSnapshot.objects.exists()


def test_viewers_and_read_keys_list_snapshots_but_cannot_take_one(session_api, viewer_user, read_api, high):
    for client in (session_api(viewer_user), read_api):
        assert client.get(f"/api/v1/segments/{high.pk}/snapshots/").status_code == 200
        assert client.post(f"/api/v1/segments/{high.pk}/snapshots/", {}, format="json").status_code == 403
    assert not SegmentSnapshot.objects.exists()


def test_another_organizations_sizes_and_snapshots_are_not_found(write_api, other_org):
    theirs = Segment.objects.create(organization=other_org, name="Theirs", rules=HIGH)
    SegmentSize.objects.create(organization=other_org, segment=theirs, day=MONDAY, size=5)
    assert write_api.get(f"/api/v1/segments/{theirs.pk}/sizes/").status_code == 404
    assert write_api.get(f"/api/v1/segments/{theirs.pk}/snapshots/").status_code == 404
    assert write_api.post(f"/api/v1/segments/{theirs.pk}/snapshots/", {}, format="json").status_code == 404
    assert not SegmentSnapshot.objects.exists()
