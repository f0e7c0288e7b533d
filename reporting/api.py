"""Read-only API over nightly job history, so integrations can wait for fresh numbers."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from config.api.base import OrganizationModelViewSet
from reporting.models import JobRun, JobStatus


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
    serializer_class = JobRunSerializer
    filterset_class = JobRunFilter
    http_method_names = ["get", "head", "options"]
