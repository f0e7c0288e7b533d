"""The Webhooks page: admins manage endpoints, see recent deliveries and redeliver or send a test event."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import role_required
from accounts.permissions import ADMINS
from accounts.services import Actor
from webhooks import selectors, services
from webhooks.forms import WebhookEndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import REPLAY_WINDOW_SECONDS


def _endpoint_or_404(request: HttpRequest, pk: int) -> WebhookEndpoint:
    endpoint = selectors.endpoints_list(org=request.organization).filter(pk=pk).first()
    if endpoint is None:
        raise Http404(_("No such webhook endpoint."))
    return endpoint


def _page(
    request: HttpRequest, form: WebhookEndpointForm, *, new_endpoint: WebhookEndpoint | None = None
) -> HttpResponse:
    context = {
        "section": "webhooks",
        "form": form,
        "endpoints": selectors.endpoints_list(org=request.organization),
        "deliveries": selectors.deliveries_recent(org=request.organization),
        "new_endpoint": new_endpoint,
        "replay_window": REPLAY_WINDOW_SECONDS,
    }
    response = render(request, "webhooks/webhooks.html", context)
    response["Cache-Control"] = "no-store"
    return response


@role_required(ADMINS)
def webhooks_page(request: HttpRequest) -> HttpResponse:
    """List endpoints and deliveries; create an endpoint, whose secret is shown in this response only."""
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(
                org=request.organization, actor=Actor(user=request.user), **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            return _page(request, WebhookEndpointForm(), new_endpoint=endpoint)
    return _page(request, form)


@role_required(ADMINS)
def endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_or_404(request, pk)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "is_active": endpoint.is_active,
    }
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, actor=Actor(user=request.user), **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Webhook endpoint saved."))
            return redirect("webhooks:webhooks")
    context = {"section": "webhooks", "form": form, "endpoint": endpoint}
    return render(request, "webhooks/endpoint_edit.html", context)


@role_required(ADMINS)
@require_POST
def endpoint_disable(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_or_404(request, pk)
    services.endpoint_update(endpoint=endpoint, actor=Actor(user=request.user), is_active=False)
    messages.success(request, _("The endpoint %(url)s is disabled.") % {"url": endpoint.url})
    return redirect("webhooks:webhooks")


@role_required(ADMINS)
@require_POST
def endpoint_enable(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_or_404(request, pk)
    services.endpoint_update(endpoint=endpoint, actor=Actor(user=request.user), is_active=True)
    messages.success(request, _("The endpoint %(url)s is enabled.") % {"url": endpoint.url})
    return redirect("webhooks:webhooks")


@role_required(ADMINS)
@require_POST
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_or_404(request, pk)
    services.endpoint_delete(endpoint=endpoint, actor=Actor(user=request.user))
    messages.success(request, _("The endpoint %(url)s is deleted.") % {"url": endpoint.url})
    return redirect("webhooks:webhooks")


@role_required(ADMINS)
@require_POST
def endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_or_404(request, pk)
    try:
        services.endpoint_test_send(endpoint=endpoint, actor=Actor(user=request.user))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("A test event is on its way to %(url)s.") % {"url": endpoint.url})
    return redirect("webhooks:webhooks")


@role_required(ADMINS)
@require_POST
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = (
        WebhookDelivery.objects.for_org(request.organization).select_related("endpoint", "event").filter(pk=pk).first()
    )
    if delivery is None:
        raise Http404(_("No such webhook delivery."))
    try:
        services.delivery_redeliver(delivery=delivery, actor=Actor(user=request.user))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The event is queued for delivery again."))
    return redirect("webhooks:webhooks")
