"""``/api/v1/imports/``: upload a CSV (multipart), follow its job, read its rejected rows."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from config.api.base import OrganizationModelViewSet, StrictSerializerMixin, actor_for_request
from crm.filters import DateTimeFilter
from crm.imports.pipeline import ImportProgress, import_job_confirm, import_job_create, progress_cache_key
from crm.models import ImportJob, ImportKind, ImportRejection, ImportStatus
from crm.selectors import import_rejections


class ImportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by_label", read_only=True)
    rows_accepted = serializers.IntegerField(read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "status",
            "original_filename",
            "file_size",
            "options",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "encoding",
            "delimiter",
            "rows_total",
            "rows_accepted",
            "rows_created",
            "rows_updated",
            "rows_unchanged",
            "rows_rejected",
            "warnings",
            "error",
            "progress",
        ]
        read_only_fields = fields

    def get_progress(self, job: ImportJob) -> dict | None:
        """Rows read so far and the share of the file consumed, while the job runs."""
        from django.core.cache import cache

        state = cache.get(progress_cache_key(job.pk)) if job.status == "running" else None
        if not state:
            return None
        progress = ImportProgress(**state)
        return {"rows": progress.rows, "fraction": round(progress.fraction, 4)}


class ImportCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=ImportKind.choices)
    create_missing_customers = serializers.BooleanField(required=False, default=False)

    def validate_file(self, value):
        if value.size > settings.CUSTOPS_IMPORT_MAX_BYTES:
            raise serializers.ValidationError(
                _("The file is larger than the %(limit)d MB an import accepts.")
                % {"limit": settings.CUSTOPS_IMPORT_MAX_BYTES // 2**20}
            )
        if value.size == 0:
            raise serializers.ValidationError(_("The file is empty."))
        return value


class ImportRejectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRejection
        fields = ["line", "column", "reason", "values"]
        read_only_fields = fields


class ImportJobFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ImportKind.choices)
    status = django_filters.ChoiceFilter(choices=ImportStatus.choices)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ImportJob
        fields = []


class ImportJobViewSet(OrganizationModelViewSet):
    """Imports of the caller's organization. A created job runs in a worker; poll it until it has finished."""

    model = ImportJob
    ordering_fields = ("created_at", "updated_at")
    serializer_class = ImportJobSerializer
    filterset_class = ImportJobFilter
    http_method_names = ["get", "post", "head", "options"]
    parser_classes = [MultiPartParser, FormParser]
    select_related = ("created_by",)

    @extend_schema(request=ImportCreateSerializer, responses={202: ImportJobSerializer})
    def create(self, request, *args, **kwargs):
        incoming = ImportCreateSerializer(data=request.data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        upload = incoming.validated_data["file"]
        job = import_job_create(
            org=self.organization,
            actor=actor_for_request(request),
            kind=incoming.validated_data["kind"],
            source=upload.file,
            original_filename=upload.name,
            create_missing_customers=incoming.validated_data["create_missing_customers"],
        )
        import_job_confirm(job=job)
        job.refresh_from_db()
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ImportRejectionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def rejections(self, request, pk=None):
        """The rejected rows of one import, in file order, with line, column, reason and the cells."""
        job = self.get_object()
        page = self.paginate_queryset(import_rejections(job=job))
        return self.get_paginated_response(ImportRejectionSerializer(page, many=True).data)
