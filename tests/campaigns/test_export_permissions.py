"""Campaign contact lists and the organization's choice to keep customers' personal data from viewers."""

from decimal import Decimal

from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import organization_update
from campaigns import services


def _export_campaign(make_campaign, marketer_actor):
    campaign = make_campaign(tier="high", channel="export", holdout_share=Decimal("0"), variants=[{"name": "List"}])
    services.campaign_launch(campaign=campaign, actor=marketer_actor)
    return campaign


def test_viewers_download_contact_lists_by_default(client, org, audience, make_campaign, marketer_actor, viewer_user):
    campaign = _export_campaign(make_campaign, marketer_actor)
    client.force_login(viewer_user)

    response = client.get(reverse("campaigns:campaign-export", args=[campaign.pk]))

    assert response.status_code == 200
    assert audience["consenting"][0].email in b"".join(response.streaming_content).decode()


def test_viewers_cannot_download_contact_lists_once_the_organization_withholds_pii(
    client, org, audience, make_campaign, marketer_actor, viewer_user, marketer_user
):
    campaign = _export_campaign(make_campaign, marketer_actor)
    organization_update(org=org, viewers_export_customer_pii=False)
    client.force_login(viewer_user)
    api = APIClient()
    api.force_login(viewer_user)

    page = client.get(reverse("campaigns:campaign-export", args=[campaign.pk]))
    through_api = api.get(f"/api/v1/campaigns/{campaign.pk}/export/")

    assert page.status_code == 403
    assert "viewers" in page.content.decode()
    assert through_api.status_code == 403
    assert "viewers" in through_api.json()["detail"]

    detail = client.get(reverse("campaigns:campaign-detail", args=[campaign.pk])).content.decode()
    assert reverse("campaigns:campaign-export", args=[campaign.pk]) not in detail  # no link that ends in a 403

    client.force_login(marketer_user)
    assert client.get(reverse("campaigns:campaign-export", args=[campaign.pk])).status_code == 200
    detail = client.get(reverse("campaigns:campaign-detail", args=[campaign.pk])).content.decode()
    assert reverse("campaigns:campaign-export", args=[campaign.pk]) in detail
