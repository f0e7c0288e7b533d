"""Guards for pages: signed in, member of an organization, and (for writes) a role that may write."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from accounts.timekeeping import organization_time_zone

View = Callable[..., HttpResponse]


def _login_redirect(request: HttpRequest) -> HttpResponse:
    """Send a signed-out visitor to the login page, then back to the page they were on.

    An htmx request (say, a note posted after the session expired) must not get the login page swapped into
    a card, so it gets a client redirect of the whole window, back to the page it came from.
    """
    htmx = getattr(request, "htmx", None)
    if htmx:
        came_from = htmx.current_url_abs_path or request.get_full_path()
        login = redirect_to_login(came_from, resolve_url(settings.LOGIN_URL))
        return HttpResponseClientRedirect(login.url)
    return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))


def organization_required(view: View) -> View:
    """Signed in and a member of an organization; the page then renders in that organization's time zone.

    The time zone matters to ops staff: a task "due today" or a note written "at 09:12" must read as the
    organization's day and clock, not UTC.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _login_redirect(request)
        if request.organization is None:
            raise PermissionDenied(_("Your account is not a member of any organization yet; ask an admin to add you."))
        with timezone.override(organization_time_zone(request.organization)):
            return view(request, *args, **kwargs)

    return wrapper


def role_required(roles: Iterable[str]) -> Callable[[View], View]:
    """Only members whose role is in ``roles`` may use the view; others get 403 (before any form is read)."""
    allowed = frozenset(roles)

    def decorator(view: View) -> View:
        @organization_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.membership.role not in allowed:
                raise PermissionDenied(
                    _("Your role (%(role)s) may only read here.") % {"role": request.membership.get_role_display()}
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
