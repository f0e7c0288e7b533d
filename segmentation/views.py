"""Segment pages: the list with nightly size sparklines, the rule builder with its live count, the detail page
(readable rules, members, "why is this customer in or out", snapshots) and the customer page's segments panel.

Membership shown on these pages is computed live from the rules (``segmentation/rules.py``), as of the
organization's today; the size history is what the nightly run recorded. Every user may read; marketers and
admins build, change, delete and snapshot segments.
"""

from __future__ import annotations

import csv
import datetime
import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST, require_safe

from accounts.decorators import organization_required, role_required
from accounts.models import Organization
from accounts.permissions import MARKETING_WRITERS, may_export_customer_pii
from accounts.services import Actor
from accounts.timekeeping import local_today
from crm import selectors as crm_selectors
from crm.models import Customer
from crm.spreadsheets import neutralize_formula
from segmentation import selectors
from segmentation.forms import SegmentForm, SnapshotForm, parse_rules_text
from segmentation.models import Segment, SegmentSize, SegmentSnapshot
from segmentation.rule_text import builder_catalogue, describe, summary
from segmentation.rules import explain, validate_rules
from segmentation.services import segment_create, segment_delete, segment_snapshot_take, segment_update

SIZE_HISTORY_DAYS = 90
MEMBERS_PER_PAGE = 50
SNAPSHOTS_SHOWN = 20
STARTER_RULES = {"all": [{"field": "tier", "op": "eq", "value": "high"}]}


def _can_write(request: HttpRequest) -> bool:
    return request.membership.role in MARKETING_WRITERS


def _today(org: Organization) -> datetime.date:
    return local_today(org, timezone.now())


def _segment_or_404(request: HttpRequest, pk: int) -> Segment:
    # Another organization's segment is simply not found: a 404, never a 403 that would confirm it exists.
    segment = Segment.objects.for_org(request.organization).select_related("created_by").filter(pk=pk).first()
    if segment is None:
        raise Http404(_("No such segment."))
    return segment


def _channel_names(org: Organization) -> dict[str, str]:
    return dict(crm_selectors.channels_list(org=org).values_list("code", "name"))


def _validated(rules: object) -> tuple[dict | None, dict[str, list[str]]]:
    """The normalized rule, or None and the errors by JSON path (a stored rule can go stale)."""
    try:
        return validate_rules(rules), {}
    except ValidationError as exc:
        return None, exc.message_dict


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def sparkline(sizes: list[SegmentSize], *, width: int = 120, height: int = 28, pad: int = 3) -> dict | None:
    """Geometry of a size-history sparkline (an inline SVG polyline) and its text alternative.

    Nights are placed by date, so a night that did not run shows as a longer segment of the line.
    """
    if not sizes:
        return None
    first_day = sizes[0].day
    span = max((sizes[-1].day - first_day).days, 1)
    values = [row.size for row in sizes]
    low, high = min(values), max(values)
    rise = (high - low) or 1
    points = []
    for row in sizes:
        x = pad + (row.day - first_day).days / span * (width - 2 * pad)
        y = height / 2 if high == low else pad + (high - row.size) / rise * (height - 2 * pad)
        points.append((round(x, 1), round(y, 1)))
    if len(points) == 1:
        points = [(pad, points[0][1]), (width - pad, points[0][1])]
    label = _(
        "Size over %(nights)s nightly runs from %(first)s to %(last)s: %(start)s at first, %(end)s at last, "
        "lowest %(low)s, highest %(high)s."
    ) % {
        "nights": len(sizes),
        "first": first_day.isoformat(),
        "last": sizes[-1].day.isoformat(),
        "start": values[0],
        "end": values[-1],
        "low": low,
        "high": high,
    }
    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "end": points[-1],
        "label": label,
        "low": low,
        "high": high,
        "first_day": first_day,
        "last_day": sizes[-1].day,
    }


# List ----------------------------------------------------------------------------------------------------------


@require_safe
@organization_required
def segment_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    segments = list(selectors.with_latest_size(selectors.segments_list(org=org)))
    since = _today(org) - datetime.timedelta(days=SIZE_HISTORY_DAYS)
    histories = selectors.segment_size_histories(org=org, segment_ids=[s.pk for s in segments], since=since)
    names = _channel_names(org)
    rows = []
    for segment in segments:
        normalized, errors = _validated(segment.rules)
        rows.append(
            {
                "segment": segment,
                "summary": summary(normalized, names) if normalized is not None else "",
                "invalid": bool(errors),
                "sparkline": sparkline(histories[segment.pk]),
            }
        )
    return _render(request, "segmentation/segment_list.html", {"rows": rows, "can_write": _can_write(request)})


# Builder -------------------------------------------------------------------------------------------------------


def _builder_context(request: HttpRequest, form: SegmentForm, *, segment: Segment | None, rule_errors: dict) -> dict:
    org = request.organization
    channels = list(crm_selectors.channels_list(org=org).values_list("code", "name"))
    return {
        "form": form,
        "segment": segment,
        "catalogue": builder_catalogue(channels=channels, event_names=selectors.recent_event_names(org=org)),
        "rule_errors": rule_errors,
        "rule_errors_json": json.dumps(rule_errors, ensure_ascii=False),
    }


def _rules_text(rules: object) -> str:
    return json.dumps(rules, indent=2, ensure_ascii=False)


def _save_segment(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    """Create or update from the posted builder form; errors go back into the form with a 400."""
    form = SegmentForm(request.POST)
    rule_errors: dict[str, list[str]] = {}
    if form.is_valid():
        actor = Actor(user=request.user)
        fields = {name: form.cleaned_data[name] for name in ("name", "description", "rules")}
        try:
            if segment is None:
                saved = segment_create(org=request.organization, actor=actor, **fields)
            else:
                saved = segment_update(segment=segment, actor=actor, **fields)
        except ValidationError as exc:
            rule_errors = form.add_service_error(exc)
        else:
            messages.success(request, _("Segment “%(name)s” saved.") % {"name": saved.name})
            return redirect("segmentation:segment-detail", pk=saved.pk)
    elif "rules" in form.errors:
        rule_errors = {"rules": list(form.errors["rules"])}
    context = _builder_context(request, form, segment=segment, rule_errors=rule_errors)
    return _render(request, "segmentation/segment_form.html", context, status=400)


@role_required(MARKETING_WRITERS)
def segment_create_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save_segment(request, None)
    form = SegmentForm(initial={"rules": _rules_text(STARTER_RULES)})
    return _render(
        request, "segmentation/segment_form.html", _builder_context(request, form, segment=None, rule_errors={})
    )


@role_required(MARKETING_WRITERS)
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment_or_404(request, pk)
    if request.method == "POST":
        return _save_segment(request, segment)
    _normalized, rule_errors = _validated(segment.rules)
    form = SegmentForm(
        initial={"name": segment.name, "description": segment.description, "rules": _rules_text(segment.rules)}
    )
    context = _builder_context(request, form, segment=segment, rule_errors=rule_errors)
    return _render(request, "segmentation/segment_form.html", context)


@require_POST
@role_required(MARKETING_WRITERS)
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The builder's live count and sample of the posted (unsaved) rules, or their errors by JSON path."""
    org = request.organization
    context: dict[str, Any] = {"errors": {}, "count": None, "sample": []}
    try:
        rules = parse_rules_text(request.POST.get("rules", ""))
        preview = selectors.segment_preview(org=org, rules=rules, today=_today(org))
    except ValidationError as exc:
        context["errors"] = exc.message_dict if hasattr(exc, "error_dict") else {"rules": exc.messages}
    else:
        context.update(count=preview["count"], sample=preview["sample"])
    context["errors_json"] = json.dumps(context["errors"], ensure_ascii=False)
    return _render(request, "segmentation/_preview.html", context)


@require_POST
@role_required(MARKETING_WRITERS)
def segment_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment_or_404(request, pk)
    name = segment.name
    segment_delete(segment=segment, actor=Actor(user=request.user))
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": name})
    return redirect("segmentation:segment-list")


# Detail --------------------------------------------------------------------------------------------------------


def _find_customer(org: Organization, query: str) -> Customer | None:
    """A customer of the organization by id or, failing that, by external id."""
    query = query.strip()[:200]
    if not query:
        return None
    if query.isdigit() and len(query) <= 18:
        customer = crm_selectors.customer_get(org=org, pk=int(query))
        if customer is not None:
            return customer
    return Customer.objects.for_org(org).filter(external_id=query).first()


def _explanation(org: Organization, segment: Segment, normalized: dict | None, query: str) -> dict | None:
    """Whether the customer ``query`` names is in the segment today, condition by condition."""
    query = (query or "").strip()
    if not query:
        return None
    customer = _find_customer(org, query)
    if customer is None:
        return {"query": query, "error": _("No customer with the id or external id “%(query)s”.") % {"query": query}}
    if normalized is None:
        return {"query": query, "customer": customer, "error": _("The segment's rules need fixing first.")}
    tree = explain(normalized, customer=customer, today=_today(org))
    nodes = [describe(tree, _channel_names(org))]
    return {"query": query, "customer": customer, "matched": tree["matched"], "nodes": nodes}


@require_safe
@organization_required
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    org = request.organization
    segment = _segment_or_404(request, pk)
    normalized, rule_errors = _validated(segment.rules)
    today = _today(org)
    page = None
    if normalized is not None:
        members = (
            selectors.segment_members(org=org, rules=normalized, today=today)
            .select_related("score")
            .order_by(F("score__customer_value").desc(nulls_last=True), "pk")
        )
        page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    since = today - datetime.timedelta(days=SIZE_HISTORY_DAYS)
    sizes = list(selectors.segment_sizes_list(org=org, segment=segment).filter(day__gte=since))
    can_write = _can_write(request)
    context = {
        "segment": segment,
        "rules_nodes": [describe(normalized, _channel_names(org))] if normalized is not None else None,
        "rule_errors": rule_errors,
        "page": page,
        "today": today,
        "sizes": sizes,
        "latest_size": sizes[-1] if sizes else None,
        "sparkline": sparkline(sizes, width=640, height=90, pad=6),
        "snapshots": selectors.segment_snapshots_list(org=org, segment=segment)[:SNAPSHOTS_SHOWN],
        "snapshot_form": SnapshotForm() if can_write else None,
        "explanation": _explanation(org, segment, normalized, request.GET.get("customer", "")),
        "can_write": can_write,
        "rules_json": _rules_text(segment.rules),
    }
    return _render(request, "segmentation/segment_detail.html", context)


@require_GET
@organization_required
def segment_explain(request: HttpRequest, pk: int) -> HttpResponse:
    """The "explain for a customer" box's answer, as the fragment htmx swaps in."""
    segment = _segment_or_404(request, pk)
    normalized, _errors = _validated(segment.rules)
    explanation = _explanation(request.organization, segment, normalized, request.GET.get("customer", ""))
    return _render(request, "segmentation/_explain.html", {"segment": segment, "explanation": explanation})


@require_POST
@role_required(MARKETING_WRITERS)
def segment_take_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment_or_404(request, pk)
    form = SnapshotForm(request.POST)
    if form.is_valid():
        try:
            snapshot = segment_snapshot_take(
                segment=segment, actor=Actor(user=request.user), name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                _("Snapshot “%(name)s” taken: %(size)s customers.") % {"name": snapshot.name, "size": snapshot.size},
            )
    else:
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
    return redirect("segmentation:segment-detail", pk=segment.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@organization_required
def segment_snapshot_members_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """A snapshot's customers as CSV (id, external id, name, e-mail), streamed row by row.

    Names and e-mail addresses only for members allowed to take customers' personal data away
    (:func:`accounts.permissions.may_export_customer_pii`); every text cell is neutralized against formulas.
    """
    org = request.organization
    snapshot = SegmentSnapshot.objects.for_org(org).filter(pk=pk).first()
    if snapshot is None:
        raise Http404(_("No such snapshot."))
    writer = csv.writer(_Echo())
    header = ["customer_id", "external_id", "name", "email"]
    if not may_export_customer_pii(request.membership):
        header = header[:2]
    members = selectors.snapshot_members(org=org, snapshot=snapshot).values_list("pk", *(name for name in header[1:]))

    def rows():
        yield writer.writerow(header)
        for customer_id, *texts in members.iterator(chunk_size=2000):
            yield writer.writerow([customer_id, *(neutralize_formula(text or "") for text in texts)])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="segment-snapshot-{snapshot.pk}.csv"'
    return response


# Customer page panel -------------------------------------------------------------------------------------------


@require_GET
@organization_required
def customer_segments(request: HttpRequest, customer_pk: int) -> HttpResponse:
    """Every segment of the organization with whether this customer is in it today, and why (for the customer page)."""
    org = request.organization
    customer = crm_selectors.customer_get(org=org, pk=customer_pk)
    if customer is None:
        raise Http404(_("No such customer."))
    today = _today(org)
    names = _channel_names(org)
    changes = selectors.customer_segment_changes(org=org, customer=customer)
    rows = []
    for segment in selectors.segments_list(org=org):
        row: dict[str, Any] = {"segment": segment, "change": changes.get(segment.pk)}
        normalized, _errors = _validated(segment.rules)
        if normalized is None:
            row["invalid"] = True
        else:
            tree = explain(normalized, customer=customer, today=today)
            row.update(matched=tree["matched"], nodes=[describe(tree, names)])
        rows.append(row)
    rows.sort(key=lambda row: (not row.get("matched", False), row["segment"].name.lower()))
    context = {"customer": customer, "rows": rows, "today": today, "can_write": _can_write(request)}
    if request.htmx and not request.htmx.history_restore_request:
        return _render(request, "segmentation/_customer_segments.html", context)
    return _render(request, "segmentation/customer_segments.html", context)
