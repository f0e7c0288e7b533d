"""Launching and sending campaigns: who is enrolled, exactly-once sending, consent, caps, quiet hours, recovery."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditLog
from campaigns import assignment, services
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, SkipReason, Suppression
from campaigns.tasks import send_batch
from tests.factories import CustomerFactory

# Real commits: batches are queued on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def no_quiet_hours(org):
    org.quiet_hours_start = org.quiet_hours_end = 0
    org.save()


@pytest.fixture(autouse=True)
def _always_awake(org):
    no_quiet_hours(org)


def test_launch_enrolls_only_eligible_customers_of_the_audience_and_sends_each_one_message(
    org, audience, make_campaign, marketer_actor
):
    campaign = make_campaign(tier="high")

    outcome = services.campaign_launch(campaign=campaign, actor=marketer_actor)

    eligible = {c.pk for c in audience["consenting"]}
    deliveries = Delivery.objects.filter(campaign=campaign)
    assert outcome.enrolled == len(eligible) == deliveries.count()
    assert set(deliveries.values_list("customer_id", flat=True)) == eligible
    expected_arms = assignment.assign(
        campaign.pk, sorted(eligible), allocation=[1, 1], holdout_share=float(campaign.holdout_share)
    )
    holdout_ids = {cid for cid, arm in zip(sorted(eligible), expected_arms, strict=True) if arm == assignment.HOLDOUT}
    assert set(deliveries.filter(variant__isnull=True).values_list("customer_id", flat=True)) == holdout_ids
    recipients = sorted(message.to[0] for message in mail.outbox)
    expected = sorted(c.email for c in audience["consenting"] if c.pk not in holdout_ids)
    assert recipients == expected
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert campaign.audience_at_launch["tier"] == "high"
    assert AuditLog.objects.filter(action="campaign.launch", object_id=str(campaign.pk)).exists()


def test_a_message_is_personalised_and_carries_one_click_unsubscribe_and_a_stable_message_id(
    org, audience, make_campaign, marketer_actor
):
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))
    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    message = next(m for m in mail.outbox if "Hello" in m.subject)
    customer = next(c for c in audience["consenting"] if c.email == message.to[0])
    delivery = Delivery.objects.get(campaign=campaign, customer=customer)
    assert message.subject == f"Hello {customer.name.split()[0]}"
    assert f"Hi {customer.name}" in message.body
    assert "https://shop.example/a" not in message.body  # the link goes through the click redirect
    assert "/campaigns/t/c/" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/campaigns/u/" in message.extra_headers["List-Unsubscribe"]
    assert message.extra_headers["Message-ID"] == delivery.message_id
    html, _ = message.alternatives[0]
    assert "/campaigns/t/o/" in html
    assert delivery.status == DeliveryStatus.SENT and delivery.sent_at is not None


def test_running_the_batches_again_or_twice_sends_nothing_more(org, audience, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high")
    services.campaign_launch(campaign=campaign, actor=marketer_actor)
    sent = len(mail.outbox)
    ids = list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True))

    send_batch.apply(args=(campaign.pk, ids))
    send_batch.apply(args=(campaign.pk, ids))
    Delivery.objects.filter(campaign=campaign).update(queued_at=None)
    services.deliveries_dispatch(campaign=campaign)
    services.campaigns_tick()

    assert len(mail.outbox) == sent
    assert len({m.to[0] for m in mail.outbox}) == sent


def test_launching_twice_or_editing_a_launched_campaign_is_refused(org, audience, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high")
    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    with pytest.raises(ValidationError) as launched:
        services.campaign_launch(campaign=campaign, actor=marketer_actor)
    with pytest.raises(ValidationError) as edited:
        services.campaign_update(campaign=campaign, actor=marketer_actor, name="Renamed")

    assert "status" in launched.value.message_dict and "status" in edited.value.message_dict
    assert Campaign.objects.get(pk=campaign.pk).name == campaign.name


def test_a_campaign_needs_an_audience_and_valid_templates(org, make_campaign, marketer_actor, other_org):
    with pytest.raises(ValidationError) as bad_template:
        make_campaign(tier="high", variants=[{"subject": "Hi {{ nmae }}", "body": "x"}])
    assert "Unknown variable {{ nmae }}" in bad_template.value.message_dict["variants[0].subject"][0]

    with pytest.raises(ValidationError) as broken:
        make_campaign(tier="high", variants=[{"subject": "Hi {{ name", "body": "x"}])
    assert "variants[0].subject" in broken.value.message_dict

    with pytest.raises(ValidationError) as empty:
        make_campaign(tier="high", variants=[{"subject": "", "body": ""}])
    assert set(empty.value.message_dict) == {"variants[0].subject", "variants[0].body"}

    with pytest.raises(ValidationError) as no_variant:
        make_campaign(tier="high", variants=[])
    assert "variants" in no_variant.value.message_dict

    with pytest.raises(ValidationError) as share:
        make_campaign(tier="high", holdout_share="0.9")
    assert "holdout_share" in share.value.message_dict

    campaign = make_campaign()
    with pytest.raises(ValidationError) as no_audience:
        services.campaign_launch(campaign=campaign, actor=marketer_actor)
    assert "segment" in no_audience.value.message_dict


def test_another_organizations_segment_cannot_be_targeted(org, other_org, make_campaign, marketer_actor):
    from accounts.services import SYSTEM
    from segmentation.services import segment_create

    theirs = segment_create(
        org=other_org, actor=SYSTEM, name="Theirs", rules={"all": [{"field": "tier", "op": "eq", "value": "high"}]}
    )

    with pytest.raises(ValidationError) as error:
        make_campaign(segment=theirs)

    assert "segment" in error.value.message_dict


def test_consent_withdrawn_after_launch_and_suppressed_addresses_are_skipped_not_sent(
    org, audience, make_campaign, marketer_actor, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))
    with pytest.MonkeyPatch.context() as patch:
        # Enroll without sending, as if the batches were still queued.
        patch.setattr(services, "deliveries_dispatch", lambda **kwargs: 0)
        services.campaign_launch(campaign=campaign, actor=marketer_actor)
    withdrawn, suppressed = audience["consenting"][0], audience["consenting"][1]
    withdrawn.consent_email = False
    withdrawn.save()
    services.suppression_add(org=org, email=suppressed.email.upper(), reason="bounce")

    services.deliveries_send(
        campaign_id=campaign.pk,
        delivery_ids=list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True)),
    )

    skipped = dict(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SKIPPED).values_list(
            "customer_id", "skip_reason"
        )
    )
    assert skipped == {withdrawn.pk: SkipReason.NO_CONSENT, suppressed.pk: SkipReason.SUPPRESSED}
    assert {withdrawn.email, suppressed.email}.isdisjoint(m.to[0] for m in mail.outbox)
    assert len(mail.outbox) == 58


def test_the_frequency_cap_counts_other_campaigns_of_the_last_seven_days(org, audience, make_campaign, marketer_actor):
    org.campaign_frequency_cap = 1
    org.save()
    first = make_campaign(tier="high", holdout_share=Decimal("0"))
    services.campaign_launch(campaign=first, actor=marketer_actor)
    assert len(mail.outbox) == 60

    second = make_campaign(tier="high", holdout_share=Decimal("0"))
    services.campaign_launch(campaign=second, actor=marketer_actor)

    assert len(mail.outbox) == 60
    assert set(Delivery.objects.filter(campaign=second).values_list("skip_reason", flat=True)) == {
        SkipReason.FREQUENCY_CAP
    }
    # A week later the cap has room again.
    Delivery.objects.filter(campaign=first).update(claimed_at=timezone.now() - datetime.timedelta(days=8))
    third = make_campaign(tier="high", holdout_share=Decimal("0"))
    services.campaign_launch(campaign=third, actor=marketer_actor)
    assert len(mail.outbox) == 120


def test_quiet_hours_hold_messages_until_they_end(org, audience, make_campaign, marketer_actor):
    now = timezone.now().astimezone(datetime.UTC)
    org.time_zone = "UTC"
    org.quiet_hours_start = now.hour
    org.quiet_hours_end = (now.hour + 2) % 24
    org.save()
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))

    services.campaign_launch(campaign=campaign, actor=marketer_actor, now=now)

    assert mail.outbox == []
    assert Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PENDING).count() == 60
    ids = list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True))
    later = now + datetime.timedelta(hours=2, minutes=1)
    outcome = services.deliveries_send(campaign_id=campaign.pk, delivery_ids=ids, now=now)
    assert outcome.deferred_until is not None and outcome.deferred_until.hour == (now.hour + 2) % 24
    services.deliveries_send(campaign_id=campaign.pk, delivery_ids=ids, now=later)
    assert len(mail.outbox) == 60


def test_claims_of_a_dead_worker_are_released_or_marked_unknown_after_their_lease(
    org, audience, make_campaign, marketer_actor, settings
):
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "deliveries_dispatch", lambda **kwargs: 0)
        services.campaign_launch(campaign=campaign, actor=marketer_actor)
    rows = list(Delivery.objects.filter(campaign=campaign).order_by("pk"))
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS + 5)
    Delivery.objects.filter(pk=rows[0].pk).update(status=DeliveryStatus.SENDING, claimed_at=long_ago)
    Delivery.objects.filter(pk=rows[1].pk).update(status=DeliveryStatus.HANDED_OVER, claimed_at=long_ago)
    Delivery.objects.filter(pk=rows[2].pk).update(status=DeliveryStatus.SENDING, claimed_at=timezone.now())

    services.campaigns_tick()

    statuses = dict(Delivery.objects.filter(pk__in=[r.pk for r in rows[:3]]).values_list("pk", "status"))
    assert statuses[rows[0].pk] == DeliveryStatus.SENT  # released, then sent by the tick
    assert statuses[rows[1].pk] == DeliveryStatus.UNKNOWN  # the server may have it: never resent by itself
    assert statuses[rows[2].pk] == DeliveryStatus.SENDING  # a live claim is left alone
    assert rows[1].customer.email not in {m.to[0] for m in mail.outbox}
    assert len(mail.outbox) == 58

    count = services.unknown_deliveries_resend(campaign=campaign, actor=marketer_actor)
    assert count == 1
    assert rows[1].customer.email in {m.to[0] for m in mail.outbox}


def test_stopping_skips_waiting_deliveries(org, audience, make_campaign, marketer_actor):
    campaign = make_campaign(tier="high")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "deliveries_dispatch", lambda **kwargs: 0)
        services.campaign_launch(campaign=campaign, actor=marketer_actor)

    services.campaign_stop(campaign=campaign, actor=marketer_actor)
    services.campaigns_tick()

    assert mail.outbox == []
    assert not Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PENDING).exists()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.STOPPED


def test_a_scheduled_campaign_starts_when_its_time_comes(org, audience, make_campaign, marketer_actor):
    now = timezone.now()
    campaign = make_campaign(tier="high")

    outcome = services.campaign_launch(
        campaign=campaign, actor=marketer_actor, send_at=now + datetime.timedelta(hours=1)
    )
    assert outcome.scheduled and Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED
    services.campaigns_tick(now=now)
    assert mail.outbox == []

    services.campaigns_tick(now=now + datetime.timedelta(hours=1, minutes=1))
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT
    assert len(mail.outbox) == Delivery.objects.filter(campaign=campaign, variant__isnull=False).count() > 0


def test_a_recurring_campaign_enrolls_newcomers_once(org, audience, make_campaign, marketer_actor):
    from tests.campaigns.conftest import score

    now = timezone.now()
    campaign = make_campaign(tier="high", recurring=True, holdout_share=Decimal("0"))
    services.campaign_launch(campaign=campaign, actor=marketer_actor, now=now)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.ACTIVE
    newcomer = CustomerFactory(organization=org, consent_email=True)
    score(newcomer, "high")

    services.campaigns_tick(now=now + datetime.timedelta(minutes=5))
    assert newcomer.email not in {m.to[0] for m in mail.outbox}  # not an hour yet
    services.campaigns_tick(now=now + datetime.timedelta(hours=1, minutes=1))
    services.campaigns_tick(now=now + datetime.timedelta(hours=2, minutes=2))

    assert [m.to[0] for m in mail.outbox].count(newcomer.email) == 1
    assert len(mail.outbox) == 61


def test_export_channel_lists_variant_members_and_never_the_holdout(org, audience, make_campaign, marketer_actor):
    from campaigns.selectors import export_rows

    campaign = make_campaign(tier="high", channel="export", variants=[{"name": "Call list", "offer_code": "=CALL"}])
    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    rows = list(export_rows(campaign=campaign))
    listed = {row[0] for row in rows[1:]}
    members = set(
        Delivery.objects.filter(campaign=campaign, variant__isnull=False).values_list(
            "customer__external_id", flat=True
        )
    )
    holdout = set(
        Delivery.objects.filter(campaign=campaign, variant__isnull=True).values_list("customer__external_id", flat=True)
    )
    assert listed == members and holdout and listed.isdisjoint(holdout)
    assert mail.outbox == []
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_the_tier_playbook_creates_three_editable_drafts(org, marketer_actor):
    created = services.tier_campaigns_create(org=org, actor=marketer_actor, suffix="2026-11")

    assert [c.tier for c in created] == ["high", "mid", "potential"]
    assert all(c.status == CampaignStatus.DRAFT and c.kind == "tier" for c in created)
    assert all(c.holdout_share == Decimal("0.1") for c in created)
    assert [c.variants.count() for c in created] == [2, 2, 1]
    with pytest.raises(ValidationError):
        services.tier_campaigns_create(org=org, actor=marketer_actor, suffix="2026-11")


def test_a_segment_used_by_a_campaign_cannot_be_deleted(org, high_segment, make_campaign, marketer_actor):
    from django.db.models import ProtectedError

    from segmentation.services import segment_delete

    make_campaign(segment=high_segment)

    with pytest.raises(ProtectedError):
        segment_delete(segment=high_segment, actor=marketer_actor)


def test_suppression_is_per_organization(org, other_org):
    services.suppression_add(org=org, email="Someone@Example.com", reason="unsubscribe")

    assert Suppression.objects.for_org(org).get().email == "someone@example.com"
    assert not Suppression.objects.for_org(other_org).exists()
