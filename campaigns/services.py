"""Campaign writes: editing, the tier playbook, launching, exactly-once sending, tracking and suppression.

Sending follows the delivery state machine of ``campaigns/models.py``. The rules that make it safe:

- one delivery row per (campaign, customer), created with its assignment before anything is sent;
- a row is claimed (``pending`` → ``sending``) by a conditional UPDATE in its own transaction, so only one worker
  ever holds it, however many copies of a batch task run;
- each message is marked on its own: ``handed_over`` just before the final "." of the SMTP DATA command (from
  then on the server may have it), ``sent`` when the server answered 250;
- a worker that died leaves claims behind: once their lease has run out, ``sending`` rows go back to
  ``pending`` (the server never received the end of their message), ``handed_over`` rows become ``unknown``
  and are never resent automatically (a marketer may resend them knowingly).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import re
import smtplib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import advisory_locks
from accounts.models import Organization
from accounts.services import SYSTEM, Actor, audit_record
from accounts.timekeeping import local_today, organization_time_zone
from campaigns import assignment, messages
from campaigns.models import (
    EDITABLE_STATUSES,
    MESSAGED_STATUSES,
    Campaign,
    CampaignChannel,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SkipReason,
    Suppression,
    SuppressionReason,
    Variant,
)
from campaigns.selectors import eligible_audience, message_context, tier_of
from crm.models import ConsentSource, Customer
from crm.privacy import hashed_email
from crm.services import customer_update
from segmentation.models import Segment, Tier
from webhooks.models import EventType
from webhooks.services import event_emit

logger = logging.getLogger(__name__)

CAMPAIGN_FIELDS = {
    "name",
    "description",
    "channel",
    "segment",
    "tier",
    "holdout_share",
    "attribution_days",
    "cost",
    "send_at",
    "recurring",
    "variants",
}
VARIANT_FIELDS = {"name", "subject", "body", "offer_code", "weight"}
MAX_VARIANTS = 5
ENROLL_CHUNK = 5000
#: Recurring campaigns read their audience again at most this often.
RECURRING_EVERY = datetime.timedelta(hours=1)
#: A pending delivery queued this long ago without being claimed is queued again (its task was lost).
REQUEUE_AFTER = datetime.timedelta(minutes=10)
FREQUENCY_WINDOW = datetime.timedelta(days=7)
#: Click links stop redirecting after a year: a leaked link must not stay a redirect for ever.
CLICK_LINK_MAX_AGE = datetime.timedelta(days=365)
#: First key of the PostgreSQL advisory lock that serialises frequency-cap claims per organization.
CAP_LOCK_CLASS = advisory_locks.CAMPAIGN_FREQUENCY_CAP


# Editing -----------------------------------------------------------------------------------------------------


def _clean_variants(raw: object, channel: str) -> tuple[list[dict], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, list) or not raw:
        return [], {"variants": [_("Give at least one variant.")]}
    if len(raw) > MAX_VARIANTS:
        return [], {"variants": [_("At most %(n)d variants.") % {"n": MAX_VARIANTS}]}
    cleaned = []
    names = set()
    for index, item in enumerate(raw):
        where = f"variants[{index}]"
        if not isinstance(item, dict):
            errors[where] = [_("Each variant is an object with name, subject, body, offer_code and weight.")]
            continue
        for field in sorted(set(item) - VARIANT_FIELDS):
            errors[f"{where}.{field}"] = [_("Unknown field.")]
        name = " ".join(str(item.get("name") or chr(ord("A") + index)).split())[:60]
        if name.lower() in names:
            errors[f"{where}.name"] = [_("Two variants cannot share a name.")]
        names.add(name.lower())
        subject = " ".join(str(item.get("subject") or "").split())
        body = str(item.get("body") or "")
        offer_code = str(item.get("offer_code") or "").strip()
        weight = item.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            errors[f"{where}.weight"] = [_("Use a whole number from 1 to 100.")]
        if len(subject) > 200:
            errors[f"{where}.subject"] = [_("Keep the subject to 200 characters.")]
        if len(body) > 20000:
            errors[f"{where}.body"] = [_("Keep the body to 20,000 characters.")]
        if len(offer_code) > 60:
            errors[f"{where}.offer_code"] = [_("Keep the offer code to 60 characters.")]
        for field, text in (("subject", subject), ("body", body)):
            problems = messages.check_template(text)
            if problems:
                errors[f"{where}.{field}"] = problems
        if channel == CampaignChannel.EMAIL:
            if not subject:
                errors.setdefault(f"{where}.subject", []).append(_("An e-mail needs a subject."))
            if not body.strip():
                errors.setdefault(f"{where}.body", []).append(_("An e-mail needs a body."))
        cleaned.append({"name": name, "subject": subject, "body": body, "offer_code": offer_code, "weight": weight})
    return cleaned, errors


def _clean_campaign(org: Organization, changes: dict[str, Any], *, campaign: Campaign | None) -> dict[str, Any]:
    unknown = sorted(set(changes) - CAMPAIGN_FIELDS)
    if unknown:
        raise ValidationError({field: [_("Unknown field.")] for field in unknown})
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        name = " ".join(str(changes["name"] or "").split())
        if not name:
            errors["name"] = [_("Give the campaign a name.")]
        elif len(name) > 120:
            errors["name"] = [_("Keep the name to 120 characters.")]
        else:
            taken = Campaign.objects.for_org(org).filter(name__iexact=name)
            if campaign is not None:
                taken = taken.exclude(pk=campaign.pk)
            if taken.exists():
                errors["name"] = [_("A campaign with this name already exists.")]
        changes["name"] = name
    if "description" in changes:
        changes["description"] = str(changes["description"] or "")[:2000]
    channel = changes.get("channel", campaign.channel if campaign else CampaignChannel.EMAIL)
    if channel not in CampaignChannel.values:
        errors["channel"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(CampaignChannel.values)}]
    segment = changes.get("segment")
    if segment is not None and (not isinstance(segment, Segment) or segment.organization_id != org.pk):
        errors["segment"] = [_("No such segment.")]
    if changes.get("tier") and changes["tier"] not in Tier.values:
        errors["tier"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Tier.values)}]
    if "holdout_share" in changes:
        share = changes["holdout_share"]
        try:
            share = Decimal(str(share))
        except ArithmeticError:
            share = None
        if share is None or not share.is_finite() or not Decimal("0") <= share <= Decimal("0.5"):
            errors["holdout_share"] = [_("Use a share from 0 to 0.5 (e.g. 0.1 for 10%).")]
        else:
            changes["holdout_share"] = share.quantize(Decimal("0.001"))
    if "attribution_days" in changes:
        days = changes["attribution_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
            errors["attribution_days"] = [_("Use a whole number of days from 1 to 90.")]
    if "cost" in changes:
        try:
            cost = Decimal(str(changes["cost"]))
        except ArithmeticError:
            cost = None
        if cost is None or not cost.is_finite() or cost < 0 or cost >= Decimal("1e12"):
            errors["cost"] = [_("Use an amount of 0 or more.")]
        else:
            changes["cost"] = cost.quantize(Decimal("0.01"))
    send_at = changes.get("send_at")
    if send_at is not None and timezone.is_naive(send_at):
        errors["send_at"] = [_("Give a time zone with this date-time.")]
    if "variants" in changes:
        changes["variants"], variant_errors = _clean_variants(changes["variants"], channel)
        errors.update(variant_errors)
    if errors:
        raise ValidationError(errors)
    return changes


def _replace_variants(campaign: Campaign, variants: list[dict]) -> None:
    campaign.variants.all().delete()
    Variant.objects.bulk_create(
        Variant(organization=campaign.organization, campaign=campaign, position=index, **fields)
        for index, fields in enumerate(variants)
    )


def _audit_view(fields: dict[str, Any]) -> dict[str, Any]:
    view = {
        k: (v.isoformat() if isinstance(v, datetime.datetime) else str(v) if isinstance(v, Decimal) else v)
        for k, v in fields.items()
        if k != "segment"
    }
    if "segment" in fields:
        view["segment"] = fields["segment"].pk if fields["segment"] else None
    return view


@transaction.atomic
def campaign_create(*, org: Organization, actor: Actor, name: str, variants: object = None, **fields: Any) -> Campaign:
    """A draft campaign with its variants; nothing is sent until it is launched."""
    if variants is None:
        variants = [{"name": "A"}]
    fields = _clean_campaign(org, {"name": name, "variants": variants, **fields}, campaign=None)
    variant_rows = fields.pop("variants")
    campaign = Campaign.objects.create(organization=org, created_by=actor.user, **fields)
    _replace_variants(campaign, variant_rows)
    audit_record(org=org, actor=actor, action="campaign.create", instance=campaign, after=_audit_view(fields))
    return campaign


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("organization").get(pk=campaign.pk)


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor: Actor, **changes: Any) -> Campaign:
    """Edit a draft or scheduled campaign; a launched one is the record of what was sent and stays as it is."""
    campaign = _locked(campaign)
    if campaign.status not in EDITABLE_STATUSES:
        raise ValidationError(
            {
                "status": [
                    _("This campaign has been launched (%(status)s); it can no longer be edited.")
                    % {"status": campaign.get_status_display()}
                ]
            }
        )
    fields = _clean_campaign(campaign.organization, changes, campaign=campaign)
    variants = fields.pop("variants", None)
    for name, value in fields.items():
        setattr(campaign, name, value)
    if campaign.status == CampaignStatus.SCHEDULED and campaign.send_at is None:
        campaign.status = CampaignStatus.DRAFT  # nothing to wait for any more: launch it by hand
    campaign.save()
    if variants is not None:
        _replace_variants(campaign, variants)
    audit_record(
        org=campaign.organization, actor=actor, action="campaign.update", instance=campaign, after=_audit_view(fields)
    )
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign, actor: Actor) -> None:
    campaign = _locked(campaign)
    if Delivery.objects.filter(campaign=campaign).exists():
        raise ValidationError({"status": [_("A campaign that has reached customers is kept; stop it instead.")]})
    audit_record(
        org=campaign.organization,
        actor=actor,
        action="campaign.delete",
        instance=campaign,
        before={"name": campaign.name},
    )
    campaign.delete()


#: The playbook (DESIGN.md §1): exclusive service for the high tier, repurchase incentives for the mid tier,
#: content for the potential tier. Marketers edit the drafts before launching them.
TIER_PLAYBOOK = (
    {
        "tier": Tier.HIGH,
        "name": "High tier: exclusive service",
        "description": "Top customers by value: personal service and early access, no discounts needed.",
        "variants": [
            {
                "name": "A: personal note",
                "subject": "{{ first_name }}, a personal thank-you",
                "body": "Dear {{ name }},\n\nAs one of our most valued customers you now have a personal advisor "
                "and early access to new collections.\n\nReply to this e-mail to reach your advisor.",
            },
            {
                "name": "B: early access",
                "subject": "Early access for you, {{ first_name }}",
                "body": "Dear {{ name }},\n\nOur new collection opens to you first, a week before everyone else. "
                "Use code {{ offer_code }} at checkout.",
                "offer_code": "VIPEARLY",
            },
        ],
    },
    {
        "tier": Tier.MID,
        "name": "Mid tier: repurchase incentive",
        "description": "Regular customers: a reason to come back sooner.",
        "variants": [
            {
                "name": "A: 10% off",
                "subject": "{{ first_name }}, 10% off your next order",
                "body": "Hello {{ name }},\n\nThank you for shopping with us. Here is 10% off your next order "
                "with code {{ offer_code }}, valid for 14 days.",
                "offer_code": "BACK10",
            },
            {
                "name": "B: free shipping",
                "subject": "Free shipping on your next order, {{ first_name }}",
                "body": "Hello {{ name }},\n\nYour next order ships free with code {{ offer_code }}, "
                "valid for 14 days.",
                "offer_code": "SHIPFREE",
            },
        ],
    },
    {
        "tier": Tier.POTENTIAL,
        "name": "Potential tier: helpful content",
        "description": "Newer or occasional customers: useful content that builds the habit, no discount.",
        "variants": [
            {
                "name": "A: guide",
                "subject": "Getting the most from your purchase, {{ first_name }}",
                "body": "Hello {{ name }},\n\nHere are our best tips to get the most from what you bought, "
                "and what our customers pair it with.",
            },
        ],
    },
)


@transaction.atomic
def tier_campaigns_create(*, org: Organization, actor: Actor, suffix: str = "") -> list[Campaign]:
    """The playbook's three draft campaigns (high / mid / potential), with A/B variants and a 10% hold-out."""
    suffix = suffix or local_today(org, timezone.now()).isoformat()
    created = []
    # Created potential → high, so the newest-first campaign list shows the high tier on top.
    for play in reversed(TIER_PLAYBOOK):
        name = f"{play['name']} ({suffix})"
        if Campaign.objects.for_org(org).filter(name__iexact=name).exists():
            raise ValidationError({"name": [_("The tier campaigns named “%(name)s” exist already.") % {"name": name}]})
        created.append(
            campaign_create(
                org=org,
                actor=actor,
                name=name,
                description=play["description"],
                tier=play["tier"],
                variants=[dict(v) for v in play["variants"]],
            )
        )
    Campaign.objects.filter(pk__in=[c.pk for c in created]).update(kind=CampaignKind.TIER, updated_at=timezone.now())
    for campaign in created:
        campaign.kind = CampaignKind.TIER
    return created[::-1]


# Launching and enrolling ---------------------------------------------------------------------------------------


def _check_launchable(campaign: Campaign) -> None:
    errors: dict[str, list[str]] = {}
    if campaign.status not in EDITABLE_STATUSES:
        errors["status"] = [
            _("This campaign was launched already (%(status)s).") % {"status": campaign.get_status_display()}
        ]
    if campaign.segment_id is None and not campaign.tier:
        errors["segment"] = [_("Choose a segment or a tier: a campaign never goes to every customer by default.")]
    variants = list(campaign.variants.all())
    if not variants:
        errors["variants"] = [_("Give at least one variant.")]
    if campaign.channel == CampaignChannel.EMAIL:
        for variant in variants:
            where = f"variants[{variant.position}]"
            for field in ("subject", "body"):
                problems = messages.check_template(getattr(variant, field))
                if problems:
                    errors[f"{where}.{field}"] = problems
                elif not getattr(variant, field).strip():
                    errors[f"{where}.{field}"] = [_("An e-mail needs a subject and a body.")]
    if errors:
        raise ValidationError(errors)


def _audience_record(campaign: Campaign) -> dict[str, Any]:
    segment = campaign.segment
    return {
        "segment": {"id": segment.pk, "name": segment.name, "rules": segment.rules} if segment else None,
        "tier": campaign.tier,
        "channel": campaign.channel,
    }


@dataclass(frozen=True)
class LaunchOutcome:
    campaign: Campaign
    enrolled: int
    scheduled: bool


def campaign_launch(
    *,
    campaign: Campaign,
    actor: Actor,
    send_at: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
    only_if_status: str | None = None,
) -> LaunchOutcome | None:
    """Launch now, or schedule for ``send_at``. Launching twice is an error, never a second send.

    ``only_if_status`` (the scheduler) launches only a campaign still in that status once locked, and returns
    None otherwise: a campaign stopped between the scheduler's read and its launch stays stopped.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(campaign)
        if only_if_status is not None and campaign.status != only_if_status:
            return None
        _check_launchable(campaign)
        when = send_at or campaign.send_at
        if when is not None and timezone.is_naive(when):
            raise ValidationError({"send_at": [_("Give a time zone with this date-time.")]})
        if when is not None and when > now:
            campaign.status = CampaignStatus.SCHEDULED
            campaign.send_at = when
            campaign.save(update_fields=["status", "send_at", "updated_at"])
            audit_record(
                org=campaign.organization,
                actor=actor,
                action="campaign.schedule",
                instance=campaign,
                after={"send_at": when.isoformat()},
            )
            return LaunchOutcome(campaign=campaign, enrolled=0, scheduled=True)
        campaign.status = CampaignStatus.ACTIVE if campaign.recurring else CampaignStatus.SENDING
        campaign.launched_at = now
        campaign.launched_by_label = actor.display
        campaign.audience_at_launch = _audience_record(campaign)
        campaign.save()
        enrolled = campaign_enroll(campaign=campaign, now=now)
        audit_record(
            org=campaign.organization,
            actor=actor,
            action="campaign.launch",
            instance=campaign,
            after={"enrolled": enrolled, "audience": campaign.audience_at_launch},
        )
    deliveries_dispatch(campaign=campaign, now=now)
    _campaign_finish_if_done(campaign)
    campaign.refresh_from_db()
    return LaunchOutcome(campaign=campaign, enrolled=enrolled, scheduled=False)


def campaign_enroll(*, campaign: Campaign, now: datetime.datetime) -> int:
    """Create the delivery rows (variant or hold-out) of eligible customers not enrolled yet; returns how many.

    Set-based: the audience is one query; assignments are computed in numpy from the ids; rows are inserted in
    chunks, ignoring customers already enrolled (the unique (campaign, customer) constraint), so enrolling again
    after a crash or for a recurring campaign adds only the newcomers.
    """
    org = campaign.organization
    today = local_today(org, now)
    already = Delivery.objects.filter(campaign=campaign, customer_id=OuterRef("pk"))
    ids = list(
        eligible_audience(campaign=campaign, today=today)
        .exclude(Exists(already))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    variants = list(campaign.variants.order_by("position"))
    if not ids or not variants:
        Campaign.objects.filter(pk=campaign.pk).update(last_enrolled_at=now)
        return 0
    arms = assignment.assign(
        campaign.pk, ids, allocation=[v.weight for v in variants], holdout_share=float(campaign.holdout_share)
    )
    is_export = campaign.channel == CampaignChannel.EXPORT
    before = Delivery.objects.filter(campaign=campaign).count()
    for start in range(0, len(ids), ENROLL_CHUNK):
        rows = []
        for customer_id, arm in zip(ids[start : start + ENROLL_CHUNK], arms[start : start + ENROLL_CHUNK], strict=True):
            holdout = arm == assignment.HOLDOUT
            status = (
                DeliveryStatus.HOLDOUT
                if holdout
                else (DeliveryStatus.EXPORTED if is_export else DeliveryStatus.PENDING)
            )
            rows.append(
                Delivery(
                    organization=org,
                    campaign=campaign,
                    customer_id=customer_id,
                    variant=None if holdout else variants[int(arm)],
                    status=status,
                    assigned_at=now,
                )
            )
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    Campaign.objects.filter(pk=campaign.pk).update(last_enrolled_at=now)
    return Delivery.objects.filter(campaign=campaign).count() - before


# Sending -----------------------------------------------------------------------------------------------------


def _quiet_until(org: Organization, now: datetime.datetime) -> datetime.datetime | None:
    return messages.quiet_until(
        now.astimezone(organization_time_zone(org)), start_hour=org.quiet_hours_start, end_hour=org.quiet_hours_end
    )


def deliveries_dispatch(
    *, campaign: Campaign, now: datetime.datetime | None = None, ids: Iterable[int] | None = None
) -> int:
    """Queue pending deliveries in batch tasks (all unqueued or long-queued ones, or just ``ids``); returns batches.

    Queuing a row twice is harmless (only one claim can succeed); it only costs a query. Nothing is queued in
    quiet hours: the minute tick queues the rows once they are over.
    """
    from campaigns.tasks import send_batch

    now = now or timezone.now()
    if _quiet_until(campaign.organization, now) is not None:
        return 0
    pending = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PENDING)
    if ids is not None:
        pending = pending.filter(pk__in=list(ids))
    else:
        pending = pending.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER))
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    size = max(1, settings.CAMPAIGN_BATCH_SIZE)
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    if not batches:
        return 0
    Delivery.objects.filter(pk__in=ids).update(queued_at=now)
    for batch in batches:
        transaction.on_commit(lambda batch=batch: send_batch.delay(campaign.pk, batch))
    return len(batches)


class TransientSendError(Exception):
    """The mail server could not be reached or asked us to come back later; the batch is retried."""


@dataclass
class BatchOutcome:
    sent: int = 0
    skipped: int = 0
    bounced: int = 0
    failed: int = 0
    deferred_until: datetime.datetime | None = None


#: Statuses that count against the frequency cap: messages sent, possibly sent, or being sent right now.
CAPPED_STATUSES = (*MESSAGED_STATUSES, DeliveryStatus.SENDING)
SENDABLE_CAMPAIGN_STATUSES = (CampaignStatus.SENDING, CampaignStatus.ACTIVE)


def _claim(campaign: Campaign, ids: Iterable[int], now: datetime.datetime) -> tuple[list[Delivery], int]:
    """Claim the batch's pending rows; rows a customer may no longer receive are skipped with the reason.

    Each claimed row's ``attempts`` is its claim number: every later transition of the row is conditional on it,
    so a worker whose claim was taken over (its lease ran out) can no longer send or mark that row.
    """
    org = campaign.organization
    with transaction.atomic():
        status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
        if status not in SENDABLE_CAMPAIGN_STATUSES:
            return [], 0
        if org.campaign_frequency_cap and connection.vendor == "postgresql":
            # Two campaigns claiming the same customer at once would each see the cap not yet reached.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CAP_LOCK_CLASS, org.pk])
        # Lock the delivery rows only: PostgreSQL cannot lock the nullable side of the outer join to variant.
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=list(ids), campaign=campaign, status=DeliveryStatus.PENDING)
            .select_related("customer", "customer__score", "variant")  # build_email reads the tier
            .order_by("pk")
        )
        if not rows:
            return [], 0
        emails = {row.customer.email for row in rows if row.customer.email}
        # Erased people's addresses are suppressed as keyed hashes: an address imported again still matches.
        hashed = {hashed_email(org, email): email for email in emails}
        suppressed = {
            hashed.get(address, address)
            for address in Suppression.objects.for_org(org)
            .filter(email__in=[*emails, *hashed])
            .values_list("email", flat=True)
        }
        capped: set[int] = set()
        if org.campaign_frequency_cap:
            capped = set(
                Delivery.objects.for_org(org)
                .filter(
                    customer_id__in=[row.customer_id for row in rows],
                    status__in=CAPPED_STATUSES,
                    claimed_at__gte=now - FREQUENCY_WINDOW,
                )
                .exclude(campaign=campaign)
                .values("customer_id")
                .annotate(n=Count("id"))
                .filter(n__gte=org.campaign_frequency_cap)
                .values_list("customer_id", flat=True)
            )
        claimed, skipped = [], {}
        for row in rows:
            customer = row.customer
            if not customer.email:
                reason = SkipReason.NO_EMAIL
            elif not customer.consent_email:
                reason = SkipReason.NO_CONSENT
            elif customer.email in suppressed:
                reason = SkipReason.SUPPRESSED
            elif row.customer_id in capped:
                reason = SkipReason.FREQUENCY_CAP
            else:
                claimed.append(row)
                continue
            skipped.setdefault(reason, []).append(row.pk)
        for reason, pks in skipped.items():
            Delivery.objects.filter(pk__in=pks).update(status=DeliveryStatus.SKIPPED, skip_reason=reason)
        Delivery.objects.filter(pk__in=[row.pk for row in claimed]).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        for row in claimed:
            row.attempts += 1
            row.claimed_at = now
    return claimed, sum(len(pks) for pks in skipped.values())


def _public_url(path: str) -> str:
    return settings.CUSTOPS_PUBLIC_URL.rstrip("/") + path


def _token(delivery_id: int, salt: str) -> str:
    return signing.Signer(salt=salt).sign(str(delivery_id))


def tracking_links(delivery: Delivery) -> dict[str, Any]:
    """The delivery's signed links: open pixel, click redirect maker and unsubscribe."""
    open_path = reverse("campaigns:track-open", args=[_token(delivery.pk, "campaigns.open")])
    unsubscribe_path = reverse("campaigns:unsubscribe", args=[_token(delivery.pk, "campaigns.unsubscribe")])

    def click(url: str) -> str:
        token = signing.dumps({"d": delivery.pk, "u": url}, salt="campaigns.click", compress=True)
        return _public_url(reverse("campaigns:track-click", args=[token]))

    return {"pixel": _public_url(open_path), "unsubscribe": _public_url(unsubscribe_path), "click": click}


def build_email(delivery: Delivery, *, from_email: str | None = None) -> EmailMultiAlternatives:
    """The e-mail of one delivery, with tracking, List-Unsubscribe (one-click) and a stable Message-ID."""
    from_email = from_email or settings.DEFAULT_FROM_EMAIL
    links = tracking_links(delivery)
    variant = delivery.variant
    rendered = messages.render_message(
        subject=variant.subject,
        body=variant.body,
        context=message_context(customer=delivery.customer, variant=variant, tier=tier_of(delivery.customer)),
        track_link=links["click"],
        pixel_url=links["pixel"],
        unsubscribe_url=links["unsubscribe"],
        unsubscribe_label=_("Unsubscribe"),
    )
    domain = parseaddr(from_email)[1].rpartition("@")[2] or "custops.local"
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=[delivery.customer.email],
        headers={
            "Message-ID": f"<campaign-{delivery.campaign_id}.delivery-{delivery.pk}@{domain}>",
            "List-Unsubscribe": f"<{links['unsubscribe']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Custops-Campaign": str(delivery.campaign_id),
        },
    )
    email.attach_alternative(rendered.html, "text/html")
    return email


_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def smtp_send_marked(smtp: smtplib.SMTP, email: EmailMultiAlternatives, before_final_dot: Callable[[], None]) -> None:
    """Send one message over an open connection, calling ``before_final_dot`` just before the end of DATA.

    Up to that call, a dropped connection means the server has nothing (it discards a DATA it did not see
    finish), so the message can safely be sent again; after it, the server may have accepted the message.
    """
    encoding = email.encoding or settings.DEFAULT_CHARSET
    sender = sanitize_address(email.from_email, encoding)
    recipient = sanitize_address(email.recipients()[0], encoding)  # IDN domains become punycode
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        smtp.rset()
        raise smtplib.SMTPDataError(code, reply)
    data = _LEADING_DOT.sub(b"..", _LINE_ENDINGS.sub(b"\r\n", email.message().as_bytes(linesep="\r\n")))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    # The body and the final dot are two writes: with Nagle's algorithm the dot would wait for the server to
    # acknowledge the body, which it delays (40 ms on Linux) while it waits for the dot: 25 messages/s at most.
    with contextlib.suppress(AttributeError, OSError):
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    smtp.send(data)
    before_final_dot()
    smtp.send(b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _mine(row: Delivery):
    """The row, only while this worker's claim on it stands."""
    return Delivery.objects.filter(pk=row.pk, attempts=row.attempts)


def _release(campaign: Campaign, rows: Iterable[Delivery]) -> None:
    """Give claimed rows that never reached the server back to the queue (or skip them: the campaign stopped)."""
    pks = [row.pk for row in rows]
    stopped = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.STOPPED).exists()
    claims = Delivery.objects.filter(pk__in=pks, status=DeliveryStatus.SENDING)
    if stopped:
        claims.update(status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.STOPPED)
    else:
        claims.update(status=DeliveryStatus.PENDING, claimed_at=None, queued_at=None)


def suppression_add(
    *, org: Organization, email: str, reason: str, detail: str = "", delivery: Delivery | None = None
) -> Suppression:
    email = email.strip().lower()
    suppression, _created = Suppression.objects.get_or_create(
        organization=org, email=email, defaults={"reason": reason, "detail": detail[:500], "delivery": delivery}
    )
    return suppression


@transaction.atomic
def suppression_create(*, org: Organization, actor: Actor, email: str, reason: str, detail: str = "") -> Suppression:
    """Suppress an address reported from outside (an ESP's bounce or complaint feed, a support request).

    A complaint or an unsubscribe also turns e-mail consent off on the organization's customers with that address.
    """
    address = " ".join(str(email or "").split()).lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(address)
    except ValidationError:
        errors["email"] = [_("Enter a valid e-mail address.")]
    if reason not in SuppressionReason.values:
        errors["reason"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(SuppressionReason.values)}]
    if errors:
        raise ValidationError(errors)
    if Suppression.objects.for_org(org).filter(email=address).exists():
        raise ValidationError({"email": [_("This address is suppressed already.")]})
    suppression = suppression_add(org=org, email=address, reason=reason, detail=str(detail or ""))
    if reason in (SuppressionReason.COMPLAINT, SuppressionReason.UNSUBSCRIBE):
        for customer in Customer.objects.for_org(org).filter(email=address, consent_email=True):
            customer_update(
                customer=customer, actor=actor, consent_email=False, consent_source=ConsentSource.SUPPRESSION
            )
    audit_record(org=org, actor=actor, action="suppression.create", instance=suppression, after={"reason": reason})
    return suppression


@transaction.atomic
def suppression_delete(*, suppression: Suppression, actor: Actor) -> None:
    """Lift a suppression (e.g. a mailbox that works again). Consent is not given back: the customer must opt in."""
    audit_record(
        org=suppression.organization,
        actor=actor,
        action="suppression.delete",
        instance=suppression,
        before={"reason": suppression.reason},
    )
    suppression.delete()


#: A row refused for now by the server (4xx to its recipient) is tried at most this many times, then failed.
MAX_ATTEMPTS = 5
#: Every this many messages, a batch renews the lease of its remaining claims and checks the campaign was not
#: stopped.
CHECK_EVERY = 5


def deliveries_send(*, campaign_id: int, delivery_ids: list[int], now: datetime.datetime | None = None) -> BatchOutcome:
    """Send one batch: claim, then send and mark each message on its own.

    Raises TransientSendError (after giving the unsent rows back) when the server is unreachable or refuses the
    connection or a message for now, so the task can retry the batch later. A problem with one message (its
    recipient refused, an address that cannot be encoded) is that row's only.
    """
    now = now or timezone.now()
    outcome = BatchOutcome()
    campaign = Campaign.objects.select_related("organization").filter(pk=campaign_id).first()
    if campaign is None or campaign.status not in SENDABLE_CAMPAIGN_STATUSES:
        return outcome
    org = campaign.organization
    quiet = _quiet_until(org, now)
    if quiet is not None:
        # The minute tick queues these rows again when the quiet hours end.
        Delivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.PENDING).update(
            queued_at=quiet - REQUEUE_AFTER
        )
        outcome.deferred_until = quiet
        return outcome
    rows, outcome.skipped = _claim(campaign, delivery_ids, now)
    if not rows:
        _campaign_finish_if_done(campaign)
        return outcome
    backend = get_connection(fail_silently=False)
    smtp_backend = isinstance(backend, SmtpBackend)
    remaining = list(rows)
    done = 0
    try:
        try:
            backend.open()
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"cannot connect to the mail server: {exc}") from exc
        while remaining:
            if done and done % CHECK_EVERY == 0 and not _keep_claims(campaign, remaining):
                break
            _send_one(remaining[0], backend, smtp_backend, outcome, org)  # a TransientSendError releases it too
            remaining.pop(0)
            done += 1
    except TransientSendError:
        _release(campaign, remaining)
        raise
    finally:
        try:
            backend.close()
        except Exception:
            logger.debug("closing the mail connection failed", exc_info=True)
    _release(campaign, remaining)  # only non-empty when the campaign was stopped mid-batch
    _campaign_finish_if_done(campaign)
    return outcome


def _keep_claims(campaign: Campaign, remaining: list[Delivery]) -> bool:
    """Renew the lease of the batch's remaining claims; False when the campaign was stopped meanwhile.

    The lease is renewed once a third of it has run out, not at every check: rewriting every remaining row each
    5 messages cost about 20 row versions a message in batches of 200.
    """
    if not Campaign.objects.filter(pk=campaign.pk, status__in=SENDABLE_CAMPAIGN_STATUSES).exists():
        return False
    now = timezone.now()
    renew_before = now - datetime.timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS / 3)
    if all(row.claimed_at is not None and row.claimed_at > renew_before for row in remaining):
        return True
    for row in remaining:
        row.claimed_at = now
    Delivery.objects.filter(pk__in=[row.pk for row in remaining], status=DeliveryStatus.SENDING).update(claimed_at=now)
    return True


class _ClaimLostError(Exception):
    """Another worker took this row over (our lease ran out): we must not send it."""


def _send_one(row: Delivery, backend, smtp_backend: bool, outcome: BatchOutcome, org: Organization) -> None:
    handed_over = False

    def mark_handed_over() -> None:
        nonlocal handed_over
        if (
            not _mine(row)
            .filter(status=DeliveryStatus.SENDING)
            .update(status=DeliveryStatus.HANDED_OVER, claimed_at=timezone.now())
        ):
            raise _ClaimLostError
        handed_over = True

    try:
        email = build_email(row)
        if smtp_backend:
            smtp_send_marked(backend.connection, email, mark_handed_over)
        else:
            mark_handed_over()
            backend.send_messages([email])
    except _ClaimLostError:
        if smtp_backend:
            backend.connection.rset()  # abandon this message's DATA: the server discards it
        return
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        if 400 <= code < 500 and code != 421:
            # This address is refused for now (mailbox full, greylisting): retry it later, go on with the rest.
            if row.attempts >= MAX_ATTEMPTS:
                _mark(row, DeliveryStatus.FAILED, error=f"{code} {_text(reply)} (after {row.attempts} attempts)")
                outcome.failed += 1
            else:
                _mine(row).filter(status=DeliveryStatus.SENDING).update(
                    status=DeliveryStatus.PENDING,
                    claimed_at=None,
                    queued_at=timezone.now(),
                    error=f"{code} {_text(reply)}",
                )
            return
        if 400 <= code < 500:
            raise TransientSendError(f"{code} {_text(reply)}") from exc
        _mark(row, DeliveryStatus.BOUNCED, error=f"{code} {_text(reply)}")
        suppression_add(
            org=org,
            email=row.customer.email,
            reason=SuppressionReason.BOUNCE,
            detail=f"{code} {_text(reply)}",
            delivery=row,
        )
        outcome.bounced += 1
        return
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            if handed_over:
                # A 4xx answer to the final dot is a definite "not taken, try later": safe to resend.
                _mine(row).update(status=DeliveryStatus.SENDING)
            raise TransientSendError(f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
        _mark(row, DeliveryStatus.FAILED, error=f"{exc.smtp_code} {_text(exc.smtp_error)}")
        outcome.failed += 1
        return
    except (smtplib.SMTPException, OSError) as exc:  # dropped connection, timeout, refused
        if handed_over:
            # The server may have the message; resending could deliver it twice.
            _mark(row, DeliveryStatus.UNKNOWN, error=f"connection lost after the message was handed over: {exc}")
        else:
            _mine(row).filter(status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.PENDING, claimed_at=None, queued_at=None
            )
        raise TransientSendError(str(exc) or exc.__class__.__name__) from exc
    except Exception as exc:
        # The class only: SMTP errors quote the recipient's address (the delivery row keeps the full message).
        logger.error("campaign %s: delivery %s could not be sent (%s)", row.campaign_id, row.pk, type(exc).__name__)
        _mark(
            row, DeliveryStatus.UNKNOWN if handed_over else DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}"
        )
        outcome.failed += 1
        if smtp_backend and not handed_over:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                backend.connection.rset()
        return
    _mine(row).update(
        status=DeliveryStatus.SENT,
        sent_at=timezone.now(),
        email=row.customer.email,
        message_id=email.extra_headers["Message-ID"],
        error="",
    )
    outcome.sent += 1


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply))[:400]


def _mark(row: Delivery, status: str, *, error: str = "") -> None:
    _mine(row).update(status=status, error=error[:500], email=row.customer.email)


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.HANDED_OVER)


def _campaign_finish_if_done(campaign: Campaign) -> None:
    """A one-off campaign is sent once no delivery is waiting or in flight."""
    if campaign.status != CampaignStatus.SENDING:
        return
    if Delivery.objects.filter(campaign=campaign, status__in=OPEN_STATUSES).exists():
        return
    # The status change and its webhook event commit together: a worker dying in between loses neither.
    with transaction.atomic():
        finished = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(
            status=CampaignStatus.SENT, finished_at=timezone.now(), updated_at=timezone.now()
        )
        if finished:
            _campaign_finished_emit(campaign)


def _campaign_finished_emit(campaign: Campaign) -> None:
    """The campaign.finished webhook: the campaign and its deliveries counted by status."""
    counts = dict(Delivery.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("id")))
    finished_at = Campaign.objects.filter(pk=campaign.pk).values_list("finished_at", flat=True).first()
    event_emit(
        org=campaign.organization,
        event_type=EventType.CAMPAIGN_FINISHED,
        payload={
            "campaign": {"id": campaign.pk, "name": campaign.name, "status": CampaignStatus.SENT.value},
            "finished_at": finished_at,
            "deliveries": counts,
        },
    )


def release_stale_claims(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Claims whose worker died: unsent rows go back to pending, rows the server may have become unknown."""
    now = now or timezone.now()
    expired = now - datetime.timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS)
    stale = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=expired)
    stale.filter(campaign__status=CampaignStatus.STOPPED).update(
        status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.STOPPED
    )
    released = stale.update(status=DeliveryStatus.PENDING, claimed_at=None, queued_at=None)
    unknown = Delivery.objects.filter(status=DeliveryStatus.HANDED_OVER, claimed_at__lt=expired).update(
        status=DeliveryStatus.UNKNOWN, error="the worker stopped while the mail server was answering"
    )
    if released or unknown:
        logger.warning("campaign claims expired: %d back to pending, %d unknown", released, unknown)
    return {"released": released, "unknown": unknown}


def campaigns_tick(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """The scheduler's minute: launch due campaigns, enroll newcomers, recover lost claims and batches."""
    now = now or timezone.now()
    done = {"launched": 0, "enrolled": 0, "dispatched": 0, **release_stale_claims(now=now)}
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED, send_at__lte=now).select_related(
        "organization"
    ):
        try:
            if campaign_launch(campaign=campaign, actor=SYSTEM, now=now, only_if_status=CampaignStatus.SCHEDULED):
                done["launched"] += 1
        except ValidationError as exc:
            logger.warning("scheduled campaign %s could not start: %s", campaign.pk, exc.messages)
    recurring_due = Campaign.objects.filter(status=CampaignStatus.ACTIVE).filter(
        Q(last_enrolled_at__isnull=True) | Q(last_enrolled_at__lte=now - RECURRING_EVERY)
    )
    for campaign in recurring_due.select_related("organization"):
        with transaction.atomic():
            locked = _locked(campaign)
            if locked.status == CampaignStatus.ACTIVE:  # not stopped since the read above
                done["enrolled"] += campaign_enroll(campaign=locked, now=now)
    for campaign in Campaign.objects.filter(status__in=[CampaignStatus.SENDING, CampaignStatus.ACTIVE]).select_related(
        "organization"
    ):
        done["dispatched"] += deliveries_dispatch(campaign=campaign, now=now)
        _campaign_finish_if_done(campaign)
    return done


@transaction.atomic
def campaign_stop(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Stop sending: waiting deliveries are skipped; messages already sent stay counted in the results."""
    campaign = _locked(campaign)
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.ACTIVE):
        raise ValidationError({"status": [_("Only a scheduled or sending campaign can be stopped.")]})
    skipped = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.STOPPED
    )
    campaign.status = CampaignStatus.STOPPED if campaign.launched_at else CampaignStatus.DRAFT
    campaign.send_at = None
    campaign.finished_at = timezone.now() if campaign.launched_at else None
    campaign.save()
    audit_record(
        org=campaign.organization, actor=actor, action="campaign.stop", instance=campaign, after={"skipped": skipped}
    )
    return campaign


@transaction.atomic
def unknown_deliveries_resend(*, campaign: Campaign, actor: Actor) -> int:
    """Queue the deliveries whose fate is unknown again: a marketer's explicit choice to risk a duplicate."""
    campaign = _locked(campaign)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.ACTIVE, CampaignStatus.SENT):
        raise ValidationError({"status": [_("A stopped campaign sends nothing more.")]})
    unknown = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.UNKNOWN)
    ids = list(unknown.values_list("pk", flat=True))
    count = Delivery.objects.filter(pk__in=ids).update(status=DeliveryStatus.PENDING, claimed_at=None, queued_at=None)
    if count and campaign.status == CampaignStatus.SENT:
        campaign.status = CampaignStatus.SENDING
        campaign.save(update_fields=["status", "updated_at"])
    audit_record(
        org=campaign.organization,
        actor=actor,
        action="campaign.resend_unknown",
        instance=campaign,
        after={"count": count},
    )
    if count:
        deliveries_dispatch(campaign=campaign, ids=ids)
    return count


# Tracking and unsubscribe --------------------------------------------------------------------------------------


def _delivery_from_token(token: str, salt: str) -> Delivery | None:
    try:
        delivery_id = int(signing.Signer(salt=salt).unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    return Delivery.objects.select_related("organization", "customer").filter(pk=delivery_id).first()


def delivery_opened(*, token: str, now: datetime.datetime | None = None) -> bool:
    delivery = _delivery_from_token(token, "campaigns.open")
    if delivery is None:
        return False
    now = now or timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(open_count=F("open_count") + 1)
    Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=now)
    return True


def delivery_clicked(*, token: str, now: datetime.datetime | None = None) -> str | None:
    """Record a click and return where to send the browser; None for a forged or damaged link."""
    try:
        payload = signing.loads(token, salt="campaigns.click", max_age=CLICK_LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    url = str(payload.get("u", "")) if isinstance(payload, dict) else ""
    if not url.startswith(("https://", "http://")):
        return None
    now = now or timezone.now()
    updated = Delivery.objects.filter(pk=payload.get("d")).update(click_count=F("click_count") + 1)
    if updated:
        Delivery.objects.filter(pk=payload.get("d"), clicked_at__isnull=True).update(clicked_at=now)
        Delivery.objects.filter(pk=payload.get("d"), opened_at__isnull=True).update(opened_at=now)
    return url


def unsubscribe_target(*, token: str) -> Delivery | None:
    return _delivery_from_token(token, "campaigns.unsubscribe")


@transaction.atomic
def delivery_unsubscribe(*, delivery: Delivery, now: datetime.datetime | None = None) -> None:
    """One-click unsubscribe: e-mail consent off (with its date), the address suppressed, the delivery marked."""
    now = now or timezone.now()
    customer = delivery.customer
    actor = Actor(label="unsubscribe link")
    if customer.consent_email:
        customer_update(
            customer=customer, actor=actor, consent_email=False, consent_source=ConsentSource.UNSUBSCRIBE_LINK
        )
    if customer.email:
        suppression_add(
            org=delivery.organization, email=customer.email, reason=SuppressionReason.UNSUBSCRIBE, delivery=delivery
        )
    Delivery.objects.filter(pk=delivery.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
