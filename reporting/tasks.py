"""Celery tasks for the nightly pipeline: thin wrappers that take ids and call reporting.nightly."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.utils import timezone

from accounts.models import Organization
from reporting import digest, nightly
from reporting import services as reporting_services

logger = logging.getLogger(__name__)

#: A queued nightly run not started within this many seconds is dropped; the next hourly fanout re-sends it.
NIGHTLY_TASK_EXPIRES = 55 * 60


# Retried after 2, 4, 8, 16 and 32 s (no jitter: a restarting database needs the waits to add up, and one
# organization's run is no thundering herd).
@shared_task(
    acks_late=True,
    autoretry_for=nightly.RETRYABLE_DATABASE_ERRORS,
    retry_backoff=2,
    retry_jitter=False,
    max_retries=5,
)
def nightly_for_org(org_id: int, as_of: str, triggered_by: str = "beat") -> int | None:
    """Run the nightly pipeline for one organization; returns the JobRun id.

    Returns None if the organization is gone, or if the run comes from beat and that day's run already
    succeeded or is in progress (a fanout sent twice must not run the pipeline twice).
    """
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return None
    day = datetime.date.fromisoformat(as_of)
    now = timezone.now()
    # A run whose worker was killed would otherwise count as "running" and block its own re-delivery.
    nightly.abandon_stale_runs(org=org, now=now)
    if triggered_by == "beat" and nightly.nightly_day_covered(org=org, as_of=day, now=now):
        logger.info("nightly run for organization %s as of %s is already done or running", org.slug, as_of)
        return None
    job = nightly.run_nightly(org=org, as_of=day, triggered_by=triggered_by)
    return job.pk


@shared_task
def nightly_fanout() -> list[int]:
    """Hourly from beat: enqueue a run for each organization that is due, for its local yesterday.

    One organization that cannot be enqueued is logged and skipped; the others still get their runs.
    """
    now = timezone.now()
    nightly.abandon_stale_runs(now=now)  # runs of killed workers are due again, not "running"
    enqueued = []
    for org in nightly.organizations_due(now=now):
        try:
            nightly_for_org.apply_async(
                (org.pk, nightly.local_yesterday(org, now).isoformat(), "beat"), expires=NIGHTLY_TASK_EXPIRES
            )
        except Exception:
            logger.exception("could not enqueue the nightly run for organization %s", org.slug)
            continue
        enqueued.append(org.pk)
    return enqueued


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_alerts(alert_ids: list[int]) -> int:
    """E-mail new alerts to their organizations' admins; retried when the mail server cannot be reached."""
    return reporting_services.alerts_send(alert_ids=alert_ids)


@shared_task
def weekly_digest_fanout() -> list[int]:
    """Hourly from beat: enqueue the weekly digest of each organization where it is Monday, 08:00 or later."""
    enqueued = []
    for org, week_start in digest.digest_organizations_due(now=timezone.now()):
        try:
            send_weekly_digest.apply_async((org.pk, week_start.isoformat()), expires=55 * 60)
        except Exception:
            logger.exception("could not enqueue the weekly digest for organization %s", org.slug)
            continue
        enqueued.append(org.pk)
    return enqueued


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_weekly_digest(org_id: int, week_start: str, force: bool = False) -> int:
    """Send one organization's digest of the week starting ``week_start``; returns the e-mails sent.

    Safe to run twice: members already sent this week's digest are skipped (``reporting/digest.py``).
    """
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    return digest.digest_send(org=org, week_start=datetime.date.fromisoformat(week_start), force=force).sent
