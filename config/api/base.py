"""Shared plumbing for every API resource: organization scoping, strict input, service-backed writes, and the
query parameters every list understands (``ordering``, ``fields``, ``updated_since``) plus ETags on reads.

The list conventions live here once, not per app (notes: /work/notes/api-consistency.md):

- ``ordering=<field>`` or ``-<field>``: one field of the resource's ``ordering_fields`` allow-list. The cursor
  runs over (that field, the pagination's unique key), so ties keep pages stable; allow-listed fields are
  never null (a test checks), because a keyset cursor cannot step over nulls.
- ``fields=a,b``: a sparse fieldset of list and retrieve responses; the identity (``id``, or the lookup field)
  is always included.
- ``updated_since=<ISO 8601 with offset>``: rows whose ``updated_field`` is at or after it, oldest change first
  (unless ``ordering`` says otherwise), for incremental sync.
- Every successful ``GET`` carries a strong ``ETag`` (a hash of the body); ``If-None-Match`` answers ``304``.

An unknown value of any of them is a 400 naming the parameter, in the shape of ``config.api.errors``.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import HttpResponseNotModified
from django.template.response import SimpleTemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import parse_etags, quote_etag
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

from accounts.models import ApiKey, Organization
from accounts.permissions import CRM_WRITERS, organization_for_api_request
from accounts.services import Actor
from config.api.errors import refused_change_as_conflict
from config.api.schema import ApiAutoSchema


def actor_for_request(request) -> Actor:
    if isinstance(request.auth, ApiKey):
        return Actor(api_key=request.auth)
    return Actor(user=request.user)


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """An aware date-time moved to UTC, the one rule for every date-time the API reads (body or query string).

    RFC 3339 allows any offset up to ±23:59, Python parses them all, yet PostgreSQL refuses a displacement
    beyond ±15:59 ("time zone displacement out of range"): a 500 on a well-formed value. The instant is the
    same in UTC, so converting keeps its meaning and the database never sees the offset.
    """
    return value.astimezone(datetime.UTC)


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
        # DRF moves an aware value to the current time zone itself (the same instant, as ``as_utc`` does).
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

    def to_internal_value(self, data):
        refuse_null_characters(data)
        return super().to_internal_value(data)


def refuse_null_characters(data: Any) -> None:
    """A field error for a NUL character in a reference, before it reaches a lookup.

    PostgreSQL text cannot hold NUL, so the driver raises ``DataError`` on the query: a 500 on bad input. DRF's
    ``CharField`` refuses NUL by itself; related fields (looked up by code or e-mail) need this.
    """
    if isinstance(data, str) and "\x00" in data:
        raise ValidationError(_("Null characters are not allowed."), code="null_characters_not_allowed")


#: The query parameters of the list conventions (also named in the schema by ``config.api.schema``).
ORDERING_PARAM = "ordering"
FIELDS_PARAM = "fields"
UPDATED_SINCE_PARAM = "updated_since"


def parse_updated_since(raw: str) -> datetime.datetime:
    """An ISO 8601 date-time with its offset; a naive one is refused, as for every date-time the API reads."""
    try:
        value = parse_datetime(raw.strip())
    except ValueError:
        value = None
    if value is None:
        raise ValidationError(
            {UPDATED_SINCE_PARAM: [_("Give an ISO 8601 date-time with its offset, e.g. 2025-01-31T09:30:00Z.")]}
        )
    if timezone.is_naive(value):
        raise ValidationError({UPDATED_SINCE_PARAM: [AwareDateTimeField.default_error_messages["naive"]]})
    if not 1900 <= value.year <= 2200:
        raise ValidationError({UPDATED_SINCE_PARAM: [_("Give a date between the years 1900 and 2200.")]})
    return as_utc(value)


def etag_for(content: bytes) -> str:
    """A strong validator: equal bodies give equal tags, and any change to the body changes the tag."""
    return quote_etag(hashlib.sha256(content).hexdigest()[:40])


class ConditionalGetMixin:
    """``ETag`` on every successful ``GET``/``HEAD``, and ``304 Not Modified`` (no body) when ``If-None-Match``
    names it.

    The tag hashes the rendered body, so it is right by construction (a list page's tag changes with any row on
    it, with its ``next`` link, and with ``fields``). It saves the transfer, not the query: integrations that poll
    should also use ``updated_since``.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or response.status_code != 200 or response.streaming:
            return response
        if isinstance(response, SimpleTemplateResponse):
            response.render()
        tag = etag_for(response.content)
        response["ETag"] = tag
        wanted = parse_etags(request.headers.get("If-None-Match", ""))
        # If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
        if "*" in wanted or tag in {value.removeprefix("W/") for value in wanted}:
            not_modified = HttpResponseNotModified()
            # Keep the headers that are not about the (absent) body: ETag, Vary, the rate-limit headers...
            for header, value in response.items():
                if header.lower() not in ("content-type", "content-length"):
                    not_modified[header] = value
            return not_modified
        return response


class UpdatedSinceFilter(BaseFilterBackend):
    """``?updated_since=``: rows whose ``view.updated_field`` is at or after the given time (lists only).

    Its schema parameter is declared by ``config.api.schema.ApiAutoSchema`` with the others.
    """

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        since = view.updated_since(request)
        if since is None:
            return queryset
        return queryset.filter(**{f"{view.updated_field}__gte": since})


class OrderingParameterFilter(BaseFilterBackend):
    """``?ordering=``: applies the order the view chose (the cursor pagination applies the same one)."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        return queryset.order_by(*view.list_ordering(request))


class ListConventionsMixin(ConditionalGetMixin):
    """``ordering``, ``fields``, ``updated_since`` and ETags for a resource's list and retrieve.

    Set ``ordering_fields`` (never-null model fields a client may sort by) and ``updated_field`` (the model
    field that moves on every change; append-only snapshots name their creation or computation time).
    """

    ordering_fields: tuple[str, ...] = ()
    updated_field: str = "updated_at"
    filter_backends = [DjangoFilterBackend, UpdatedSinceFilter, OrderingParameterFilter]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # After authentication and permissions (a 401 stays a 401), before any query runs.
        if request.method in ("GET", "HEAD") and getattr(self, "action", None) in ("list", "retrieve"):
            self.sparse_fields()
            if self.action == "list":
                self.updated_since(request)
                self.list_ordering(request)

    # --- ordering -------------------------------------------------------------------------------------------

    def default_ordering(self) -> tuple[str, ...]:
        paginator = self.paginator
        ordering = getattr(paginator, "ordering", None) or "-id"
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def tiebreak_field(self) -> str:
        """The pagination's own key: unique within the organization (``id``, ``customer_id``, ``day``)."""
        return self.default_ordering()[0].lstrip("-")

    def list_ordering(self, request) -> tuple[str, ...]:
        """(field, tie-break) for ``ordering``; (updated field, tie-break) ascending for ``updated_since``."""
        cached = getattr(self, "_list_ordering", None)
        if cached is not None:
            return cached
        raw = request.query_params.get(ORDERING_PARAM)
        tiebreak = self.tiebreak_field()
        if raw is not None:
            name = raw.strip()
            allowed = sorted({*self.ordering_fields, tiebreak})
            if name.lstrip("-") not in allowed or name.count("-") > 1:
                raise ValidationError(
                    {
                        ORDERING_PARAM: [
                            _("Sort by one of: %(fields)s (prefix '-' for descending).")
                            % {"fields": ", ".join(allowed)}
                        ]
                    }
                )
            sign = "-" if name.startswith("-") else ""
            ordering = (name,) if name.lstrip("-") == tiebreak else (name, sign + tiebreak)
        elif request.query_params.get(UPDATED_SINCE_PARAM) is not None:
            ordering = (self.updated_field, tiebreak)
        else:
            ordering = self.default_ordering()
        self._list_ordering = ordering
        return ordering

    # --- updated_since --------------------------------------------------------------------------------------

    def updated_since(self, request):
        raw = request.query_params.get(UPDATED_SINCE_PARAM)
        return None if raw is None else parse_updated_since(raw)

    # --- sparse fieldsets -----------------------------------------------------------------------------------

    def identity_fields(self) -> set[str]:
        return {"id", self.lookup_url_kwarg or self.lookup_field}

    def sparse_fields(self) -> set[str] | None:
        """The fields asked for with ``fields=``, plus the identity; ``None`` without the parameter."""
        if hasattr(self, "_sparse_fields"):
            return self._sparse_fields
        raw = self.request.query_params.get(FIELDS_PARAM)
        if raw is None:
            self._sparse_fields = None
            return None
        # A bare serializer names its fields; the full context (a query for some resources) is not needed.
        available = list(self.get_serializer_class()(context={"request": self.request, "view": self}).fields)
        wanted = {name.strip() for name in raw.split(",") if name.strip()}
        unknown = sorted(wanted - set(available))
        if not wanted or unknown:
            raise ValidationError(
                {
                    FIELDS_PARAM: [
                        _("Unknown field(s): %(unknown)s. Choose from: %(fields)s.")
                        % {"unknown": ", ".join(unknown) or "—", "fields": ", ".join(available)}
                    ]
                }
            )
        self._sparse_fields = wanted | (self.identity_fields() & set(available))
        return self._sparse_fields

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        request = getattr(self, "request", None)
        if (
            request is not None
            and request.method in ("GET", "HEAD")
            and getattr(self, "action", None) in ("list", "retrieve")
        ):
            wanted = self.sparse_fields()
            if wanted is not None:
                target = getattr(serializer, "child", serializer)
                for name in list(target.fields):
                    if name not in wanted:
                        target.fields.pop(name)
        return serializer


class OrganizationModelViewSet(ListConventionsMixin, viewsets.ModelViewSet):
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
        try:
            service(**{self.instance_argument: instance}, actor=actor_for_request(self.request))
        except DjangoValidationError as exc:
            # A delete has no input to be wrong: a refusal is about the row's state (still in use), a 409.
            raise refused_change_as_conflict(exc) from exc
