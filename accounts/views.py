"""Sign-in, sign-out and the organization switcher."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
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
