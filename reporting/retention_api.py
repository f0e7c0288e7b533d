"""``GET /api/v1/retention-trend/``: the latest night's retention history (monthly churn, D1/D7/D30 by month).

The same numbers as the Retention page, from the ``RetentionTrend`` row the nightly run stores (see
:mod:`retention.retention_trend` for the definitions). One object, not a list: integrations want "the trend now";
a night's history is rebuilt from scratch every night, so older rows add nothing but their as-of date.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import organization_for_api_request
from config.api.base import ConditionalGetMixin
from config.api.errors import ErrorSerializer
from config.api.schema import ApiAutoSchema
from retention.selectors import latest_retention_trend


class ChurnMonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text=_("First day of the calendar month."))
    start = serializers.DateField(help_text=_("The month's start: the day before its first day."))
    end = serializers.DateField(help_text=_("The month's last day, or the as-of date for the current month."))
    complete = serializers.BooleanField(help_text=_("False for the current month, counted to date."))
    customers_at_start = serializers.IntegerField(help_text=_("Customers who had bought, not churned at the start."))
    churned = serializers.IntegerField(help_text=_("Of those, customers churned at the month's end."))
    rate = serializers.FloatField(allow_null=True, help_text=_("churned / customers_at_start; null when 0/0."))


class FirstEventMonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text=_("First day of the month of the customers' first event."))
    customers = serializers.IntegerField(help_text=_("Customers whose first event falls in the month."))
    d1 = serializers.FloatField(allow_null=True, help_text=_("D1 retention; null until the month is old enough."))
    d1_retained = serializers.IntegerField(allow_null=True)
    d7 = serializers.FloatField(allow_null=True, help_text=_("D7 retention; null until the month is old enough."))
    d7_retained = serializers.IntegerField(allow_null=True)
    d30 = serializers.FloatField(allow_null=True, help_text=_("D30 retention; null until the month is old enough."))
    d30_retained = serializers.IntegerField(allow_null=True)


class RetentionTrendSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    created_at = serializers.DateTimeField()
    churn_window_days = serializers.IntegerField()
    churn = ChurnMonthSerializer(many=True)
    first_event_retention = FirstEventMonthSerializer(many=True)


class _OneObjectSchema(ApiAutoSchema):
    """The collection route answers with one object (the latest trend), not a list."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class RetentionTrendViewSet(ConditionalGetMixin, viewsets.GenericViewSet):
    """Monthly churn for the last 12 months and the month to date, D1/D7/D30 by month of first event."""

    schema = _OneObjectSchema()
    serializer_class = RetentionTrendSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        responses={
            200: RetentionTrendSerializer,
            404: OpenApiResponse(ErrorSerializer, description=_("No nightly run has computed the trend yet.")),
        }
    )
    def list(self, request):
        """The latest night's trend; 404 before the first nightly run."""
        trend = latest_retention_trend(org=organization_for_api_request(request))
        if trend is None:
            raise NotFound(_("No retention trend yet: it is computed by the first nightly run."))
        return Response(RetentionTrendSerializer(trend).data)
