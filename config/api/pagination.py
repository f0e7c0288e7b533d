"""Cursor pagination for every list of the API."""

from __future__ import annotations

import datetime
import json

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, _reverse_ordering

#: Ids are bigint columns; a cursor position outside that range is not one we handed out.
MAX_ID = 2**63 - 1


class IdCursorPagination(CursorPagination):
    """Cursor pages ordered by id: stable while rows are added, and cheap at any depth.

    ``page_size`` above ``max_page_size`` is capped, and a malformed one falls back to the default (DRF's
    behaviour). A cursor that we did not hand out is a 400 naming ``cursor``, not DRF's 404: the resource
    exists, the query parameter is wrong.

    With ``?ordering=`` (``config.api.base.ListConventionsMixin``) the ordering is (field, key), the key being
    this class's own unique ordering column. The cursor then holds both values and the next page starts
    strictly after that pair (a keyset: ``field > v OR (field = v AND key > k)``), so ties never repeat or skip
    rows and no page needs an OFFSET. The cursor also names the ordering it was made for: a cursor reused
    with another ``ordering`` is refused instead of silently paging the wrong sequence.
    """

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = _("The cursor is invalid; use the 'next' or 'previous' link of a page as given.")

    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        page["properties"]["next"]["example"] = "https://custops.example/api/v1/customers/?cursor=cD0xMjM0NQ%3D%3D"
        page["properties"]["previous"]["example"] = None
        page["properties"]["next"]["description"] = str(
            _("The next page, or null on the last one; follow it as given (it keeps the filters and ordering).")
        )
        return page

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None

    def get_ordering(self, request, queryset, view):
        if getattr(view, "action", None) == "list" and hasattr(view, "list_ordering"):
            return tuple(view.list_ordering(request))
        return super().get_ordering(request, queryset, view)

    def position_is_valid(self, position: str) -> bool:
        """The position is compared with the ordering column; anything else would fail inside the query."""
        try:
            return 0 <= int(position) <= MAX_ID
        except ValueError:
            return False

    # --- composite (field, key) positions -------------------------------------------------------------------

    def _invalid(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def _get_position_from_instance(self, instance, ordering):
        if len(ordering) == 1:
            return super()._get_position_from_instance(instance, ordering)
        values = []
        for order in ordering:
            name = order.lstrip("-")
            value = instance[name] if isinstance(instance, dict) else getattr(instance, name)
            values.append(value.isoformat() if hasattr(value, "isoformat") else str(value))
        return json.dumps([ordering[0], *values], separators=(",", ":"))

    def _parse_position(self, position: str, ordering, model):
        """The (field value, key value) a cursor holds, typed by the model's fields; 400 if it is not ours."""
        if len(ordering) == 1:
            if not self.position_is_valid(position):
                raise self._invalid()
            return (position,)
        try:
            made_for, value, key = json.loads(position)
        except (TypeError, ValueError):
            raise self._invalid() from None
        if made_for != ordering[0] or not isinstance(value, str) or not self.position_is_valid(str(key)):
            raise self._invalid()
        try:
            field = model._meta.get_field(ordering[0].lstrip("-"))
            return (field.to_python(value), key)
        except (FieldDoesNotExist, DjangoValidationError, TypeError, ValueError):
            raise self._invalid() from None

    def _after(self, ordering, values, backwards: bool) -> Q:
        """Rows strictly after ``values`` in ``ordering`` (before, when paging backwards)."""
        first, *rest = ordering
        name = first.lstrip("-")
        lookup = "lt" if first.startswith("-") != backwards else "gt"
        condition = Q(**{f"{name}__{lookup}": values[0]})
        if rest:
            condition |= Q(**{name: values[0]}) & self._after(tuple(rest), values[1:], backwards)
            # The same bound, non-strict and alone: PostgreSQL uses it as an index condition and starts the scan at
            # the cursor; the OR above alone is only a filter, and a deep page would rescan every earlier row.
            condition = Q(**{f"{name}__{lookup}e": values[0]}) & condition
        return condition

    def paginate_queryset(self, queryset, request, view=None):
        """DRF's cursor pagination, with the keyset filter over every ordering column (DRF filters on the first
        one only and counts ties with an offset, which grows without bound on a column of few values)."""
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self.cursor = self.decode_cursor(request)
        if self.cursor is None:
            (offset, reverse, current_position) = (0, False, None)
        else:
            (offset, reverse, current_position) = self.cursor
        if current_position is not None:
            values = self._parse_position(current_position, self.ordering, queryset.model)
            if len(self.ordering) == 1:
                lookup = "lt" if self.ordering[0].startswith("-") != reverse else "gt"
                condition = Q(**{f"{self.ordering[0].lstrip('-')}__{lookup}": values[0]})
            else:
                condition = self._after(self.ordering, values, reverse)
            queryset = queryset.filter(condition)
        if reverse:
            queryset = queryset.order_by(*_reverse_ordering(self.ordering))
        else:
            queryset = queryset.order_by(*self.ordering)

        results = list(queryset[offset : offset + self.page_size + 1])
        self.page = list(results[: self.page_size])
        if len(results) > len(self.page):
            has_following_position = True
            following_position = self._get_position_from_instance(results[-1], self.ordering)
        else:
            has_following_position = False
            following_position = None
        if reverse:
            self.page = list(reversed(self.page))
            self.has_next = (current_position is not None) or (offset > 0)
            self.has_previous = has_following_position
            if self.has_next:
                self.next_position = current_position
            if self.has_previous:
                self.previous_position = following_position
        else:
            self.has_next = has_following_position
            self.has_previous = (current_position is not None) or (offset > 0)
            if self.has_next:
                self.next_position = following_position
            if self.has_previous:
                self.previous_position = current_position
        return self.page


class DayCursorPagination(IdCursorPagination):
    """Cursor pages of one row per day, newest day first (KPI snapshots): the order a reader expects even when
    an older night was computed after a newer one."""

    ordering = "-day"

    def position_is_valid(self, position: str) -> bool:
        try:
            datetime.date.fromisoformat(position)
        except (TypeError, ValueError):
            return False
        return True


class CustomerCursorPagination(IdCursorPagination):
    """Pages of per-customer rows by customer id: stable across nights, when the rows themselves are replaced.

    The nightly run writes every score anew (new row ids); paging by row id through a run that commits would
    end early without saying so. Customer ids do not change.
    """

    ordering = "customer_id"
