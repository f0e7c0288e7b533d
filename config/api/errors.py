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

    def __init__(self, detail=None, code=None, errors: dict | None = None) -> None:
        super().__init__(detail, code)
        #: Messages per field, as in a 400 (e.g. why a delete is refused), for the ``errors`` of the body.
        self.errors = errors or {}


def refused_change_as_conflict(exc: DjangoValidationError) -> Conflict:
    """A change that a business rule refuses because of stored data (a channel still in use, a campaign that
    reached customers) is a 409, not a 400: the request is well-formed, the state of the resource is not
    ready for it (DESIGN.md §7). The service's messages stay in ``errors``."""
    errors = django_validation_error_as_drf(exc).detail
    messages = [str(message) for message in exc.messages]
    return Conflict(" ".join(messages) or None, errors=errors)


class ErrorSerializer(serializers.Serializer):
    """The shape of every error response (DESIGN.md §7), for the OpenAPI schema."""

    detail = serializers.CharField(help_text=gettext_lazy("What went wrong, in one sentence."))
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=gettext_lazy("Messages per input field; empty when the error is not about the input."),
    )


def _as_field_errors(detail) -> dict[str, list[str]]:
    """Messages per field, as the Error schema documents them: each key maps to a list of strings.

    Nested serializers and lists give nested errors (``{"variants": [{"weight": [...]}]}``); they become
    dotted keys (``variants.0.weight``, ``tags.3``, ``records.0``) so every message keeps the path to its
    input and no value is an object.
    """
    if not isinstance(detail, dict):
        detail = {"non_field_errors": detail}
    errors: dict[str, list[str]] = {}
    for key, value in detail.items():
        _collect(str(key), value, errors)
    return errors


def _collect(path: str, value, errors: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        if not value:
            return
        for key, nested in value.items():
            _collect(f"{path}.{key}", nested, errors)
    elif isinstance(value, (list, tuple)):
        if all(not isinstance(item, (dict, list, tuple)) for item in value):
            if value:
                errors.setdefault(path, []).extend(str(item) for item in value)
            return
        # A list of per-item errors (one entry per input item; valid items give an empty dict or list).
        for index, item in enumerate(value):
            if isinstance(item, (dict, list, tuple)):
                _collect(f"{path}.{index}", item, errors)
            else:
                errors.setdefault(f"{path}.{index}", []).append(str(item))
    else:
        errors.setdefault(path, []).append(str(value))


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
        extra = getattr(exc, "errors", None)
        response.data = {"detail": str(detail), "errors": _as_field_errors(extra) if extra else {}}
    return response
