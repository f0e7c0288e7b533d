"""REST API for campaigns: drafts with variants, launch/stop, deliveries, export list and results with uplift."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.models import ApiKey
from accounts.permissions import MARKETING_WRITERS, may_export_customer_pii
from accounts.timekeeping import local_today
from campaigns import selectors, services
from campaigns.models import (
    Campaign,
    CampaignChannel,
    Delivery,
    DeliveryStatus,
    Suppression,
    SuppressionReason,
    Variant,
)
from config.api.base import (
    AwareDateTimeField,
    OrganizationModelViewSet,
    OrganizationScopedRelatedField,
    StrictSerializerMixin,
    actor_for_request,
)
from segmentation.models import Segment, Tier


class VariantSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    name = serializers.CharField(max_length=60, required=False, allow_blank=True)
    weight = serializers.IntegerField(min_value=1, max_value=100, default=1)

    class Meta:
        model = Variant
        fields = ["position", "name", "subject", "body", "offer_code", "weight"]
        read_only_fields = ["position"]


class CampaignSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A campaign. Audience: a segment, a tier, or both (their intersection); ``variants`` are A/B arms.

    Only drafts and scheduled campaigns can be edited; launch with ``POST /campaigns/{id}/launch/``.
    """

    segment = OrganizationScopedRelatedField(Segment, required=False, allow_null=True)
    tier = serializers.ChoiceField(choices=[("", "any"), *Tier.choices], required=False, allow_blank=True)
    channel = serializers.ChoiceField(choices=CampaignChannel.choices, required=False)
    variants = VariantSerializer(many=True, required=False)
    holdout_share = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=Decimal("0"), max_value=Decimal("0.5"), required=False
    )
    send_at = AwareDateTimeField(required=False, allow_null=True)
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "channel",
            "segment",
            "tier",
            "holdout_share",
            "attribution_days",
            "cost",
            "send_at",
            "recurring",
            "status",
            "variants",
            "deliveries",
            "audience_at_launch",
            "created_at",
            "updated_at",
            "launched_at",
            "finished_at",
        ]
        read_only_fields = [
            "id",
            "kind",
            "status",
            "audience_at_launch",
            "created_at",
            "updated_at",
            "launched_at",
            "finished_at",
        ]
        validators = []

    def get_deliveries(self, campaign: Campaign) -> dict[str, int]:
        counts = self.context.get("delivery_counts")
        if counts is not None:
            return counts.get(campaign.pk, {"total": 0})
        return selectors.delivery_counts(campaign=campaign)


class DeliverySerializer(serializers.ModelSerializer):
    variant = serializers.CharField(source="variant.name", allow_null=True, read_only=True)
    holdout = serializers.BooleanField(source="is_holdout", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "customer",
            "variant",
            "holdout",
            "status",
            "skip_reason",
            "assigned_at",
            "sent_at",
            "email",
            "error",
            "opened_at",
            "clicked_at",
            "unsubscribed_at",
        ]
        read_only_fields = fields


class LaunchSerializer(StrictSerializerMixin, serializers.Serializer):
    send_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="Send later at this time; empty or past sends now."
    )


class LaunchResultSerializer(serializers.Serializer):
    campaign = CampaignSerializer()
    enrolled = serializers.IntegerField(help_text="Customers enrolled now (variants and hold-out).")
    scheduled = serializers.BooleanField()


class UpliftSerializer(serializers.Serializer):
    treated = serializers.FloatField()
    control = serializers.FloatField()
    difference = serializers.FloatField()
    low = serializers.FloatField(help_text="Lower end of the 95% confidence interval.")
    high = serializers.FloatField(help_text="Upper end of the 95% confidence interval.")
    p_value = serializers.FloatField()
    relative = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField(help_text="The interval excludes zero.")


class GroupSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField(source="label")
    holdout = serializers.SerializerMethodField()
    customers = serializers.IntegerField(help_text="Customers assigned (intention to treat).")
    delivered = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    bounced = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField(allow_null=True)
    revenue = serializers.FloatField()
    revenue_per_customer = serializers.FloatField(allow_null=True)
    open_rate = serializers.FloatField(allow_null=True)
    click_rate = serializers.FloatField(allow_null=True)
    conversion_uplift = serializers.SerializerMethodField()
    revenue_uplift = serializers.SerializerMethodField()

    def get_holdout(self, group) -> bool:
        return group.variant is None

    @extend_schema_field(UpliftSerializer(allow_null=True))
    def get_conversion_uplift(self, group) -> dict | None:
        return _uplift(self.context["results"].conversion_uplift.get(group.key))

    @extend_schema_field(UpliftSerializer(allow_null=True))
    def get_revenue_uplift(self, group) -> dict | None:
        return _uplift(self.context["results"].revenue_uplift.get(group.key))


def _uplift(value) -> dict | None:
    return None if value is None else value.as_dict()


class ResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign.pk")
    status = serializers.CharField(source="campaign.status")
    attribution_days = serializers.IntegerField(source="campaign.attribution_days")
    attribution_ends = serializers.DateTimeField(allow_null=True)
    groups = serializers.SerializerMethodField()
    conversion_uplift = serializers.SerializerMethodField(help_text="All variants pooled against the hold-out.")
    revenue_uplift = serializers.SerializerMethodField(help_text="Revenue per customer, pooled, against the hold-out.")
    incremental_revenue = serializers.FloatField(allow_null=True)
    incremental_margin = serializers.FloatField(allow_null=True)
    cost = serializers.DecimalField(source="campaign.cost", max_digits=14, decimal_places=2)
    roi = serializers.FloatField(allow_null=True, help_text="(incremental margin − cost) ÷ cost; null without a cost.")
    winner = serializers.CharField(
        allow_null=True,
        help_text="Variant with the largest revenue uplift whose interval is above zero; named only once the "
        "variant and the hold-out each have at least 10 conversions.",
    )
    enough_conversions = serializers.BooleanField(help_text="The hold-out has enough conversions to name a winner.")
    deliveries = serializers.DictField(child=serializers.IntegerField(), source="counts")

    @extend_schema_field(GroupSerializer(many=True))
    def get_groups(self, results) -> list[dict]:
        return GroupSerializer(results.groups, many=True, context={"results": results}).data

    @extend_schema_field(UpliftSerializer(allow_null=True))
    def get_conversion_uplift(self, results) -> dict | None:
        return _uplift(results.overall_conversion_uplift)

    @extend_schema_field(UpliftSerializer(allow_null=True))
    def get_revenue_uplift(self, results) -> dict | None:
        return _uplift(results.overall_revenue_uplift)


class PreviewQuerySerializer(serializers.Serializer):
    customer = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        help_text="Render for this customer (default: the first of the audience).",
    )


class PreviewSerializer(serializers.Serializer):
    variant = serializers.CharField()
    subject = serializers.CharField()
    text = serializers.CharField()
    error = serializers.CharField()


class TierPlaybookSerializer(StrictSerializerMixin, serializers.Serializer):
    suffix = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="Appended to the names (default: today's date)."
    )


class CampaignViewSet(OrganizationModelViewSet):
    """Campaigns to a segment and/or tier, with A/B variants and a random hold-out group.

    Sending is exactly-once per (campaign, customer); ``results`` compares each variant with the hold-out
    (conversion and revenue per customer with 95% intervals). Marketers and admins may write.
    """

    model = Campaign
    ordering_fields = ("name", "status", "created_at", "updated_at")
    serializer_class = CampaignSerializer
    write_roles = MARKETING_WRITERS
    create_service = services.campaign_create
    update_service = services.campaign_update
    delete_service = services.campaign_delete
    instance_argument = "campaign"
    select_related = ("segment",)
    filterset_fields = ["status", "channel", "tier", "kind"]

    def get_queryset(self):
        return super().get_queryset().prefetch_related("variants")

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if self.action == "list" and self.organization is not None:
            context["delivery_counts"] = selectors.delivery_counts_by_campaign(org=self.organization)
        return context

    @extend_schema(request=LaunchSerializer, responses={200: LaunchResultSerializer})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def launch(self, request, pk=None):
        """Enroll the audience (variants and hold-out) and start sending, or schedule with ``send_at``."""
        campaign = self.get_object()
        body = LaunchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = services.campaign_launch(
            campaign=campaign, actor=actor_for_request(request), send_at=body.validated_data.get("send_at")
        )
        context = self.get_serializer_context()
        return Response(
            {
                "campaign": CampaignSerializer(outcome.campaign, context=context).data,
                "enrolled": outcome.enrolled,
                "scheduled": outcome.scheduled,
            }
        )

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def stop(self, request, pk=None):
        """Stop sending; deliveries still waiting are skipped."""
        campaign = services.campaign_stop(campaign=self.get_object(), actor=actor_for_request(request))
        return Response(CampaignSerializer(campaign, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: OpenApiResponse(description="How many deliveries were queued again.")})
    @action(detail=True, methods=["post"], url_path="resend-unknown", filter_backends=[], pagination_class=None)
    def resend_unknown(self, request, pk=None):
        """Queue again the deliveries whose fate is unknown (a worker died as the server answered): may duplicate."""
        count = services.unknown_deliveries_resend(campaign=self.get_object(), actor=actor_for_request(request))
        return Response({"queued": count})

    @extend_schema(responses={200: ResultsSerializer})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def results(self, request, pk=None):
        """Per variant and hold-out: reach, opens, clicks, conversions, revenue; uplift with 95% intervals; ROI."""
        results = selectors.campaign_results(campaign=self.get_object())
        return Response(ResultsSerializer(results).data)

    @extend_schema(responses={200: DeliverySerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        """One row per enrolled customer: variant or hold-out, status, tracking."""
        campaign = self.get_object()
        status_filter = request.query_params.get("status", "")
        rows = Delivery.objects.filter(campaign=campaign).select_related("variant")
        if status_filter:
            if status_filter not in DeliveryStatus.values:
                raise serializers.ValidationError(
                    {"status": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(DeliveryStatus.values)}]}
                )
            rows = rows.filter(status=status_filter)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(parameters=[PreviewQuerySerializer], responses={200: PreviewSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        """Each variant rendered for one customer, as it would be sent."""
        campaign = self.get_object()
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        previews = selectors.variant_previews(
            campaign=campaign, today=self._today(), customer_id=query.validated_data.get("customer")
        )
        return Response(
            [
                {"variant": p["variant"].name, "subject": p["subject"], "text": p["text"], "error": p["error"]}
                for p in previews
            ]
        )

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path="export", filter_backends=[], pagination_class=None)
    def export_list(self, request, pk=None):
        """The customers assigned to a variant (never the hold-out) as CSV, for SMS, ads or call lists."""
        membership = getattr(request._request, "membership", None)
        if not isinstance(request.auth, ApiKey) and membership and not may_export_customer_pii(membership):
            raise PermissionDenied(_("Your organization does not let viewers download customer contact lists."))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in selectors.export_rows(campaign=self.get_object()):
            writer.writerow([selectors.spreadsheet_safe(str(value)) for value in row])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="campaign-{pk}-list.csv"'
        return response

    @extend_schema(request=TierPlaybookSerializer, responses={201: CampaignSerializer(many=True)})
    @action(detail=False, methods=["post"], url_path="tier-playbook", filter_backends=[], pagination_class=None)
    def tier_playbook(self, request):
        """Create the playbook's three draft campaigns: high (exclusive service), mid (repurchase), potential."""
        body = TierPlaybookSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = services.tier_campaigns_create(
            org=self.organization, actor=actor_for_request(request), suffix=body.validated_data.get("suffix", "")
        )
        data = CampaignSerializer(created, many=True, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    def _today(self):
        return local_today(self.organization, timezone.now())


class SuppressionSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    email = serializers.EmailField(max_length=254)
    reason = serializers.ChoiceField(choices=SuppressionReason.choices)
    detail = serializers.CharField(max_length=500, required=False, allow_blank=True)

    class Meta:
        model = Suppression
        fields = ["id", "email", "reason", "detail", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators = []


class SuppressionViewSet(OrganizationModelViewSet):
    """Addresses that receive no campaign e-mail: bounces and unsubscribes recorded by custops, and bounces or
    complaints reported by your e-mail provider (``POST`` them here). A complaint or unsubscribe also turns the
    matching customers' e-mail consent off. Marketers and admins may write."""

    model = Suppression
    ordering_fields = ("email", "created_at")
    updated_field = "created_at"  # recorded and deleted, never edited
    serializer_class = SuppressionSerializer
    write_roles = MARKETING_WRITERS
    create_service = services.suppression_create
    delete_service = services.suppression_delete
    instance_argument = "suppression"
    filterset_fields = ["reason", "email"]
    http_method_names = ["get", "post", "delete", "head", "options"]
