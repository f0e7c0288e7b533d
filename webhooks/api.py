"""REST API of webhooks: endpoints (CRUD, test event), their deliveries with attempt logs, redelivery.

People need the admin role (for reads too: deliveries show what the organization sends where); API keys need
the ``read`` scope to read and ``write`` to change. The signing secret appears in the response to the create
request only.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import ApiKey
from accounts.permissions import ADMINS, OrganizationPermission, organization_for_api_request, role_for_request
from config.api.base import ListConventionsMixin, OrganizationModelViewSet, StrictSerializerMixin, actor_for_request
from config.api.schema import ApiAutoSchema
from webhooks import selectors, services
from webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint


class WebhookAdminPermission(permissions.BasePermission):
    """Signed-in people must be admins of the organization, for reads and writes alike."""

    message = _("Only the organization's admins manage webhooks.")

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        return role_for_request(request._request) in ADMINS


class WebhookEndpointSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        help_text=_("Event types to receive; empty means every type."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "disabled_at", "disabled_reason", "created_at", "updated_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("Signing secret: returned by this response only. Store it now.")
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDeliveryAttempt
        fields = ["attempted_at", "response_code", "duration_ms", "error", "succeeded"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.event_id", read_only=True)
    event_type = serializers.CharField(source="event.event_type", read_only=True)
    attempt_log = WebhookDeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_response_code",
            "last_error",
            "delivered_at",
            "redelivery_of",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


class WebhookEndpointViewSet(OrganizationModelViewSet):
    """Webhook endpoints: signed HTTP POSTs of events (see docs/api.md, "Webhooks"). The create response is the
    only one that carries the signing ``secret``. Setting ``is_active`` to false stops deliveries; an endpoint
    whose deliveries all failed for 24 hours is disabled automatically and the admins are e-mailed."""

    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    permission_classes = [OrganizationPermission, WebhookAdminPermission]
    write_roles = ADMINS
    update_service = services.endpoint_update
    delete_service = services.endpoint_delete
    instance_argument = "endpoint"
    filterset_fields = ["is_active"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def idempotency_store_response(self) -> bool:
        """The create answer carries the plaintext signing secret: an ``Idempotency-Key`` replay of it answers
        409 instead of keeping the secret in the key table for 24 hours (config/api/idempotency.py)."""
        return getattr(self, "action", None) != "create"

    @extend_schema(request=WebhookEndpointSerializer, responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            org=self.organization, actor=actor_for_request(request), **serializer.validated_data
        )
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: WebhookDeliverySerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        """This endpoint's deliveries, newest first, each with its attempt log (time, response code, duration,
        error). Filter with ``?status=pending|succeeded|failed|abandoned``."""
        endpoint = self.get_object()
        rows = selectors.deliveries_list(org=self.organization, endpoint=endpoint).prefetch_related("attempt_log")
        status_filter = request.query_params.get("status", "")
        if status_filter:
            if status_filter not in DeliveryStatus.values:
                raise serializers.ValidationError(
                    {"status": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(DeliveryStatus.values)}]}
                )
            rows = rows.filter(status=status_filter)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path="test", filter_backends=[], pagination_class=None)
    def test(self, request, pk=None):
        """Send a ``webhook.test`` event to this endpoint now (whatever it subscribes to)."""
        delivery = services.endpoint_test_send(endpoint=self.get_object(), actor=actor_for_request(request))
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


def _callers_endpoints(request):
    """The endpoints the ``endpoint`` filter may name: the caller's organization's only, so another
    organization's id is refused (400) exactly like an id that does not exist."""
    org = organization_for_api_request(request) if request is not None else None
    if org is None:
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.for_org(org)


class WebhookDeliveryFilter(django_filters.FilterSet):
    endpoint = django_filters.ModelChoiceFilter(
        queryset=_callers_endpoints, help_text=_("Only deliveries to this endpoint (an id of yours).")
    )
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["status", "endpoint"]


class WebhookDeliveryViewSet(ListConventionsMixin, viewsets.ReadOnlyModelViewSet):
    """Every webhook delivery of the organization with its attempt log; ``POST …/{id}/redeliver/`` sends the same
    event (same event id and body) to the same endpoint again as a new delivery."""

    model = WebhookDelivery
    schema = ApiAutoSchema()
    serializer_class = WebhookDeliverySerializer
    permission_classes = [OrganizationPermission, WebhookAdminPermission]
    write_roles = ADMINS
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ("created_at",)
    updated_field = "created_at"  # append-only: a delivery's row is created once (its status is not a change)

    def get_queryset(self):
        org = organization_for_api_request(self.request)
        if getattr(self, "swagger_fake_view", False) or org is None:
            return WebhookDelivery.objects.none()
        return selectors.deliveries_list(org=org).prefetch_related("attempt_log")

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def redeliver(self, request, pk=None):
        """Queue the delivery's event again; 400 when the endpoint is disabled."""
        again = services.delivery_redeliver(delivery=self.get_object(), actor=actor_for_request(request))
        return Response(WebhookDeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)
