"""Sign-in, sign-out and the organization switcher."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from accounts.middleware import SESSION_KEY


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in with an e-mail address, whatever its case: addresses are stored lower-cased."""

    username = forms.EmailField(
        label=gettext_lazy("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("That e-mail and password do not match an account. Check both and try again."),
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class EmailLoginView(LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The login page again, saying why it refuses and for how long (django-axes' AXES_LOCKOUT_CALLABLE).

    The form is not bound to what was posted: validating it would try the password once more and count
    another failure. Status 429, so scripts can tell a lockout from a wrong password.
    """
    cooloff = get_cool_off(request)
    minutes = max(1, round(cooloff.total_seconds() / 60)) if cooloff else 0
    if minutes:
        message = ngettext(
            "Too many failed sign-ins for this e-mail address from your network. Sign-in is blocked for "
            "%(minutes)d minute; try again then, or ask your custops administrator to unlock it now.",
            "Too many failed sign-ins for this e-mail address from your network. Sign-in is blocked for "
            "%(minutes)d minutes; try again then, or ask your custops administrator to unlock it now.",
            minutes,
        ) % {"minutes": minutes}
    else:
        message = _(
            "Too many failed sign-ins for this e-mail address from your network. Sign-in is blocked until your "
            "custops administrator unlocks it."
        )
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = EmailAuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout_message": message, "next": request.POST.get("next", "")}
    return render(request, EmailLoginView.template_name, context, status=429)


class LogoutWithMessageView(LogoutView):
    """Log out and say so on the login page, so a shared-desk user knows the session really ended."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You are logged out."))
        return response


@login_required
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    """Remember the chosen organization if, and only if, the user is a member of it."""
    try:
        wanted = int(request.POST.get("organization", ""))
    except ValueError:
        wanted = None
    membership = next((m for m in request.memberships if m.organization_id == wanted), None)
    if membership is None:
        messages.error(request, _("You are not a member of that organization."))
    else:
        request.session[SESSION_KEY] = membership.organization_id
        messages.success(request, _("Switched to %(name)s.") % {"name": membership.organization.name})
    # Back to the home page: the page the user came from belongs to the previous organization.
    return redirect("home")
