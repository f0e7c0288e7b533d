"""The segment pages: list, builder (create, edit, live preview), detail, explain, snapshots, customer panel.

Roles: every member reads; marketers and admins build, change, delete and snapshot (others get 403 on any write).
Another organization's segment or customer is a 404.
"""

from __future__ import annotations

import datetime
import html
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from accounts.services import organization_update
from segmentation import views
from segmentation.models import CustomerScore, Segment, SegmentChange, SegmentSize, SegmentSnapshot
from segmentation.rule_text import FIELD_LABELS, summary
from segmentation.rules import FIELDS
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
HIGH = {"field": "tier", "op": "eq", "value": "high"}
NESTED = {
    "all": [
        {"field": "tier", "op": "eq", "value": "high"},
        {"any": [{"field": "orders_count", "op": "gte", "value": 2}, {"field": "at_risk", "op": "eq", "value": True}]},
    ]
}


def _text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def people(org):
    """A buys often (high), B is at risk (high), C neither (high), D is mid-tier."""
    made = {}
    for external_id, name, tier, orders, at_risk, value in (
        ("A", "Ann Lee", "high", 3, False, "300"),
        ("B", "Bo Wu", "high", 1, True, "200"),
        ("C", "Cai Yu", "high", 1, False, "100"),
        ("D", "Du Fei", "mid", 4, True, "50"),
    ):
        customer = CustomerFactory(organization=org, external_id=external_id, name=name)
        for _ in range(orders):
            OrderFactory(customer=customer)
        CustomerScore.objects.create(
            organization=org, customer=customer, as_of=datetime.date(2026, 3, 1), tier=tier, stage="growing",
            at_risk=at_risk, customer_value=Decimal(value),
        )  # fmt: skip
        made[external_id] = customer
    return made


@pytest.fixture
def segment(org, people):
    return Segment.objects.create(
        organization=org, name="High and engaged", description="For the VIP call", rules=NESTED
    )


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


# List -----------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_segment_with_its_latest_nightly_size_and_a_sparkline(org, segment, as_user, viewer_user):
    today = timezone.localdate()
    days = [today - datetime.timedelta(days=back) for back in (3, 2, 1)]
    for day, size, entered, left in zip(days, (5, 7, 6), (5, 3, 0), (0, 1, 1), strict=True):
        SegmentSize.objects.create(organization=org, segment=segment, day=day, size=size, entered=entered, left=left)
    response = as_user(viewer_user).get(reverse("segmentation:segment-list"))

    assert response.status_code == 200
    text = _text(response)
    assert "High and engaged" in text and "For the VIP call" in text
    assert "all of: Value tier is High value; (any of: Completed orders ≥ 2; At risk is yes)" in text
    assert "+0 −1" in text and days[2].isoformat() in text
    body = response.content.decode()
    assert body.count("<polyline") == 1
    assert f'aria-label="Size over 3 nightly runs from {days[0]} to {days[2]}: 5 at first, 6 at last' in body


def test_a_viewer_reads_the_list_without_the_new_segment_button(segment, as_user, viewer_user, marketer_user):
    viewer_page = as_user(viewer_user).get(reverse("segmentation:segment-list")).content.decode()
    assert 'id="new-segment"' not in viewer_page and 'id="readonly-hint"' in viewer_page
    marketer_page = as_user(marketer_user).get(reverse("segmentation:segment-list")).content.decode()
    assert 'id="new-segment"' in marketer_page


def test_every_role_sees_segments_in_the_main_navigation(as_user, viewer_user):
    page = as_user(viewer_user).get(reverse("home")).content.decode()
    nav = re.search(r'<ul id="main-nav">(.*?)</ul>', page, re.DOTALL).group(1)
    assert nav.index(">Customers<") < nav.index(">Segments<")


def test_a_segment_whose_rules_went_stale_is_listed_as_needing_a_fix(org, as_user, viewer_user):
    Segment.objects.create(organization=org, name="Old tiers", rules={"field": "tier", "op": "eq", "value": "gold"})
    response = as_user(viewer_user).get(reverse("segmentation:segment-list"))
    assert response.status_code == 200
    assert "The rules need fixing." in _text(response)


# Builder --------------------------------------------------------------------------------------------------------


def _post_segment(client, url, **fields):
    data = {"name": "High and engaged", "description": "", "rules": json.dumps(NESTED)}
    data.update(fields)
    return client.post(url, data)


def test_a_marketer_saves_a_nested_segment_from_the_builder(org, people, as_user, marketer_user):
    client = as_user(marketer_user)
    assert client.get(reverse("segmentation:segment-create")).status_code == 200

    response = _post_segment(client, reverse("segmentation:segment-create"), name="  VIP   push ")

    segment = Segment.objects.for_org(org).get()
    assert response.status_code == 302 and response.url == reverse("segmentation:segment-detail", args=[segment.pk])
    assert (segment.name, segment.rules, segment.created_by) == ("VIP push", NESTED, marketer_user)
    assert AuditLog.objects.filter(organization=org, action="segment.create").exists()


def test_the_builder_page_carries_the_field_catalogue_and_starts_with_a_valid_rule(people, as_user, admin_user):
    page = as_user(admin_user).get(reverse("segmentation:segment-create")).content.decode()
    catalogue = json.loads(
        re.search(r'<script id="rule-catalogue" type="application/json">(.*?)</script>', page).group(1)
    )
    tier = next(field for field in catalogue["fields"] if field["name"] == "tier")
    assert tier["choices"][0] == ["high", "High value"]
    assert {field["name"] for field in catalogue["fields"]} == set(FIELDS)
    rules = re.search(r'<textarea name="rules"[^>]*>(.*?)</textarea>', page, re.DOTALL).group(1)
    assert json.loads(html.unescape(rules)) == views.STARTER_RULES
    assert "segments.js" in page


def test_a_name_already_taken_is_shown_in_the_form(segment, as_user, marketer_user):
    response = _post_segment(as_user(marketer_user), reverse("segmentation:segment-create"), name="HIGH and engaged")
    assert response.status_code == 400
    assert "A segment with this name already exists." in _text(response)
    assert Segment.objects.count() == 1


def test_invalid_rules_come_back_keyed_by_json_path_and_nothing_is_saved(people, as_user, marketer_user):
    bad = {"all": [HIGH, {"any": [{"field": "orders_count", "op": "gte", "value": "two"}]}]}
    response = _post_segment(as_user(marketer_user), reverse("segmentation:segment-create"), rules=json.dumps(bad))

    assert response.status_code == 400
    page = response.content.decode()
    errors = json.loads(html.unescape(re.search(r'id="server-rule-errors" data-errors="([^"]*)"', page).group(1)))
    assert list(errors) == ["rules.all[1].any[0].value"]
    assert "orders_count takes a number" in errors["rules.all[1].any[0].value"][0]
    assert "The rules need fixing" in _text(response)
    assert not Segment.objects.exists()


def test_rules_that_are_not_json_say_where_they_break(people, as_user, marketer_user):
    response = _post_segment(as_user(marketer_user), reverse("segmentation:segment-create"), rules='{"all": [')
    assert response.status_code == 400
    assert "This is not valid JSON" in _text(response) and "line 1" in _text(response)
    assert not Segment.objects.exists()


def test_a_marketer_edits_a_segment(segment, as_user, marketer_user):
    client = as_user(marketer_user)
    url = reverse("segmentation:segment-edit", args=[segment.pk])
    page = client.get(url).content.decode()
    assert "High and engaged" in page

    response = _post_segment(client, url, name="Renamed", rules=json.dumps(HIGH))

    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.rules) == ("Renamed", HIGH)


@pytest.mark.parametrize("role", ["viewer", "ops"])
def test_viewers_and_ops_get_403_on_every_write(segment, as_user, member_factory, org, role):
    client = as_user(member_factory(org, role))
    writes = [
        reverse("segmentation:segment-create"),
        reverse("segmentation:segment-edit", args=[segment.pk]),
        reverse("segmentation:segment-delete", args=[segment.pk]),
        reverse("segmentation:segment-take-snapshot", args=[segment.pk]),
        reverse("segmentation:segment-preview"),
    ]
    for url in writes:
        assert _post_segment(client, url, name="Hijacked").status_code == 403, url
    assert client.get(reverse("segmentation:segment-create")).status_code == 403
    segment.refresh_from_db()
    assert segment.name == "High and engaged"
    assert not SegmentSnapshot.objects.exists()


def test_a_marketer_deletes_a_segment(org, segment, as_user, marketer_user):
    response = as_user(marketer_user).post(reverse("segmentation:segment-delete", args=[segment.pk]))
    assert response.status_code == 302 and response.url == reverse("segmentation:segment-list")
    assert not Segment.objects.exists()
    assert AuditLog.objects.filter(organization=org, action="segment.delete").exists()


def test_another_organizations_segment_is_not_found_on_any_page(other_org, as_user, marketer_user):
    theirs = Segment.objects.create(organization=other_org, name="Theirs", rules=HIGH)
    client = as_user(marketer_user)
    for name in ("segment-detail", "segment-edit", "segment-explain"):
        assert client.get(reverse(f"segmentation:{name}", args=[theirs.pk])).status_code == 404, name
    for name in ("segment-edit", "segment-delete", "segment-take-snapshot"):
        assert _post_segment(client, reverse(f"segmentation:{name}", args=[theirs.pk])).status_code == 404, name
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


# Live preview ---------------------------------------------------------------------------------------------------


def test_the_live_preview_counts_and_samples_the_posted_rules(people, as_user, marketer_user):
    response = as_user(marketer_user).post(
        reverse("segmentation:segment-preview"), {"rules": json.dumps(NESTED)}, headers=HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r'<strong id="preview-count">2</strong>', page)
    sample = re.search(r'<table[^>]*id="preview-sample".*?</table>', page, re.DOTALL).group(0)
    assert sample.index("Ann Lee") < sample.index("Bo Wu")  # most valuable first
    assert "Cai Yu" not in sample and "Du Fei" not in sample
    assert 'data-errors="{}"' in page
    assert not Segment.objects.exists()


def test_the_live_preview_shows_at_most_20_customers(org, as_user, marketer_user):
    for _n in range(23):
        customer = CustomerFactory(organization=org)
        CustomerScore.objects.create(
            organization=org, customer=customer, as_of=datetime.date(2026, 3, 1), tier="high", stage="growing"
        )
    page = as_user(marketer_user).post(reverse("segmentation:segment-preview"), {"rules": json.dumps(HIGH)})
    body = page.content.decode()
    assert re.search(r'<strong id="preview-count">23</strong>', body)
    sample = re.search(r"<tbody>(.*?)</tbody>", body, re.DOTALL).group(1)
    assert sample.count("<tr>") == 20


def test_the_live_preview_returns_errors_keyed_by_json_path(people, as_user, marketer_user):
    bad = {"all": [{"field": "tierr", "op": "eq", "value": "high"}, {"any": []}]}
    response = as_user(marketer_user).post(reverse("segmentation:segment-preview"), {"rules": json.dumps(bad)})

    assert response.status_code == 200
    page = response.content.decode()
    errors = json.loads(html.unescape(re.search(r'id="preview-result" data-errors="([^"]*)"', page).group(1)))
    assert set(errors) == {"rules.all[0].field", "rules.all[1].any"}
    assert 'did you mean "tier"' in errors["rules.all[0].field"][0]
    assert "preview-count" not in page
    assert "The rules have 2 problems to fix:" in _text(response)


def test_the_live_preview_of_text_that_is_not_json_is_an_error_on_the_rules(people, as_user, marketer_user):
    response = as_user(marketer_user).post(reverse("segmentation:segment-preview"), {"rules": "{oops"})
    page = response.content.decode()
    errors = json.loads(html.unescape(re.search(r'data-errors="([^"]*)"', page).group(1)))
    assert list(errors) == ["rules"] and "not valid JSON" in errors["rules"][0]


def test_the_live_preview_only_answers_posts(as_user, marketer_user):
    assert as_user(marketer_user).get(reverse("segmentation:segment-preview")).status_code == 405


# Detail ---------------------------------------------------------------------------------------------------------


def test_the_detail_page_writes_the_rules_out_and_lists_the_members(segment, people, as_user, viewer_user):
    response = as_user(viewer_user).get(reverse("segmentation:segment-detail", args=[segment.pk]))

    assert response.status_code == 200
    text = _text(response)
    for part in ("All of", "Value tier is High value", "Any of", "Completed orders ≥ 2", "At risk is yes"):
        assert part in text
    page = response.content.decode()
    assert re.search(r'<span class="value" id="live-size">2</span>', page)
    members = re.search(r'<table[^>]*id="member-table".*?</table>', page, re.DOTALL).group(0)
    assert reverse("crm:customer-detail", args=[people["A"].pk]) in members
    assert reverse("crm:customer-detail", args=[people["B"].pk]) in members
    assert "Cai Yu" not in members
    assert 'id="edit-segment"' not in page and 'id="snapshot-form"' not in page  # a viewer only reads


def test_the_member_list_is_paged(segment, people, as_user, viewer_user, monkeypatch):
    monkeypatch.setattr(views, "MEMBERS_PER_PAGE", 1)
    client = as_user(viewer_user)
    first = client.get(reverse("segmentation:segment-detail", args=[segment.pk])).content.decode()
    second = client.get(reverse("segmentation:segment-detail", args=[segment.pk]), {"page": 2}).content.decode()
    assert "Ann Lee" in first and "Bo Wu" not in first and "1 / 2" in first
    assert "Bo Wu" in second and "Ann Lee" not in second


def test_the_detail_page_of_a_segment_with_stale_rules_says_what_to_fix(org, as_user, viewer_user):
    stale = Segment.objects.create(organization=org, name="Old", rules={"field": "tier", "op": "eq", "value": "gold"})
    response = as_user(viewer_user).get(reverse("segmentation:segment-detail", args=[stale.pk]))
    assert response.status_code == 200
    assert "These rules no longer validate" in _text(response) and "gold" in _text(response)


def test_the_detail_page_shows_the_size_history_with_a_text_alternative(org, segment, as_user, viewer_user):
    SegmentSize.objects.create(organization=org, segment=segment, day=timezone.localdate(), size=2, entered=2)
    page = as_user(viewer_user).get(reverse("segmentation:segment-detail", args=[segment.pk])).content.decode()
    history = re.search(r'<article id="size-history">.*?</article>', page, re.DOTALL).group(0)
    assert "<svg" in history and "<title>Size over 1 nightly runs" in history
    assert re.search(r'<table[^>]*id="size-table"', history)


@pytest.mark.parametrize("who", ["A", "pk-of-C"])
def test_explain_says_in_or_out_and_why_by_external_id_or_id(segment, people, as_user, viewer_user, who):
    query = people["C"].pk if who == "pk-of-C" else "A"
    response = as_user(viewer_user).get(
        reverse("segmentation:segment-explain", args=[segment.pk]), {"customer": query}, headers=HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    if who == "A":
        assert "in the segment" in page and "not in the segment" not in page
    else:
        assert "not in the segment" in page
        unmet = re.findall(
            r'class="rule-node rule-condition is-unmet">.*?<span class="rule-text">([^<]*)</span>', page, re.DOTALL
        )
        assert [html.unescape(text) for text in unmet] == ["Completed orders ≥ 2", "At risk is yes"]


def test_explain_without_javascript_renders_in_the_detail_page(segment, people, as_user, viewer_user):
    url = reverse("segmentation:segment-detail", args=[segment.pk])
    text = _text(as_user(viewer_user).get(url, {"customer": "B"}))
    assert "Bo Wu" in text and "in the segment" in text


def test_explain_for_an_unknown_or_foreign_customer_says_so(segment, as_user, viewer_user, other_org):
    foreign = CustomerFactory(organization=other_org, external_id="THEIRS")
    client = as_user(viewer_user)
    for query in ("NOPE", "THEIRS", str(foreign.pk)):
        response = client.get(reverse("segmentation:segment-explain", args=[segment.pk]), {"customer": query})
        assert response.status_code == 200
        assert "No customer with the id or external id" in _text(response), query


def test_a_marketer_takes_a_snapshot_and_downloads_its_members(org, segment, people, as_user, marketer_user):
    client = as_user(marketer_user)
    response = client.post(reverse("segmentation:segment-take-snapshot", args=[segment.pk]), {"name": "Launch list"})

    assert response.status_code == 302
    snapshot = SegmentSnapshot.objects.for_org(org).get()
    assert (snapshot.name, snapshot.size) == ("Launch list", 2)
    detail = client.get(reverse("segmentation:segment-detail", args=[segment.pk]))
    assert "Snapshot “Launch list” taken: 2 customers." in _text(detail)
    assert re.search(r'<table[^>]*id="snapshot-table".*Launch list', detail.content.decode(), re.DOTALL)

    csv = client.get(reverse("segmentation:segment-snapshot-members", args=[snapshot.pk]))
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0] == "customer_id,external_id,name,email"
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["A", "B"]


def test_viewers_of_an_organization_that_withholds_pii_download_snapshot_ids_only(
    org, segment, people, as_user, marketer_user, viewer_user
):
    as_user(marketer_user).post(reverse("segmentation:segment-take-snapshot", args=[segment.pk]), {"name": "List"})
    snapshot = SegmentSnapshot.objects.for_org(org).get()
    organization_update(org=org, viewers_export_customer_pii=False)

    csv = as_user(viewer_user).get(reverse("segmentation:segment-snapshot-members", args=[snapshot.pk]))
    lines = b"".join(csv.streaming_content).decode().splitlines()

    assert lines[0] == "customer_id,external_id"
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["A", "B"]
    assert not any(people["A"].email in line for line in lines)


def test_snapshot_download_neutralizes_names_a_spreadsheet_would_run(org, segment, people, as_user, marketer_user):
    people["A"].name = '=HYPERLINK("http://evil.example","x")'
    people["A"].save()
    client = as_user(marketer_user)
    client.post(reverse("segmentation:segment-take-snapshot", args=[segment.pk]), {"name": "List"})
    snapshot = SegmentSnapshot.objects.for_org(org).get()

    body = b"".join(client.get(reverse("segmentation:segment-snapshot-members", args=[snapshot.pk])).streaming_content)

    assert "'=HYPERLINK" in body.decode()


def test_another_organizations_snapshot_cannot_be_downloaded(other_org, as_user, viewer_user):
    theirs = Segment.objects.create(organization=other_org, name="Theirs", rules=HIGH)
    snapshot = SegmentSnapshot.objects.create(
        organization=other_org, segment=theirs, name="Theirs", taken_at=datetime.datetime.now(datetime.UTC), rules=HIGH
    )
    url = reverse("segmentation:segment-snapshot-members", args=[snapshot.pk])
    assert as_user(viewer_user).get(url).status_code == 404


# Customer page panel --------------------------------------------------------------------------------------------


def test_the_customer_page_loads_the_segments_panel(people, as_user, ops_user):
    page = as_user(ops_user).get(reverse("crm:customer-detail", args=[people["A"].pk])).content.decode()
    assert f'hx-get="{reverse("segmentation:customer-segments", args=[people["A"].pk])}"' in page


def test_the_panel_lists_every_segment_in_or_out_with_the_reasons(org, segment, people, as_user, ops_user):
    Segment.objects.create(organization=org, name="Mid tier", rules={"field": "tier", "op": "eq", "value": "mid"})
    Segment.objects.create(organization=org, name="Old", rules={"field": "tier", "op": "eq", "value": "gold"})
    SegmentChange.objects.create(
        organization=org, segment=segment, customer=people["C"], day=datetime.date(2026, 3, 2), kind="left"
    )
    url = reverse("segmentation:customer-segments", args=[people["C"].pk])

    response = as_user(ops_user).get(url, headers=HTMX)

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page  # the fragment htmx swaps into the card
    rows = re.findall(r'<li id="customer-segment-\d+" class="([^"]+)">.*?<a [^>]*>([^<]+)</a>', page, re.DOTALL)
    assert [(state, html.unescape(name)) for state, name in rows] == [
        ("is-out", "High and engaged"),
        ("is-out", "Mid tier"),
        ("is-invalid", "Old"),
    ]
    assert "left 2026-03-02" in _text(response)
    assert "✗" in page and "Completed orders ≥ 2" in html.unescape(page)


def test_the_panel_opened_directly_is_a_whole_page(segment, people, as_user, viewer_user):
    response = as_user(viewer_user).get(reverse("segmentation:customer-segments", args=[people["A"].pk]))
    assert response.status_code == 200
    assert "<html" in response.content.decode() and "High and engaged" in _text(response)


def test_the_panel_of_another_organizations_customer_is_not_found(other_org, as_user, viewer_user):
    foreign = CustomerFactory(organization=other_org)
    response = as_user(viewer_user).get(reverse("segmentation:customer-segments", args=[foreign.pk]), headers=HTMX)
    assert response.status_code == 404


# Words and shapes -----------------------------------------------------------------------------------------------


def test_every_field_of_the_rule_language_has_a_label():
    assert set(FIELD_LABELS) == set(FIELDS)


def test_a_rule_reads_as_a_sentence():
    rule = {
        "all": [
            {"field": "customer_value", "op": "between", "value": [100, 500]},
            {"not": {"event": "app_open", "op": "did", "within_days": 7}},
            {"field": "email", "op": "is_set"},
            {"field": "attributes.city", "op": "in", "value": ["Shanghai", "Hangzhou"]},
        ]
    }
    assert summary(rule) == (
        "all of: Customer value is between 100 and 500; not: did “app_open” in the last 7 days; E-mail is set; "
        "Attribute “city” is one of Shanghai, Hangzhou"
    )


def test_a_sparkline_spans_its_box_and_puts_the_highest_size_at_the_top():
    sizes = [
        SegmentSize(day=datetime.date(2026, 3, 1), size=10),
        SegmentSize(day=datetime.date(2026, 3, 2), size=30),
        SegmentSize(day=datetime.date(2026, 3, 5), size=20),
    ]
    spark = views.sparkline(sizes, width=100, height=20, pad=0)
    assert spark["points"] == "0.0,20.0 25.0,0.0 100.0,10.0"
    assert (spark["low"], spark["high"]) == (10, 30)
    assert views.sparkline([]) is None
