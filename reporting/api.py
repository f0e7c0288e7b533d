"""Read-only API over nightly job history, so integrations can wait for fresh numbers."""

from __future__ import annotations

import django_filters
from rest_framework import serializers, viewsets

from accounts.permissions import organization_for_api_request
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


class JobRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Nightly runs of the caller's organization, newest first."""

    model = JobRun
    serializer_class = JobRunSerializer
    filterset_class = JobRunFilter

    def get_queryset(self):
        org = None if getattr(self, "swagger_fake_view", False) else organization_for_api_request(self.request)
        if org is None:
            return JobRun.objects.none()
        return JobRun.objects.for_org(org)
