"""Campaigns, their variants, and one delivery row per (campaign, customer).

The delivery row is the unit of exactly-once sending: it is created (with the customer's variant or hold-out
assignment) before anything is sent, and its status moves forward one message at a time:

    pending ──claim──▶ sending ──body written, final dot next──▶ handed_over ──server said 250──▶ sent
                          │                                          │
                          └─ worker died: back to pending (nothing    └─ worker died: unknown (the server may
                             reached the server)                        have the message; never resent by itself)

A row leaves ``pending`` only through a conditional UPDATE, so two workers, a duplicated task or a re-run
can never both send it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel
from crm.models import TouchOnSaveMixin
from segmentation.models import Tier

MONEY = {"max_digits": 14, "decimal_places": 2}


class CampaignChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    EXPORT = "export", _("Export list (SMS, ads, calls)")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    ACTIVE = "active", _("Active (sending to new entrants)")
    SENT = "sent", _("Sent")
    STOPPED = "stopped", _("Stopped")


#: Statuses in which a campaign's audience and content may still be edited.
EDITABLE_STATUSES = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED})


class CampaignKind(models.TextChoices):
    CUSTOM = "custom", _("Custom")
    TIER = "tier", _("Tier playbook")


class Campaign(TouchOnSaveMixin, TenantModel):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    kind = models.CharField(_("kind"), max_length=8, choices=CampaignKind.choices, default=CampaignKind.CUSTOM)
    channel = models.CharField(
        _("channel"), max_length=8, choices=CampaignChannel.choices, default=CampaignChannel.EMAIL
    )
    segment = models.ForeignKey(
        "segmentation.Segment",
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
    )
    tier = models.CharField(_("tier"), max_length=10, choices=Tier.choices, blank=True)
    #: The audience as it was when the campaign was launched (segment name and rules, tier), kept for the record.
    audience_at_launch = models.JSONField(_("audience at launch"), default=dict, blank=True)
    holdout_share = models.DecimalField(
        _("hold-out share"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("0.5"))],
    )
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"), default=14, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    cost = models.DecimalField(_("cost"), default=0, validators=[MinValueValidator(0)], **MONEY)
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    recurring = models.BooleanField(_("also send to customers who enter the audience later"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    launched_by_label = models.CharField(_("launched by"), max_length=200, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_enrolled_at = models.DateTimeField(_("audience last read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="campaign_unique_name_per_org"),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="campaign_org_status")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


class Variant(TenantModel):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveSmallIntegerField(_("position"))
    name = models.CharField(_("name"), max_length=60)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"), max_length=20000, blank=True)
    offer_code = models.CharField(_("offer code"), max_length=60, blank=True)
    weight = models.PositiveSmallIntegerField(
        _("allocation weight"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )

    class Meta:
        ordering = ["campaign_id", "position"]
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="variant_unique_position"),
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to send")
    SENDING = "sending", _("Sending")
    HANDED_OVER = "handed_over", _("Handed to the mail server")
    SENT = "sent", _("Sent")
    EXPORTED = "exported", _("In the export list")
    HOLDOUT = "holdout", _("Hold-out (nothing sent)")
    SKIPPED = "skipped", _("Skipped")
    BOUNCED = "bounced", _("Bounced")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Unknown (worker stopped while the server answered)")


#: A customer "was messaged" by these deliveries (frequency cap, results): sent or possibly sent.
MESSAGED_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.HANDED_OVER, DeliveryStatus.UNKNOWN)


class SkipReason(models.TextChoices):
    NO_CONSENT = "no_consent", _("No e-mail consent any more")
    SUPPRESSED = "suppressed", _("Address suppressed (bounce or unsubscribe)")
    NO_EMAIL = "no_email", _("No e-mail address")
    FREQUENCY_CAP = "frequency_cap", _("Frequency cap reached")
    STOPPED = "stopped", _("Campaign stopped")


class Delivery(TenantModel):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    status = models.CharField(_("status"), max_length=12, choices=DeliveryStatus.choices)
    skip_reason = models.CharField(_("skip reason"), max_length=16, choices=SkipReason.choices, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"))
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    email = models.CharField(_("sent to"), max_length=254, blank=True)
    message_id = models.CharField(_("message id"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    opened_at = models.DateTimeField(_("first opened"), null=True, blank=True)
    open_count = models.PositiveIntegerField(_("opens"), default=0)
    clicked_at = models.DateTimeField(_("first clicked"), null=True, blank=True)
    click_count = models.PositiveIntegerField(_("clicks"), default=0)
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)

    class Meta:
        ordering = ["campaign_id", "id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="delivery_once_per_customer"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status"),
            # The frequency cap: a customer's messages claimed in the last 7 days, across campaigns.
            models.Index(fields=["organization", "customer", "claimed_at"], name="delivery_customer_claimed"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.customer_id} {self.status}"

    @property
    def is_holdout(self) -> bool:
        return self.variant_id is None


class SuppressionReason(models.TextChoices):
    BOUNCE = "bounce", _("Hard bounce")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
    COMPLAINT = "complaint", _("Spam complaint")
    MANUAL = "manual", _("Added by hand")
    ERASURE = "erasure", _("Customer erased (address kept as a keyed hash)")


class Suppression(TenantModel):
    """An address that receives no campaign e-mail, whichever customer row carries it.

    The address of an erased customer is stored as ``crm.privacy.hashed_email`` ("hmac-sha256:…"), never in
    clear; sending compares each recipient's address in both forms.
    """

    email = models.CharField(_("e-mail"), max_length=254)
    reason = models.CharField(_("reason"), max_length=12, choices=SuppressionReason.choices)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="suppression_unique_email"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"
