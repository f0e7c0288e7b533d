"""Results against the hold-out, tracking links, unsubscribe, and the campaigns API and pages."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from campaigns import services, stats
from campaigns.models import Campaign, Delivery, DeliveryStatus, Suppression
from campaigns.selectors import campaign_results
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _awake(org):
    org.quiet_hours_start = org.quiet_hours_end = 0
    org.save()


@pytest.fixture
def sent_campaign(org, audience, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high", cost=Decimal("50"))
    services.campaign_launch(campaign=campaign, actor=marketer_actor)
    return campaign


def test_results_count_conversions_and_revenue_in_the_attribution_window_per_group(org, sent_campaign):
    deliveries = list(Delivery.objects.filter(campaign=sent_campaign).select_related("variant").order_by("pk"))
    assigned = deliveries[0].assigned_at
    expected: dict[str, list[float]] = {}
    for index, delivery in enumerate(deliveries):
        key = f"variant-{delivery.variant.position}" if delivery.variant else "holdout"
        revenue = 0.0
        if index % 3 == 0:  # inside the window: counts
            OrderFactory(
                customer=delivery.customer, ordered_at=assigned + datetime.timedelta(days=2), amount=Decimal("30")
            )
            OrderFactory(
                customer=delivery.customer, ordered_at=assigned + datetime.timedelta(days=5), amount=Decimal("12.5")
            )
            revenue = 42.5
        elif index % 3 == 1:  # before assignment and after the window: does not count
            OrderFactory(customer=delivery.customer, ordered_at=assigned - datetime.timedelta(days=1))
            OrderFactory(customer=delivery.customer, ordered_at=assigned + datetime.timedelta(days=15))
        expected.setdefault(key, []).append(revenue)

    results = campaign_results(campaign=sent_campaign)

    by_key = {group.key: group for group in results.groups}
    assert set(by_key) == set(expected)
    for key, revenues in expected.items():
        group = by_key[key]
        assert group.customers == len(revenues)
        assert group.conversions == sum(1 for r in revenues if r > 0)
        assert group.revenue == pytest.approx(sum(revenues))
    reference = stats.mean_uplift(expected["variant-0"], expected["holdout"])
    assert results.revenue_uplift["variant-0"].low == pytest.approx(reference.low)
    assert results.revenue_uplift["variant-0"].p_value == pytest.approx(reference.p_value)
    pooled = expected["variant-0"] + expected["variant-1"]
    overall = stats.mean_uplift(pooled, expected["holdout"])
    assert results.incremental_revenue == pytest.approx(overall.difference * len(pooled))
    margin = results.incremental_revenue * float(org.gross_margin)
    assert results.roi == pytest.approx((margin - 50) / 50)
    assert (
        results.winner is None
        or results.revenue_uplift[next(k for k, g in by_key.items() if g.label == results.winner)].low > 0
    )


def test_open_pixel_and_click_redirect_are_signed_and_counted(client, sent_campaign):
    delivery = Delivery.objects.filter(
        campaign=sent_campaign, status=DeliveryStatus.SENT, variant__position=0
    ).first()  # variant A's body has a link
    message = next(m for m in mail.outbox if m.to[0] == delivery.customer.email)
    html = message.alternatives[0][0]
    pixel = html.split('<img src="')[1].split('"')[0].replace("http://127.0.0.1:8000", "")
    click = next(word for word in message.body.split() if "/t/c/" in word).replace("http://127.0.0.1:8000", "")

    assert client.get(pixel)["Content-Type"] == "image/gif"
    response = client.get(click)

    assert response.status_code == 302 and response["Location"].startswith("https://shop.example/")
    delivery.refresh_from_db()
    assert delivery.open_count == 1 and delivery.opened_at and delivery.click_count == 1 and delivery.clicked_at
    forged = signing.dumps({"d": delivery.pk, "u": "https://evil.example/"}, salt="another.salt", compress=True)
    assert client.get(reverse("campaigns:track-click", args=[forged])).status_code == 404
    assert client.get(reverse("campaigns:track-open", args=[f"{delivery.pk}:forged"])).status_code == 200
    delivery.refresh_from_db()
    assert delivery.open_count == 1


def test_one_click_unsubscribe_withdraws_consent_and_suppresses_the_address(client, org, sent_campaign):
    delivery = (
        Delivery.objects.filter(campaign=sent_campaign, status=DeliveryStatus.SENT).select_related("customer").first()
    )
    message = next(m for m in mail.outbox if m.to[0] == delivery.customer.email)
    link = message.extra_headers["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:8000", "")

    page = client.get(link)
    assert page.status_code == 200 and b"confirm-unsubscribe" in page.content
    delivery.customer.refresh_from_db()
    assert delivery.customer.consent_email  # a link scanner's GET changes nothing

    response = client.post(link, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    delivery.customer.refresh_from_db()
    delivery.refresh_from_db()
    assert not delivery.customer.consent_email and delivery.customer.consent_email_at is not None
    assert delivery.unsubscribed_at is not None
    assert Suppression.objects.for_org(org).filter(email=delivery.customer.email, reason="unsubscribe").exists()
    assert client.get(reverse("campaigns:unsubscribe", args=["1:forged"])).status_code == 404


# API ------------------------------------------------------------------------------------------------------------


def test_api_creates_launches_and_reports_a_campaign(org, audience, session_api, marketer_user, high_segment):
    api = session_api(marketer_user)
    body = {
        "name": "Spring win-back",
        "segment": high_segment.pk,
        "holdout_share": "0.2",
        "cost": "120.00",
        "variants": [
            {"name": "A", "subject": "Hi {{ first_name }}", "body": "We miss you, {{ name }}."},
            {"name": "B", "subject": "{{ offer_code }} inside", "body": "Use {{ offer_code }}.", "offer_code": "WB20"},
        ],
    }
    created = api.post("/api/v1/campaigns/", body, format="json")
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert created.json()["status"] == "draft" and len(created.json()["variants"]) == 2

    preview = api.get(f"/api/v1/campaigns/{campaign_id}/preview/")
    assert preview.status_code == 200 and preview.json()[1]["subject"] == "WB20 inside"

    launched = api.post(f"/api/v1/campaigns/{campaign_id}/launch/", {}, format="json")
    assert launched.status_code == 200, launched.json()
    assert launched.json()["enrolled"] == 60

    again = api.post(f"/api/v1/campaigns/{campaign_id}/launch/", {}, format="json")
    assert again.status_code == 400 and "status" in again.json()["errors"]
    edit = api.patch(f"/api/v1/campaigns/{campaign_id}/", {"name": "Other"}, format="json")
    assert edit.status_code == 400

    results = api.get(f"/api/v1/campaigns/{campaign_id}/results/").json()
    assert [g["key"] for g in results["groups"]] == ["variant-0", "variant-1", "holdout"]
    assert sum(g["customers"] for g in results["groups"]) == 60
    assert results["deliveries"]["sent"] == len(mail.outbox)
    deliveries = api.get(f"/api/v1/campaigns/{campaign_id}/deliveries/?status=holdout").json()
    assert deliveries["results"] and all(row["holdout"] for row in deliveries["results"])
    assert api.get(f"/api/v1/campaigns/{campaign_id}/deliveries/?status=nonsense").status_code == 400


def test_api_rejects_bad_campaigns_with_field_errors(org, other_org, session_api, marketer_user):
    from accounts.services import SYSTEM
    from segmentation.services import segment_create

    theirs = segment_create(
        org=other_org, actor=SYSTEM, name="Theirs", rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]}
    )
    api = session_api(marketer_user)

    response = api.post(
        "/api/v1/campaigns/",
        {"name": "X", "segment": theirs.pk, "variants": [{"subject": "{{ nope }}", "body": "b", "colour": "red"}]},
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "segment" in errors


def test_viewers_and_ops_cannot_write_campaigns_but_can_read_them(
    org, session_api, viewer_user, ops_user, marketer_user, make_campaign
):
    campaign = make_campaign(tier="high")
    for user in (viewer_user, ops_user):
        api = session_api(user)
        assert api.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 200
        assert api.post(f"/api/v1/campaigns/{campaign.pk}/launch/", {}, format="json").status_code == 403
        assert api.post("/api/v1/campaigns/tier-playbook/", {}, format="json").status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_other_organizations_campaigns_do_not_exist(other_org, api_key_client, make_campaign):
    campaign = make_campaign(tier="high")
    theirs = api_key_client(other_org)

    assert theirs.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 404
    assert theirs.get(f"/api/v1/campaigns/{campaign.pk}/results/").status_code == 404
    assert theirs.post(f"/api/v1/campaigns/{campaign.pk}/launch/", {}, format="json").status_code == 404
    assert theirs.get("/api/v1/campaigns/").json()["results"] == []


def test_tier_playbook_and_export_through_the_api(org, audience, write_api):
    created = write_api.post("/api/v1/campaigns/tier-playbook/", {"suffix": "Q4"}, format="json")
    assert created.status_code == 201
    high = next(c for c in created.json() if c["tier"] == "high")
    write_api.patch(f"/api/v1/campaigns/{high['id']}/", {"channel": "export"}, format="json")
    assert write_api.post(f"/api/v1/campaigns/{high['id']}/launch/", {}, format="json").status_code == 200

    response = write_api.get(f"/api/v1/campaigns/{high['id']}/export/")

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["external_id", "name", "email"]
    assert len(rows) - 1 == Delivery.objects.filter(campaign_id=high["id"], variant__isnull=False).count()


# Pages ----------------------------------------------------------------------------------------------------------


def test_marketer_creates_edits_and_launches_a_campaign_from_the_pages(
    client, org, audience, marketer_user, high_segment
):
    client.force_login(marketer_user)
    form = {
        "name": "Page campaign",
        "channel": "email",
        "segment": high_segment.pk,
        "tier": "",
        "holdout_percent": "10",
        "attribution_days": "14",
        "cost": "0",
        "variant_0_name": "A",
        "variant_0_subject": "Hello {{ first_name }}",
        "variant_0_body": "Hi {{ name }}",
        "variant_0_weight": "1",
        "variant_1_name": "B",
        "variant_1_subject": "Hey {{ frist_name }}",
        "variant_1_body": "Body",
        "variant_1_weight": "1",
    }
    bad = client.post(reverse("campaigns:campaign-create"), form)
    assert bad.status_code == 200 and "Unknown variable {{ frist_name }}" in bad.content.decode()

    form["variant_1_subject"] = "Hey {{ first_name }}"
    saved = client.post(reverse("campaigns:campaign-create"), form)
    campaign = Campaign.objects.get(name="Page campaign")
    assert saved.status_code == 302 and campaign.variants.count() == 2

    detail = client.get(reverse("campaigns:campaign-detail", args=[campaign.pk]))
    assert detail.status_code == 200 and "launch-campaign" in detail.content.decode()
    client.post(reverse("campaigns:campaign-launch", args=[campaign.pk]))

    campaign.refresh_from_db()
    assert campaign.status == "sent" and len(mail.outbox) > 0
    page = client.get(reverse("campaigns:campaign-detail", args=[campaign.pk])).content.decode()
    assert "results-table" in page and "campaign-progress" in page
    assert client.get(reverse("campaigns:campaign-list")).status_code == 200
    assert AuditLog.objects.filter(action="campaign.create", object_id=str(campaign.pk)).exists()


def test_viewer_reads_campaign_pages_but_cannot_change_anything(client, org, viewer_user, make_campaign):
    campaign = make_campaign(tier="high")
    client.force_login(viewer_user)

    assert client.get(reverse("campaigns:campaign-list")).status_code == 200
    page = client.get(reverse("campaigns:campaign-detail", args=[campaign.pk])).content.decode()
    assert "launch-campaign" not in page
    assert client.post(reverse("campaigns:campaign-launch", args=[campaign.pk])).status_code == 403
    assert client.get(reverse("campaigns:campaign-create")).status_code == 403
    assert client.post(reverse("campaigns:tier-campaigns-create")).status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_tier_playbook_button_creates_the_three_drafts(client, org, marketer_user):
    client.force_login(marketer_user)

    response = client.post(reverse("campaigns:tier-campaigns-create"), follow=True)

    assert response.status_code == 200
    assert Campaign.objects.for_org(org).filter(kind="tier").count() == 3
    assert timezone.localdate().isoformat()[:4] in response.content.decode()


def test_the_new_campaign_page_preselects_a_segment_of_ours_only(client, org, other_org, marketer_user, high_segment):
    from accounts.services import SYSTEM
    from segmentation.services import segment_create

    theirs = segment_create(org=other_org, actor=SYSTEM, name="Theirs", rules=high_segment.rules)
    client.force_login(marketer_user)

    ours = client.get(reverse("campaigns:campaign-create") + f"?segment={high_segment.pk}&tier=mid")
    other = client.get(reverse("campaigns:campaign-create") + f"?segment={theirs.pk}&tier=bogus")

    assert ours.context["form"].initial == {"segment": high_segment.pk, "tier": "mid"}
    assert other.context["form"].initial == {}


def test_the_scores_page_offers_a_campaign_per_tier_to_marketers_only(client, org, audience, marketer_user, ops_user):
    client.force_login(marketer_user)
    page = client.get(reverse("reporting:score-list")).content.decode()
    assert f"{reverse('campaigns:campaign-create')}?tier=high" in page

    client.force_login(ops_user)
    assert "tier-campaign-link" not in client.get(reverse("reporting:score-list")).content.decode()
