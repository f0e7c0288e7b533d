"""The home page, by role: what each person should look at first when they sign in.

* ops (and admin): my open tasks, my at-risk customers of the highest tier that has any, recent imports and
  nightly runs with failures first to the eye, and the alerts waiting to be acknowledged;
* marketer (and admin, as a summary block): segments with their nightly sizes and trend, and the recently
  launched campaigns with their pooled revenue uplift;
* viewer: a short summary that points to the executive overview.

Every block reads indexed, precomputed rows, a bounded number of them, in a fixed number of queries whatever
the organization's size. Three reads are not cheap at scale and are cached: the headline counts of
customers, orders and channels (a count over every order) and the campaign uplift (``campaign_results`` joins
each delivery to its orders, computed only for the ``HOME_CAMPAIGNS`` most recently launched campaigns), both
for ``HOME_CACHE_SECONDS``; the enrolled and sent counts of those campaigns for a minute.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.decorators import organization_required
from accounts.models import Organization, Role, User
from accounts.permissions import CRM_WRITERS, FOLLOW_UP_WRITERS, MARKETING_WRITERS
from campaigns.models import MESSAGED_STATUSES, Campaign, CampaignStatus, Delivery, DeliveryStatus
from campaigns.selectors import campaign_results
from crm import selectors as crm_selectors
from crm.models import ImportJob, ImportStatus, Task, TaskStatus
from reporting.models import NIGHTLY, Alert, JobRun, JobStatus, KpiSnapshot
from segmentation.models import CustomerScore, Segment, SegmentSize, Tier
from segmentation.selectors import with_latest_size

HOME_TASKS = 8
HOME_AT_RISK = 8
HOME_IMPORTS = 5
HOME_RUNS = 5
HOME_ALERTS = 3
HOME_SEGMENTS = 8
HOME_CAMPAIGNS = 5
HOME_CACHE_SECONDS = 300
#: Sending campaigns move fast; their enrolled and sent counts are cached for a minute only.
DELIVERY_COUNTS_CACHE_SECONDS = 60
ERROR_SUMMARY_LENGTH = 160
#: Campaign statuses shown on the marketing home: launched, whether still sending or finished.
LAUNCHED_STATUSES = (CampaignStatus.SENDING, CampaignStatus.ACTIVE, CampaignStatus.SENT, CampaignStatus.STOPPED)
#: A delivery counts as "sent" on the home page once it went out by mail or into the export list.
SENT_STATUSES = (*MESSAGED_STATUSES, DeliveryStatus.EXPORTED)


# Selectors ---------------------------------------------------------------------------------------------------


def home_counts(*, org: Organization) -> dict[str, int]:
    """The headline counts; customers, orders and channels are cached (counting every order is slow at scale)."""
    key = f"home:counts:{org.pk}"
    counts = cache.get(key)
    if counts is None:
        counts = crm_selectors.org_counts(org=org)
        cache.set(key, counts, HOME_CACHE_SECONDS)
    # Open tasks are few and indexed, and change with every follow-up: counted live, never stale.
    return {**counts, "open_tasks": Task.objects.for_org(org).filter(status=TaskStatus.OPEN).count()}


def home_my_tasks(*, org: Organization, user: User, today: datetime.date) -> dict[str, Any]:
    """My open tasks, overdue first (the inbox order: oldest due date first, undated last), with counts."""
    tasks = crm_selectors.tasks_inbox(org=org, user=user)
    totals = (
        Task.objects.for_org(org)
        .filter(owner=user, status=TaskStatus.OPEN)
        .aggregate(total=Count("id"), overdue=Count("id", filter=Q(due_date__lt=today)))
    )
    return {"tasks": list(tasks[:HOME_TASKS]), "count": totals["total"], "overdue": totals["overdue"]}


def home_my_at_risk(*, org: Organization, user: User) -> dict[str, Any]:
    """My at-risk customers of the high tier, most valuable first; the mid tier when no high one is at risk."""
    mine = CustomerScore.objects.for_org(org).filter(at_risk=True, customer__owner=user).select_related("customer")
    for tier in (Tier.HIGH, Tier.MID):
        scores = list(mine.filter(tier=tier).order_by("-customer_value", "customer_id")[: HOME_AT_RISK + 1])
        if scores:
            return {
                "tier": tier,
                "tier_label": Tier(tier).label,
                "scores": scores[:HOME_AT_RISK],
                "more": len(scores) > HOME_AT_RISK,
            }
    return {"tier": "", "tier_label": "", "scores": [], "more": False}


def _error_summary(text: str) -> str:
    line = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    return line if len(line) <= ERROR_SUMMARY_LENGTH else line[: ERROR_SUMMARY_LENGTH - 1] + "…"


def home_recent_imports(*, org: Organization) -> list[ImportJob]:
    jobs = list(ImportJob.objects.for_org(org).order_by("-created_at", "-id")[:HOME_IMPORTS])
    for job in jobs:
        job.failed = job.status == ImportStatus.FAILED
        job.error_summary = _error_summary(job.error)
    return jobs


def home_recent_runs(*, org: Organization) -> list[JobRun]:
    runs = list(JobRun.objects.for_org(org).filter(kind=NIGHTLY).order_by("-started_at", "-id")[:HOME_RUNS])
    for run in runs:
        run.failed = run.status == JobStatus.FAILED
        run.error_summary = _error_summary(run.error)
    return runs


def home_open_alerts(*, org: Organization) -> dict[str, Any]:
    alerts = Alert.objects.for_org(org).filter(acknowledged_at__isnull=True).order_by("-raised_on", "-id")
    return {"alerts": list(alerts[:HOME_ALERTS]), "count": alerts.count()}


@dataclass(frozen=True)
class SegmentTrend:
    segment: Segment
    size: int | None
    day: datetime.date | None
    change_7: int | None
    change_30: int | None


def _size_on_or_before(history: list[SegmentSize], day: datetime.date) -> int | None:
    earlier = [row.size for row in history if row.day <= day]
    return earlier[-1] if earlier else None


def home_segment_trends(*, org: Organization, limit: int = HOME_SEGMENTS) -> dict[str, Any]:
    """The largest segments with their latest nightly size and its change over the last 7 and 30 nights.

    Two queries: the segments with their latest size (a subquery on the (segment, day) unique index), then the
    last 30 nights of sizes of those shown.
    """
    segments = with_latest_size(Segment.objects.for_org(org))
    total = segments.count()
    shown = list(segments.order_by(F("latest_size").desc(nulls_last=True), "name", "id")[:limit])
    days = [segment.latest_size_day for segment in shown if segment.latest_size_day]
    histories: dict[int, list[SegmentSize]] = {segment.pk: [] for segment in shown}
    if days:
        since = min(days) - datetime.timedelta(days=30)
        rows = SegmentSize.objects.for_org(org).filter(segment_id__in=list(histories), day__gte=since).order_by("day")
        for row in rows:
            histories[row.segment_id].append(row)
    trends = []
    for segment in shown:
        size, day, history = segment.latest_size, segment.latest_size_day, histories[segment.pk]
        changes = {}
        for nights in (7, 30):
            before = _size_on_or_before(history, day - datetime.timedelta(days=nights)) if day else None
            changes[nights] = size - before if size is not None and before is not None else None
        trends.append(SegmentTrend(segment, size, day, changes[7], changes[30]))
    return {"segments": trends, "total": total}


def _campaign_uplift(campaign: Campaign) -> dict[str, Any]:
    """The pooled revenue uplift against the hold-out, cached (``campaign_results`` reads every delivery)."""
    launched = campaign.launched_at.isoformat() if campaign.launched_at else ""
    key = f"home:uplift:{campaign.organization_id}:{campaign.pk}:{launched}"
    summary = cache.get(key)
    if summary is None:
        results = campaign_results(campaign=campaign)
        uplift = results.overall_revenue_uplift
        summary = {
            "uplift": uplift.as_dict() if uplift is not None else None,
            "winner": results.winner,
            "has_holdout": results.holdout is not None,
            "computed_at": timezone.now(),
        }
        cache.set(key, summary, HOME_CACHE_SECONDS)
    return summary


def _delivery_counts(org: Organization, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Enrolled and sent per campaign, cached briefly: a campaign to a million customers has a million rows."""
    if not campaign_ids:
        return {}
    key = f"home:deliveries:{org.pk}:" + ",".join(str(pk) for pk in campaign_ids)
    counts = cache.get(key)
    if counts is None:
        rows = (
            Delivery.objects.filter(organization=org, campaign_id__in=campaign_ids)
            .values("campaign_id")
            .annotate(enrolled=Count("id"), sent=Count("id", filter=Q(status__in=SENT_STATUSES)))
            .order_by()
        )
        counts = {row["campaign_id"]: {"enrolled": row["enrolled"], "sent": row["sent"]} for row in rows}
        cache.set(key, counts, DELIVERY_COUNTS_CACHE_SECONDS)
    return counts


def home_campaigns(*, org: Organization, limit: int = HOME_CAMPAIGNS) -> dict[str, Any]:
    """The most recently launched campaigns with enrolled and sent counts and the pooled revenue uplift."""
    launched = Campaign.objects.for_org(org).filter(status__in=LAUNCHED_STATUSES).select_related("organization")
    campaigns = list(launched.order_by(F("launched_at").desc(nulls_last=True), "-id")[:limit])
    counts = _delivery_counts(org, [campaign.pk for campaign in campaigns])
    rows = []
    for campaign in campaigns:
        row = counts.get(campaign.pk, {})
        rows.append(
            {
                "campaign": campaign,
                "enrolled": row.get("enrolled", 0),
                "sent": row.get("sent", 0),
                **_campaign_uplift(campaign),
            }
        )
    drafts = Campaign.objects.for_org(org).filter(status__in=(CampaignStatus.DRAFT, CampaignStatus.SCHEDULED))
    return {"rows": rows, "drafts": drafts.count()}


def home_latest_run(*, org: Organization) -> JobRun | None:
    run = JobRun.objects.for_org(org).filter(kind=NIGHTLY).order_by("-started_at", "-id").first()
    if run is not None:
        run.error_summary = _error_summary(run.error)
    return run


def home_latest_kpis(*, org: Organization) -> KpiSnapshot | None:
    return KpiSnapshot.objects.for_org(org).order_by("-day").first()


# View --------------------------------------------------------------------------------------------------------


def _ops_blocks(org: Organization, user: User) -> dict[str, Any]:
    return {
        "at_risk": home_my_at_risk(org=org, user=user),
        "imports": home_recent_imports(org=org),
        "runs": home_recent_runs(org=org),
        "alerts": home_open_alerts(org=org),
    }


def _marketing_blocks(org: Organization, *, segments: int, campaigns: int) -> dict[str, Any]:
    return {
        "segment_trends": home_segment_trends(org=org, limit=segments),
        "campaigns": home_campaigns(org=org, limit=campaigns),
    }


@require_safe
@organization_required
def home(request: HttpRequest) -> HttpResponse:
    org, user, role = request.organization, request.user, request.membership.role
    today = timezone.localdate()
    context: dict[str, Any] = {
        "role": role,
        "counts": home_counts(org=org),
        "can_follow_up": role in FOLLOW_UP_WRITERS,
        "can_assign": role in CRM_WRITERS,
        "can_market": role in MARKETING_WRITERS,
        "cache_minutes": HOME_CACHE_SECONDS // 60,
    }
    if role in FOLLOW_UP_WRITERS:
        context["my_tasks"] = home_my_tasks(org=org, user=user, today=today)
    if role in (Role.OPS, Role.ADMIN):
        context.update(_ops_blocks(org, user))
    if role == Role.MARKETER:
        context.update(_marketing_blocks(org, segments=HOME_SEGMENTS, campaigns=HOME_CAMPAIGNS))
    elif role == Role.ADMIN:
        context.update(_marketing_blocks(org, segments=3, campaigns=3))
    if role == Role.VIEWER:
        context["latest_run"] = home_latest_run(org=org)
        context["alerts"] = home_open_alerts(org=org)
        context["kpis"] = home_latest_kpis(org=org)
    return render(request, "reporting/home.html", context)
