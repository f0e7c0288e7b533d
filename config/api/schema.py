"""OpenAPI additions: the bearer key scheme, the shared error responses, the list conventions' parameters
(``ordering``, ``fields``, ``updated_since``, ``If-None-Match``) and typed organization references.

The parameters of the list conventions are declared here once, from each view's own allow-list, so every list
in the schema documents them the same way (``config.api.base.ListConventionsMixin`` implements them).

drf-spectacular registers extensions when their module is imported; ``config.api.base`` imports this one.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

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
    """Adds the error responses every operation can give, in the shape of DESIGN.md §7, and the list
    conventions' parameters and ``ETag``/``304`` of the resources that follow them."""

    def _follows_list_conventions(self) -> bool:
        return hasattr(self.view, "list_ordering") and getattr(self.view, "action", None) in ("list", "retrieve")

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "GET":
            parameters.append(
                OpenApiParameter(
                    "If-None-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description=str(
                        _("The ETag of a response you hold: an unchanged response is a 304 without a body.")
                    ),
                )
            )
        if not self._follows_list_conventions():
            return parameters
        view = self.view
        fields_help = _(
            "Comma-separated subset of the fields to return (sparse fieldset); the id is always included. "
            "An unknown field is a 400 naming 'fields'."
        )
        parameters.append(OpenApiParameter("fields", OpenApiTypes.STR, description=str(fields_help)))
        if view.action != "list":
            return parameters
        tiebreak = view.tiebreak_field() if hasattr(view, "paginator") else "id"
        names = sorted({*view.ordering_fields, tiebreak})
        parameters += [
            OpenApiParameter(
                "ordering",
                OpenApiTypes.STR,
                enum=[prefix + name for name in names for prefix in ("", "-")],
                description=str(
                    _(
                        "Sort by one field, '-' for descending; ties are broken by %(key)s, and cursor pages stay "
                        "stable. Default: %(default)s."
                    )
                    % {"key": tiebreak, "default": ", ".join(view.default_ordering())}
                ),
            ),
            OpenApiParameter(
                "updated_since",
                OpenApiTypes.DATETIME,
                description=str(
                    _(
                        "Only rows with %(field)s at or after this ISO 8601 date-time (with its offset; a naive "
                        "one is a 400), ordered by %(field)s then %(key)s unless 'ordering' is given: keep the "
                        "largest %(field)s seen, ask again from one second before it, de-duplicate by id."
                    )
                    % {"field": view.updated_field, "key": tiebreak}
                ),
            ),
        ]
        return parameters

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None and self.method == "GET" and self._follows_list_conventions():
            # Read by ``sparse_fieldset_responses``: the fields a ``?fields=`` response always keeps.
            operation[SPARSE_MARK] = sorted(self.view.identity_fields())
        return operation

    def _reads_query_parameters(self) -> bool:
        """A read whose query parameters are validated (``?customer=`` of an action) can answer 400."""
        return self.method == "GET" and any(p.get("in") == "query" for p in self._get_parameters())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = {
            "401": _("No credentials, or an unknown or revoked API key."),
            "403": _("The key lacks the scope, or the role may not make this change."),
            "429": _("Too many requests for this key or user; wait for the seconds of 'Retry-After'."),
        }
        if (
            self.method in {"POST", "PUT", "PATCH"}
            or self._is_list_view()
            or self._follows_list_conventions()
            or self._reads_query_parameters()
        ):
            errors["400"] = _("Invalid input, filter, parameter or cursor; 'errors' names each field.")
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            errors["409"] = _("The change conflicts with stored data (a duplicate, a row still in use, a race).")
        if "{" in self.path:
            errors["404"] = _("No such record in your organization.")
        for code, description in sorted(errors.items()):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=str(description)), code, direction=direction
                )
        if self.method == "GET" and "200" in responses:
            responses["200"].setdefault("headers", {})["ETag"] = {
                "schema": {"type": "string"},
                "description": str(_("A strong validator of this response body; send it back in If-None-Match.")),
            }
            responses.setdefault(
                "304", {"description": str(_("Not modified: the If-None-Match tag is current. No body."))}
            )
        return responses


SPARSE_MARK = "x-custops-sparse-identity"


def sparse_fieldset_responses(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: a ``GET`` that takes ``?fields=`` answers with a component whose only required
    properties are the identity (``id``, or the lookup field), e.g. ``NoteSparse`` for ``Note``.

    A sparse response leaves out the fields not asked for, so the full component's ``required`` list would be a
    lie for it (a client generated from the schema would reject ``{"id": 1}``). The writes keep the full, strict
    component: they always answer every field.
    """
    schemas = result.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"

    def sparse_ref(ref: str, identity: list[str]) -> str:
        name = ref.removeprefix(prefix)
        full = schemas.get(name)
        if full is None or "properties" not in full:
            return ref
        sparse_name = f"{name}Sparse"
        if sparse_name not in schemas:
            sparse = {**full, "properties": dict(full["properties"])}
            required = [field for field in full.get("required", []) if field in identity]
            if required:
                sparse["required"] = required
            else:
                sparse.pop("required", None)
            sparse["description"] = (
                full.get("description", "") + "\n\nWith ?fields=, only the fields asked for (and the identity)."
            ).strip()
            schemas[sparse_name] = sparse
        return prefix + sparse_name

    def rewrite(schema: dict, identity: list[str]) -> dict:
        if "$ref" in schema:
            target = schemas.get(schema["$ref"].removeprefix(prefix), {})
            results = target.get("properties", {}).get("results")
            if results is not None and "$ref" in results.get("items", {}):
                # A paginated list: a copy of the page component whose rows are sparse.
                page_name = schema["$ref"].removeprefix(prefix) + "Sparse"
                if page_name not in schemas:
                    page = {**target, "properties": dict(target["properties"])}
                    page["properties"]["results"] = {
                        **results,
                        "items": {"$ref": sparse_ref(results["items"]["$ref"], identity)},
                    }
                    schemas[page_name] = page
                return {"$ref": prefix + page_name}
            return {"$ref": sparse_ref(schema["$ref"], identity)}
        if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
            return {**schema, "items": {"$ref": sparse_ref(schema["items"]["$ref"], identity)}}
        return schema

    for operations in result.get("paths", {}).values():
        operation = operations.get("get")
        if not operation or SPARSE_MARK not in operation:
            continue
        identity = operation.pop(SPARSE_MARK)
        content = operation.get("responses", {}).get("200", {}).get("content", {})
        for media in content.values():
            if "schema" in media:
                media["schema"] = rewrite(media["schema"], identity)
    return result
