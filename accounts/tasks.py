"""Mail that leaves the request: sent by a worker, retried while the mail server is unreachable."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError, Retry
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import Membership, User
from accounts.services import invitation_send

logger = logging.getLogger(__name__)

MAIL_ERRORS = (smtplib.SMTPException, OSError)


@shared_task(autoretry_for=MAIL_ERRORS, retry_backoff=30, retry_backoff_max=30 * 60, max_retries=8)
def send_invitation(membership_id: int, base_url: str, invited_by_id: int | None = None) -> bool:
    """E-mail an invitation; False when the membership was removed meanwhile (nothing to send)."""
    membership = Membership.objects.select_related("user", "organization").filter(pk=membership_id).first()
    if membership is None:
        return False
    invited_by = User.objects.filter(pk=invited_by_id).first() if invited_by_id else None
    invitation_send(membership=membership, base_url=base_url, invited_by=invited_by)
    return True


def enqueue_invitation(*, membership: Membership, base_url: str, invited_by: User | None) -> bool:
    """Queue the invitation; False if it could not be handed over (with eager tasks: the mail server failed).

    The membership already exists either way, so the page can offer to send the link again.
    """
    try:
        send_invitation.delay(membership.pk, base_url, invited_by.pk if invited_by else None)
    except (*MAIL_ERRORS, KombuOperationalError, Retry, MaxRetriesExceededError):
        logger.warning("invitation e-mail for membership %s could not be sent", membership.pk, exc_info=True)
        return False
    return True


@shared_task
def purge_idempotency_keys() -> int:
    """Delete API idempotency keys past their 24 hours (beat, hourly); returns how many went."""
    from config.api.idempotency import purge_expired_keys  # config.api imports the apps, not the reverse

    return purge_expired_keys()
