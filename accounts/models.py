"""Organizations, people and the keys and records that say who did what."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("Unknown time zone %(value)s; use an IANA name such as Asia/Shanghai."), params={"value": value}
        )


currency_code_validator = RegexValidator(
    r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code such as CNY or USD."), code="invalid_currency"
)
# Control characters in a name end up in e-mail headers and page titles; none belongs in a name.
single_line_text_validator = RegexValidator(
    r"[\x00-\x1f\x7f]", _("Use a single line of text, without control characters."), inverse_match=True
)


class UserManager(BaseUserManager):
    """Users sign in with their e-mail address; there is no separate username."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None
    email = models.EmailField(_("e-mail address"), unique=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="user_unique_email_ignoring_case")]

    def clean(self) -> None:
        super().clean()
        self.email = self.email.strip().lower()

    def save(self, *args, **kwargs) -> None:
        # Sign-in lower-cases what people type, so stored addresses must be lower case too, whoever saves them.
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.get_full_name() or self.email


#: Shortest event retention an organization may choose: D1/D7/D30 retention and "did … within N days" segment
#: rules read a month of events.
MIN_EVENT_RETENTION_DAYS = 30


class Organization(models.Model):
    """A tenant. The scoring defaults of the playbook (DESIGN.md §1, §4) live here so each can be changed."""

    name = models.CharField(_("name"), max_length=200, validators=[single_line_text_validator])
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone])
    currency = models.CharField(_("currency"), max_length=3, default="CNY", validators=[currency_code_validator])
    churn_window_days = models.PositiveIntegerField(
        _("churn window (days)"), default=90, validators=[MinValueValidator(7), MaxValueValidator(3650)]
    )
    activation_window_days = models.PositiveIntegerField(
        _("activation window (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    at_risk_threshold = models.DecimalField(
        _("at-risk churn probability threshold"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    gross_margin = models.DecimalField(
        _("gross margin"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.3"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    annual_discount_rate = models.DecimalField(
        _("annual discount rate"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    nightly_hour = models.PositiveSmallIntegerField(
        _("nightly run hour (organization time)"), default=2, validators=[MaxValueValidator(23)]
    )
    high_tier_share = models.DecimalField(
        _("high tier share"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.1"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    mid_tier_share = models.DecimalField(
        _("mid tier share"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.3"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    campaign_frequency_cap = models.PositiveSmallIntegerField(
        _("campaign e-mails per customer per 7 days"),
        default=3,
        validators=[MaxValueValidator(50)],
    )
    quiet_hours_start = models.PositiveSmallIntegerField(
        _("quiet hours start (hour)"), default=21, validators=[MaxValueValidator(23)]
    )
    quiet_hours_end = models.PositiveSmallIntegerField(
        _("quiet hours end (hour)"), default=8, validators=[MaxValueValidator(23)]
    )
    viewers_export_customer_pii = models.BooleanField(
        _("viewers may export customers' personal data"),
        default=True,
        help_text=_(
            "When off, members with the viewer role still read every report, but their exports leave out names, "
            "e-mail addresses and phone numbers, and they cannot download campaign contact lists."
        ),
    )
    event_retention_days = models.PositiveIntegerField(
        _("keep customer events for (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_EVENT_RETENTION_DAYS), MaxValueValidator(36500)],
        help_text=_("Events older than this are deleted every night; empty keeps them forever. At least 30 days."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if (
            self.high_tier_share is not None
            and self.mid_tier_share is not None
            and self.high_tier_share + self.mid_tier_share > 1
        ):
            raise ValidationError(
                {"mid_tier_share": _("The high and mid tiers together cannot take more than all customers (1).")}
            )


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    OPS = "ops", _("Ops")
    MARKETER = "marketer", _("Marketer")
    VIEWER = "viewer", _("Viewer")


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    weekly_digest = models.BooleanField(
        _("weekly digest"), default=False, help_text=_("E-mail this member the KPI tiles and open alerts every Monday.")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org")]
        ordering = ["organization__name"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class ApiKeyScope(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Write")


class ApiKey(TenantModel):
    """A bearer credential for integrations. Only a SHA-256 digest of the secret is kept.

    SHA-256 (not a slow password hash) is right here because the secret is 32 random bytes: there is
    nothing to brute-force, and every API request must verify it cheaply.
    """

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    key_digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AuditLog(TenantModel):
    """One row for every write made through a service: who, what, which object, before and after."""

    actor_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "object_type", "object_id"], name="audit_org_object")]
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}#{self.object_id}"


class IdempotencyKeyState(models.TextChoices):
    IN_PROGRESS = "in_progress", _("in progress")
    DONE = "done", _("done")


class IdempotencyKey(TenantModel):
    """One API write sent with an ``Idempotency-Key`` header, and the answer it got (config/api/idempotency.py).

    The unique constraint on (organization, credential, key) is the lock: of two concurrent requests with the
    same key, exactly one can insert the row and run the view; the other sees the row and gets a 409.
    ``credential`` is ``key:<ApiKey id>`` or ``user:<User id>`` (a string, so the constraint needs no NULLs).
    """

    credential = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and parsed body.")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    state = models.CharField(
        max_length=12, choices=IdempotencyKeyState.choices, default=IdempotencyKeyState.IN_PROGRESS
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    #: When the running request took the key; a claim older than the lease belongs to a dead worker.
    claimed_at = models.DateTimeField(default=timezone.now)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "credential", "key"], name="idempotency_key_unique")
        ]
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")

    def __str__(self) -> str:
        return f"{self.credential} {self.key} ({self.state})"
