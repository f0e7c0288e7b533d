"""One exception handler for the whole API: every error becomes ``{"detail": ..., "errors": {...}}``.

Services raise Django's ``ValidationError`` or ``PermissionDenied``; serializers raise DRF's. Both arrive
here, so views never translate exceptions themselves and no bad input becomes a 500.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The change conflicts with data stored at the same time; read the record and retry.")
    default_code = "conflict"


class ErrorSerializer(serializers.Serializer):
    """The shape of every error response (DESIGN.md §7), for the OpenAPI schema."""

    detail = serializers.CharField(help_text=gettext_lazy("What went wrong, in one sentence."))
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=gettext_lazy("Messages per input field; empty when the error is not about the input."),
    )


def _as_field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def _flatten(value) -> list:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, dict) else str(v) for v in value]
    return [str(value)]


def django_validation_error_as_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        detail = {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    else:
        detail = {"non_field_errors": exc.messages}
    return exceptions.ValidationError(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_error_as_drf(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, ProtectedError):
        users = sorted({str(obj) for obj in exc.protected_objects})[:5]
        exc = Conflict(_("It is still used by: %(users)s. Remove those first.") % {"users": ", ".join(users)})
    elif isinstance(exc, IntegrityError):
        # Services turn the integrity errors they can explain into field errors; one that gets here lost a
        # race we did not foresee. Say so (409) and keep the traceback in the log rather than a bare 500.
        logger.exception("Unexpected integrity error in %s", context.get("view").__class__.__name__)
        exc = Conflict()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _as_field_errors(exc.detail)
        fields = ", ".join(sorted(errors))
        response.data = {"detail": _("Invalid input: %(fields)s.") % {"fields": fields}, "errors": errors}
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        response.data = {"detail": str(detail), "errors": {}}
    return response
