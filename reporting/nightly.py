"""The nightly orchestrator: runs each app's step for one organization "as of" a date, recording a JobRun.

Steps are plain functions ``(org, as_of) -> rows`` that later capabilities add to ``NIGHTLY_STEPS`` (scores,
channel metrics, KPI snapshots, cohorts, alerts, segment sizes). The orchestrator owns the bookkeeping:
timings, row counts, failure capture, and the guarantee that two runs for one organization never overlap.

A failed run keeps a short message for the people who read the Jobs page and the API; the traceback goes to
the log only, since it can carry file paths, SQL and customer values. Database errors that can clear (a
dropped connection, a failover) are recorded and then raised again, so the Celery task retries them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd
from django.conf import settings
from django.db import DatabaseError, Error, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts import advisory_locks
from accounts.models import Organization
from accounts.timekeeping import local_today, organization_time_zone
from reporting import selectors
from reporting import services as reporting_services
from reporting.customer_mix import customer_mix
from reporting.models import NIGHTLY, CustomerMixSnapshot, JobRun, JobStatus
from reporting.webhook_events import nightly_webhooks_emit
from retention import selectors as retention_selectors
from retention.services import RetentionOutcome, retention_models_refresh, retention_trend_refresh
from segmentation.models import CustomerScore
from segmentation.selectors import scores_as_of
from segmentation.services import ScoresOutcome, compute_scores, scores_refresh, segment_memberships_refresh

logger = logging.getLogger(__name__)

#: First key of the PostgreSQL advisory lock (the second is the organization id).
NIGHTLY_LOCK_NAMESPACE = advisory_locks.NIGHTLY_RUN

#: Database errors that may clear on their own; a run that hits one is recorded as failed, then retried.
RETRYABLE_DATABASE_ERRORS = (OperationalError, InterfaceError)

#: Longest error message kept on a JobRun; the full traceback is in the log.
ERROR_SUMMARY_LENGTH = 300

_OUTCOME_FIELDS = ["status", "finished_at", "step_seconds", "row_counts", "error"]


def local_yesterday(org: Organization, now: datetime.datetime) -> datetime.date:
    """The last complete day in the organization's time zone: what a run at ``now`` scores."""
    return local_today(org, now) - datetime.timedelta(days=1)


def stale_before(now: datetime.datetime) -> datetime.datetime:
    """Runs still "running" that started before this instant outlived Celery's hard time limit: their worker died."""
    return now - datetime.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def error_summary(exc: BaseException) -> str:
    """``"<ExceptionClass>: <first line of its message>"``, cut to ``ERROR_SUMMARY_LENGTH`` characters.

    Only the first line is kept: database errors put the statement and row values on the lines after it.
    """
    lines = str(exc).strip().splitlines()
    summary = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    if len(summary) > ERROR_SUMMARY_LENGTH:
        summary = summary[: ERROR_SUMMARY_LENGTH - 1] + "…"
    return summary


@dataclass
class NightlyRun:
    """What the steps of one run share: the organization, the day, the input frames read once, the results."""

    org: Organization
    as_of: datetime.date
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    retention: RetentionOutcome | None = None
    scores: ScoresOutcome | None = None
    #: False when a later night's scores are already stored: replaying a past night recomputes that day's KPI
    #: snapshot, model report and alerts, and leaves the current scores, their history, channel metrics and
    #: cohorts as the latest night left them.
    current: bool = True
    raised_alert_ids: list[int] = field(default_factory=list)


def step_read(run: NightlyRun) -> int:
    """Read the night's inputs (orders as purchase days, contacts, spend, events, answers) as of ``as_of``."""
    org, as_of = run.org, run.as_of
    stored = scores_as_of(org=org)
    run.current = stored is None or as_of >= stored
    purchase_days = retention_selectors.purchase_days_frame(org=org, as_of=as_of)
    run.frames = {
        "purchase_days": purchase_days,
        "customers": retention_selectors.customers_frame(org=org, as_of=as_of, purchase_days=purchase_days),
        "spend": retention_selectors.spend_frame(org=org, as_of=as_of),
        "event_days": retention_selectors.event_days_frame(org=org, as_of=as_of),
        "feedback": retention_selectors.feedback_frame(org=org, as_of=as_of),
    }
    return sum(len(frame) for frame in run.frames.values())


def step_models(run: NightlyRun) -> int:
    """Fit BG/NBD + Gamma-Gamma, check them on a holdout, train the churn classifier; store the model report."""
    run.retention = retention_models_refresh(
        org=run.org,
        as_of=run.as_of,
        purchase_days=run.frames["purchase_days"],
        event_days=run.frames["event_days"],
        feedback=run.frames["feedback"],
    )
    return run.retention.report.customers


def step_scores(run: NightlyRun) -> int:
    """RFM, value, tier, stage, churn and at-risk per customer; stage and tier changes recorded."""
    assert run.retention is not None
    contact_ids = run.frames["customers"]["customer_id"].to_numpy()
    if run.current:
        run.scores = scores_refresh(org=run.org, as_of=run.as_of, contact_ids=contact_ids, retention=run.retention)
    else:
        scores = compute_scores(
            org=run.org, as_of=run.as_of, contact_ids=contact_ids, retention=run.retention.customers
        )
        run.scores = ScoresOutcome(scores=scores, stage_changes=0, tier_changes=0)
    return len(run.scores.scores)


def _score_frame(run: NightlyRun) -> pd.DataFrame:
    assert run.scores is not None
    scores = run.scores.scores
    buyers = scores[scores["purchase_days"] > 0]
    return pd.DataFrame(
        {
            "customer_id": buyers.index.to_numpy(),
            "customer_value": buyers["customer_value"].to_numpy(),
            "revenue": buyers["revenue"].to_numpy(),
            "tier": buyers["tier"].to_numpy().astype(str),
        }
    )


def step_channel_metrics(run: NightlyRun) -> int:
    if not run.current:
        return 0
    return reporting_services.channel_metrics_refresh(
        org=run.org,
        as_of=run.as_of,
        purchase_days=run.frames["purchase_days"],
        customers=run.frames["customers"],
        spend=run.frames["spend"],
        scores=_score_frame(run),
    )


def step_kpis(run: NightlyRun) -> int:
    assert run.scores is not None
    snapshot = reporting_services.kpi_snapshot_refresh(
        org=run.org,
        as_of=run.as_of,
        purchase_days=run.frames["purchase_days"],
        customers=run.frames["customers"],
        spend=run.frames["spend"],
        event_days=run.frames["event_days"],
        feedback=run.frames["feedback"],
        scores=_score_frame(run),
        at_risk_customers=int(run.scores.scores["at_risk"].sum()),
    )
    return len(snapshot.values)


def step_cohorts(run: NightlyRun) -> int:
    if not run.current:
        return 0
    return reporting_services.cohorts_refresh(
        org=run.org,
        as_of=run.as_of,
        purchase_days=run.frames["purchase_days"],
        customers=run.frames["customers"],
    )


def step_retention_trend(run: NightlyRun) -> int:
    """Monthly churn and D1/D7/D30 per month for the last year, from the night's purchase and event days.

    Stored per as-of day like the KPI snapshot, so a replayed night rebuilds its own history. Returns the months
    written (churn months plus first-event months).
    """
    trend = retention_trend_refresh(
        org=run.org,
        as_of=run.as_of,
        purchase_days=run.frames["purchase_days"],
        event_days=run.frames["event_days"],
    )
    return len(trend.churn) + len(trend.first_event_retention)


def step_alerts(run: NightlyRun) -> int:
    raised = reporting_services.alerts_evaluate(org=run.org, as_of=run.as_of)
    run.raised_alert_ids = [alert.pk for alert in raised]
    return len(raised)


def step_segment_sizes(run: NightlyRun) -> int:
    """Each segment's members, entries and exits, and size for the night; counts the segments sized.

    Membership follows the latest state, so a replayed past night leaves it alone, like the current scores. A
    segment whose rules no longer validate is skipped with a warning in the log, not a failed night.
    """
    if not run.current:
        return 0
    return segment_memberships_refresh(org=run.org, as_of=run.as_of).sized


def step_customer_mix(run: NightlyRun) -> int:
    """The night's RFM grid, tiers, value distribution and 12-month stage flow (``reporting/customer_mix.py``).

    Stored for replayed nights too: the scores it reads were computed as of that night. Returns the customers
    in the stage flow's latest month.
    """
    assert run.scores is not None
    mix = customer_mix(
        as_of=run.as_of,
        scores=run.scores.scores,
        contacts=run.frames["customers"],
        purchase_days=run.frames["purchase_days"],
        churn_window_days=int(run.org.churn_window_days),
    )
    CustomerMixSnapshot.objects.for_org(run.org).update_or_create(
        organization=run.org, as_of=run.as_of, defaults={**mix, "computed_at": timezone.now()}
    )
    months = mix["stage_flow"]["months"]
    return sum(months[-1]["counts"].values()) if months else 0


NightlyStep = Callable[[NightlyRun], int]

NIGHTLY_STEPS: list[tuple[str, NightlyStep]] = [
    ("read", step_read),
    ("models", step_models),
    ("scores", step_scores),
    ("channel_metrics", step_channel_metrics),
    ("kpis", step_kpis),
    ("cohorts", step_cohorts),
    ("retention_trend", step_retention_trend),
    ("alerts", step_alerts),
    ("customer_mix", step_customer_mix),
    ("segment_sizes", step_segment_sizes),
]


@contextlib.contextmanager
def _organization_lock(org: Organization) -> Iterator[bool]:
    """Hold the organization's nightly lock for the whole run; yields whether it was free (always on SQLite).

    A session lock, taken before the run's JobRun row exists and let go after its outcome is saved: so a "running"
    row whose lock nobody holds belongs to a dead worker, with no window to allow for. PostgreSQL releases it with
    the connection of a worker that dies; SQLite serialises writers itself and has no such lock.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [NIGHTLY_LOCK_NAMESPACE, org.pk])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [NIGHTLY_LOCK_NAMESPACE, org.pk])
            except Error:
                # Its connection is gone (and the lock with it), or it sits in an aborted transaction: closing it
                # is the one sure way not to keep the organization's lock for the connection's whole life.
                logger.warning("could not release the nightly lock of %s; closing the connection", org.slug)
                connection.close()


def abandon_stale_runs(*, now: datetime.datetime, org: Organization | None = None) -> int:
    """Mark nightly runs whose worker is gone as failed ("abandoned"); returns how many. All organizations if none.

    A worker killed by the time limit, the OOM killer or a deploy never records its outcome, so without this
    the row would say "running" forever and block the day's re-run. On PostgreSQL a run is dead exactly when
    nobody holds its organization's lock: the run's session takes it before its row exists and lets it go after
    its outcome is saved, and PostgreSQL drops it with the connection of a worker that dies. The test sits in
    the UPDATE itself, so a run that starts while the sweep runs cannot be caught between a check and the write.
    On SQLite only the hard time limit tells.
    """
    error = gettext("abandoned: the worker stopped before finishing")
    if connection.vendor != "postgresql":
        running = JobRun.objects.filter(kind=NIGHTLY, status=JobStatus.RUNNING, started_at__lt=stale_before(now))
        if org is not None:
            running = running.for_org(org)
        count = running.update(status=JobStatus.FAILED, finished_at=now, updated_at=now, error=error)
    else:
        table = JobRun._meta.db_table
        held = advisory_locks.HELD_SQL.format(namespace="%s", key=f"{table}.organization_id")
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = %s, finished_at = %s, updated_at = %s, error = %s"  # noqa: S608
                f" WHERE kind = %s AND status = %s AND ({'organization_id = %s' if org else 'TRUE'})"
                f" AND NOT EXISTS ({held})",
                [
                    JobStatus.FAILED,
                    now,
                    now,
                    error,
                    NIGHTLY,
                    JobStatus.RUNNING,
                    *([org.pk] if org else []),
                    NIGHTLY_LOCK_NAMESPACE,
                ],
            )
            count = cursor.rowcount
    if count:
        logger.warning("marked %s nightly run(s) abandoned by their worker as failed", count)
    return count


def _record_outcome(job: JobRun, status: str, error: str = "") -> None:
    """Save how the run ended, on a fresh connection if the run's own connection died; never raises.

    If even that fails the row stays "running" until ``abandon_stale_runs`` marks it abandoned.
    """
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    try:
        job.save(update_fields=_OUTCOME_FIELDS)
        return
    except Error:
        if connection.in_atomic_block:
            logger.exception("could not record that nightly run %s ended %s", job.pk, status)
            return
        logger.warning("could not record that nightly run %s ended %s; retrying on a new connection", job.pk, status)
    connection.close()
    try:
        job.save(update_fields=_OUTCOME_FIELDS)
    except Error:
        logger.exception(
            "could not record that nightly run %s ended %s; it stays running until it counts as abandoned",
            job.pk,
            status,
        )


def run_nightly(
    *,
    org: Organization,
    as_of: datetime.date,
    triggered_by: str = "system",
    progress: Callable[[str], None] | None = None,
) -> JobRun:
    """Run every nightly step for ``org`` as of ``as_of``; the steps' writes commit together or not at all.

    Raises ``ValueError`` for an ``as_of`` after the organization's local today. A run that fails is recorded
    as failed; if the failure is a database error that can clear, it is raised again afterwards for a retry.
    """
    now = timezone.now()
    yesterday = local_yesterday(org, now)
    if as_of > yesterday:
        # A day is scored once it is over: a run for today would mark the day done with half its orders.
        raise ValueError(
            gettext(
                "The as-of date %(as_of)s is not over yet in the organization's time zone; the latest day to "
                "score is %(yesterday)s."
            )
            % {"as_of": as_of.isoformat(), "yesterday": yesterday.isoformat()}
        )
    abandon_stale_runs(org=org, now=now)
    with _organization_lock(org) as acquired:
        job = JobRun.objects.create(organization=org, kind=NIGHTLY, as_of=as_of, triggered_by=triggered_by)
        if not acquired:
            message = gettext("A nightly run for organization %(slug)s is already in progress.") % {"slug": org.slug}
            _record_outcome(job, JobStatus.SKIPPED, message)
            return job
        run = NightlyRun(org=org, as_of=as_of)
        try:
            with transaction.atomic():
                for name, step in NIGHTLY_STEPS:
                    if progress:
                        progress(name)
                    started = time.perf_counter()
                    rows = step(run)
                    job.step_seconds[name] = round(time.perf_counter() - started, 4)
                    job.row_counts[name] = rows
        except RETRYABLE_DATABASE_ERRORS as exc:
            logger.warning(
                "nightly run %s for organization %s as of %s hit a database error; it will be retried",
                job.pk,
                org.slug,
                as_of,
                exc_info=True,
            )
            _record_outcome(job, JobStatus.FAILED, error_summary(exc))
            _alert_failure(org, as_of, error_summary(exc))
            raise
        except Exception as exc:
            logger.exception("nightly run %s failed for organization %s as of %s", job.pk, org.slug, as_of)
            _record_outcome_and_emit(run, job, JobStatus.FAILED, error_summary(exc))
            _alert_failure(org, as_of, error_summary(exc))
        else:
            _record_outcome_and_emit(run, job, JobStatus.SUCCEEDED)
            _notify(run.raised_alert_ids)
            if run.current:
                _refresh_planner_statistics()
    return job


def _record_outcome_and_emit(run: NightlyRun, job: JobRun, status: str, error: str = "") -> None:
    """Save how the run ended and write its webhooks (``reporting/webhook_events.py``) in ONE transaction.

    A worker that dies between the two can then not leave a finished run whose events were never written (the
    deliveries are queued on commit). If that transaction fails, the outcome is still recorded alone (logged):
    the run's result matters more than its notifications, and a re-run of the day emits the same change event
    ids again, so nothing is sent twice.
    """
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    try:
        with transaction.atomic():
            job.save(update_fields=_OUTCOME_FIELDS)
            nightly_webhooks_emit(org=run.org, job=job, current=run.current)
        return
    except Exception:
        logger.exception("could not record nightly run %s with its webhooks; recording its outcome alone", job.pk)
    _record_outcome(job, status, error)


def _refresh_planner_statistics() -> None:
    """ANALYZE the score table once its new rows are committed.

    Segment counts filter on scores (tier, stage, churn probability); with statistics from before the night
    the planner can guess a few thousand rows where there are hundreds of thousands and pick a slow plan.
    Autovacuum would get there eventually; the live count is needed the next morning. Outside the run's
    transaction, so no lock is held across another organization's night.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {CustomerScore._meta.db_table}")
    except DatabaseError:
        logger.warning("could not analyze the score table after the nightly run", exc_info=True)


def _notify(alert_ids: list[int]) -> None:
    """E-mail the new alerts from a worker: a slow mail server must not hold the nightly run."""
    if not alert_ids:
        return
    from reporting.tasks import send_alerts

    try:
        send_alerts.delay(alert_ids)
    except Exception:
        logger.exception("could not queue the e-mails of alerts %s", alert_ids)


def _alert_failure(org: Organization, as_of: datetime.date, error: str) -> None:
    """Raise the "nightly run failed" alert; never raises itself (the database may be what failed)."""
    try:
        alert = reporting_services.nightly_failure_alert(org=org, as_of=as_of, error=error)
    except Exception:
        logger.exception("could not record the failure alert of the nightly run of %s as of %s", org.slug, as_of)
        return
    if alert is not None:
        _notify([alert.pk])


def nightly_day_covered(*, org: Organization, as_of: datetime.date, now: datetime.datetime) -> bool:
    """Whether a nightly run for ``as_of`` already succeeded or is still running (and not abandoned)."""
    return bool(selectors.nightly_days_covered(org_ids=[org.pk], days=[as_of], running_since=stale_before(now)))


def organizations_due(*, now: datetime.datetime) -> list[Organization]:
    """Organizations whose nightly run for their local yesterday should start at ``now``.

    Due means: the local time has reached the organization's nightly hour today, and no run for its local
    yesterday has succeeded or is still running. Comparing "at or after the hour" instead of "in the hour"
    gives exactly one run on daylight-saving nights (02:30 may not exist, or happen twice) and lets a late or
    failed run catch up later that day.
    """
    candidates: dict[int, tuple[Organization, datetime.date]] = {}
    for org in Organization.objects.only("id", "slug", "name", "time_zone", "nightly_hour"):
        try:
            local = now.astimezone(organization_time_zone(org))
            if local.hour >= org.nightly_hour:
                candidates[org.pk] = (org, local.date() - datetime.timedelta(days=1))
        except Exception:
            logger.exception("could not tell whether organization %s is due for its nightly run", org.slug)
    covered = selectors.nightly_days_covered(
        org_ids=list(candidates),
        days={day for _, day in candidates.values()},
        running_since=stale_before(now),
    )
    return [org for org_id, (org, day) in candidates.items() if (org_id, day) not in covered]
