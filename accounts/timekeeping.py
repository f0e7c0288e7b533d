"""An organization's calendar: its time zone, its days, and day numbers for the analytics.

Every nightly figure is about calendar days in the organization's own time zone (an order at 23:30 in
Shanghai belongs to that Shanghai day), so every app that turns timestamps into days goes through here.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo

from accounts.models import Organization

logger = logging.getLogger(__name__)

EPOCH = datetime.date(1970, 1, 1)


def organization_time_zone(org: Organization) -> datetime.tzinfo:
    """The organization's time zone, or UTC (with a warning) when its name is unknown to this machine.

    A zone can be valid where it was chosen and missing where a worker runs (an older tz database), so one
    bad name must not stop the nightly runs of every organization.
    """
    try:
        return zoneinfo.ZoneInfo(org.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        logger.warning("organization %s has an unknown time zone %r; using UTC", org.slug, org.time_zone)
        return datetime.UTC


def time_zone_name(org: Organization) -> str:
    """The IANA name to hand to the database (``AT TIME ZONE``), with the same UTC fallback."""
    zone = organization_time_zone(org)
    return zone.key if isinstance(zone, zoneinfo.ZoneInfo) else "UTC"


def local_today(org: Organization, now: datetime.datetime) -> datetime.date:
    """The calendar day ``now`` falls on in the organization's time zone."""
    return now.astimezone(organization_time_zone(org)).date()


def end_of_day(org: Organization, day: datetime.date) -> datetime.datetime:
    """The first instant after ``day`` in the organization's time zone: data before it counts for ``day``."""
    return datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time.min, tzinfo=organization_time_zone(org)
    )


def day_number(day: datetime.date) -> int:
    """Days since 1970-01-01: the integer day the analytics frames use."""
    return (day - EPOCH).days


def date_of(number: int) -> datetime.date:
    return EPOCH + datetime.timedelta(days=int(number))
