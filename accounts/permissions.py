"""Who may read and write what, for people (by role) and integrations (by API key scope)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import permissions

from accounts.models import ApiKey, Membership, Organization, Role

#: Roles that may change records in each area. Every member may read everything in their organization.
CRM_WRITERS = frozenset({Role.ADMIN, Role.OPS})
FOLLOW_UP_WRITERS = frozenset({Role.ADMIN, Role.OPS, Role.MARKETER})
MARKETING_WRITERS = frozenset({Role.ADMIN, Role.MARKETER})
ADMINS = frozenset({Role.ADMIN})
#: Who may acknowledge an alert: everyone who acts on one (viewers only read reports).
ALERT_ACKNOWLEDGERS = frozenset({Role.ADMIN, Role.OPS, Role.MARKETER})

#: Roles whose exports of customers' personal data the organization may switch off
#: (``Organization.viewers_export_customer_pii``): those who only read.
PII_EXPORT_RESTRICTABLE = frozenset({Role.VIEWER})


def may_export_customer_pii(membership: Membership) -> bool:
    """Whether this member's downloads may carry customers' names, e-mail addresses and phone numbers.

    Reading a customer on screen and taking a file of thousands of them away are different risks: an
    organization can keep its read-only members to the first.
    """
    if membership.role in PII_EXPORT_RESTRICTABLE:
        return membership.organization.viewers_export_customer_pii
    return True


def organization_for_api_request(request) -> Organization | None:
    """The organization of the API key, else of the signed-in user's current membership."""
    if isinstance(request.auth, ApiKey):
        return request.auth.organization
    return getattr(request._request, "organization", None)


def role_for_request(request: HttpRequest) -> str | None:
    membership = getattr(request, "membership", None)
    return membership.role if membership else None


class OrganizationPermission(permissions.BasePermission):
    """Requires an organization; reads need the ``read`` scope, writes the ``write`` scope or a writing role.

    Views set ``write_roles`` (default: CRM writers) to say which roles may change their records.
    """

    message = _("You do not have permission to perform this action.")

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        org = organization_for_api_request(request)
        if org is None:
            self.message = _("Your account is not a member of any organization.")
            return False
        is_read = request.method in permissions.SAFE_METHODS
        if isinstance(request.auth, ApiKey):
            scope = "read" if is_read else "write"
            if not request.auth.has_scope(scope):
                self.message = _("This API key lacks the '%(scope)s' scope.") % {"scope": scope}
                return False
            return True
        if is_read:
            return True
        role = role_for_request(request._request)
        if role not in getattr(view, "write_roles", CRM_WRITERS):
            self.message = _("Your role (%(role)s) may not change these records.") % {"role": role}
            return False
        return True
