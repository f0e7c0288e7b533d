"""Read-only API over nightly job history, so integrations can wait for fresh numbers."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.response import Response

from accounts.permissions import ADMINS, ALERT_ACKNOWLEDGERS
from config.api.base import OrganizationModelViewSet, StrictSerializerMixin, actor_for_request
from config.api.pagination import DayCursorPagination
from crm.api import MemberEmailField
from crm.filters import StrictBooleanFilter
from reporting import services as reporting_services
from reporting.kpis import KPI_BY_CODE
from reporting.models import (
    Alert,
    AlertKind,
    ChannelMetric,
    CohortCell,
    JobRun,
    JobStatus,
    KpiSnapshot,
    MetricPeriod,
    Target,
    TargetStatus,
)
from reporting.selectors import kpi_definitions, latest_kpi_snapshot, target_progress_of
from reporting.services import alert_acknowledge


class JobRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "kind",
            "as_of",
            "status",
            "started_at",
            "finished_at",
            "duration_seconds",
            "step_seconds",
            "row_counts",
            "error",
            "triggered_by",
        ]
        read_only_fields = fields


class JobRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    kind = django_filters.CharFilter()
    as_of = django_filters.DateFilter()

    class Meta:
        model = JobRun
        fields = []


class JobRunViewSet(OrganizationModelViewSet):
    """Nightly runs of the caller's organization, newest first. Read-only: runs are started by beat or the CLI."""

    model = JobRun
    ordering_fields = ("started_at", "as_of", "updated_at")
    serializer_class = JobRunSerializer
    filterset_class = JobRunFilter
    http_method_names = ["get", "head", "options"]


class KpiSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = KpiSnapshot
        fields = ["id", "day", "computed_at", "values"]
        read_only_fields = fields


class KpiDefinitionSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    definition = serializers.CharField()
    higher_is_better = serializers.BooleanField()


class KpiSnapshotFilter(django_filters.FilterSet):
    day = django_filters.DateFilter()
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = KpiSnapshot
        fields = []


class KpiSnapshotViewSet(OrganizationModelViewSet):
    """One snapshot per day of every KPI (``values``: code → number, null where undefined).

    Each KPI covers the 30 days ending on ``day``; the definitions are listed at ``/api/v1/kpis/definitions/``.
    """

    model = KpiSnapshot
    ordering_fields = ("computed_at",)
    updated_field = "computed_at"  # a re-run of a night rewrites its snapshot and this time
    serializer_class = KpiSnapshotSerializer
    filterset_class = KpiSnapshotFilter
    pagination_class = DayCursorPagination
    http_method_names = ["get", "head", "options"]

    @extend_schema(responses=KpiDefinitionSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def definitions(self, request):
        """Code, label, unit and exact definition of every KPI in a snapshot."""
        return Response(KpiDefinitionSerializer(kpi_definitions(), many=True).data)


class ChannelMetricSerializer(serializers.ModelSerializer):
    channel_code = serializers.CharField(source="channel.code", read_only=True)
    channel_name = serializers.CharField(source="channel.name", read_only=True)

    class Meta:
        model = ChannelMetric
        fields = [
            "id",
            "as_of",
            "channel",
            "channel_code",
            "channel_name",
            "period",
            "period_start",
            "period_end",
            "spend",
            "new_customers",
            "contacts",
            "converted_contacts",
            "conversion",
            "cac",
            "mean_customer_value",
            "ltv_cac",
            "roi",
            "payback_months",
            "repeat_rate_90d",
        ]
        read_only_fields = fields


class ChannelMetricFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    period = django_filters.ChoiceFilter(choices=MetricPeriod.choices)
    period_from = django_filters.DateFilter(field_name="period_start", lookup_expr="gte")
    period_to = django_filters.DateFilter(field_name="period_start", lookup_expr="lte")

    class Meta:
        model = ChannelMetric
        fields = []


class ChannelMetricViewSet(OrganizationModelViewSet):
    """Per channel and period (calendar month or trailing 90 days): spend, CAC, conversion, LTV/CAC, ROI, payback."""

    model = ChannelMetric
    ordering_fields = ("period_start", "as_of", "spend", "new_customers", "computed_at")
    updated_field = "computed_at"  # rewritten by each nightly run
    serializer_class = ChannelMetricSerializer
    filterset_class = ChannelMetricFilter
    select_related = ("channel",)
    http_method_names = ["get", "head", "options"]


class CohortCellSerializer(serializers.ModelSerializer):
    channel_code = serializers.CharField(source="channel.code", read_only=True, allow_null=True)

    class Meta:
        model = CohortCell
        fields = [
            "id",
            "as_of",
            "cohort_month",
            "channel",
            "channel_code",
            "months_since",
            "cohort_size",
            "active_customers",
            "retention",
            "revenue",
            "cumulative_revenue_per_customer",
        ]
        read_only_fields = fields


class CohortCellFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(
        method="filter_channel", label="Channel code; without it, the cohorts of all channels together"
    )
    cohort_from = django_filters.DateFilter(field_name="cohort_month", lookup_expr="gte")
    cohort_to = django_filters.DateFilter(field_name="cohort_month", lookup_expr="lte")

    class Meta:
        model = CohortCell
        fields = []

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("channel"):
            queryset = queryset.filter(channel__isnull=True)
        return super().filter_queryset(queryset)

    def filter_channel(self, queryset, name, value):
        return queryset.filter(channel__code=value)


class CohortCellViewSet(OrganizationModelViewSet):
    """Monthly acquisition cohorts × months since acquisition: retention share, revenue, cumulative revenue per customer."""

    model = CohortCell
    ordering_fields = ("cohort_month", "months_since", "as_of", "computed_at")
    updated_field = "computed_at"  # rewritten by each nightly run
    serializer_class = CohortCellSerializer
    filterset_class = CohortCellFilter
    select_related = ("channel",)
    http_method_names = ["get", "head", "options"]


class AlertSerializer(serializers.ModelSerializer):
    acknowledged_by = serializers.CharField(source="acknowledged_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "raised_on",
            "subject",
            "value",
            "threshold",
            "message",
            "created_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_by_label",
        ]
        read_only_fields = fields


class AlertFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AlertKind.choices)
    open = StrictBooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", label="Not acknowledged yet")
    raised_from = django_filters.DateFilter(field_name="raised_on", lookup_expr="gte")
    raised_to = django_filters.DateFilter(field_name="raised_on", lookup_expr="lte")

    class Meta:
        model = Alert
        fields = []


# Alerts are raised by the nightly rules, never by a client: POST is routed only for ``acknowledge``, so the
# collection's POST (a 405) is left out of the schema.
@extend_schema_view(create=extend_schema(exclude=True))
class AlertViewSet(OrganizationModelViewSet):
    """Alerts raised by the nightly rules; ``POST /alerts/{id}/acknowledge/`` marks one as seen."""

    model = Alert
    ordering_fields = ("raised_on", "created_at", "updated_at")
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    select_related = ("acknowledged_by",)
    write_roles = ALERT_ACKNOWLEDGERS
    http_method_names = ["get", "head", "options", "post"]

    def create(self, request, *args, **kwargs):
        raise MethodNotAllowed(request.method)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = alert_acknowledge(alert=self.get_object(), actor=actor_for_request(request))
        return Response(self.get_serializer(alert).data)


class TargetSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A SMART target on one KPI (``metric``: a code of ``/api/v1/kpis/definitions/``).

    Values are in the KPI's unit as snapshots store it (shares from 0 to 1: 0.06 = 6%). ``owner`` is a member's
    e-mail. The progress fields are computed from the latest KPI snapshot: ``progress`` is the share of the way
    from the baseline to the target, ``expected_progress`` the share of the time from the baseline date to the
    deadline that has passed; ``status`` is ``achieved``, ``on_track`` (at most 10 points behind the expected
    progress), ``at_risk`` (at most 25 points behind), ``off_track`` (further behind, or the deadline passed) or
    ``no_data``.
    """

    owner = MemberEmailField(required=False, allow_null=True)
    direction = serializers.SerializerMethodField()
    current_value = serializers.FloatField(source="progress.current", read_only=True, allow_null=True)
    current_day = serializers.DateField(source="progress.as_of", read_only=True, allow_null=True)
    progress = serializers.FloatField(source="progress.progress", read_only=True, allow_null=True)
    expected_progress = serializers.FloatField(source="progress.expected", read_only=True)
    status = serializers.ChoiceField(source="progress.status", choices=TargetStatus.choices, read_only=True)

    class Meta:
        model = Target
        fields = [
            "id",
            "metric",
            "name",
            "description",
            "baseline_value",
            "baseline_date",
            "target_value",
            "deadline",
            "owner",
            "direction",
            "current_value",
            "current_day",
            "progress",
            "expected_progress",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @extend_schema_field(serializers.ChoiceField(choices=["higher_is_better", "lower_is_better"], allow_null=True))
    def get_direction(self, target: Target) -> str | None:
        kpi = KPI_BY_CODE.get(target.metric)
        if kpi is None:
            return None
        return "higher_is_better" if kpi.higher_is_better else "lower_is_better"

    def to_representation(self, instance: Target):
        context = self.context
        if "latest_snapshot" not in context:
            org = context.get("organization") or instance.organization
            context["latest_snapshot"] = latest_kpi_snapshot(org=org)
        instance.progress = target_progress_of(target=instance, snapshot=context["latest_snapshot"])
        return super().to_representation(instance)


class TargetFilter(django_filters.FilterSet):
    metric = django_filters.CharFilter()
    owner = django_filters.CharFilter(field_name="owner__email", label="Owner's e-mail")

    class Meta:
        model = Target
        fields = []


class TargetViewSet(OrganizationModelViewSet):
    """SMART targets with their progress against the latest KPI snapshot. Only admins (and write keys) change them."""

    model = Target
    ordering_fields = ("name", "deadline", "created_at", "updated_at")
    serializer_class = TargetSerializer
    filterset_class = TargetFilter
    select_related = ("owner",)
    write_roles = ADMINS
    create_service = reporting_services.target_create
    update_service = reporting_services.target_update
    delete_service = reporting_services.target_delete
    instance_argument = "target"
