"""Per-customer scores of the latest nightly run, and the history of stage and tier changes."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel
from crm.models import MONEY, TouchOnSaveMixin


class Stage(models.TextChoices):
    ACQUIRED = "acquired", _("Acquired")
    ACTIVATED = "activated", _("Activated")
    GROWING = "growing", _("Growing")
    MATURE = "mature", _("Mature")
    CHURNED = "churned", _("Churned")
    REACTIVATED = "reactivated", _("Reactivated")


class Tier(models.TextChoices):
    HIGH = "high", _("High value")
    MID = "mid", _("Mid value")
    POTENTIAL = "potential", _("Potential")


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALIST = "potential_loyalist", _("Potential loyalist")
    NEW = "new", _("New")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need attention")
    ABOUT_TO_SLEEP = "about_to_sleep", _("About to sleep")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class CustomerScore(TenantModel):
    """The numbers the playbook runs on for one customer, as of the last nightly run.

    The whole organization's scores are replaced in one transaction each night, so every row of a
    table always comes from the same run. Day counts follow DESIGN.md §7 (purchase days in the
    organization's time zone); amounts are in the organization's currency.
    """

    customer = models.OneToOneField(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="score"
    )
    as_of = models.DateField(_("as of"))
    purchase_days = models.PositiveIntegerField(_("purchase days"), default=0)
    first_purchase_on = models.DateField(_("first purchase"), null=True, blank=True)
    last_purchase_on = models.DateField(_("last purchase"), null=True, blank=True)
    recency_days = models.PositiveIntegerField(_("days since last purchase"), null=True, blank=True)
    #: BG/NBD inputs: x repeat purchase days, t_x and T in days (DESIGN.md §7).
    frequency = models.PositiveIntegerField(_("repeat purchase days (x)"), default=0)
    recency_t_x = models.PositiveIntegerField(_("t_x (days)"), default=0)
    age_t = models.PositiveIntegerField(_("T (days)"), default=0)
    revenue = models.DecimalField(_("revenue to date"), default=0, **MONEY)
    mean_repeat_value = models.DecimalField(_("mean value of repeat purchase days"), null=True, blank=True, **MONEY)
    r_score = models.PositiveSmallIntegerField(_("R"), null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(_("F"), null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(_("M"), null=True, blank=True)
    rfm_segment = models.CharField(_("RFM segment"), max_length=20, choices=RfmSegment.choices, blank=True)
    p_alive = models.FloatField(_("P(alive)"), null=True, blank=True)
    expected_purchases_30 = models.FloatField(_("expected purchases, 30 days"), null=True, blank=True)
    expected_purchases_90 = models.FloatField(_("expected purchases, 90 days"), null=True, blank=True)
    expected_purchases_365 = models.FloatField(_("expected purchases, 365 days"), null=True, blank=True)
    expected_spend = models.DecimalField(_("expected spend per purchase"), null=True, blank=True, **MONEY)
    predicted_value = models.DecimalField(_("predicted value (12 months)"), null=True, blank=True, **MONEY)
    customer_value = models.DecimalField(_("customer value"), default=0, **MONEY)
    tier = models.CharField(_("tier"), max_length=10, choices=Tier.choices, blank=True)
    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices)
    churned = models.BooleanField(_("churned"), default=False)
    churn_probability = models.FloatField(_("churn probability"), null=True, blank=True)
    at_risk = models.BooleanField(_("at risk"), default=False)
    #: When the nightly run wrote the row (the database fills it on ``COPY``); ``?updated_since=`` filters on it.
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["-customer_value", "customer_id"]
        indexes = [
            models.Index(fields=["organization", "tier"], name="score_org_tier"),
            models.Index(fields=["organization", "stage"], name="score_org_stage"),
            models.Index(fields=["organization", "rfm_segment"], name="score_org_rfm"),
            models.Index(fields=["organization", "-customer_value"], name="score_org_value"),
            models.Index(fields=["organization", "at_risk", "-customer_value"], name="score_org_at_risk"),
        ]
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")

    def __str__(self) -> str:
        return f"score of customer {self.customer_id} as of {self.as_of}"


class ScoreChangeKind(models.TextChoices):
    STAGE = "stage", _("Lifecycle stage")
    TIER = "tier", _("Value tier")


class ScoreChange(TenantModel):
    """A customer's stage or tier changed on a night: the history that flows, retention and webhooks read.

    ``from_value`` is empty the first time a customer is scored; ``to_value`` is empty when a tier is lost.
    Replaying a night removes the changes recorded on or after it before recording its own.
    """

    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="score_changes"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=ScoreChangeKind.choices)
    changed_on = models.DateField(_("changed on"))
    from_value = models.CharField(_("from"), max_length=20, blank=True)
    to_value = models.CharField(_("to"), max_length=20, blank=True)

    class Meta:
        ordering = ["-changed_on", "-id"]
        indexes = [
            models.Index(fields=["organization", "kind", "changed_on"], name="scorechange_org_kind_day"),
            models.Index(fields=["organization", "customer", "kind", "-changed_on"], name="scorechange_org_customer"),
        ]
        verbose_name = _("score change")
        verbose_name_plural = _("score changes")

    def __str__(self) -> str:
        return f"{self.kind} {self.from_value or '-'} -> {self.to_value or '-'} on {self.changed_on}"


class Segment(TouchOnSaveMixin, TenantModel):
    """A named set of customers defined by a rule tree (``segmentation/rules.py``), evaluated when read.

    The rule is stored as validated JSON; membership is always computed by one query, so a segment follows
    the data (and the nightly scores) without being rebuilt.
    """

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    rules = models.JSONField(_("rules"))
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="segment_org_name_unique",
                violation_error_message=_("A segment with this name already exists."),
            )
        ]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class SegmentMembership(TenantModel):
    """A customer in a segment as of the last nightly refresh: the set the entry and exit events are taken against.

    Pages and the API compute membership live from the rules; this table is the night's record of it, so the
    next night can tell who entered and who left (``SegmentChange``) without keeping every night's set.
    """

    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="memberships"
    )
    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="segment_memberships"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segmentmembership_segment_customer_unique")
        ]
        verbose_name = _("segment membership")
        verbose_name_plural = _("segment memberships")

    def __str__(self) -> str:
        return f"customer {self.customer_id} in segment {self.segment_id}"


class SegmentSize(TenantModel):
    """A segment's size at the end of one night, with how many customers entered and left it that night."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField(_("day"))
    size = models.PositiveIntegerField(_("size"))
    entered = models.PositiveIntegerField(_("entered"), default=0)
    left = models.PositiveIntegerField(_("left"), default=0)

    class Meta:
        ordering = ["segment_id", "day"]
        constraints = [models.UniqueConstraint(fields=["segment", "day"], name="segmentsize_segment_day_unique")]
        verbose_name = _("segment size")
        verbose_name_plural = _("segment sizes")

    def __str__(self) -> str:
        return f"segment {self.segment_id} on {self.day}: {self.size}"


class SegmentChangeKind(models.TextChoices):
    ENTERED = "entered", _("Entered")
    LEFT = "left", _("Left")


class SegmentChange(TenantModel):
    """A customer entered or left a segment on a night: what webhooks and "send to new entrants" campaigns read.

    Re-running a night keeps the rows that still hold and replaces only those that no longer do, so a
    consumer that has seen a row never sees it twice.
    """

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="changes")
    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="segment_changes"
    )
    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=8, choices=SegmentChangeKind.choices)

    class Meta:
        ordering = ["-day", "-id"]
        indexes = [models.Index(fields=["segment", "day"], name="segmentchange_segment_day")]
        verbose_name = _("segment change")
        verbose_name_plural = _("segment changes")

    def __str__(self) -> str:
        return f"customer {self.customer_id} {self.kind} segment {self.segment_id} on {self.day}"


class SegmentSnapshot(TenantModel):
    """Who was in a segment at one moment, kept as it was (the rules are copied too), e.g. a campaign's audience."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="snapshots")
    name = models.CharField(_("name"), max_length=120)
    taken_at = models.DateTimeField(_("taken at"))
    size = models.PositiveIntegerField(_("size"), default=0)
    rules = models.JSONField(_("rules"))
    taken_by_label = models.CharField(_("taken by"), max_length=200, blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        verbose_name = _("segment snapshot")
        verbose_name_plural = _("segment snapshots")

    def __str__(self) -> str:
        return self.name


class SegmentSnapshotMember(TenantModel):
    snapshot = models.ForeignKey(
        SegmentSnapshot, verbose_name=_("snapshot"), on_delete=models.CASCADE, related_name="members"
    )
    customer = models.ForeignKey(
        "crm.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="segment_snapshots"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "customer"], name="segmentsnapshotmember_unique")]
        verbose_name = _("segment snapshot member")
        verbose_name_plural = _("segment snapshot members")

    def __str__(self) -> str:
        return f"customer {self.customer_id} in snapshot {self.snapshot_id}"
