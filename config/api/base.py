"""Shared plumbing for every API resource: organization scoping, strict input, service-backed writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, viewsets

from accounts.models import ApiKey, Organization
from accounts.permissions import CRM_WRITERS, organization_for_api_request
from accounts.services import Actor
from config.api.schema import ApiAutoSchema


def actor_for_request(request) -> Actor:
    if isinstance(request.auth, ApiKey):
        return Actor(api_key=request.auth)
    return Actor(user=request.user)


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time that must carry its offset ("Z" or "+08:00").

    DRF would read a naive value in the server's time zone (UTC), silently shifting an integration's local
    times by hours; the services refuse naive values for the same reason.
    """

    default_error_messages = {
        "naive": _("Give a time zone with this date-time, e.g. 2025-01-31T09:30:00+08:00 or 2025-01-31T01:30:00Z."),
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class StrictSerializerMixin:
    """Reject fields the resource does not have, instead of silently dropping them (a typo is not a no-op).

    Model date-times map to ``AwareDateTimeField``, so naive input is a field error.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: AwareDateTimeField,
    }

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: [_("Unknown field.")] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                errors.update(exc.detail)
            raise serializers.ValidationError(errors or exc.detail) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value


class OrganizationScopedRelatedField(serializers.SlugRelatedField):
    """A reference to another row of the caller's organization; other organizations' rows do not exist.

    ``slug_field="pk"`` (the default) references by id; the schema types it from the model field.
    """

    def __init__(self, model, slug_field: str = "pk", **kwargs: Any) -> None:
        self.model = model
        super().__init__(slug_field=slug_field, **kwargs)

    def get_queryset(self):
        org = self.context.get("organization")
        if org is None:
            return self.model.objects.none()
        return self.model.objects.for_org(org)


class OrganizationModelViewSet(viewsets.ModelViewSet):
    """List/retrieve scoped to the caller's organization; create/update/delete delegated to services.

    Subclasses set ``model`` and the three service callables; views stay free of business rules.
    """

    model: type
    schema = ApiAutoSchema()
    write_roles = CRM_WRITERS
    create_service: Callable[..., Any] | None = None
    update_service: Callable[..., Any] | None = None
    delete_service: Callable[..., Any] | None = None
    instance_argument: str = "instance"
    select_related: tuple[str, ...] = ()

    @property
    def organization(self) -> Organization | None:
        return organization_for_api_request(self.request)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or self.organization is None:
            return self.model.objects.none()
        return self.model.objects.for_org(self.organization).select_related(*self.select_related)

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["organization"] = self.organization
        return context

    def perform_create(self, serializer) -> None:
        service = type(self).create_service
        serializer.instance = service(
            org=self.organization, actor=actor_for_request(self.request), **serializer.validated_data
        )

    def perform_update(self, serializer) -> None:
        service = type(self).update_service
        serializer.instance = service(
            **{self.instance_argument: serializer.instance},
            actor=actor_for_request(self.request),
            **serializer.validated_data,
        )

    def perform_destroy(self, instance) -> None:
        service = type(self).delete_service
        service(**{self.instance_argument: instance}, actor=actor_for_request(self.request))
