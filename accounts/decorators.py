"""Guards for pages: signed in, member of an organization, and (for writes) a role that may write."""

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _


def organization_required(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.organization is None:
            raise PermissionDenied(_("Your account is not a member of any organization yet; ask an admin to add you."))
        return view(request, *args, **kwargs)

    return wrapper


def role_required(roles: Iterable[str]) -> Callable:
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @organization_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.membership.role not in allowed:
                raise PermissionDenied(_("Your role may not do this."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
