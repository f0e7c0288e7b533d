"""Read-only API over the nightly per-customer scores (``/api/v1/scores/``)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import django_filters
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import MARKETING_WRITERS
from accounts.timekeeping import local_today
from config.api.base import OrganizationModelViewSet, StrictSerializerMixin, actor_for_request
from config.api.errors import ErrorSerializer
from config.api.pagination import CustomerCursorPagination, DayCursorPagination
from crm.filters import IdFilter, StrictBooleanFilter
from crm.models import Customer
from segmentation.models import CustomerScore, RfmSegment, Segment, SegmentSize, SegmentSnapshot, Stage, Tier
from segmentation.rules import explain as explain_rules
from segmentation.selectors import (
    segment_members,
    segment_preview,
    segment_sizes_list,
    segment_snapshots_list,
    with_latest_size,
)
from segmentation.services import segment_create, segment_delete, segment_snapshot_take, segment_update

#: Money filters stay inside the column's range (14 digits, 2 places), so no driver sees an overflow.
MAX_MONEY = Decimal("999999999999.99")


class CustomerScoreSerializer(serializers.ModelSerializer):
    """A customer's nightly score. ``tier`` and ``rfm_segment`` are ``""`` (blank) for a customer who never
    bought: there is nothing to rank them on. The schema lists ``""`` among their values so generated clients
    accept it."""

    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    tier = serializers.ChoiceField(
        choices=Tier.choices,
        allow_blank=True,
        read_only=True,
        help_text=gettext_lazy("Value tier; blank for a customer who never bought."),
    )
    rfm_segment = serializers.ChoiceField(
        choices=RfmSegment.choices,
        allow_blank=True,
        read_only=True,
        help_text=gettext_lazy("RFM segment; blank for a customer who never bought."),
    )

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
    ordering_fields = ("customer_value",)  # indexed; the other columns would sort a whole organization
    updated_field = "computed_at"  # every score is rewritten by each nightly run
    serializer_class = CustomerScoreSerializer
    filterset_class = CustomerScoreFilter
    select_related = ("customer",)
    pagination_class = CustomerCursorPagination
    lookup_field = "customer_id"
    lookup_url_kwarg = "customer"
    lookup_value_regex = r"[0-9]{1,18}"
    http_method_names = ["get", "head", "options"]


class SegmentSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A segment: a name and a rule tree (see the README's "Segments" section and segmentation/rules.py)."""

    rules = serializers.JSONField()
    created_by = serializers.CharField(source="created_by.email", read_only=True, allow_null=True)
    size = serializers.SerializerMethodField(help_text="Members at the latest nightly run; null before the first.")
    size_as_of = serializers.SerializerMethodField(help_text="The night `size` was counted.")

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "size", "size_as_of", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "size", "size_as_of", "created_by", "created_at", "updated_at"]
        validators = []

    def _latest(self, segment: Segment) -> tuple[int | None, datetime.date | None]:
        if hasattr(segment, "latest_size"):
            return segment.latest_size, segment.latest_size_day
        latest = SegmentSize.objects.filter(segment=segment).order_by("-day").first()
        return (latest.size, latest.day) if latest else (None, None)

    def get_size(self, segment: Segment) -> int | None:
        return self._latest(segment)[0]

    def get_size_as_of(self, segment: Segment) -> datetime.date | None:
        return self._latest(segment)[1]


class SegmentSizeSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentSize
        fields = ["day", "size", "entered", "left"]
        read_only_fields = fields


class SegmentSnapshotSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField(read_only=True, help_text="The segment's rules when the snapshot was taken.")
    taken_by = serializers.CharField(source="taken_by_label", read_only=True)

    class Meta:
        model = SegmentSnapshot
        fields = ["id", "segment", "name", "taken_at", "size", "rules", "taken_by"]
        read_only_fields = fields


class SegmentSnapshotRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=120, help_text="Defaults to the segment's name and the time."
    )


class SegmentRulesSerializer(StrictSerializerMixin, serializers.Serializer):
    rules = serializers.JSONField()


class SegmentMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    tier = serializers.SerializerMethodField()
    customer_value = serializers.SerializerMethodField()

    def _score(self, customer) -> CustomerScore | None:
        try:
            return customer.score
        except CustomerScore.DoesNotExist:
            return None

    def get_tier(self, customer) -> str:
        score = self._score(customer)
        return score.tier if score is not None else ""

    def get_customer_value(self, customer) -> str | None:
        score = self._score(customer)
        return None if score is None else str(score.customer_value)


class SegmentPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = SegmentMemberSerializer(many=True)


class SegmentExplainQuerySerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The customer's id.")


class SegmentExplanationSerializer(serializers.Serializer):
    segment = serializers.IntegerField()
    customer = serializers.IntegerField()
    matched = serializers.BooleanField()
    rules = serializers.JSONField(help_text="The segment's rule tree with `matched` on every node.")


class SegmentFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Part of the name")

    class Meta:
        model = Segment
        fields = []


class SegmentViewSet(OrganizationModelViewSet):
    """Segments of customers defined by nested rules; ``preview`` gives the live count and a sample.

    ``POST /segments/preview/`` previews an unsaved rule (``{"rules": ...}``); ``/segments/{id}/preview/`` and
    ``/segments/{id}/members/`` read a saved one. Membership is computed when read, from the latest data and
    nightly scores. The nightly run records each segment's size (``size`` here, ``/segments/{id}/sizes/`` for
    the history); ``/segments/{id}/snapshots/`` keeps static lists of members. Marketers and admins may write.
    """

    model = Segment
    ordering_fields = ("name", "created_at", "updated_at")
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilter
    write_roles = MARKETING_WRITERS
    create_service = segment_create
    update_service = segment_update
    delete_service = segment_delete
    instance_argument = "segment"
    select_related = ("created_by",)

    def get_queryset(self):
        return with_latest_size(super().get_queryset())

    def _today(self):
        return local_today(self.organization, timezone.now())

    @extend_schema(request=SegmentRulesSerializer, responses=SegmentPreviewSerializer)
    @action(detail=False, methods=["post"], url_path="preview", pagination_class=None, filter_backends=[])
    def preview_rules(self, request):
        """Count and sample of the customers an unsaved rule selects (nothing is stored)."""
        body = SegmentRulesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preview = segment_preview(org=self.organization, rules=body.validated_data["rules"], today=self._today())
        return Response(SegmentPreviewSerializer(preview).data)

    @extend_schema(request=None, responses=SegmentPreviewSerializer)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def preview(self, request, pk=None):
        """Count and sample of the saved segment's customers today."""
        segment = self.get_object()
        preview = segment_preview(org=self.organization, rules=segment.rules, today=self._today())
        return Response(SegmentPreviewSerializer(preview).data)

    @extend_schema(responses=SegmentMemberSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def members(self, request, pk=None):
        """The saved segment's customers, paged by id."""
        segment = self.get_object()
        members = segment_members(org=self.organization, rules=segment.rules, today=self._today()).select_related(
            "score"
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(SegmentMemberSerializer(page, many=True).data)

    @extend_schema(
        parameters=[SegmentExplainQuerySerializer],
        responses={
            200: SegmentExplanationSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description=gettext_lazy("'customer' is missing or not a valid customer id.")
            ),
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def explain(self, request, pk=None):
        """Why a customer is in the segment or not: the rule tree with ``matched`` on every node."""
        segment = self.get_object()
        query = SegmentExplainQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        customer = Customer.objects.for_org(self.organization).filter(pk=query.validated_data["customer"]).first()
        if customer is None:
            raise NotFound(_("No such customer."))
        tree = explain_rules(segment.rules, customer=customer, today=self._today())
        return Response({"segment": segment.pk, "customer": customer.pk, "matched": tree["matched"], "rules": tree})

    @extend_schema(responses=SegmentSizeSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=DayCursorPagination)
    def sizes(self, request, pk=None):
        """The segment's size per nightly run, newest night first, with how many entered and left that night."""
        segment = self.get_object()
        page = self.paginate_queryset(segment_sizes_list(org=self.organization, segment=segment))
        return self.get_paginated_response(SegmentSizeSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], request=None, responses=SegmentSnapshotSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=SegmentSnapshotRequestSerializer,
        responses={status.HTTP_201_CREATED: SegmentSnapshotSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def snapshots(self, request, pk=None):
        """Static snapshots of the segment: ``GET`` lists them, ``POST`` keeps who is in it now (marketers, admins)."""
        segment = self.get_object()
        if request.method == "POST":
            body = SegmentSnapshotRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            snapshot = segment_snapshot_take(
                segment=segment, actor=actor_for_request(request), name=body.validated_data.get("name", "")
            )
            return Response(SegmentSnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(segment_snapshots_list(org=self.organization, segment=segment))
        return self.get_paginated_response(SegmentSnapshotSerializer(page, many=True).data)
