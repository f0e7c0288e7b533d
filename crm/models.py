"""The customer records ops staff look after and everything the nightly engine learns from.

Every table leads its hot indexes with ``organization_id`` (DESIGN.md §6): each query is scoped to one
organization, and the same layout later lets Postgres shard by organization.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel

MONEY = {"max_digits": 14, "decimal_places": 2}


def updated_at_field() -> models.DateTimeField:
    """The time a row last changed: what ``?updated_since=`` of the API filters on (incremental sync).

    ``auto_now`` covers ``save()`` and ``bulk_create``; ``db_default=Now()`` covers rows the ``COPY`` writers
    (``crm/bulk_load.py``) insert without the column. ``bulk_update``, ``QuerySet.update()`` and the import's
    upsert do not run ``auto_now``: they set the column themselves (see :class:`TouchOnSaveMixin`).
    """
    return models.DateTimeField(_("updated at"), auto_now=True, db_default=Now())


class TouchOnSaveMixin:
    """``save(update_fields=[...])`` also writes ``updated_at``: Django leaves an ``auto_now`` field out otherwise,
    and an integration syncing by ``updated_since`` would never see the change."""

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is not None and "updated_at" not in update_fields:
            update_fields = [*update_fields, "updated_at"]
        super().save(*args, update_fields=update_fields, **kwargs)


class ChannelKind(models.TextChoices):
    PAID = "paid", _("Paid")
    ORGANIC = "organic", _("Organic")
    REFERRAL = "referral", _("Referral")
    PARTNER = "partner", _("Partner")
    SOCIAL = "social", _("Social")
    EMAIL = "email", _("E-mail")
    OFFLINE = "offline", _("Offline")
    OTHER = "other", _("Other")


class Channel(TouchOnSaveMixin, TenantModel):
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices, default=ChannelKind.OTHER)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = updated_at_field()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"],
                name="channel_unique_org_code",
                violation_error_message=_("A channel with this code already exists."),
            )
        ]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return self.name


class SpendPeriod(models.TextChoices):
    DAY = "day", _("Day")
    MONTH = "month", _("Month")


class ChannelSpend(TouchOnSaveMixin, TenantModel):
    """Money spent on a channel on one day, or in one month (stored on the month's first day).

    The period matters to every figure over a window of days: the nightly engine spreads a month's spend
    evenly over its days, so the CAC of "the last 30 days" does not jump when a month's first day enters
    or leaves the window.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="spend")
    date = models.DateField(_("date"))
    period = models.CharField(_("period"), max_length=5, choices=SpendPeriod.choices, default=SpendPeriod.DAY)
    amount = models.DecimalField(_("amount"), **MONEY, validators=[MinValueValidator(0)])
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-date", "channel_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "date"],
                name="spend_unique_org_channel_date",
                violation_error_message=_("Spend for this channel and date already exists; update it instead."),
            ),
            models.CheckConstraint(
                condition=models.Q(period="day") | models.Q(date__day=1),
                name="spend_month_on_first_day",
                violation_error_message=_("A month's spend is dated on the month's first day."),
            ),
        ]
        indexes = [models.Index(fields=["organization", "date"], name="spend_org_date")]
        verbose_name = _("channel spend")
        verbose_name_plural = _("channel spend")

    def __str__(self) -> str:
        return f"{self.channel_id} {self.date} {self.amount}"


class Customer(TouchOnSaveMixin, TenantModel):
    external_id = models.CharField(_("external id"), max_length=100)
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    channel = models.ForeignKey(
        Channel,
        verbose_name=_("acquisition channel"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = updated_at_field()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    consent_email = models.BooleanField(_("e-mail consent"), default=False)
    consent_email_at = models.DateTimeField(_("e-mail consent changed"), null=True, blank=True)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_sms_at = models.DateTimeField(_("SMS consent changed"), null=True, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    #: When the person was erased (``crm.privacy.customer_erase``): the row stays for the figures, anonymous.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="customer_unique_org_external_id",
                violation_error_message=_("A customer with this external id already exists."),
            )
        ]
        indexes = [
            models.Index(fields=["organization", "created_at"], name="customer_org_created"),
            models.Index(fields=["organization", "email"], name="customer_org_email"),
            models.Index(fields=["organization", "channel"], name="customer_org_channel"),
            models.Index(fields=["organization", "owner"], name="customer_org_owner"),
            models.Index(fields=["organization", "updated_at", "id"], name="customer_org_updated"),
        ]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        if self.erased_at is not None:
            return str(_("Erased customer"))
        return self.name or self.email or self.external_id

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class ConsentSource(models.TextChoices):
    PAGE = "page", _("Page")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link")
    SUPPRESSION = "suppression", _("Suppression (complaint or unsubscribe reported)")
    ERASURE = "erasure", _("Erasure")
    HISTORY_START = "history_start", _("State when consent history began")


class ConsentChange(TenantModel):
    """One change of a customer's consent to be contacted on a channel: the proof asked for by date and origin.

    Append-only. Every path that changes ``Customer.consent_*`` writes one row per flag that really changed;
    the ``consent_*_at`` columns on the customer keep only the latest change.
    """

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="consent_changes"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=ConsentChannel.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    actor_label = models.CharField(_("changed by"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["organization", "customer", "at"], name="consentchange_org_customer_at")]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")

    def __str__(self) -> str:
        state = "granted" if self.granted else "withdrawn"
        return f"{self.channel} {state} at {self.at:%Y-%m-%d} ({self.source})"


class OrderStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    PENDING = "pending", _("Pending")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class Order(TouchOnSaveMixin, TenantModel):
    external_id = models.CharField(_("external id"), max_length=100)
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="orders")
    ordered_at = models.DateTimeField(_("ordered at"))
    amount = models.DecimalField(_("amount"), **MONEY, validators=[MinValueValidator(0)])
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    status = models.CharField(_("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.COMPLETED)
    channel = models.ForeignKey(
        Channel, verbose_name=_("channel"), null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-ordered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="order_unique_org_external_id",
                violation_error_message=_("An order with this external id already exists."),
            )
        ]
        indexes = [
            models.Index(fields=["organization", "customer", "ordered_at"], name="order_org_customer_date"),
            models.Index(fields=["organization", "ordered_at"], name="order_org_date"),
            models.Index(fields=["organization", "updated_at", "id"], name="order_org_updated"),
        ]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return self.external_id


class Event(TouchOnSaveMixin, TenantModel):
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="events")
    name = models.CharField(_("name"), max_length=100)
    occurred_at = models.DateTimeField(_("occurred at"))
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "customer", "occurred_at"], name="event_org_customer_date"),
            models.Index(fields=["organization", "name", "occurred_at"], name="event_org_name_date"),
            models.Index(fields=["organization", "updated_at", "id"], name="event_org_updated"),
            # The retention purge deletes by age in batches (crm.privacy.events_purge_expired).
            models.Index(fields=["organization", "occurred_at"], name="event_org_occurred"),
        ]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d}"


class FeedbackKind(models.TextChoices):
    NPS = "nps", _("NPS")
    CSAT = "csat", _("CSAT")


class Feedback(TouchOnSaveMixin, TenantModel):
    """A survey answer. NPS is 0–10; CSAT is 1 to ``scale_max`` (the survey's own scale, 5 by default)."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="feedback"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=FeedbackKind.choices)
    score = models.PositiveSmallIntegerField(_("score"))
    scale_max = models.PositiveSmallIntegerField(
        _("scale maximum"), default=10, validators=[MinValueValidator(2), MaxValueValidator(100)]
    )
    comment = models.TextField(_("comment"), blank=True, max_length=5000)
    answered_at = models.DateTimeField(_("answered at"))
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-answered_at", "-id"]
        indexes = [models.Index(fields=["organization", "kind", "answered_at"], name="feedback_org_kind_date")]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")

    def __str__(self) -> str:
        return f"{self.kind} {self.score}"


class Note(TenantModel):
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), null=True, blank=True, on_delete=models.SET_NULL
    )
    body = models.TextField(_("note"), max_length=10000)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "customer", "created_at"], name="note_org_customer_date")]
        verbose_name = _("note")
        verbose_name_plural = _("notes")

    def __str__(self) -> str:
        return self.body[:60]


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Task(TouchOnSaveMixin, TenantModel):
    """A follow-up for ops staff, usually about one customer."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, max_length=10000)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="crm_tasks",
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    updated_at = updated_at_field()

    class Meta:
        # Newest first by default; lists that rank open work first order it themselves (crm.selectors).
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "owner", "status", "due_date"], name="task_org_owner_status"),
            models.Index(fields=["organization", "customer"], name="task_org_customer"),
        ]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.title


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")
    CHANNELS = "channels", _("Channels")
    CHANNEL_SPEND = "channel_spend", _("Channel spend")
    EVENTS = "events", _("Events")
    FEEDBACK = "feedback", _("Feedback")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class ImportJob(TouchOnSaveMixin, TenantModel):
    """One CSV file imported into one organization: what came in, what was rejected and why.

    The accepted rows of a job are written in one transaction, so a job either added all of them or none;
    the counts below are filled in when it ends.
    """

    kind = models.CharField(_("kind"), max_length=20, choices=ImportKind.choices)
    status = models.CharField(_("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    original_filename = models.CharField(_("file name"), max_length=255)
    stored_path = models.CharField(max_length=500)
    file_size = models.BigIntegerField(_("file size (bytes)"), default=0)
    options = models.JSONField(_("options"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_by_label = models.CharField(_("imported by"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=2, blank=True)
    rows_total = models.PositiveBigIntegerField(_("rows read"), default=0)
    rows_created = models.PositiveBigIntegerField(_("rows created"), default=0)
    rows_updated = models.PositiveBigIntegerField(_("rows updated"), default=0)
    rows_unchanged = models.PositiveBigIntegerField(_("rows unchanged"), default=0)
    rows_rejected = models.PositiveBigIntegerField(_("rows rejected"), default=0)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    updated_at = updated_at_field()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="importjob_org_created")]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.kind} {self.original_filename} ({self.status})"

    @property
    def rows_accepted(self) -> int:
        return self.rows_created + self.rows_updated + self.rows_unchanged


class ImportRejection(TenantModel):
    """A row of an import that was not written, with where and why, and the cells as they were in the file."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections")
    line = models.PositiveBigIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=100, blank=True)
    reason = models.TextField(_("reason"))
    values = models.JSONField(_("values"), default=dict, blank=True)

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["organization", "job", "line"], name="importrej_org_job_line")]
        verbose_name = _("rejected import row")
        verbose_name_plural = _("rejected import rows")

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
