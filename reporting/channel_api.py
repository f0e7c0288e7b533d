"""GET /api/v1/channel-budget/: the core/testing split against 70/30, each channel's advice, the blended-CAC effect.

The same plan as the channels page (:func:`reporting.channel_portfolio.budget_data`), computed from the nightly
trailing-90-day channel rows; the rules are in :mod:`reporting.channel_budget`.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.permissions import organization_for_api_request
from config.api.base import ConditionalGetMixin
from config.api.schema import ApiAutoSchema
from reporting.channel_portfolio import budget_data, channel_budget_for
from reporting.models import ChannelMetric

SPLIT_STATUSES = ["on_policy", "core_under", "core_over", "no_spend"]
MONEY = {"max_digits": 16, "decimal_places": 2, "allow_null": True, "coerce_to_string": True}


class ChannelBudgetPolicySerializer(serializers.Serializer):
    core_share = serializers.FloatField(help_text="The policy's share of paid spend on core channels (0.7).")
    share_tolerance = serializers.FloatField(help_text="The split is on policy within this many points of it.")
    core_channels_min = serializers.IntegerField()
    core_channels_max = serializers.IntegerField()
    min_new_customers = serializers.IntegerField(
        help_text="New customers in 90 days below which a channel's ratios are not evidence enough to act on."
    )
    grow_min_ltv_cac = serializers.FloatField()
    grow_max_payback_months = serializers.FloatField()
    cut_below_ltv_cac = serializers.FloatField()
    cut_above_payback_months = serializers.FloatField()
    shift_share = serializers.FloatField(help_text="Share of a cut channel's spend moved to the grow channels.")


class ChannelSplitSerializer(serializers.Serializer):
    core_spend = serializers.DecimalField(**MONEY)
    testing_spend = serializers.DecimalField(**MONEY)
    core_share = serializers.FloatField(allow_null=True, help_text="Null without paid spend.")
    testing_share = serializers.FloatField(allow_null=True)
    core_channels = serializers.IntegerField()
    testing_channels = serializers.IntegerField()
    policy_status = serializers.ChoiceField(
        choices=SPLIT_STATUSES, help_text="Core share against the 70/30 policy (on policy within the tolerance)."
    )


class ChannelSplitNowSerializer(ChannelSplitSerializer):
    summary = serializers.CharField(help_text="The split in words, in the request's language.")


class BlendedCacEffectSerializer(serializers.Serializer):
    before = serializers.DecimalField(**MONEY, help_text="All channels' spend ÷ their new customers, last 90 days.")
    after = serializers.DecimalField(**MONEY, help_text="The same if the recommendation is followed.")
    change = serializers.DecimalField(**MONEY)
    relative_change = serializers.FloatField(allow_null=True)
    moved_spend = serializers.DecimalField(**MONEY)
    saved_spend = serializers.DecimalField(**MONEY)
    customers_lost = serializers.FloatField()
    customers_gained = serializers.FloatField()
    assumption = serializers.CharField()


class ChannelAdviceSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    channel_class = serializers.ChoiceField(choices=["core", "testing", "unpaid"])
    core_rank = serializers.IntegerField(allow_null=True, help_text="1 = best core channel; null when not core.")
    action = serializers.ChoiceField(choices=["grow", "hold", "cut"])
    reason_code = serializers.CharField(help_text="Stable code of the rule that decided the action.")
    reason = serializers.CharField(help_text="The reason in words, in the request's language.")
    spend = serializers.DecimalField(**MONEY)
    new_customers = serializers.IntegerField()
    cac = serializers.DecimalField(**MONEY)
    ltv_cac = serializers.FloatField(allow_null=True)
    payback_months = serializers.FloatField(allow_null=True)
    proposed_change = serializers.DecimalField(**MONEY)
    proposed_spend = serializers.DecimalField(**MONEY)
    expected_customer_change = serializers.FloatField()


class ChannelBudgetSerializer(serializers.Serializer):
    as_of = serializers.DateField(allow_null=True, help_text="Date of the nightly run; null before the first one.")
    currency = serializers.CharField()
    policy = ChannelBudgetPolicySerializer()
    split = ChannelSplitNowSerializer()
    split_if_followed = ChannelSplitSerializer()
    blended_cac = BlendedCacEffectSerializer()
    channels = ChannelAdviceSerializer(many=True)


class ChannelBudgetView(ConditionalGetMixin, GenericAPIView):
    """The channel portfolio against the 70/30 policy and the grow / hold / cut advice (read scope)."""

    schema = ApiAutoSchema()
    model = ChannelMetric
    serializer_class = ChannelBudgetSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        operation_id="channel_budget_retrieve",
        summary="Channel budget recommendation",
        description=(
            "Core vs testing spend against the 70/30 policy, each channel's class and grow / hold / cut action "
            "with its reason from the measured LTV/CAC and payback of the last 90 days, and the expected effect "
            "on blended CAC under the stated assumption. Computed from the nightly channel metrics."
        ),
        responses=ChannelBudgetSerializer,
    )
    def get(self, request) -> Response:
        org = organization_for_api_request(request)
        data = budget_data(channel_budget_for(org=org), currency=org.currency)
        return Response(ChannelBudgetSerializer(data).data)
