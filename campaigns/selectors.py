"""Reads for campaigns: audiences, delivery counts and the results against the hold-out group."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from accounts.models import Organization
from campaigns import messages, stats
from campaigns.models import (
    MESSAGED_STATUSES,
    Campaign,
    CampaignChannel,
    Delivery,
    DeliveryStatus,
    Suppression,
    Variant,
)
from crm.models import Customer, Order, OrderStatus
from crm.spreadsheets import neutralize_formula
from segmentation.rules import segment_queryset

#: Conversions each arm needs before a winner can be named.
MIN_CONVERSIONS_FOR_WINNER = 10


def campaigns_list(*, org: Organization) -> QuerySet[Campaign]:
    return Campaign.objects.for_org(org).select_related("segment", "created_by").prefetch_related("variants")


def campaign_audience(*, campaign: Campaign, today: datetime.date) -> QuerySet[Customer]:
    """Everyone the campaign targets today: its segment's members, narrowed to its tier when one is set."""
    org = campaign.organization
    if campaign.segment_id is not None:
        customers = segment_queryset(campaign.segment.rules, org=org, today=today)
    else:
        customers = Customer.objects.for_org(org)
    if campaign.tier:
        customers = customers.filter(score__tier=campaign.tier)
    return customers


def eligible_audience(*, campaign: Campaign, today: datetime.date) -> QuerySet[Customer]:
    """The audience who may receive this channel: e-mail needs an address, consent and no suppression.

    Only eligible customers enter the experiment (variants and hold-out alike), so the hold-out is comparable:
    it is drawn from people the campaign could have reached.
    """
    customers = campaign_audience(campaign=campaign, today=today)
    suppressed = Exists(Suppression.objects.filter(organization=campaign.organization, email=OuterRef("email")))
    reachable_by_email = Q(consent_email=True) & ~Q(email="") & ~suppressed
    if campaign.channel == CampaignChannel.EMAIL:
        return customers.filter(reachable_by_email)
    # An export list feeds SMS, ads and call tools: only customers who agreed to be contacted one way or another.
    return customers.filter(reachable_by_email | (Q(consent_sms=True) & ~Q(phone="")))


def delivery_counts(*, campaign: Campaign) -> dict[str, int]:
    rows = Delivery.objects.filter(campaign=campaign).values("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    counts["total"] = sum(row["n"] for row in rows)
    return counts


spreadsheet_safe = neutralize_formula
"""Neutralize a cell a spreadsheet would run as a formula (CSV injection): one rule for every download."""


def export_rows(*, campaign: Campaign) -> Iterator[list[str]]:
    """The export list: customers assigned to a variant (never the hold-out), with their variant and offer."""
    yield ["external_id", "name", "email", "phone", "consent_email", "consent_sms", "variant", "offer_code"]
    deliveries = (
        Delivery.objects.filter(campaign=campaign, variant__isnull=False)
        .exclude(status__in=[DeliveryStatus.SKIPPED, DeliveryStatus.BOUNCED])
        # Consent withdrawn since the launch takes the customer off the list at the next download.
        .filter(Q(customer__consent_email=True) | Q(customer__consent_sms=True))
        .select_related("customer", "variant")
        .order_by("id")
    )
    for delivery in deliveries.iterator(chunk_size=2000):
        customer = delivery.customer
        yield [
            customer.external_id,
            customer.name,
            customer.email,
            customer.phone,
            "true" if customer.consent_email else "false",
            "true" if customer.consent_sms else "false",
            delivery.variant.name,
            delivery.variant.offer_code,
        ]


@dataclass(frozen=True)
class GroupResult:
    """One arm of the experiment: a variant, or the hold-out (``variant`` None)."""

    key: str
    label: str
    variant: Variant | None
    customers: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    unsubscribed: int
    conversions: int
    revenue: float
    revenue_squares: float

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> float | None:
        return self.revenue / self.customers if self.customers else None

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.delivered if self.delivered else None

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.delivered if self.delivered else None

    @property
    def revenue_variance(self) -> float:
        if self.customers < 2:
            return 0.0
        mean = self.revenue / self.customers
        return max(0.0, (self.revenue_squares - self.customers * mean * mean) / (self.customers - 1))


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    groups: list[GroupResult]
    holdout: GroupResult | None
    conversion_uplift: dict[str, stats.Uplift | None]
    revenue_uplift: dict[str, stats.Uplift | None]
    overall_conversion_uplift: stats.Uplift | None
    overall_revenue_uplift: stats.Uplift | None
    incremental_revenue: float | None
    incremental_margin: float | None
    roi: float | None
    winner: str | None
    enough_conversions: bool
    attribution_ends: datetime.datetime | None
    counts: dict[str, int]


def _groups(campaign: Campaign) -> list[GroupResult]:
    window = ExpressionWrapper(
        OuterRef("assigned_at") + datetime.timedelta(days=campaign.attribution_days), output_field=DateTimeField()
    )
    attributed = (
        Order.objects.filter(
            organization=campaign.organization,
            customer_id=OuterRef("customer_id"),
            status=OrderStatus.COMPLETED,
            ordered_at__gt=OuterRef("assigned_at"),
            ordered_at__lte=window,
        )
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=20, decimal_places=2)
    deliveries = Delivery.objects.filter(campaign=campaign).annotate(revenue=Subquery(attributed, output_field=money))
    rows = (
        deliveries.values("variant_id")
        .annotate(
            customers=Count("id"),
            delivered=Count("id", filter=Q(status__in=MESSAGED_STATUSES)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            bounced=Count("id", filter=Q(status=DeliveryStatus.BOUNCED)),
            unsubscribed=Count("id", filter=Q(unsubscribed_at__isnull=False)),
            conversions=Count("id", filter=Q(revenue__isnull=False)),
            revenue_total=Coalesce(Sum("revenue"), Value(Decimal(0)), output_field=money),
            revenue_squares=Coalesce(
                Sum(F("revenue") * F("revenue"), output_field=DecimalField(max_digits=38, decimal_places=4)),
                Value(Decimal(0)),
                output_field=DecimalField(max_digits=38, decimal_places=4),
            ),
        )
        .order_by()
    )
    by_variant = {row["variant_id"]: row for row in rows}
    groups = []
    variants = list(campaign.variants.order_by("position"))
    for variant in [*variants, None]:
        row = by_variant.get(variant.pk if variant else None)
        if row is None and variant is None:
            continue
        row = row or {}
        groups.append(
            GroupResult(
                key=f"variant-{variant.position}" if variant else "holdout",
                label=variant.name if variant else "hold-out",
                variant=variant,
                customers=row.get("customers", 0),
                delivered=row.get("delivered", 0),
                opened=row.get("opened", 0),
                clicked=row.get("clicked", 0),
                bounced=row.get("bounced", 0),
                unsubscribed=row.get("unsubscribed", 0),
                conversions=row.get("conversions", 0),
                revenue=float(row.get("revenue_total", 0)),
                revenue_squares=float(row.get("revenue_squares", 0)),
            )
        )
    return groups


def _revenue_uplift(treated: GroupResult, control: GroupResult) -> stats.Uplift | None:
    return stats.mean_uplift_from_summary(
        treated_size=treated.customers,
        treated_mean=treated.revenue_per_customer or 0.0,
        treated_variance=treated.revenue_variance,
        control_size=control.customers,
        control_mean=control.revenue_per_customer or 0.0,
        control_variance=control.revenue_variance,
    )


def _pooled(groups: list[GroupResult]) -> GroupResult:
    return GroupResult(
        key="all",
        label="all variants",
        variant=None,
        customers=sum(g.customers for g in groups),
        delivered=sum(g.delivered for g in groups),
        opened=sum(g.opened for g in groups),
        clicked=sum(g.clicked for g in groups),
        bounced=sum(g.bounced for g in groups),
        unsubscribed=sum(g.unsubscribed for g in groups),
        conversions=sum(g.conversions for g in groups),
        revenue=sum(g.revenue for g in groups),
        revenue_squares=sum(g.revenue_squares for g in groups),
    )


def campaign_results(*, campaign: Campaign) -> CampaignResults:
    """Each variant against the hold-out: conversion and revenue per customer with 95% intervals, ROI, winner.

    Intention to treat: every customer assigned to a variant counts, whether or not the message reached them,
    and conversions are counted from the assignment time in both arms, so the comparison is fair.
    """
    groups = _groups(campaign)
    holdout = next((g for g in groups if g.variant is None), None)
    variants = [g for g in groups if g.variant is not None]
    conversion: dict[str, stats.Uplift | None] = {}
    revenue: dict[str, stats.Uplift | None] = {}
    for group in variants:
        if holdout is None:
            conversion[group.key] = revenue[group.key] = None
            continue
        conversion[group.key] = stats.conversion_uplift(
            group.conversions, group.customers, holdout.conversions, holdout.customers
        )
        revenue[group.key] = _revenue_uplift(group, holdout)
    overall_conversion = overall_revenue = None
    incremental_revenue = incremental_margin = roi = None
    if holdout is not None and variants:
        pooled = _pooled(variants)
        overall_conversion = stats.conversion_uplift(
            pooled.conversions, pooled.customers, holdout.conversions, holdout.customers
        )
        overall_revenue = _revenue_uplift(pooled, holdout)
        if overall_revenue is not None:
            incremental_revenue = overall_revenue.difference * pooled.customers
            incremental_margin = incremental_revenue * float(campaign.organization.gross_margin)
            cost = float(campaign.cost)
            roi = (incremental_margin - cost) / cost if cost > 0 else None
    names = {g.key: g.label for g in variants}
    # Too few conversions make the revenue variance (and so the interval) unreliable, e.g. a small hold-out
    # where nobody bought has a variance of 0: no winner is named on so little.
    enough = holdout is not None and holdout.conversions >= MIN_CONVERSIONS_FOR_WINNER
    best = stats.winner(
        {g.key: revenue[g.key] for g in variants if enough and g.conversions >= MIN_CONVERSIONS_FOR_WINNER}
    )
    last_assigned = Delivery.objects.filter(campaign=campaign).aggregate(last=Max("assigned_at"))["last"]
    attribution_ends = last_assigned + datetime.timedelta(days=campaign.attribution_days) if last_assigned else None
    return CampaignResults(
        campaign=campaign,
        groups=groups,
        holdout=holdout,
        conversion_uplift=conversion,
        revenue_uplift=revenue,
        overall_conversion_uplift=overall_conversion,
        overall_revenue_uplift=overall_revenue,
        incremental_revenue=_finite(incremental_revenue),
        incremental_margin=_finite(incremental_margin),
        roi=_finite(roi),
        winner=names.get(best) if best else None,
        enough_conversions=enough,
        attribution_ends=attribution_ends,
        counts=delivery_counts(campaign=campaign),
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def tier_of(customer: Customer) -> str:
    try:
        return customer.score.tier
    except Customer.score.RelatedObjectDoesNotExist:
        return ""


def message_context(*, customer: Customer, variant: Variant, tier: str = "") -> dict[str, str]:
    """The template variables of one customer (see campaigns.messages.VARIABLES)."""
    name = customer.name or customer.email
    return {
        "name": name,
        "first_name": messages.first_name(customer.name) or name,
        "email": customer.email,
        "offer_code": variant.offer_code,
        "tier": tier,
    }


def delivery_counts_by_campaign(*, org: Organization) -> dict[int, dict[str, int]]:
    rows = Delivery.objects.for_org(org).values("campaign_id", "status").annotate(n=Count("id")).order_by()
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        bucket = counts.setdefault(row["campaign_id"], {"total": 0})
        bucket[row["status"]] = row["n"]
        bucket["total"] += row["n"]
    return counts


def variant_previews(*, campaign: Campaign, today: datetime.date, customer_id: int | None = None) -> list[dict]:
    """Each variant rendered for one customer of the audience (or an example person when it is empty)."""
    if customer_id is not None:
        customer = Customer.objects.for_org(campaign.organization).filter(pk=customer_id).first()
    else:
        customer = eligible_audience(campaign=campaign, today=today).select_related("score").order_by("pk").first()
    if customer is None:
        customer = Customer(name="Alex Example", email="alex@example.com")
    previews = []
    for variant in campaign.variants.order_by("position"):
        context = message_context(customer=customer, variant=variant, tier=tier_of(customer) if customer.pk else "high")
        try:
            rendered = messages.render_message(
                subject=variant.subject, body=variant.body, context=context, unsubscribe_url="https://…/u/…/"
            )
            previews.append({"variant": variant, "subject": rendered.subject, "text": rendered.text, "error": ""})
        except messages.TemplateError as exc:
            previews.append({"variant": variant, "subject": "", "text": "", "error": str(exc)})
    return previews


def uplift_chart(results: CampaignResults, *, width: int = 680) -> dict | None:
    """Geometry of the revenue-uplift chart: each variant's estimate and 95% interval around a zero line."""
    rows = [(g, results.revenue_uplift.get(g.key)) for g in results.groups if g.variant is not None]
    rows = [(g, u) for g, u in rows if u is not None]
    if not rows:
        return None
    low = min(0.0, *(u.low for _, u in rows))
    high = max(0.0, *(u.high for _, u in rows))
    span = (high - low) or 1.0
    left, right = 190, 20

    def x(value: float) -> float:
        return round(left + (value - low) / span * (width - left - right), 1)

    height = 50 + 40 * len(rows)
    return {
        "width": width,
        "height": height,
        "zero": x(0.0),
        "axis_y": height - 22,
        "axis_low": {"x": x(low), "value": low},
        "axis_high": {"x": x(high), "value": high},
        "rows": [
            {
                "label": g.label,
                "y": 24 + 40 * index,
                "low": x(u.low),
                "high": x(u.high),
                "point": x(u.difference),
                "uplift": u,
                "significant": u.significant,
            }
            for index, (g, u) in enumerate(rows)
        ],
    }
