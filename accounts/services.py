"""Writes on organizations, members, API keys, and the audit trail every other service records to."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import ApiKey, ApiKeyScope, AuditLog, Membership, Organization, Role, User
from accounts.signals import member_removed

API_KEY_PREFIX = "cops"
LOGIN_LOCKED_OUT = "login.locked_out"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is making a change: a signed-in user, an API key, or the system itself (commands, nightly jobs)."""

    user: User | None = None
    api_key: ApiKey | None = None
    label: str = ""

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.email
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        return self.label or "system"


SYSTEM = Actor(label="system")


def _json_safe(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def model_snapshot(instance: models.Model) -> dict[str, Any]:
    """The concrete field values of a row, JSON-ready, for the audit trail's before/after."""
    snapshot = {}
    for field in instance._meta.concrete_fields:
        if field.name in {"organization"}:
            continue
        snapshot[field.attname] = _json_safe(getattr(instance, field.attname))
    return snapshot


def audit_record(
    *,
    org: Organization,
    actor: Actor,
    action: str,
    instance: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLog:
    if instance is not None:
        object_type = object_type or instance._meta.model_name
        object_id = object_id or str(instance.pk)
    return AuditLog.objects.create(
        organization=org,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.display,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )


@transaction.atomic
def organization_create(*, slug: str, name: str, actor: Actor = SYSTEM, **settings_fields: Any) -> Organization:
    """Create a tenant with the playbook defaults, overridden by ``settings_fields`` (time zone, currency, …)."""
    unknown = sorted(set(settings_fields) - {field.name for field in Organization._meta.concrete_fields})
    if unknown:
        raise ValidationError({field: [_("Unknown field.")] for field in unknown})
    if Organization.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [_("An organization with the slug %(slug)s already exists.") % {"slug": slug}]})
    org = Organization(slug=slug, name=name, **settings_fields)
    org.full_clean()
    org.save()
    audit_record(org=org, actor=actor, action="organization.create", instance=org, after=model_snapshot(org))
    return org


@transaction.atomic
def membership_set(*, org: Organization, user: User, role: str, actor: Actor = SYSTEM) -> Membership:
    if role not in Role.values:
        raise ValidationError(
            {
                "role": [
                    _("Unknown role %(role)s; choose one of %(roles)s.")
                    % {"role": role, "roles": ", ".join(Role.values)}
                ]
            }
        )
    previous_role = Membership.objects.filter(user=user, organization=org).values_list("role", flat=True).first()
    if previous_role == Role.ADMIN and role != Role.ADMIN:
        _keep_one_admin(org=org, leaving=user)
    membership, created = Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
    audit_record(
        org=org,
        actor=actor,
        action="membership.create" if created else "membership.update",
        instance=membership,
        before=None if created else {"user": user.email, "role": previous_role},
        after={"user": user.email, "role": role},
    )
    return membership


@transaction.atomic
def membership_weekly_digest_set(*, membership: Membership, enabled: bool, actor: Actor = SYSTEM) -> Membership:
    """Turn the member's weekly digest e-mail on or off (``reporting/digest.py`` sends it)."""
    before = membership.weekly_digest
    membership.weekly_digest = bool(enabled)
    membership.save(update_fields=["weekly_digest"])
    audit_record(
        org=membership.organization,
        actor=actor,
        action="membership.update",
        instance=membership,
        before={"user": membership.user.email, "weekly_digest": before},
        after={"user": membership.user.email, "weekly_digest": membership.weekly_digest},
    )
    return membership


def _keep_one_admin(*, org: Organization, leaving: User) -> None:
    """Refuse a change that would leave the organization with nobody to manage members and keys."""
    other_admins = (
        Membership.objects.select_for_update()
        .filter(organization=org, role=Role.ADMIN, user__is_active=True)
        .exclude(user=leaving)
    )
    if not other_admins.exists():
        raise ValidationError(
            {"role": [_("The organization needs at least one admin; make someone else admin first.")]}
        )


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor = SYSTEM) -> None:
    if membership.role == Role.ADMIN:
        _keep_one_admin(org=membership.organization, leaving=membership.user)
    before = {"user": membership.user.email, "role": membership.role}
    membership_id = membership.pk
    membership.delete()
    member_removed.send(sender=Membership, organization=membership.organization, user=membership.user, actor=actor)
    audit_record(
        org=membership.organization,
        actor=actor,
        action="membership.delete",
        object_type="membership",
        object_id=str(membership_id),
        before=before,
    )


@transaction.atomic
def member_invite(*, org: Organization, email: str, role: str, actor: Actor = SYSTEM) -> tuple[Membership, bool]:
    """Add a person to the organization, creating their account if needed; returns (membership, account_created).

    A new account gets a random password nobody knows; the person chooses their own through the link the
    caller e-mails (``invitation_send``), so no password ever travels by e-mail.
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": [_("Enter a valid e-mail address.")]}) from None
    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=secrets.token_urlsafe(32))
    elif Membership.objects.filter(organization=org, user=user).exists():
        raise ValidationError({"email": [_("%(email)s is already a member.") % {"email": email}]})
    return membership_set(org=org, user=user, role=role, actor=actor), created


def invitation_send(*, membership: Membership, base_url: str, invited_by: User | None = None) -> None:
    """E-mail the person that they were added, with a one-time link to choose a password.

    The link is Django's password-reset token (expires, works once), so it serves a new account and an
    existing one alike; someone who already has a password can ignore it and sign in as before.
    """
    user = membership.user
    context = {
        "organization": membership.organization,
        "invited_by": invited_by,
        "role": membership.get_role_display(),
        "has_signed_in": user.last_login is not None,
        "login_link": base_url.rstrip("/") + reverse("accounts:login"),
        "link": base_url.rstrip("/")
        + reverse(
            "accounts:password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        ),
    }
    subject = _("You are invited to %(organization)s on custops") % {"organization": membership.organization.name}
    send_mail(subject, render_to_string("accounts/invitation_email.txt", context), None, [user.email])


ORGANIZATION_SETTINGS = {
    "name",
    "time_zone",
    "currency",
    "churn_window_days",
    "activation_window_days",
    "at_risk_threshold",
    "gross_margin",
    "annual_discount_rate",
    "high_tier_share",
    "mid_tier_share",
    "nightly_hour",
    "campaign_frequency_cap",
    "quiet_hours_start",
    "quiet_hours_end",
    "viewers_export_customer_pii",
    "event_retention_days",
}


@transaction.atomic
def organization_update(*, org: Organization, actor: Actor = SYSTEM, **changes: Any) -> Organization:
    """Change an organization's name or playbook settings; the slug stays, since commands and keys refer to it."""
    unknown = sorted(set(changes) - ORGANIZATION_SETTINGS)
    if unknown:
        raise ValidationError({field: [_("Unknown field.")] for field in unknown})
    before = model_snapshot(org)
    for name, value in changes.items():
        setattr(org, name, value)
    try:
        org.full_clean()
    except ValidationError:
        org.refresh_from_db()
        raise
    org.save()
    audit_record(
        org=org, actor=actor, action="organization.update", instance=org, before=before, after=model_snapshot(org)
    )
    return org


def user_create(*, email: str, password: str | None, first_name: str = "", last_name: str = "") -> User:
    return User.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, org: Organization, name: str, scopes: list[str], actor: Actor = SYSTEM) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and cannot be shown again."""
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown or not scopes:
        raise ValidationError(
            {"scopes": [_("Scopes must be one or more of %(allowed)s.") % {"allowed": ", ".join(ApiKeyScope.values)}]}
        )
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": [_("A key needs a name that says what uses it.")]})
    prefix = secrets.token_hex(4)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        organization=org,
        name=name.strip(),
        prefix=prefix,
        key_digest=_digest(plaintext),
        scopes=sorted(set(scopes)),
        created_by=actor.user,
    )
    key.full_clean()
    key.save()
    audit_record(
        org=org,
        actor=actor,
        action="api_key.create",
        instance=key,
        after={"name": key.name, "prefix": prefix, "scopes": key.scopes},
    )
    return key, plaintext


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor = SYSTEM) -> ApiKey:
    """Revoke a key for good; revoking it again changes nothing and records nothing."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            org=key.organization,
            actor=actor,
            action="api_key.revoke",
            instance=key,
            before={"revoked_at": None},
            after={"revoked_at": key.revoked_at.isoformat()},
        )
    return key


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, or None. Marks the key used at most once a minute."""
    if not isinstance(plaintext, str):
        return None
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = ApiKey.objects.select_related("organization").filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None or not secrets.compare_digest(key.key_digest, _digest(plaintext)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > datetime.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def login_lockout_record(*, email: str | None, ip_address: str | None, cooloff: datetime.timedelta) -> int:
    """Tell every organization of the person whose sign-in just got locked, once per lockout; log it always.

    A lockout says someone is guessing a member's password, which the organization's admins should be able to
    see in the audit log. An address that matches nobody belongs to no organization: the log line (which never
    holds the password) is then the only trace. Attempts refused during the cool-off send the same signal
    again; an entry newer than the cool-off stands for them. Returns how many audit entries were written.
    """
    logger.warning("Sign-in locked for %s from %s after repeated failures.", email or "(no e-mail)", ip_address)
    user = User.objects.filter(email=(email or "").strip().lower()).first() if email else None
    if user is None:
        return 0
    since = timezone.now() - cooloff
    written = 0
    for membership in Membership.objects.filter(user=user).select_related("organization"):
        org = membership.organization
        already = (
            AuditLog.objects.for_org(org)
            .filter(action=LOGIN_LOCKED_OUT, object_type="user", object_id=str(user.pk), created_at__gte=since)
            .exists()
        )
        if not already:
            audit_record(
                org=org,
                actor=Actor(label="sign-in lockout"),
                action=LOGIN_LOCKED_OUT,
                object_type="user",
                object_id=str(user.pk),
                after={
                    "email": user.email,
                    "ip_address": ip_address,
                    "cooloff_minutes": cooloff // datetime.timedelta(minutes=1),
                },
            )
            written += 1
    return written
