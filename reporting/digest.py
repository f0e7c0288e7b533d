"""The weekly digest e-mail: last week's KPI tiles with their change, and the open alerts, to members who opted in.

Once a week, on Monday from 08:00 in the organization's time zone, every member whose membership has
``weekly_digest`` set gets one e-mail about the ISO week that just ended (Monday to Sunday), in the member's
language. A :class:`~reporting.models.DigestDelivery` row per (organization, member, week) is claimed before
sending and marked sent after, so a re-run, a duplicate task or a retry after a mail-server failure sends
each member at most one digest a week (``force`` sends again on purpose).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.timekeeping import organization_time_zone
from reporting.kpis import KPI_DEFINITIONS
from reporting.models import Alert, DigestDelivery, DigestStatus, KpiSnapshot

logger = logging.getLogger(__name__)

#: The KPI tiles of the executive overview (issue 7, item 1), in its order.
DIGEST_KPIS = (
    "revenue",
    "new_customers",
    "active_customers",
    "cac",
    "ltv_cac",
    "monthly_churn_rate",
    "high_value_retention",
    "repeat_purchase_rate",
    "nps",
)
#: Local hour on Monday from which an organization's digest is due.
DIGEST_HOUR = 8
#: A claim older than this belongs to a worker that died before sending; the next run may take it over.
DIGEST_CLAIM_LEASE = datetime.timedelta(minutes=30)
#: Open alerts listed in the e-mail (the count covers all of them).
DIGEST_ALERTS_SHOWN = 10

_DEFINITIONS = {kpi.code: kpi for kpi in KPI_DEFINITIONS}


# Numbers ---------------------------------------------------------------------------------------------------------


def kpi_value_text(value: float | None, unit: str) -> str:
    """A KPI value as the overview tiles show it: shares as %, money with two places, ratios with ×."""
    if value is None:
        return "—"
    value = float(value)
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "money":
        return f"{value:,.2f}"
    if unit == "ratio":
        return f"{value:.2f}×"
    if unit == "score":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def kpi_change_text(value: float | None, previous: float | None, unit: str) -> str:
    """The change from ``previous`` in the KPI's unit: percentage points for shares, signed amounts otherwise."""
    if value is None or previous is None:
        return "—"
    change = float(value) - float(previous)
    if unit == "share":
        return _("%(change)s pp") % {"change": f"{change * 100:+.1f}"}
    if unit == "money":
        return f"{change:+,.2f}"
    if unit == "ratio":
        return f"{change:+.2f}×"
    if unit == "score":
        return f"{change:+.1f}"
    return f"{change:+,.0f}"


@dataclass(frozen=True)
class KpiTile:
    code: str
    label: str
    definition: str
    unit: str
    value: float | None
    previous: float | None
    higher_is_better: bool

    @property
    def value_text(self) -> str:
        return kpi_value_text(self.value, self.unit)

    @property
    def change_text(self) -> str:
        return kpi_change_text(self.value, self.previous, self.unit)

    @property
    def improved(self) -> bool | None:
        """True when the KPI moved the good way, False the bad way, None when flat or unknown."""
        if self.value is None or self.previous is None or self.value == self.previous:
            return None
        return (self.value > self.previous) == self.higher_is_better


def snapshot_on_or_before(*, org: Organization, day: datetime.date) -> KpiSnapshot | None:
    return KpiSnapshot.objects.for_org(org).filter(day__lte=day).order_by("-day").first()


def digest_kpi_tiles(
    *, org: Organization, day: datetime.date, codes: tuple[str, ...] = DIGEST_KPIS
) -> tuple[KpiSnapshot | None, list[KpiTile]]:
    """The snapshot of ``day`` (or the last one before it) and its tiles, each against the snapshot 7 days earlier.

    Labels and definitions come from ``reporting/kpis.py`` in the active language.
    """
    snapshot = snapshot_on_or_before(org=org, day=day)
    if snapshot is None:
        return None, []
    before = snapshot_on_or_before(org=org, day=snapshot.day - datetime.timedelta(days=7))
    tiles = []
    for code in codes:
        kpi = _DEFINITIONS[code]
        tiles.append(
            KpiTile(
                code=code,
                label=_(kpi.label),
                definition=_(kpi.definition),
                unit=kpi.unit,
                value=snapshot.values.get(code),
                previous=before.values.get(code) if before is not None else None,
                higher_is_better=kpi.higher_is_better,
            )
        )
    return snapshot, tiles


# Who and when ----------------------------------------------------------------------------------------------------


def digest_week_start(local_day: datetime.date) -> datetime.date:
    """The Monday of the ISO week before the one ``local_day`` falls in: the week a digest sent then reports."""
    return local_day - datetime.timedelta(days=local_day.weekday() + 7)


def digest_recipients(*, org: Organization) -> list[Membership]:
    return list(
        Membership.objects.filter(organization=org, weekly_digest=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user")
        .order_by("user__email")
    )


def digest_language(*, user: User, org: Organization) -> str:
    """The recipient's language: the user's stored choice, else the organization's, else the site default.

    Neither ``User`` nor ``Organization`` stores a language yet; both are looked up so that the digest follows
    one as soon as it exists, and only languages the site offers are used.
    """
    offered = {code for code, _name in settings.LANGUAGES}
    for candidate in (getattr(user, "language", ""), getattr(org, "language", "")):
        if candidate in offered:
            return candidate
    return settings.LANGUAGE_CODE


def digest_organizations_due(*, now: datetime.datetime) -> list[tuple[Organization, datetime.date]]:
    """Organizations with an opted-in member where it is Monday, 08:00 or later, with the week to report.

    Beat asks every hour; sending is idempotent per member and week, so asking again on the same Monday
    only reaches members who were not sent to yet (say, after the mail server came back).
    """
    org_ids = Membership.objects.filter(weekly_digest=True).values_list("organization_id", flat=True).distinct()
    due = []
    for org in Organization.objects.filter(pk__in=org_ids).order_by("pk"):
        local = now.astimezone(organization_time_zone(org))
        if local.weekday() == 0 and local.hour >= DIGEST_HOUR:
            due.append((org, digest_week_start(local.date())))
    return due


# Sending ---------------------------------------------------------------------------------------------------------


@dataclass
class DigestResult:
    sent: int = 0
    already_sent: int = 0
    failed: int = 0


def _claim(
    *, org: Organization, user: User, week_start: datetime.date, now: datetime.datetime, force: bool
) -> DigestDelivery | None:
    """Take the (organization, member, week) marker for sending, or None when it is sent or being sent."""
    try:
        with transaction.atomic():
            delivery, created = DigestDelivery.objects.get_or_create(
                organization=org,
                user=user,
                week_start=week_start,
                defaults={"status": DigestStatus.SENDING, "claimed_at": now},
            )
    except IntegrityError:  # another worker created it between our read and write
        return None
    if created:
        return delivery
    with transaction.atomic():
        delivery = DigestDelivery.objects.select_for_update().get(pk=delivery.pk)
        busy = delivery.status == DigestStatus.SENDING and delivery.claimed_at > now - DIGEST_CLAIM_LEASE
        if not force and (delivery.status == DigestStatus.SENT or busy):
            return None
        delivery.status = DigestStatus.SENDING
        delivery.claimed_at = now
        delivery.error = ""
        delivery.save(update_fields=["status", "claimed_at", "error"])
    return delivery


def digest_context(*, org: Organization, week_start: datetime.date) -> dict:
    """What the e-mail shows, in the active language."""
    week_end = week_start + datetime.timedelta(days=6)
    snapshot, tiles = digest_kpi_tiles(org=org, day=week_end)
    alerts = Alert.objects.for_org(org).filter(acknowledged_at__isnull=True).order_by("-raised_on", "-id")
    base_url = settings.CUSTOPS_PUBLIC_URL.rstrip("/")
    return {
        "organization": org,
        "week_start": week_start,
        "week_end": week_end,
        "iso_week": week_start.isocalendar()[1],
        "snapshot": snapshot,
        "tiles": tiles,
        "alerts": list(alerts[:DIGEST_ALERTS_SHOWN]),
        "alert_count": alerts.count(),
        "overview_url": base_url + reverse("reporting:kpi-overview"),
        "alerts_url": base_url + reverse("reporting:alert-list"),
    }


def digest_message(*, org: Organization, user: User, week_start: datetime.date) -> EmailMultiAlternatives:
    """The digest for one member: plain text and HTML, in the member's language."""
    with translation.override(digest_language(user=user, org=org)):
        context = digest_context(org=org, week_start=week_start)
        subject = _("[custops] %(organization)s: weekly digest, week %(week)s") % {
            "organization": org.name,
            "week": f"{week_start.isocalendar()[0]}-W{context['iso_week']:02d}",
        }
        text = render_to_string("reporting/digest_email.txt", context)
        html = render_to_string("reporting/digest_email.html", context)
    message = EmailMultiAlternatives(subject, text, None, [user.email])
    message.attach_alternative(html, "text/html")
    return message


def digest_send(
    *, org: Organization, week_start: datetime.date, force: bool = False, now: datetime.datetime | None = None
) -> DigestResult:
    """Send the week's digest to each opted-in member not sent to yet; returns what happened.

    A member whose message the mail server refuses is marked failed and the others still get theirs; the
    first such error is raised at the end (Celery retries it, and only the failed members are tried again).
    """
    now = now or timezone.now()
    result = DigestResult()
    first_error: Exception | None = None
    for membership in digest_recipients(org=org):
        user = membership.user
        delivery = _claim(org=org, user=user, week_start=week_start, now=now, force=force)
        if delivery is None:
            result.already_sent += 1
            continue
        try:
            digest_message(org=org, user=user, week_start=week_start).send()
        except Exception as exc:
            # The user's id and the exception's class only: SMTP errors quote the recipient's address.
            logger.warning("weekly digest of %s to user %s failed: %s", org.slug, user.pk, exc.__class__.__name__)
            delivery.status = DigestStatus.FAILED
            delivery.error = str(exc)[:2000]
            delivery.save(update_fields=["status", "error"])
            result.failed += 1
            first_error = first_error or exc
            continue
        delivery.status = DigestStatus.SENT
        delivery.sent_at = timezone.now()
        delivery.save(update_fields=["status", "sent_at"])
        result.sent += 1
    if first_error is not None:
        raise first_error
    return result
