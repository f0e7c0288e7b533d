"""Reads of CRM records for pages, the API and reports. Nothing here writes."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from accounts.models import Organization, User
from crm.models import (
    Channel,
    ConsentChange,
    Customer,
    Event,
    Feedback,
    ImportJob,
    ImportRejection,
    Note,
    Order,
    OrderStatus,
    Task,
    TaskStatus,
)

#: Sort keys a person may choose on the customer list, mapped to their ORM ordering.
CUSTOMER_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "external_id": ("external_id",),
}


def with_tag(queryset: QuerySet, tag: str) -> QuerySet:
    """Rows whose JSON ``tags`` list holds ``tag`` exactly, case included, on every database.

    Postgres answers with jsonb containment (GIN-indexable). SQLite has no JSON containment lookup, and a
    text ``LIKE`` on the encoded list is case-insensitive there ("VIP" would match "vip"), so SQLite looks
    inside the list with ``json_each``.
    """
    if connection.vendor == "postgresql":
        return queryset.filter(tags__contains=[tag])
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    column = connection.ops.quote_name(queryset.model._meta.get_field("tags").column)
    # Only quoted identifiers are interpolated; the tag itself is a bound parameter.
    has_tag = RawSQL(  # noqa: S611
        f"EXISTS (SELECT 1 FROM json_each({table}.{column}) AS tag WHERE tag.value = %s)",  # noqa: S608
        [tag],
        output_field=BooleanField(),
    )
    return queryset.filter(has_tag)


def customer_text_match(query: str) -> Q:
    """What the search box matches: part of the name, e-mail or phone, or the whole external id."""
    return (
        Q(name__icontains=query) | Q(email__icontains=query) | Q(external_id__iexact=query) | Q(phone__icontains=query)
    )


def customers_search(
    *,
    org: Organization,
    query: str = "",
    channel_code: str = "",
    tag: str = "",
    owner: User | None = None,
    unassigned: bool = False,
    sort: str = "newest",
) -> QuerySet[Customer]:
    """The customer list: text search, channel, tag and owner filters, in one of ``CUSTOMER_SORTS``.

    An unknown sort key falls back to newest first rather than failing, since it comes from a query string.
    """
    customers = Customer.objects.for_org(org).select_related("channel", "owner")
    query = query.strip()
    if query:
        customers = customers.filter(customer_text_match(query))
    if channel_code:
        customers = customers.filter(channel__code=channel_code)
    if tag:
        customers = with_tag(customers, tag)
    if owner is not None:
        customers = customers.filter(owner=owner)
    if unassigned:
        customers = customers.filter(owner__isnull=True)
    return customers.order_by(*CUSTOMER_SORTS.get(sort, CUSTOMER_SORTS["newest"]))


@dataclass(frozen=True)
class CustomerOrderSummary:
    order_count: int
    revenue: Decimal
    first_order_at: datetime.datetime | None
    last_order_at: datetime.datetime | None

    @property
    def average_order_value(self) -> Decimal:
        return (self.revenue / self.order_count).quantize(Decimal("0.01")) if self.order_count else Decimal("0")


def customer_order_summary(*, customer: Customer) -> CustomerOrderSummary:
    """Totals over completed orders: what the customer has actually bought."""
    totals = (
        Order.objects.for_org(customer.organization_id)
        .filter(customer=customer, status=OrderStatus.COMPLETED)
        .aggregate(count=Count("id"), revenue=Sum("amount"), first=Min("ordered_at"), last=Max("ordered_at"))
    )
    return CustomerOrderSummary(
        order_count=totals["count"],
        revenue=totals["revenue"] or Decimal("0"),
        first_order_at=totals["first"],
        last_order_at=totals["last"],
    )


def customer_orders(*, customer: Customer) -> QuerySet[Order]:
    return Order.objects.for_org(customer.organization_id).filter(customer=customer).select_related("channel")


def customer_events(*, customer: Customer) -> QuerySet[Event]:
    return Event.objects.for_org(customer.organization_id).filter(customer=customer)


def customer_feedback(*, customer: Customer) -> QuerySet[Feedback]:
    return Feedback.objects.for_org(customer.organization_id).filter(customer=customer)


def customer_consent_changes(*, customer: Customer) -> QuerySet[ConsentChange]:
    """The customer's consent history, newest first."""
    return ConsentChange.objects.for_org(customer.organization_id).filter(customer=customer).order_by("-at", "-id")


def customer_notes(*, customer: Customer) -> QuerySet[Note]:
    return Note.objects.for_org(customer.organization_id).filter(customer=customer).select_related("author")


def customer_get(*, org: Organization, pk: int) -> Customer | None:
    """One customer of ``org`` with channel and owner joined; another organization's id finds nothing."""
    return Customer.objects.for_org(org).select_related("channel", "owner").filter(pk=pk).first()


def task_get(*, org: Organization, pk: int) -> Task | None:
    return Task.objects.for_org(org).select_related("customer", "owner").filter(pk=pk).first()


def customer_tasks(*, customer: Customer) -> QuerySet[Task]:
    return Task.objects.for_org(customer.organization_id).filter(customer=customer).select_related("owner")


def tasks_inbox(*, org: Organization, user: User, status: str = TaskStatus.OPEN, scope: str = "mine") -> QuerySet[Task]:
    """Tasks for the inbox: mine, unassigned or everyone's, oldest due first, undated last."""
    tasks = Task.objects.for_org(org).select_related("customer", "owner")
    if status:
        tasks = tasks.filter(status=status)
    if scope == "mine":
        tasks = tasks.filter(owner=user)
    elif scope == "unassigned":
        tasks = tasks.filter(owner__isnull=True)
    return tasks.order_by(F("due_date").asc(nulls_last=True), "-id")


def channels_list(*, org: Organization) -> QuerySet[Channel]:
    return Channel.objects.for_org(org).order_by("name")


def org_counts(*, org: Organization) -> dict[str, int]:
    """Headline counts for the home page."""
    return {
        "customers": Customer.objects.for_org(org).count(),
        "orders": Order.objects.for_org(org).count(),
        "channels": Channel.objects.for_org(org).count(),
        "open_tasks": Task.objects.for_org(org).filter(status=TaskStatus.OPEN).count(),
    }


def data_inventory_counts(*, org: Organization, before: datetime.datetime) -> dict[str, int]:
    """Customers created and completed orders placed before ``before``: the input the nightly steps read."""
    return {
        "customers": Customer.objects.for_org(org).filter(created_at__lt=before).count(),
        "orders": Order.objects.for_org(org).filter(ordered_at__lt=before, status=OrderStatus.COMPLETED).count(),
    }


def import_jobs_list(*, org: Organization) -> QuerySet[ImportJob]:
    return ImportJob.objects.for_org(org).select_related("created_by")


def import_rejections(*, job: ImportJob) -> QuerySet[ImportRejection]:
    return ImportRejection.objects.for_org(job.organization_id).filter(job=job).order_by("line", "id")
