from django.http import HttpRequest
from django.utils import timezone


def organization(request: HttpRequest) -> dict:
    """The current organization and role for templates, and today's date.

    Organization pages render inside ``timezone.override`` of the organization's zone (see
    ``accounts.decorators.organization_required``), so the local date is the organization's day.
    """
    membership = getattr(request, "membership", None)
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        "current_role": membership.role if membership else None,
        "user_memberships": getattr(request, "memberships", []),
        "today": timezone.localdate(),
    }
