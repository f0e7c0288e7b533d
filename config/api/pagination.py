"""Cursor pagination for every list of the API."""

from __future__ import annotations

import datetime

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

#: Ids are bigint columns; a cursor position outside that range is not one we handed out.
MAX_ID = 2**63 - 1


class IdCursorPagination(CursorPagination):
    """Cursor pages ordered by id: stable while rows are added, and cheap at any depth.

    ``page_size`` above ``max_page_size`` is capped, and a malformed one falls back to the default (DRF's
    behaviour). A cursor that we did not hand out is a 400 naming ``cursor``, not DRF's 404: the resource
    exists, the query parameter is wrong.
    """

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = _("The cursor is invalid; use the 'next' or 'previous' link of a page as given.")

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
        if cursor is not None and cursor.position is not None and not self.position_is_valid(cursor.position):
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        return cursor

    def position_is_valid(self, position: str) -> bool:
        """The position is compared with the ordering column; anything else would fail inside the query."""
        try:
            return 0 <= int(position) <= MAX_ID
        except ValueError:
            return False


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
