"""Sending over a real SMTP conversation (an aiosmtpd server in this process): bounces, refusals, time-outs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller

from campaigns import services
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Suppression
from tests.integration.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class Sink:
    """Accepts mail, except: addresses in ``unknown`` get 550 at RCPT; the first ``busy`` messages get 451."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.unknown: set[str] = set()
        self.full: set[str] = set()
        self.busy = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        if address in self.unknown:
            return "550 5.1.1 No such user"
        if address in self.full:
            return "452 4.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.busy > 0:
            self.busy -= 1
            return "451 4.3.0 Try again later"
        message_id = next(
            line.split(":", 1)[1].strip()
            for line in envelope.content.decode().splitlines()
            if line.lower().startswith("message-id:")
        )
        self.received.append((envelope.rcpt_tos[0], message_id))
        return "250 Accepted"


@pytest.fixture
def sink(settings):
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield handler
    controller.stop()


@pytest.fixture(autouse=True)
def _awake(org):
    org.quiet_hours_start = org.quiet_hours_end = 0
    org.save()


def test_every_recipient_gets_one_message_and_a_refused_address_bounces_and_is_suppressed(
    org, audience, make_campaign, marketer_actor, sink
):
    refused = audience["consenting"][0].email
    sink.unknown.add(refused)
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))

    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    bounced = Delivery.objects.get(campaign=campaign, customer=audience["consenting"][0])
    assert bounced.status == DeliveryStatus.BOUNCED and bounced.error.startswith("550")
    assert Suppression.objects.for_org(org).filter(email=refused, reason="bounce").exists()
    sent = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT)
    assert sorted(sink.received) == sorted((d.customer.email, d.message_id) for d in sent.select_related("customer"))
    assert sent.count() == 59 and len({to for to, _ in sink.received}) == 59
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_a_temporary_refusal_gives_the_batch_back_and_a_retry_sends_it_once(
    org, audience, make_campaign, marketer_actor, sink
):
    sink.busy = 1
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))

    services.campaign_launch(campaign=campaign, actor=marketer_actor)  # the eager task retries the batch

    assert Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT).count() == 60
    assert len(sink.received) == 60 and len({to for to, _ in sink.received}) == 60


def test_an_unreachable_server_leaves_every_delivery_waiting(org, audience, make_campaign, marketer_actor, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens
    settings.EMAIL_TIMEOUT = 2
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))

    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    assert Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PENDING).count() == 60
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING


def test_one_address_refused_for_now_waits_alone_while_the_rest_of_its_batch_goes_out(
    org, audience, make_campaign, marketer_actor, sink
):
    full = audience["consenting"][0]
    sink.full.add(full.email)
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))

    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    row = Delivery.objects.get(campaign=campaign, customer=full)
    assert row.status == DeliveryStatus.PENDING and row.error.startswith("452")
    assert len(sink.received) == 59
    for _ in range(services.MAX_ATTEMPTS):  # the tick tries it again later, a few times, then gives up
        services.deliveries_send(campaign_id=campaign.pk, delivery_ids=[row.pk])
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED and "attempts" in row.error
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT
    assert len(sink.received) == 59


def test_an_international_domain_is_sent_in_punycode(org, make_campaign, marketer_actor, sink):
    from tests.campaigns.conftest import score
    from tests.factories import CustomerFactory

    customer = CustomerFactory(organization=org, consent_email=True, email="bob@bücher.de")
    score(customer, "high")
    campaign = make_campaign(tier="high", holdout_share=Decimal("0"))

    services.campaign_launch(campaign=campaign, actor=marketer_actor)

    assert Delivery.objects.get(campaign=campaign).status == DeliveryStatus.SENT
    assert [to for to, _ in sink.received] == ["bob@xn--bcher-kva.de"]
