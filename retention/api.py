"""The lifetime-value model report API: ``/api/v1/models/clv/`` (history) and ``/models/clv/latest/``."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.api.base import OrganizationModelViewSet
from retention.models import ClvModelReport, FitStatus


class BgNbdSerializer(serializers.Serializer):
    r = serializers.FloatField(source="bgnbd_r", allow_null=True)
    alpha = serializers.FloatField(source="bgnbd_alpha", allow_null=True)
    a = serializers.FloatField(source="bgnbd_a", allow_null=True)
    b = serializers.FloatField(source="bgnbd_b", allow_null=True)
    log_likelihood = serializers.FloatField(source="bgnbd_log_likelihood", allow_null=True)
    converged = serializers.BooleanField(source="bgnbd_converged")


class GammaGammaSerializer(serializers.Serializer):
    p = serializers.FloatField(source="gg_p", allow_null=True)
    q = serializers.FloatField(source="gg_q", allow_null=True)
    v = serializers.FloatField(source="gg_v", allow_null=True)
    log_likelihood = serializers.FloatField(source="gg_log_likelihood", allow_null=True)
    converged = serializers.BooleanField(source="gg_converged")


class ClvModelReportSerializer(serializers.ModelSerializer):
    bgnbd = BgNbdSerializer(source="*", read_only=True)
    gamma_gamma = GammaGammaSerializer(source="*", read_only=True)

    class Meta:
        model = ClvModelReport
        fields = [
            "id",
            "as_of",
            "created_at",
            "time_unit",
            "status",
            "message",
            "customers",
            "repeaters",
            "compressed_rows",
            "fit_seconds",
            "bgnbd",
            "gamma_gamma",
            "calibration",
            "churn_model",
            "churn_evaluation",
        ]
        read_only_fields = fields


class ClvModelReportFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=FitStatus.choices)
    as_of_from = django_filters.DateFilter(field_name="as_of", lookup_expr="gte")
    as_of_to = django_filters.DateFilter(field_name="as_of", lookup_expr="lte")

    class Meta:
        model = ClvModelReport
        fields = []


class ClvModelReportViewSet(OrganizationModelViewSet):
    """The lifetime-value and churn model of each nightly run (BG/NBD + Gamma-Gamma, time unit: days)."""

    model = ClvModelReport
    ordering_fields = ("as_of", "created_at")
    updated_field = "created_at"  # one report per fit, never changed afterwards
    serializer_class = ClvModelReportSerializer
    filterset_class = ClvModelReportFilter
    http_method_names = ["get", "head", "options"]

    @extend_schema(responses=ClvModelReportSerializer)
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def latest(self, request):
        """The report of the latest as-of day; 404 before the first nightly run."""
        report = self.get_queryset().order_by("-as_of", "-id").first()
        if report is None:
            raise NotFound(_("No lifetime-value model yet: it is fitted by the first nightly run."))
        return Response(self.get_serializer(report).data)
