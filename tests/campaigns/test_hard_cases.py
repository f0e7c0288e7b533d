"""The hard cases: lost claims, stops racing sends, caps across campaigns, hostile names, thin evidence."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.utils import timezone

from campaigns import selectors, services
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, SkipReason
from tests.campaigns.conftest import score
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _awake(org):
    org.quiet_hours_start = org.quiet_hours_end = 0
    org.save()


def enrolled(campaign, marketer_actor, **kwargs):
    """Launch without sending: as if every batch were still queued."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "deliveries_dispatch", lambda **kw: 0)
        services.campaign_launch(campaign=campaign, actor=marketer_actor, **kwargs)
    return list(Delivery.objects.filter(campaign=campaign, variant__isnull=False).order_by("pk"))


def test_a_worker_whose_claim_was_taken_over_sends_nothing(org, audience, make_campaign, marketer_actor, settings):
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))
    rows = enrolled(campaign, marketer_actor)
    now = timezone.now()
    slow_worker_rows, _ = services._claim(campaign, [r.pk for r in rows], now)
    later = now + datetime.timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS + 1)

    services.release_stale_claims(now=later)  # the slow worker's lease ran out
    services.deliveries_send(campaign_id=campaign.pk, delivery_ids=[r.pk for r in rows], now=later)
    assert len(mail.outbox) == 60
    backend = get_connection()
    for row in slow_worker_rows:  # the slow worker wakes up and carries on with its batch
        services._send_one(row, backend, False, services.BatchOutcome(), org)

    assert len(mail.outbox) == 60
    assert set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_a_stopped_campaign_gets_back_no_claim_and_enrolls_no_newcomer(org, audience, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"), recurring=True)
    rows = enrolled(campaign, marketer_actor)
    now = timezone.now()
    claimed, _ = services._claim(campaign, [r.pk for r in rows[:10]], now)
    services.campaign_stop(campaign=campaign, actor=marketer_actor)
    newcomer = CustomerFactory(organization=org, consent_email=True)
    score(newcomer, "high")

    services._release(campaign, claimed)  # the batch noticed the stop
    services.release_stale_claims(now=now + datetime.timedelta(days=1))
    services.campaigns_tick(now=now + datetime.timedelta(hours=2))

    assert mail.outbox == []
    assert not Delivery.objects.filter(campaign=campaign, status__in=services.OPEN_STATUSES).exists()
    assert set(Delivery.objects.filter(campaign=campaign).values_list("skip_reason", flat=True)) == {SkipReason.STOPPED}
    assert not Delivery.objects.filter(customer=newcomer).exists()
    assert services.deliveries_send(campaign_id=campaign.pk, delivery_ids=[r.pk for r in rows]).sent == 0
    with pytest.raises(ValidationError):
        services.unknown_deliveries_resend(campaign=campaign, actor=marketer_actor)


def test_a_scheduled_campaign_stopped_before_its_time_is_not_launched_by_the_scheduler(
    org, audience, make_campaign, marketer_actor
):
    now = timezone.now()
    campaign = make_campaign(tier="high")
    services.campaign_launch(campaign=campaign, actor=marketer_actor, send_at=now + datetime.timedelta(minutes=5))
    stale_read = Campaign.objects.get(pk=campaign.pk)  # the scheduler read it as scheduled...
    services.campaign_stop(campaign=campaign, actor=marketer_actor)  # ...then the marketer stopped it

    outcome = services.campaign_launch(
        campaign=stale_read, actor=marketer_actor, now=now + datetime.timedelta(minutes=6), only_if_status="scheduled"
    )

    assert outcome is None
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.send_at is None
    assert not Delivery.objects.filter(campaign=campaign).exists()


def test_clearing_the_send_time_of_a_scheduled_campaign_makes_it_a_draft_again(org, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high")
    services.campaign_launch(
        campaign=campaign, actor=marketer_actor, send_at=timezone.now() + datetime.timedelta(days=1)
    )

    services.campaign_update(campaign=campaign, actor=marketer_actor, send_at=None)

    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_the_frequency_cap_counts_messages_being_sent_by_another_campaign(org, audience, make_campaign, marketer_actor):
    org.campaign_frequency_cap = 1
    org.save()
    first = make_campaign(tier="high", holdout_share=Decimal("0"))
    second = make_campaign(tier="high", holdout_share=Decimal("0"))
    first_rows = enrolled(first, marketer_actor)
    second_rows = enrolled(second, marketer_actor)
    services._claim(first, [r.pk for r in first_rows], timezone.now())  # first campaign mid-send

    services.deliveries_send(campaign_id=second.pk, delivery_ids=[r.pk for r in second_rows])

    assert mail.outbox == []
    assert set(Delivery.objects.filter(campaign=second).values_list("skip_reason", flat=True)) == {
        SkipReason.FREQUENCY_CAP
    }


def test_a_customer_whose_name_is_a_url_gets_no_link_and_no_signed_redirect(
    org, audience, make_campaign, marketer_actor
):
    target = audience["consenting"][0]
    target.name = "https://evil.example/login"
    target.save()
    campaign = make_campaign(
        tier="high",
        holdout_share=Decimal("0"),
        variants=[{"subject": "Hi", "body": "Dear {{ name }}, see https://shop.example/new and {{ unsubscribe_url }}"}],
    )
    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    message = next(m for m in mail.outbox if m.to[0] == target.email)
    html = message.alternatives[0][0]
    assert "Dear https://evil.example/login, see http" in message.body
    assert html.count('href="http://127.0.0.1:8000/campaigns/t/c/') == 1  # the marketer's link only
    assert 'href="https://evil.example' not in html
    assert html.count("/campaigns/u/") >= 2  # {{ unsubscribe_url }} and the footer


def test_the_export_list_holds_only_customers_who_agreed_to_be_contacted(org, make_campaign, marketer_actor):
    def customer(tier="high", **fields):
        made = CustomerFactory(organization=org, **fields)
        score(made, tier)
        return made

    by_email = customer(consent_email=True)
    by_sms = customer(consent_email=False, consent_sms=True, phone="+8613800000000")
    sms_without_phone = customer(consent_email=False, consent_sms=True, phone="")
    nobody = customer(consent_email=False, consent_sms=False, phone="+8613800000001")
    services.suppression_add(org=org, email=customer(consent_email=True).email, reason="complaint")
    campaign = make_campaign(tier="high", channel="export", holdout_share=Decimal("0"), variants=[{"name": "List"}])

    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    listed = {row[0] for row in list(selectors.export_rows(campaign=campaign))[1:]}
    assert listed == {by_email.external_id, by_sms.external_id}
    assert {sms_without_phone.external_id, nobody.external_id}.isdisjoint(listed)
    by_sms.consent_sms = False
    by_sms.save()
    assert {row[0] for row in list(selectors.export_rows(campaign=campaign))[1:]} == {by_email.external_id}


def test_no_winner_is_named_while_the_holdout_has_too_few_conversions(org, audience, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high", holdout_share=Decimal("0.1"))
    rows = enrolled(campaign, marketer_actor)
    for row in rows:  # every variant customer buys; nobody in the hold-out does: variance 0 there
        OrderFactory(customer=row.customer, ordered_at=row.assigned_at + datetime.timedelta(days=1), amount=Decimal(50))

    results = selectors.campaign_results(campaign=campaign)

    assert results.holdout.conversions == 0
    assert all(u is not None and u.low > 0 for u in results.revenue_uplift.values())
    assert results.winner is None and not results.enough_conversions


def test_quiet_hours_queue_nothing_and_the_rows_wait_for_the_end(org, audience, make_campaign, marketer_actor):
    now = timezone.now().astimezone(datetime.UTC)
    rows = enrolled(make_campaign(tier="high", holdout_share=Decimal("0")), marketer_actor)
    campaign = rows[0].campaign
    org.time_zone = "UTC"
    org.quiet_hours_start, org.quiet_hours_end = now.hour, (now.hour + 1) % 24
    org.save()
    campaign.organization = org

    outcome = services.deliveries_send(campaign_id=campaign.pk, delivery_ids=[r.pk for r in rows], now=now)

    assert services.deliveries_dispatch(campaign=campaign, now=now) == 0
    queued = set(Delivery.objects.filter(campaign=campaign).values_list("queued_at", flat=True))
    assert queued == {outcome.deferred_until - services.REQUEUE_AFTER}


def test_suppressions_through_the_api(org, audience, session_api, marketer_user, viewer_user):
    api = session_api(marketer_user)
    customer = audience["consenting"][0]

    created = api.post("/api/v1/suppressions/", {"email": customer.email.upper(), "reason": "complaint"}, format="json")
    again = api.post("/api/v1/suppressions/", {"email": customer.email, "reason": "bounce"}, format="json")
    bad = api.post("/api/v1/suppressions/", {"email": "not an address", "reason": "whatever"}, format="json")

    assert created.status_code == 201 and created.json()["email"] == customer.email
    customer.refresh_from_db()
    assert not customer.consent_email and customer.consent_email_at is not None
    assert again.status_code == 400 and "email" in again.json()["errors"]
    assert bad.status_code == 400 and {"email", "reason"} <= set(bad.json()["errors"])
    viewer = session_api(viewer_user)
    assert viewer.get("/api/v1/suppressions/").json()["results"][0]["reason"] == "complaint"
    assert viewer.post("/api/v1/suppressions/", {"email": "x@example.com", "reason": "manual"}).status_code == 403
    assert api.delete(f"/api/v1/suppressions/{created.json()['id']}/").status_code == 204
