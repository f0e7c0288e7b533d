"""Read-only API over the nightly per-customer scores (``/api/v1/scores/``)."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from rest_framework import serializers

from config.api.base import OrganizationModelViewSet
from config.api.pagination import CustomerCursorPagination
from crm.filters import IdFilter, StrictBooleanFilter
from segmentation.models import CustomerScore, RfmSegment, Stage, Tier

#: Money filters stay inside the column's range (14 digits, 2 places), so no driver sees an overflow.
MAX_MONEY = Decimal("999999999999.99")


class CustomerScoreSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)

    class Meta:
        model = CustomerScore
        fields = [
            "customer",
            "customer_external_id",
            "customer_name",
            "as_of",
            "tier",
            "stage",
            "rfm_segment",
            "r_score",
            "f_score",
            "m_score",
            "purchase_days",
            "first_purchase_on",
            "last_purchase_on",
            "recency_days",
            "frequency",
            "recency_t_x",
            "age_t",
            "revenue",
            "mean_repeat_value",
            "p_alive",
            "expected_purchases_30",
            "expected_purchases_90",
            "expected_purchases_365",
            "expected_spend",
            "predicted_value",
            "customer_value",
            "churned",
            "churn_probability",
            "at_risk",
        ]
        read_only_fields = fields


class CustomerScoreFilter(django_filters.FilterSet):
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    segment = django_filters.ChoiceFilter(field_name="rfm_segment", choices=RfmSegment.choices)
    at_risk = StrictBooleanFilter()
    churned = StrictBooleanFilter()
    customer = IdFilter(field_name="customer_id")
    customer_external_id = django_filters.CharFilter(field_name="customer__external_id")
    min_value = django_filters.NumberFilter(
        field_name="customer_value", lookup_expr="gte", min_value=-MAX_MONEY, max_value=MAX_MONEY
    )
    max_value = django_filters.NumberFilter(
        field_name="customer_value", lookup_expr="lte", min_value=-MAX_MONEY, max_value=MAX_MONEY
    )

    class Meta:
        model = CustomerScore
        fields = []


class CustomerScoreViewSet(OrganizationModelViewSet):
    """Scores of the last nightly run, one per customer; ``/scores/{customer id}/`` reads one customer's.

    Filter by ``tier``, ``stage``, ``segment`` (RFM), ``at_risk``, ``churned`` and a value range
    (``min_value``, ``max_value`` on customer value). Definitions: DESIGN.md §4 and the README.
    """

    model = CustomerScore
    serializer_class = CustomerScoreSerializer
    filterset_class = CustomerScoreFilter
    select_related = ("customer",)
    pagination_class = CustomerCursorPagination
    lookup_field = "customer_id"
    lookup_url_kwarg = "customer"
    lookup_value_regex = r"[0-9]{1,18}"
    http_method_names = ["get", "head", "options"]
