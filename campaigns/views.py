"""Campaign pages (list, edit, detail with live progress and results) and the public tracking endpoints.

The tracking endpoints (open pixel, click redirect, unsubscribe) are reached from customers' mailboxes, so they
need no login: each link carries a signed delivery id, which decides the organization; nothing in the URL can
point them at another organization's data or at an arbitrary redirect target.
"""

from __future__ import annotations

import base64
import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from accounts.decorators import organization_required, role_required
from accounts.permissions import MARKETING_WRITERS, may_export_customer_pii
from accounts.services import Actor
from accounts.timekeeping import local_today
from campaigns import selectors, services
from campaigns.forms import CampaignForm
from campaigns.models import Campaign, CampaignStatus
from segmentation.models import Segment, Tier

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.for_org(request.organization).select_related("segment"), pk=pk)


def _can_write(request: HttpRequest) -> bool:
    return request.membership.role in MARKETING_WRITERS


@require_safe
@organization_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = list(selectors.campaigns_list(org=request.organization))
    counts = selectors.delivery_counts_by_campaign(org=request.organization)
    rows = [{"campaign": c, "counts": counts.get(c.pk, {})} for c in campaigns]
    return render(request, "campaigns/campaign_list.html", {"rows": rows, "can_write": _can_write(request)})


@role_required(MARKETING_WRITERS)
@require_POST
def tier_campaigns_create_view(request: HttpRequest) -> HttpResponse:
    try:
        services.tier_campaigns_create(org=request.organization, actor=Actor(user=request.user))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaigns:campaign-list")
    except IntegrityError:
        messages.error(request, _("The tier campaigns were being created already; they are in the list."))
        return redirect("campaigns:campaign-list")
    messages.success(
        request,
        _("Three tier campaigns were created as drafts: review their audience and messages, then launch them."),
    )
    return redirect("campaigns:campaign-list")


def _initial_from_query(request: HttpRequest) -> dict:
    """``?segment=ID`` or ``?tier=high`` preselect the audience (links from segment and tier pages)."""
    initial: dict = {}
    segment = request.GET.get("segment", "")
    if segment.isdigit() and Segment.objects.for_org(request.organization).filter(pk=int(segment)).exists():
        initial["segment"] = int(segment)
    if request.GET.get("tier") in Tier.values:
        initial["tier"] = request.GET["tier"]
    return initial


def _save(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    org = request.organization
    initial = CampaignForm.initial_for(campaign) if campaign else _initial_from_query(request)
    form = CampaignForm(request.POST or None, org=org, initial=initial)
    if request.method == "POST" and form.is_valid():
        actor = Actor(user=request.user)
        try:
            if campaign is None:
                campaign = services.campaign_create(org=org, actor=actor, **form.service_fields())
            else:
                campaign = services.campaign_update(campaign=campaign, actor=actor, **form.service_fields())
        except ValidationError as exc:
            form.add_service_error(exc)
        except IntegrityError:  # the same name saved twice at once (a double click)
            form.add_error("name", _("A campaign with this name already exists."))
        else:
            messages.success(request, _("Campaign saved."))
            return redirect("campaigns:campaign-detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign})


@role_required(MARKETING_WRITERS)
def campaign_create_view(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@role_required(MARKETING_WRITERS)
def campaign_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    if not campaign.is_editable:
        messages.error(request, _("A launched campaign can no longer be edited."))
        return redirect("campaigns:campaign-detail", pk=pk)
    return _save(request, campaign)


@require_safe
@organization_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    results = selectors.campaign_results(campaign=campaign)
    previews = selectors.variant_previews(campaign=campaign, today=local_today(request.organization, timezone.now()))
    template = "campaigns/_progress.html" if request.htmx and request.GET.get("part") == "progress" else None
    context = {
        "campaign": campaign,
        "results": results,
        "previews": previews,
        "can_write": _can_write(request),
        "chart": selectors.uplift_chart(results),
        "sending": campaign.status in (CampaignStatus.SENDING, CampaignStatus.ACTIVE),
        "min_conversions": selectors.MIN_CONVERSIONS_FOR_WINNER,
    }
    return render(request, template or "campaigns/campaign_detail.html", context)


@role_required(MARKETING_WRITERS)
@require_POST
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    campaign = _campaign(request, pk)
    actor = Actor(user=request.user)
    try:
        if action == "launch":
            outcome = services.campaign_launch(campaign=campaign, actor=actor)
            if outcome.scheduled:
                messages.success(request, _("Scheduled."))
            else:
                messages.success(
                    request,
                    _("Launched: %(count)d customers enrolled (hold-out included).") % {"count": outcome.enrolled},
                )
        elif action == "stop":
            services.campaign_stop(campaign=campaign, actor=actor)
            messages.success(request, _("Stopped."))
        elif action == "resend-unknown":
            count = services.unknown_deliveries_resend(campaign=campaign, actor=actor)
            messages.success(request, _("%(count)d deliveries queued again.") % {"count": count})
        elif action == "delete":
            services.campaign_delete(campaign=campaign, actor=actor)
            messages.success(request, _("Campaign deleted."))
            return redirect("campaigns:campaign-list")
        else:
            return HttpResponse(status=404)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except ProtectedError:
        messages.error(request, _("This campaign is still referenced and cannot be deleted."))
    return redirect("campaigns:campaign-detail", pk=pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_safe
@organization_required
def campaign_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign's list (variants only, never the hold-out) as CSV for SMS, ads or call tools."""
    campaign = _campaign(request, pk)
    if not may_export_customer_pii(request.membership):
        raise PermissionDenied(_("Your organization does not let viewers download customer contact lists."))
    writer = csv.writer(_Echo())
    rows = (
        writer.writerow([selectors.spreadsheet_safe(str(value)) for value in row])
        for row in selectors.export_rows(campaign=campaign)
    )
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-list.csv"'
    return response


# Public endpoints reached from e-mails ----------------------------------------------------------------------------


@never_cache
def track_open(request: HttpRequest, token: str) -> HttpResponse:
    services.delivery_opened(token=token)
    return HttpResponse(_PIXEL, content_type="image/gif")


@never_cache
def track_click(request: HttpRequest, token: str) -> HttpResponse:
    url = services.delivery_clicked(token=token)
    if url is None:
        return render(request, "campaigns/link_broken.html", status=404)
    return HttpResponseRedirect(url)


@csrf_exempt
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation (link scanners follow GETs); POST unsubscribes, also as RFC 8058 one-click."""
    delivery = services.unsubscribe_target(token=token)
    if delivery is None:
        return render(request, "campaigns/link_broken.html", status=404)
    done = delivery.unsubscribed_at is not None
    if request.method == "POST":
        services.delivery_unsubscribe(delivery=delivery)
        done = True
    return render(
        request,
        "campaigns/unsubscribe.html",
        {"done": done, "organization": delivery.organization, "email": delivery.customer.email},
    )
