"""Pages where an organization's admins manage its settings, members and API keys."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.decorators import role_required
from accounts.forms import ApiKeyForm, InviteMemberForm, MemberRoleForm, OrganizationSettingsForm
from accounts.models import Membership
from accounts.permissions import ADMINS
from accounts.services import Actor
from accounts.tasks import enqueue_invitation


@role_required(ADMINS)
def organization_settings(request: HttpRequest) -> HttpResponse:
    org = request.organization
    form = OrganizationSettingsForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_update(org=org, actor=Actor(user=request.user), **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("accounts:organization-settings")
    return render(request, "accounts/organization_settings.html", {"form": form, "section": "settings"})


def _members_page(request: HttpRequest, invite_form: InviteMemberForm) -> HttpResponse:
    memberships = selectors.memberships_of_organization(org=request.organization)
    context = {
        "memberships": memberships,
        "invite_form": invite_form,
        "section": "members",
        "role_choices": MemberRoleForm.base_fields["role"].choices,
    }
    return render(request, "accounts/organization_members.html", context)


def _send_invitation(request: HttpRequest, membership: Membership) -> None:
    sent = enqueue_invitation(membership=membership, base_url=request.build_absolute_uri("/"), invited_by=request.user)
    if sent:
        messages.success(request, _("Invitation sent to %(email)s.") % {"email": membership.user.email})
    else:
        messages.warning(
            request,
            _("%(email)s was added, but the e-mail could not be sent. Use 'Send link again' once mail works.")
            % {"email": membership.user.email},
        )


@role_required(ADMINS)
def organization_members(request: HttpRequest) -> HttpResponse:
    """Invite by e-mail. The answer is the same whether or not the address already has an account,
    so the page cannot be used to find out who uses custops."""
    form = InviteMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership, _created = services.member_invite(
                org=request.organization, actor=Actor(user=request.user), **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            _send_invitation(request, membership)
            return redirect("accounts:organization-members")
    return _members_page(request, form)


def _membership_or_404(request: HttpRequest, pk: int) -> Membership:
    membership = selectors.memberships_of_organization(org=request.organization).filter(pk=pk).first()
    if membership is None:
        raise Http404(_("No such member."))
    return membership


@role_required(ADMINS)
@require_POST
def member_role_change(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership_or_404(request, pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the listed roles."))
        return redirect("accounts:organization-members")
    try:
        services.membership_set(
            org=request.organization,
            user=membership.user,
            role=form.cleaned_data["role"],
            actor=Actor(user=request.user),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Role of %(email)s changed.") % {"email": membership.user.email})
    return redirect("accounts:organization-members")


@role_required(ADMINS)
@require_POST
def member_weekly_digest_change(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership_or_404(request, pk)
    enabled = request.POST.get("weekly_digest") == "on"
    services.membership_weekly_digest_set(membership=membership, enabled=enabled, actor=Actor(user=request.user))
    if enabled:
        messages.success(request, _("%(email)s will get the weekly digest.") % {"email": membership.user.email})
    else:
        messages.success(
            request, _("%(email)s will no longer get the weekly digest.") % {"email": membership.user.email}
        )
    return redirect("accounts:organization-members")


@role_required(ADMINS)
@require_POST
def member_invitation_resend(request: HttpRequest, pk: int) -> HttpResponse:
    _send_invitation(request, _membership_or_404(request, pk))
    return redirect("accounts:organization-members")


@role_required(ADMINS)
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership_or_404(request, pk)
    try:
        services.membership_remove(membership=membership, actor=Actor(user=request.user))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("%(email)s no longer belongs to this organization.") % {"email": membership.user.email}
        )
    return redirect("accounts:organization-members")


@role_required(ADMINS)
def api_keys(request: HttpRequest) -> HttpResponse:
    """List keys and create one; a new key's secret is shown in this response only, never again."""
    form = ApiKeyForm(request.POST or None)
    new_key_plaintext = None
    if request.method == "POST" and form.is_valid():
        try:
            _key, new_key_plaintext = services.api_key_create(
                org=request.organization,
                actor=Actor(user=request.user),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            form = ApiKeyForm()
    context = {
        "keys": selectors.api_keys_list(org=request.organization),
        "form": form,
        "new_key_plaintext": new_key_plaintext,
        "section": "api-keys",
    }
    response = render(request, "accounts/organization_api_keys.html", context)
    response["Cache-Control"] = "no-store"
    return response


@role_required(ADMINS)
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = selectors.api_keys_list(org=request.organization).filter(pk=pk).first()
    if key is None:
        raise Http404(_("No such API key."))
    services.api_key_revoke(key=key, actor=Actor(user=request.user))
    messages.success(request, _("The key %(name)s is revoked; requests using it now get 401.") % {"name": key.name})
    return redirect("accounts:organization-api-keys")
