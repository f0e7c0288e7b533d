"""Report pages: KPIs, customer scores, the lifetime-value model, alerts, nightly jobs (channels: channel_views).

Every figure here was computed by the nightly run (``reporting/nightly.py``); the pages only read it, so they
stay fast at any size. Definitions are shown next to the numbers: a KPI without its definition is not read
the same way by two people.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from accounts.decorators import organization_required, role_required
from accounts.permissions import ADMINS, ALERT_ACKNOWLEDGERS
from accounts.selectors import organization_members
from accounts.services import Actor
from reporting import selectors
from reporting.charts import chart, series
from reporting.forms import AlertRuleForm
from reporting.models import Alert, AlertRule, JobStatus, Target
from reporting.overview import overview_context
from reporting.paging import KnownCountPaginator
from reporting.services import (
    alert_acknowledge,
    alert_rule_update,
    alert_rules_for,
    target_create,
    target_delete,
    target_update,
)
from reporting.target_forms import TargetForm
from retention.models import ClvModelReport
from segmentation import selectors as score_selectors
from segmentation.models import RfmSegment, Stage, Tier

#: The executive overview's headline tiles (with change and sparkline), in the order of the issue.
OVERVIEW_TILES = (
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
#: The nightly steps as readers know them (``reporting.nightly.NIGHTLY_STEPS`` names them for the code).
NIGHTLY_STEP_LABELS = {
    "read": gettext_lazy("read data"),
    "models": gettext_lazy("value models"),
    "scores": gettext_lazy("customer scores"),
    "channel_metrics": gettext_lazy("channel metrics"),
    "kpis": gettext_lazy("KPIs"),
    "cohorts": gettext_lazy("cohorts"),
    "retention_trend": gettext_lazy("retention trend"),
    "alerts": gettext_lazy("alerts"),
    "customer_mix": gettext_lazy("customer mix"),
    "segment_sizes": gettext_lazy("segment sizes"),
}
KPI_GROUPS = (
    OVERVIEW_TILES,
    ("arpu", "activation_rate", "csat", "churned_customers", "at_risk_customers", "buying_customers"),
    ("d1_retention", "d7_retention", "d30_retention"),
)


@require_safe
@organization_required
def job_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in JobStatus.values:
        status = ""
    runs = selectors.job_runs_list(org=request.organization, status=status)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "reporting/job_list.html",
        {"page": page, "status": status, "statuses": JobStatus.choices, "step_labels": NIGHTLY_STEP_LABELS},
    )


@require_safe
@organization_required
def kpi_overview(request: HttpRequest) -> HttpResponse:
    """The executive overview: headline KPIs with their change and sparkline, targets, movers, channel figures."""
    return render(request, "reporting/kpi_overview.html", overview_context(request, groups=KPI_GROUPS))


def _choice(value: str, choices) -> str:
    return value if value in choices else ""


@require_safe
@organization_required
def score_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    tier = _choice(request.GET.get("tier", ""), Tier.values)
    stage = _choice(request.GET.get("stage", ""), Stage.values)
    segment = _choice(request.GET.get("segment", ""), RfmSegment.values)
    at_risk = {"yes": True, "no": False}.get(request.GET.get("at_risk", ""))
    scores = score_selectors.scores_list(org=org, tier=tier, stage=stage, segment=segment, at_risk=at_risk)
    as_of = score_selectors.scores_as_of(org=org)
    # The summaries and counts of the night the scores belong to; counted live only when no snapshot matches.
    breakdown = selectors.score_breakdown_of_night(org=org, as_of=as_of)
    by_tier = breakdown["tier"] if breakdown else score_selectors.score_breakdown(org=org, field="tier")
    by_stage = breakdown["stage"] if breakdown else score_selectors.score_breakdown(org=org, field="stage")
    known = selectors.known_score_count(
        breakdown, tier=tier, stage=stage, other_filters=bool(segment) or at_risk is not None
    )
    paginator = Paginator(scores, 50) if known is None else KnownCountPaginator(scores, 50, count=known)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reporting/score_list.html",
        {
            "page": page,
            "query": query.urlencode(),
            "filters": {"tier": tier, "stage": stage, "segment": segment, "at_risk": request.GET.get("at_risk", "")},
            "tiers": Tier.choices,
            "stages": Stage.choices,
            "segments": RfmSegment.choices,
            "by_tier": by_tier,
            "by_stage": sorted(
                by_stage,
                key=lambda row: Stage.values.index(row["stage"]) if row["stage"] in Stage.values else len(Stage.values),
            ),
            "as_of": as_of,
        },
    )


def _calibration_chart(buckets: list[dict]) -> dict:
    """Predicted against actual mean repeat purchase days in the holdout, per frequency bucket (shared chart)."""
    return chart(
        "bar",
        title=_("Predicted and actual repeat purchase days per customer, by frequency before the holdout"),
        labels=[str(bucket["frequency"]) for bucket in buckets],
        series_list=[
            series(_("predicted"), [bucket["predicted"] for bucket in buckets]),
            series(_("actual"), [bucket["actual"] for bucket in buckets]),
        ],
        x_label=_("Repeat purchase days before"),
        y_label=_("Repeat purchase days (mean)"),
    )


@require_safe
@organization_required
def clv_model_report(request: HttpRequest) -> HttpResponse:
    reports = ClvModelReport.objects.for_org(request.organization).order_by("-as_of")
    report = reports.first()
    buckets = (report.calibration or {}).get("buckets", []) if report else []
    evaluation = report.churn_evaluation if report else {}
    return render(
        request,
        "reporting/clv_model.html",
        {
            "report": report,
            "history": reports[1:15],
            "chart": _calibration_chart(buckets) if buckets else None,
            "buckets": buckets,
            "evaluation": evaluation,
            "importance": (evaluation or {}).get("feature_importance", [])[:8],
        },
    )


def _rule_forms(org, bound: tuple[str, AlertRuleForm] | None = None) -> list[tuple[AlertRule, AlertRuleForm]]:
    rows = []
    for kind, rule in sorted(alert_rules_for(org).items()):
        if bound is not None and bound[0] == kind:
            rows.append((rule, bound[1]))
            continue
        form = AlertRuleForm(
            initial={
                "threshold_percent": rule.threshold * 100,
                "enabled": rule.enabled,
                "notify_by_email": rule.notify_by_email,
            },
            prefix=kind,
        )
        rows.append((rule, form))
    return rows


def _render_alerts(request: HttpRequest, bound: tuple[str, AlertRuleForm] | None = None, status: int = 200):
    only_open = request.GET.get("show", "open") != "all"
    alerts = selectors.alerts_list(org=request.organization, only_open=only_open)
    page = Paginator(alerts, 50).get_page(request.GET.get("page"))
    is_admin = request.membership.role in ADMINS
    return render(
        request,
        "reporting/alert_list.html",
        {
            "page": page,
            "only_open": only_open,
            "can_acknowledge": request.membership.role in ALERT_ACKNOWLEDGERS,
            "rules": _rule_forms(request.organization, bound) if is_admin else None,
        },
        status=status,
    )


@require_safe
@organization_required
def alert_list(request: HttpRequest) -> HttpResponse:
    return _render_alerts(request)


@require_POST
@role_required(ADMINS)
def alert_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule.objects.for_org(request.organization), pk=pk)
    kind = rule.kind
    form = AlertRuleForm(request.POST, prefix=kind)
    if form.is_valid():
        try:
            alert_rule_update(
                rule=rule,
                actor=Actor(user=request.user),
                threshold=form.cleaned_data["threshold_percent"] / 100,
                enabled=form.cleaned_data["enabled"],
                notify_by_email=form.cleaned_data["notify_by_email"],
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Alert rule saved."))
            return redirect("reporting:alert-list")
    return _render_alerts(request, bound=(kind, form), status=400)


@require_POST
@role_required(ALERT_ACKNOWLEDGERS)
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.for_org(request.organization), pk=pk)
    alert_acknowledge(alert=alert, actor=Actor(user=request.user))
    messages.success(request, _("Alert acknowledged."))
    return redirect("reporting:alert-list")


def _target_form_page(request: HttpRequest, form: TargetForm, target: Target | None, status: int = 200) -> HttpResponse:
    return render(request, "reporting/target_form.html", {"form": form, "target": target}, status=status)


def _target_form_save(request: HttpRequest, target: Target | None) -> HttpResponse:
    """Validate the posted form, then create or update through the services; errors go back into the form."""
    form = TargetForm(request.POST, members=organization_members(org=request.organization))
    if form.is_valid():
        actor = Actor(user=request.user)
        try:
            if target is None:
                target = target_create(org=request.organization, actor=actor, **form.service_fields())
                messages.success(request, _("Target added."))
            else:
                target_update(target=target, actor=actor, **form.service_fields())
                messages.success(request, _("Target saved."))
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            return redirect("reporting:kpi-overview")
    return _target_form_page(request, form, target, status=400)


@role_required(ADMINS)
def target_create_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _target_form_save(request, None)
    snapshot = selectors.latest_kpi_snapshot(org=request.organization)
    initial = {"baseline_date": snapshot.day if snapshot else None}
    return _target_form_page(
        request, TargetForm(initial=initial, members=organization_members(org=request.organization)), None
    )


@role_required(ADMINS)
def target_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(Target.objects.for_org(request.organization), pk=pk)
    if request.method == "POST":
        return _target_form_save(request, target)
    form = TargetForm(initial=TargetForm.initial_for(target), members=organization_members(org=request.organization))
    return _target_form_page(request, form, target)


@require_POST
@role_required(ADMINS)
def target_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(Target.objects.for_org(request.organization), pk=pk)
    target_delete(target=target, actor=Actor(user=request.user))
    messages.success(request, _("Target deleted."))
    return redirect("reporting:kpi-overview")
