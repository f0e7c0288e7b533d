from django.http import HttpRequest
from django.utils import timezone

from accounts.permissions import may_export_customer_pii


def organization(request: HttpRequest) -> dict:
    """The current organization and role for templates, and today's date.

    Organization pages render inside ``timezone.override`` of the organization's zone (see
    ``accounts.decorators.organization_required``), so the local date is the organization's day.
    ``nav_section`` is the first segment of the path ("reports" for ``/reports/customers/``): the main menu marks
    the section the page belongs to, not every item whose address appears somewhere in the path.
    """
    membership = getattr(request, "membership", None)
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        "current_role": membership.role if membership else None,
        "user_memberships": getattr(request, "memberships", []),
        "today": timezone.localdate(),
        "nav_section": request.path.strip("/").split("/", 1)[0],
        "can_export_customer_pii": may_export_customer_pii(membership) if membership else False,
    }
