"""OpenAPI additions: the bearer key scheme, the shared error responses, and typed organization references.

drf-spectacular registers extensions when their module is imported; ``config.api.base`` imports this one.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

from config.api.errors import ErrorSerializer


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cops_<prefix>_<secret>",
            "description": str(
                _(
                    "An organization's API key, sent as 'Authorization: Bearer <key>'. Create one with "
                    "'manage.py create_api_key --org SLUG --name NAME --scopes read,write'. A 'read' key may "
                    "only read; writes need the 'write' scope."
                )
            ),
        }


class OrganizationScopedRelatedFieldSchema(OpenApiSerializerFieldExtension):
    """Type a reference by the model field it names: an integer id for ``pk``, a string for codes."""

    target_class = "config.api.base.OrganizationScopedRelatedField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        if field.slug_field == "pk":
            return build_basic_type(OpenApiTypes.INT)
        model_field = field.model._meta.get_field(field.slug_field)
        return auto_schema._map_model_field(model_field, direction)


class ApiAutoSchema(AutoSchema):
    """Adds the error responses every operation can give, in the shape of DESIGN.md §7."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = {
            "401": _("No credentials, or an unknown or revoked API key."),
            "403": _("The key lacks the scope, or the role may not make this change."),
        }
        if self.method in {"POST", "PUT", "PATCH"} or self._is_list_view():
            errors["400"] = _("Invalid input, filter or cursor; 'errors' names each field.")
        if "{" in self.path:
            errors["404"] = _("No such record in your organization.")
        for code, description in sorted(errors.items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=str(description)), code, direction=direction
                )
        return responses
