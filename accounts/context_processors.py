import zoneinfo

from django.http import HttpRequest
from django.utils import timezone


def organization(request: HttpRequest) -> dict:
    """The current organization and role for templates, and today's date in the organization's time zone."""
    membership = getattr(request, "membership", None)
    org = getattr(request, "organization", None)
    tz = zoneinfo.ZoneInfo(org.time_zone) if org else timezone.get_current_timezone()
    return {
        "current_organization": org,
        "current_membership": membership,
        "current_role": membership.role if membership else None,
        "user_memberships": getattr(request, "memberships", []),
        "today": timezone.now().astimezone(tz).date(),
    }
