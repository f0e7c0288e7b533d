"""Segments through the API: validated rules, live preview, members, roles and tenancy."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from segmentation.models import CustomerScore, Segment
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

HIGH_RULE = {
    "all": [{"field": "tier", "op": "eq", "value": "high"}, {"field": "consent_email", "op": "eq", "value": True}]
}


@pytest.fixture
def customers(org, other_org):
    """Three scored customers of ours (two high, one consenting to e-mail among them) and one of another org."""
    today = timezone.localdate()

    def scored(external_id, tier, value, consent, organization=org):
        customer = CustomerFactory(organization=organization, external_id=external_id, consent_email=consent)
        CustomerScore.objects.create(
            organization=organization, customer=customer, as_of=today, tier=tier, stage="growing",
            customer_value=Decimal(value), purchase_days=1,
        )  # fmt: skip
        OrderFactory(customer=customer, ordered_at=timezone.now() - datetime.timedelta(days=3))
        return customer

    return {
        "rich": scored("RICH", "high", "900", True),
        "shy": scored("SHY", "high", "800", False),
        "mid": scored("MID", "mid", "100", True),
        "theirs": scored("THEIRS", "high", "5000", True, organization=other_org),
    }


def test_preview_of_an_unsaved_rule_counts_and_samples_only_this_organization(write_api, customers):
    response = write_api.post("/api/v1/segments/preview/", {"rules": HIGH_RULE}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 1
    assert [(row["external_id"], row["tier"], row["customer_value"]) for row in body["sample"]] == [
        ("RICH", "high", "900.00")
    ]
    assert not Segment.objects.exists()


def test_an_invalid_rule_is_a_400_naming_the_json_path(write_api, customers):
    bad = {"all": [{"field": "tierr", "op": "eq", "value": "high"}, {"field": "tier", "op": "regex", "value": ".*"}]}
    response = write_api.post("/api/v1/segments/", {"name": "Broken", "rules": bad}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "rules.all[0].field" in errors and "tierr" in errors["rules.all[0].field"][0]
    assert "rules.all[1].op" in errors
    assert not Segment.objects.exists()
    assert write_api.post("/api/v1/segments/preview/", {"rules": {"all": []}}, format="json").status_code == 400


def test_a_marketer_saves_a_segment_and_reads_its_preview_and_members(org, session_api, marketer_user, customers):
    client = session_api(marketer_user)
    created = client.post("/api/v1/segments/", {"name": " High  value ", "rules": HIGH_RULE}, format="json")
    assert created.status_code == 201, created.json()
    segment = Segment.objects.for_org(org).get()
    assert (segment.name, segment.created_by) == ("High value", marketer_user)
    assert AuditLog.objects.filter(organization=org, action="segment.create").exists()

    preview = client.get(f"/api/v1/segments/{segment.pk}/preview/").json()
    assert preview["count"] == 1
    members = client.get(f"/api/v1/segments/{segment.pk}/members/").json()
    assert [row["external_id"] for row in members["results"]] == ["RICH"]

    widened = client.patch(
        f"/api/v1/segments/{segment.pk}/", {"rules": {"field": "tier", "op": "eq", "value": "high"}}, format="json"
    )
    assert widened.status_code == 200
    assert client.get(f"/api/v1/segments/{segment.pk}/preview/").json()["count"] == 2
    duplicate = client.post("/api/v1/segments/", {"name": "high VALUE", "rules": HIGH_RULE}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]


def test_viewers_and_ops_read_segments_but_cannot_write_them(org, session_api, viewer_user, ops_user, customers):
    Segment.objects.create(organization=org, name="Existing", rules=HIGH_RULE)
    for user in (viewer_user, ops_user):
        client = session_api(user)
        assert client.get("/api/v1/segments/").status_code == 200
        assert client.post("/api/v1/segments/", {"name": "X", "rules": HIGH_RULE}, format="json").status_code == 403


def test_another_organizations_segment_is_not_found(write_api, other_org, customers):
    theirs = Segment.objects.create(organization=other_org, name="Theirs", rules=HIGH_RULE)
    for path in (
        f"/api/v1/segments/{theirs.pk}/",
        f"/api/v1/segments/{theirs.pk}/preview/",
        f"/api/v1/segments/{theirs.pk}/members/",
    ):
        assert write_api.get(path).status_code == 404
    assert write_api.delete(f"/api/v1/segments/{theirs.pk}/").status_code == 404
    assert Segment.objects.filter(pk=theirs.pk).exists()


def test_deleting_a_segment_is_audited(org, write_api, customers):
    segment = Segment.objects.create(organization=org, name="Temporary", rules=HIGH_RULE)
    assert write_api.delete(f"/api/v1/segments/{segment.pk}/").status_code == 204
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert AuditLog.objects.filter(organization=org, action="segment.delete").exists()


def test_explain_says_which_conditions_a_customer_meets(org, write_api, customers, other_org):
    segment = Segment.objects.create(organization=org, name="High and consenting", rules=HIGH_RULE)
    shy = write_api.get(f"/api/v1/segments/{segment.pk}/explain/", {"customer": customers["shy"].pk}).json()
    assert shy["matched"] is False
    assert [node["matched"] for node in shy["rules"]["all"]] == [True, False]  # high tier, but no e-mail consent
    rich = write_api.get(f"/api/v1/segments/{segment.pk}/explain/", {"customer": customers["rich"].pk}).json()
    assert rich["matched"] is True
    assert (
        write_api.get(f"/api/v1/segments/{segment.pk}/explain/", {"customer": customers["theirs"].pk}).status_code
        == 404
    )
    missing = write_api.get(f"/api/v1/segments/{segment.pk}/explain/", {"customer": "abc"})
    assert missing.status_code == 400 and "customer" in missing.json()["errors"]
