"""Pages for ops staff: customer list, customer 360, and the task inbox.

Views read through selectors and write through services. An htmx request gets only the fragment it swaps
(and the full page when htmx restores history, since it then replaces the whole body); every write also works
as a plain form post, so the pages stay usable without JavaScript.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from accounts.decorators import organization_required, role_required
from accounts.permissions import ADMINS, FOLLOW_UP_WRITERS, may_export_customer_pii
from accounts.selectors import organization_members
from accounts.services import Actor
from crm import privacy, selectors, services
from crm.forms import CustomerEraseForm, CustomerFilterForm, NoteForm, TaskFilterForm, TaskForm
from crm.models import Customer, Task, TaskStatus

CUSTOMERS_PER_PAGE = 25
TASKS_PER_PAGE = 50
DETAIL_ROWS = 50
DETAIL_CLOSED_TASKS = 10
DETAIL_CONSENT_CHANGES = 20


def _is_fragment_request(request: HttpRequest) -> bool:
    """htmx swaps a fragment, except when it restores history: then it needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Render, telling caches the body depends on HX-Request (the same URL serves a page or a fragment)."""
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _can_follow_up(request: HttpRequest) -> bool:
    return request.membership.role in FOLLOW_UP_WRITERS


@require_safe
@organization_required
def customer_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    form = CustomerFilterForm(request.GET or None, channels=selectors.channels_list(org=org))
    # A tampered parameter (an unknown channel, say) drops only that filter: cleaned_data keeps the valid ones.
    form.is_valid()
    filters = form.cleaned_data if form.is_bound else {}
    owner_choice = filters.get("owner", "")
    customers = selectors.customers_search(
        org=org,
        query=filters.get("q", ""),
        channel_code=filters.get("channel", ""),
        tag=filters.get("tag", ""),
        owner=request.user if owner_choice == "me" else None,
        unassigned=owner_choice == "none",
        sort=filters.get("sort") or "newest",
    )
    page = Paginator(customers, CUSTOMERS_PER_PAGE).get_page(request.GET.get("page"))
    query_without_page = request.GET.copy()
    query_without_page.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "querystring": query_without_page.urlencode(),
        "filtered": form.has_active_filters(),
    }
    template = "crm/_customer_results.html" if _is_fragment_request(request) else "crm/customer_list.html"
    return _render(request, template, context)


def _customer_or_404(request: HttpRequest, pk: int) -> Customer:
    # Another organization's id is simply not found: a 404, never a 403 that would confirm it exists.
    customer = selectors.customer_get(org=request.organization, pk=pk)
    if customer is None:
        raise Http404(_("No such customer."))
    return customer


def _task_or_404(request: HttpRequest, pk: int) -> Task:
    task = selectors.task_get(org=request.organization, pk=pk)
    if task is None:
        raise Http404(_("No such task."))
    return task


def _task_form(request: HttpRequest, data: Any = None) -> TaskForm:
    """A task form offering the organization's members as owners, the current user preselected."""
    return TaskForm(data, members=organization_members(org=request.organization), initial={"owner": request.user.pk})


def _notes_context(customer: Customer) -> dict[str, Any]:
    return {"notes": selectors.customer_notes(customer=customer)[:DETAIL_ROWS]}


def _tasks_context(customer: Customer) -> dict[str, Any]:
    """Open tasks first, soonest due first; then the last few closed ones, most recent first."""
    tasks = selectors.customer_tasks(customer=customer)
    open_tasks = tasks.filter(status=TaskStatus.OPEN).order_by(F("due_date").asc(nulls_last=True), "-id")
    closed_tasks = tasks.exclude(status=TaskStatus.OPEN).order_by(F("completed_at").desc(nulls_last=True), "-id")
    return {
        "open_tasks": open_tasks[:DETAIL_ROWS],
        "closed_tasks": closed_tasks[:DETAIL_CLOSED_TASKS],
        "closed_task_count": closed_tasks.count(),
    }


def _customer_context(
    request: HttpRequest, customer: Customer, *, note_form: NoteForm | None = None, task_form: TaskForm | None = None
) -> dict[str, Any]:
    return {
        "customer": customer,
        "summary": selectors.customer_order_summary(customer=customer),
        "orders": selectors.customer_orders(customer=customer)[:DETAIL_ROWS],
        "events": selectors.customer_events(customer=customer)[:DETAIL_ROWS],
        "feedback": selectors.customer_feedback(customer=customer)[:20],
        **_notes_context(customer),
        **_tasks_context(customer),
        "note_form": note_form or NoteForm(),
        "task_form": task_form or _task_form(request),
        "consent_changes": selectors.customer_consent_changes(customer=customer)[:DETAIL_CONSENT_CHANGES],
        "can_follow_up": _can_follow_up(request) and not customer.is_erased,
        "can_erase": request.membership.role in ADMINS,
        "detail_rows": DETAIL_ROWS,
    }


@require_safe
@organization_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    return _render(request, "crm/customer_detail.html", _customer_context(request, customer))


@require_safe
@organization_required
def customer_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Download everything held about the customer as one JSON file (streamed; audit-logged)."""
    customer = _customer_or_404(request, pk)
    if not may_export_customer_pii(request.membership):
        raise PermissionDenied(_("Your organization does not let viewers export customers' personal data."))
    response = StreamingHttpResponse(
        privacy.customer_export(customer=customer, actor=Actor(user=request.user)),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{privacy.export_filename(customer)}"'
    response["Cache-Control"] = "no-store"
    return response


@role_required(ADMINS)
def customer_erase(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation step of an erasure (GET), and the erasure itself once confirmed (POST)."""
    customer = _customer_or_404(request, pk)
    form = CustomerEraseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            privacy.customer_erase(
                customer=customer, actor=Actor(user=request.user), confirm=form.cleaned_data["confirm"]
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("The customer's personal data was erased; orders and scores were kept."))
            return redirect("crm:customer-detail", pk=customer.pk)
    return render(request, "crm/customer_erase.html", {"customer": customer, "form": form})


@role_required(FOLLOW_UP_WRITERS)
@require_POST
def customer_note_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a note; htmx gets the refreshed notes card, a plain post the page (re-shown with errors if invalid)."""
    customer = _customer_or_404(request, pk)
    form = NoteForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            services.note_create(
                org=request.organization, actor=Actor(user=request.user), customer=customer, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            saved = True
    if not _is_fragment_request(request):
        if saved:
            messages.success(request, _("Note added."))
            return redirect("crm:customer-detail", pk=customer.pk)
        return _render(request, "crm/customer_detail.html", _customer_context(request, customer, note_form=form))
    context = {
        "customer": customer,
        **_notes_context(customer),
        "note_form": NoteForm() if saved else form,
        "can_follow_up": True,
        "saved": saved,
    }
    return _render(request, "crm/_notes.html", context)


@role_required(FOLLOW_UP_WRITERS)
@require_POST
def customer_task_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a follow-up task about the customer; same htmx / plain-post contract as adding a note."""
    customer = _customer_or_404(request, pk)
    form = _task_form(request, request.POST)
    saved = False
    if form.is_valid():
        try:
            services.task_create(
                org=request.organization, actor=Actor(user=request.user), customer=customer, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            saved = True
    if not _is_fragment_request(request):
        if saved:
            messages.success(request, _("Task added."))
            return redirect("crm:customer-detail", pk=customer.pk)
        return _render(request, "crm/customer_detail.html", _customer_context(request, customer, task_form=form))
    context = {
        "customer": customer,
        **_tasks_context(customer),
        "task_form": _task_form(request) if saved else form,
        "can_follow_up": True,
        "saved": saved,
    }
    return _render(request, "crm/_tasks.html", context)


@require_safe
@organization_required
def task_inbox(request: HttpRequest) -> HttpResponse:
    """The ops inbox. Without parameters: my open tasks (everyone's for read-only roles, who own none)."""
    org = request.organization
    default_scope = "mine" if _can_follow_up(request) else "all"
    form = TaskFilterForm({"scope": default_scope, "status": TaskStatus.OPEN, **request.GET.dict()})
    filters = form.cleaned_data if form.is_valid() else {"scope": default_scope, "status": TaskStatus.OPEN}
    scope = filters["scope"] or default_scope
    status = filters["status"]
    tasks = selectors.tasks_inbox(org=org, user=request.user, status=status, scope=scope)
    page = Paginator(tasks, TASKS_PER_PAGE).get_page(request.GET.get("page"))
    scope_counts = {
        name: selectors.tasks_inbox(org=org, user=request.user, status=status, scope=name).count()
        for name in ("mine", "unassigned", "all")
    }
    context = {
        "form": form,
        "page": page,
        "scope": scope,
        "status": status,
        "scope_counts": scope_counts,
        "can_follow_up": _can_follow_up(request),
    }
    template = "crm/_task_results.html" if _is_fragment_request(request) else "crm/task_inbox.html"
    return _render(request, template, context)


@role_required(FOLLOW_UP_WRITERS)
@require_POST
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a task done. htmx gets the updated row in place; a plain post goes back where it came from."""
    task = services.task_complete(task=_task_or_404(request, pk), actor=Actor(user=request.user))
    if _is_fragment_request(request):
        context = {"task": task, "can_follow_up": True, "show_customer": request.POST.get("from") == "inbox"}
        return _render(request, "crm/_task_row.html", context)
    messages.success(request, _("Task “%(title)s” marked done.") % {"title": task.title})
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "crm:task-inbox"
    return redirect(next_url)
