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
        if cursor is not None and cursor.position is not None:
            # The position is compared with the id column; anything but an id would fail inside the query.
            try:
                position = int(cursor.position)
            except ValueError:
                position = None
            if position is None or not 0 <= position <= MAX_ID:
                raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        return cursor


class DayCursorPagination(CursorPagination):
    """Cursor pages of one row per day, newest day first (KPI snapshots): the order a reader expects even when
    an older night was computed after a newer one."""

    ordering = "-day"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = IdCursorPagination.invalid_cursor_message

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
        if cursor is not None and cursor.position is not None:
            try:
                datetime.date.fromisoformat(cursor.position)
            except (TypeError, ValueError):
                raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
        return cursor


class CustomerCursorPagination(IdCursorPagination):
    """Pages of per-customer rows by customer id: stable across nights, when the rows themselves are replaced.

    The nightly run writes every score anew (new row ids); paging by row id through a run that commits would
    end early without saying so. Customer ids do not change.
    """

    ordering = "customer_id"
