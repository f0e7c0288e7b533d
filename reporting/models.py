"""Records of the nightly pipeline; KPI snapshots, targets and alerts arrive with their capabilities."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel
from crm.models import TouchOnSaveMixin, updated_at_field


class JobStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


#: The ``kind`` of the nightly pipeline's runs.
NIGHTLY = "nightly"


class JobRun(TouchOnSaveMixin, TenantModel):
    """One run of the nightly pipeline for one organization and one "as of" date."""

    kind = models.CharField(_("kind"), max_length=40, default=NIGHTLY)
    as_of = models.DateField(_("as of"))
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    step_seconds = models.JSONField(_("seconds per step"), default=dict, blank=True)
    row_counts = models.JSONField(_("rows per step"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.CharField(_("triggered by"), max_length=100, blank=True)
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "kind", "-started_at"], name="jobrun_org_kind_started")]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")

    def __str__(self) -> str:
        return f"{self.kind} {self.as_of} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class DigestStatus(models.TextChoices):
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class DigestDelivery(TenantModel):
    """The weekly digest of one ISO week to one member: claimed before sending, marked sent after.

    One row per (organization, member, week) makes sending idempotent: a re-run or a duplicate task finds the
    row and sends nothing (``reporting/digest.py``).
    """

    week_start = models.DateField(_("week starting"))
    user = models.ForeignKey("accounts.User", verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=DigestStatus.choices, default=DigestStatus.SENDING)
    claimed_at = models.DateTimeField(_("claimed at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-week_start", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user", "week_start"], name="digest_delivery_unique_week")
        ]
        verbose_name = _("weekly digest delivery")
        verbose_name_plural = _("weekly digest deliveries")

    def __str__(self) -> str:
        return f"digest {self.week_start} to {self.user_id} {self.status}"


class KpiSnapshot(TenantModel):
    """Every KPI of DESIGN.md §4 for one day, as the nightly run computed it (definitions in ``reporting/kpis.py``)."""

    day = models.DateField(_("day"))
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    #: ``{kpi code: number or null}``; null where a KPI is undefined (e.g. CAC with no new customer).
    values = models.JSONField(_("values"), default=dict)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="kpi_snapshot_org_day_unique")]
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")

    def __str__(self) -> str:
        return f"KPIs {self.day}"


class MetricPeriod(models.TextChoices):
    MONTH = "month", _("Calendar month")
    TRAILING_90 = "trailing_90d", _("Trailing 90 days")


class ChannelMetric(TenantModel):
    """One channel's acquisition economics over one period, per DESIGN.md §4; recomputed every night."""

    as_of = models.DateField(_("as of"))
    channel = models.ForeignKey(
        "crm.Channel", verbose_name=_("channel"), on_delete=models.CASCADE, related_name="metrics"
    )
    period = models.CharField(_("period"), max_length=16, choices=MetricPeriod.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    spend = models.DecimalField(_("spend"), max_digits=16, decimal_places=2, default=0)
    new_customers = models.PositiveIntegerField(_("new customers"), default=0)
    contacts = models.PositiveIntegerField(_("contacts created"), default=0)
    converted_contacts = models.PositiveIntegerField(_("contacts converted within 30 days"), default=0)
    conversion = models.FloatField(_("conversion"), null=True, blank=True)
    cac = models.DecimalField(_("CAC"), max_digits=16, decimal_places=2, null=True, blank=True)
    mean_customer_value = models.DecimalField(
        _("mean customer value"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    ltv_cac = models.FloatField(_("LTV/CAC"), null=True, blank=True)
    roi = models.FloatField(_("ROI"), null=True, blank=True)
    payback_months = models.FloatField(_("payback (months)"), null=True, blank=True)
    repeat_rate_90d = models.FloatField(_("90-day repeat rate"), null=True, blank=True)
    #: When the nightly run wrote the row (the database fills it on ``COPY``); ``?updated_since=`` filters on it.
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["channel_id", "period", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "period", "period_start"], name="channel_metric_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "period", "period_start"], name="channel_metric_org_period")]
        verbose_name = _("channel metric")
        verbose_name_plural = _("channel metrics")

    def __str__(self) -> str:
        return f"{self.channel_id} {self.period} {self.period_start}"


class CohortCell(TenantModel):
    """Customers first buying in one month (optionally via one channel), seen ``months_since`` months later."""

    as_of = models.DateField(_("as of"))
    cohort_month = models.DateField(_("acquisition month"))
    #: Null for the cohort of all channels together.
    channel = models.ForeignKey(
        "crm.Channel", verbose_name=_("channel"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    months_since = models.PositiveSmallIntegerField(_("months since acquisition"))
    cohort_size = models.PositiveIntegerField(_("customers in the cohort"))
    active_customers = models.PositiveIntegerField(_("customers buying in the month"))
    retention = models.FloatField(_("retention"))
    revenue = models.DecimalField(_("revenue"), max_digits=16, decimal_places=2)
    cumulative_revenue_per_customer = models.DecimalField(
        _("cumulative revenue per customer"), max_digits=16, decimal_places=2
    )
    #: When the nightly run wrote the row (the database fills it on ``COPY``); ``?updated_since=`` filters on it.
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["cohort_month", "months_since"]
        indexes = [models.Index(fields=["organization", "channel", "cohort_month"], name="cohort_org_channel_month")]
        verbose_name = _("cohort cell")
        verbose_name_plural = _("cohort cells")

    def __str__(self) -> str:
        return f"cohort {self.cohort_month} +{self.months_since}"


class AlertKind(models.TextChoices):
    CAC_SPIKE = "cac_spike", _("CAC spike")
    HIGH_VALUE_CHURN = "high_value_churn", _("High-value churn above target")
    CHANNEL_CONVERSION_DROP = "channel_conversion_drop", _("Channel conversion drop")
    MONTHLY_CHURN = "monthly_churn", _("Monthly churn above target")
    NIGHTLY_FAILED = "nightly_failed", _("Nightly run failed")


class AlertRule(TenantModel):
    """An organization's threshold for one kind of alert (a share: 0.2 = 20%)."""

    kind = models.CharField(_("kind"), max_length=32, choices=AlertKind.choices)
    threshold = models.DecimalField(_("threshold"), max_digits=6, decimal_places=3)
    enabled = models.BooleanField(_("enabled"), default=True)
    notify_by_email = models.BooleanField(_("e-mail the organization's admins"), default=True)

    class Meta:
        ordering = ["kind"]
        constraints = [models.UniqueConstraint(fields=["organization", "kind"], name="alert_rule_org_kind_unique")]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")

    def __str__(self) -> str:
        return f"{self.kind} > {self.threshold}"


#: The wording of each kind of alert; ``Alert.params`` fills it with the figures, in the reader's language.
ALERT_MESSAGES = {
    AlertKind.CAC_SPIKE: _(
        "CAC of the last 30 days is %(cac)s, %(change)s above the mean of the three periods before (%(baseline)s)."
    ),
    AlertKind.HIGH_VALUE_CHURN: _(
        "%(churn)s of the high-value customers of 30 days ago have churned (target: at most %(target)s)."
    ),
    AlertKind.MONTHLY_CHURN: _("Monthly churn is %(churn)s, above the alert threshold of %(target)s."),
    AlertKind.CHANNEL_CONVERSION_DROP: _(
        "Conversion of channel %(channel)s fell to %(now)s in %(month)s, %(drop)s below its mean of the three months "
        "before (%(before)s)."
    ),
    AlertKind.NIGHTLY_FAILED: _("The nightly run as of %(day)s failed: %(error)s"),
}


class Alert(TouchOnSaveMixin, TenantModel):
    """A rule that fired on a day. One alert per (kind, day, subject): replaying a night does not repeat it."""

    kind = models.CharField(_("kind"), max_length=32, choices=AlertKind.choices)
    raised_on = models.DateField(_("raised on"))
    #: What the alert is about beyond its kind: a channel code, or empty.
    subject = models.CharField(_("subject"), max_length=100, blank=True)
    value = models.FloatField(_("measured value"), null=True, blank=True)
    threshold = models.FloatField(_("threshold"), null=True, blank=True)
    message = models.TextField(_("message"))
    #: The figures of the message (formatted), so it can be worded in each reader's language.
    params = models.JSONField(_("message figures"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    #: Who acknowledged it as people read it: a member's name or e-mail, or the API key's name.
    acknowledged_by_label = models.CharField(_("acknowledged by"), max_length=200, blank=True)
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-raised_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind", "raised_on", "subject"], name="alert_unique_day")
        ]
        indexes = [models.Index(fields=["organization", "acknowledged_at", "-raised_on"], name="alert_org_open")]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.raised_on}"

    @property
    def localized_message(self) -> str:
        """The message in the active language; the stored one when its figures were not kept or do not fit."""
        wording = ALERT_MESSAGES.get(self.kind)
        if wording is None or not self.params:
            return self.message
        try:
            return str(wording) % self.params
        except (KeyError, TypeError, ValueError):
            return self.message


class TargetStatus(models.TextChoices):
    """How a target stands; the rules are in ``reporting/target_progress.py``."""

    ACHIEVED = "achieved", _("Achieved")
    ON_TRACK = "on_track", _("On track")
    AT_RISK = "at_risk", _("At risk")
    OFF_TRACK = "off_track", _("Off track")
    NO_DATA = "no_data", _("No data")


class Target(TenantModel):
    """A SMART target on one KPI of ``reporting/kpis.py``: from a baseline on a day to a value by a deadline.

    Values are in the KPI's own unit as the snapshot stores it (shares as 0-1, money in the organization's
    currency). Whether higher is better comes from the KPI's definition, never from the target.
    """

    metric = models.CharField(_("metric"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    baseline_value = models.DecimalField(_("baseline value"), max_digits=20, decimal_places=6)
    baseline_date = models.DateField(_("baseline date"))
    target_value = models.DecimalField(_("target value"), max_digits=20, decimal_places=6)
    deadline = models.DateField(_("deadline"))
    owner = models.ForeignKey(
        "accounts.User",
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["deadline", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="target_org_name_unique")]
        verbose_name = _("target")
        verbose_name_plural = _("targets")

    def __str__(self) -> str:
        return self.name


class CustomerMixSnapshot(TenantModel):
    """The night's customer mix for the "Customers and value" page and API: precomputed, so reading is one row.

    The JSON layouts are those of ``reporting/customer_mix.py`` (the maths): ``rfm_grid`` (recency score ×
    frequency score: customers and summed customer value per cell), ``tiers`` (customers, value and shares per
    tier), ``value_bins`` (a histogram of customer value on 1-2-5 edges) and ``stage_flow`` (stage counts at each
    of the last 12 month-ends and the transitions from the month-end before), ``score_breakdown`` (customers and value
    per tier and per stage over every score: the scores page's summary).
    """

    as_of = models.DateField(_("as of"))
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    rfm_grid = models.JSONField(_("RFM grid"), default=dict)
    tiers = models.JSONField(_("tiers"), default=list)
    value_bins = models.JSONField(_("value distribution"), default=list)
    stage_flow = models.JSONField(_("stage flow"), default=dict)
    score_breakdown = models.JSONField(_("customers and value per tier and stage"), default=dict)

    class Meta:
        ordering = ["-as_of"]
        constraints = [models.UniqueConstraint(fields=["organization", "as_of"], name="customer_mix_org_as_of_unique")]
        verbose_name = _("customer mix snapshot")
        verbose_name_plural = _("customer mix snapshots")

    def __str__(self) -> str:
        return f"customer mix {self.as_of}"
