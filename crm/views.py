"""Pages for ops staff: home, customer list, customer 360, and the task inbox.

Views read through selectors and write through services; htmx requests get the changed fragment only.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import organization_required, role_required
from accounts.permissions import FOLLOW_UP_WRITERS
from accounts.selectors import organization_members
from accounts.services import Actor
from crm import selectors, services
from crm.forms import CustomerFilterForm, NoteForm, TaskFilterForm, TaskForm
from crm.models import Customer, Task, TaskStatus

CUSTOMERS_PER_PAGE = 25


@organization_required
def home(request: HttpRequest) -> HttpResponse:
    org = request.organization
    context = {
        "counts": selectors.org_counts(org=org),
        "my_tasks": selectors.tasks_inbox(org=org, user=request.user)[:5],
    }
    return render(request, "crm/home.html", context)


@organization_required
def customer_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    form = CustomerFilterForm(request.GET or None, channels=selectors.channels_list(org=org))
    filters = form.cleaned_data if form.is_valid() else {}
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
    context = {"form": form, "page": page, "querystring": query_without_page.urlencode()}
    template = "crm/_customer_rows.html" if request.htmx else "crm/customer_list.html"
    return render(request, template, context)


def _customer_or_404(request: HttpRequest, pk: int) -> Customer:
    return get_object_or_404(Customer.objects.for_org(request.organization).select_related("channel", "owner"), pk=pk)


def _can_follow_up(request: HttpRequest) -> bool:
    return request.membership.role in FOLLOW_UP_WRITERS


@organization_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    members = organization_members(org=request.organization)
    context = {
        "customer": customer,
        "summary": selectors.customer_order_summary(customer=customer),
        "orders": selectors.customer_orders(customer=customer)[:50],
        "events": selectors.customer_events(customer=customer)[:50],
        "feedback": selectors.customer_feedback(customer=customer)[:20],
        "notes": selectors.customer_notes(customer=customer)[:50],
        "tasks": selectors.customer_tasks(customer=customer)[:50],
        "note_form": NoteForm(),
        "task_form": TaskForm(members=members),
        "can_follow_up": _can_follow_up(request),
    }
    return render(request, "crm/customer_detail.html", context)


@role_required(FOLLOW_UP_WRITERS)
@require_POST
def customer_note_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_create(
                org=request.organization,
                actor=Actor(user=request.user),
                customer=customer,
                body=form.cleaned_data["body"],
            )
            form = NoteForm()
        except ValidationError as exc:
            form.add_error(None, exc)
    if not request.htmx:
        if form.errors:
            messages.error(request, _("The note was not saved: %(errors)s") % {"errors": form.errors.as_text()})
        else:
            messages.success(request, _("Note added."))
        return redirect("crm:customer-detail", pk=customer.pk)
    context = {
        "customer": customer,
        "notes": selectors.customer_notes(customer=customer)[:50],
        "note_form": form,
        "can_follow_up": True,
    }
    return render(request, "crm/_notes.html", context)


@role_required(FOLLOW_UP_WRITERS)
@require_POST
def customer_task_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    members = organization_members(org=request.organization)
    form = TaskForm(request.POST, members=members)
    if form.is_valid():
        try:
            services.task_create(
                org=request.organization, actor=Actor(user=request.user), customer=customer, **form.cleaned_data
            )
            form = TaskForm(members=members)
        except ValidationError as exc:
            form.add_error(None, exc)
    if not request.htmx:
        if form.errors:
            messages.error(request, _("The task was not saved: %(errors)s") % {"errors": form.errors.as_text()})
        else:
            messages.success(request, _("Task added."))
        return redirect("crm:customer-detail", pk=customer.pk)
    context = {
        "customer": customer,
        "tasks": selectors.customer_tasks(customer=customer)[:50],
        "task_form": form,
        "can_follow_up": True,
    }
    return render(request, "crm/_tasks.html", context)


@organization_required
def task_inbox(request: HttpRequest) -> HttpResponse:
    form = TaskFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    scope = filters.get("scope") or "mine"
    status = filters.get("status") if "status" in request.GET else TaskStatus.OPEN
    tasks = selectors.tasks_inbox(org=request.organization, user=request.user, status=status, scope=scope)
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "scope": scope, "can_follow_up": _can_follow_up(request)}
    return render(request, "crm/task_inbox.html", context)


@role_required(FOLLOW_UP_WRITERS)
@require_POST
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.for_org(request.organization).select_related("customer", "owner"), pk=pk)
    task = services.task_complete(task=task, actor=Actor(user=request.user))
    if request.htmx:
        return render(request, "crm/_task_row.html", {"task": task, "can_follow_up": True})
    messages.success(request, _("Task marked done."))
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "crm:task-inbox"
    return redirect(next_url)
