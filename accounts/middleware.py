"""Attach the signed-in user's current organization and role to every request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.selectors import memberships_for_user

SESSION_KEY = "organization_id"


class CurrentOrganizationMiddleware:
    """Sets ``request.organization`` and ``request.membership`` (None when signed out or without membership).

    The organization is the one chosen with the switcher (kept in the session) when the user is still a
    member of it, else the user's oldest membership; it never comes from the URL or a form field.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None
        request.membership = None
        request.memberships = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = list(memberships_for_user(user=user))
            request.memberships = memberships
            chosen = request.session.get(SESSION_KEY)
            current = next((m for m in memberships if m.organization_id == chosen), None)
            if current is None and memberships:
                # The oldest membership is the person's home organization; being added to another one
                # (say, by a stranger's invitation) must not change where they land when they sign in.
                current = min(memberships, key=lambda m: (m.created_at, m.pk))
            if current is not None:
                request.membership = current
                request.organization = current.organization
        return self.get_response(request)
