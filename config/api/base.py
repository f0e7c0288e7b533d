"""Shared plumbing for every API resource: organization scoping, strict input, service-backed writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, viewsets

from accounts.models import ApiKey, Organization
from accounts.permissions import CRM_WRITERS, organization_for_api_request
from accounts.services import Actor


def actor_for_request(request) -> Actor:
    if isinstance(request.auth, ApiKey):
        return Actor(api_key=request.auth)
    return Actor(user=request.user)


class StrictSerializerMixin:
    """Reject fields the resource does not have, instead of silently dropping them (a typo is not a no-op)."""

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
    """A reference to another row of the caller's organization; other organizations' rows do not exist."""

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
