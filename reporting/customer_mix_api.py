"""``GET /api/v1/customer-mix/``: the latest night's customer mix (RFM grid, tiers, value distribution, stage flow).

One object, not a list: integrations want "the mix now", and the nightly snapshot is already that object. The
numbers are the ones the "Customers and value" page shows (``reporting/customer_views.py`` reads the same row).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import organization_for_api_request
from config.api.base import ConditionalGetMixin
from config.api.errors import ErrorSerializer
from config.api.schema import ApiAutoSchema
from reporting.models import CustomerMixSnapshot
from retention.lifecycle import STAGES
from segmentation.models import Tier


class RfmCellSerializer(serializers.Serializer):
    r = serializers.IntegerField(help_text=_("Recency score, 5 = bought most recently."))
    f = serializers.IntegerField(help_text=_("Frequency score, 5 = most purchase days."))
    customers = serializers.IntegerField()
    value = serializers.FloatField(help_text=_("Summed customer value of the cell's customers."))


class RfmGridSerializer(serializers.Serializer):
    cells = RfmCellSerializer(many=True, help_text=_("25 cells, recency 5 first, frequency 1 to 5 in each row."))
    customers = serializers.IntegerField(help_text=_("Buying customers with an RFM score."))
    value = serializers.FloatField()


class TierMixSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=Tier.choices)
    customers = serializers.IntegerField()
    value = serializers.FloatField()
    customer_share = serializers.FloatField(allow_null=True, help_text=_("Share of the tiered customers, 0–1."))
    value_share = serializers.FloatField(allow_null=True, help_text=_("Share of the tiered customers' value, 0–1."))


class ValueBinSerializer(serializers.Serializer):
    low = serializers.FloatField(help_text=_("Lower edge, included."))
    high = serializers.FloatField(help_text=_("Upper edge, excluded; edges follow the 1-2-5 series."))
    customers = serializers.IntegerField()
    value = serializers.FloatField()


#: ``from`` is a Python keyword, so the transition serializer is built from a field mapping.
StageTransitionSerializer = type(
    "StageTransitionSerializer",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        "__doc__": "Customers who moved from one stage at the previous month-end to one at this month-end.",
        "from": serializers.CharField(help_text=_("Stage at the previous month-end; empty for new contacts.")),
        "to": serializers.CharField(
            help_text=_("Stage at this month-end: one of %(stages)s.") % {"stages": ", ".join(STAGES)}
        ),
        "customers": serializers.IntegerField(),
    },
)


class StageMonthSerializer(serializers.Serializer):
    month_end = serializers.DateField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text=_("Customers per stage code."))
    transitions = StageTransitionSerializer(many=True)


class StageFlowSerializer(serializers.Serializer):
    stages = serializers.ListField(child=serializers.CharField(), help_text=_("Stage codes in lifecycle order."))
    months = StageMonthSerializer(many=True, help_text=_("The last 12 calendar month-ends, oldest first."))


class CustomerMixSerializer(serializers.ModelSerializer):
    rfm_grid = RfmGridSerializer()
    tiers = TierMixSerializer(many=True)
    value_bins = ValueBinSerializer(many=True)
    stage_flow = StageFlowSerializer()

    class Meta:
        model = CustomerMixSnapshot
        fields = ["as_of", "computed_at", "rfm_grid", "tiers", "value_bins", "stage_flow"]
        read_only_fields = fields


class SingleObjectSchema(ApiAutoSchema):
    """The collection route answers with one object (the latest snapshot), not a page of them."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class CustomerMixViewSet(ConditionalGetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The latest customer mix of the caller's organization (read scope)."""

    schema = SingleObjectSchema()
    serializer_class = CustomerMixSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        org = None if getattr(self, "swagger_fake_view", False) else organization_for_api_request(self.request)
        if org is None:
            return CustomerMixSnapshot.objects.none()
        return CustomerMixSnapshot.objects.for_org(org)

    @extend_schema(
        responses={
            200: CustomerMixSerializer,
            404: OpenApiResponse(
                response=ErrorSerializer, description=str(_("No snapshot yet: the first nightly run makes one."))
            ),
        }
    )
    def list(self, request, *args, **kwargs):
        """The customer mix of the latest nightly run; 404 before the first one."""
        snapshot = self.get_queryset().order_by("-as_of").first()
        if snapshot is None:
            raise NotFound(_("No customer mix yet: it appears after the first nightly run."))
        return Response(self.get_serializer(snapshot).data)
