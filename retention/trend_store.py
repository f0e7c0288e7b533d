"""Writes and reads of :class:`retention.models.RetentionTrend` (the service and selector of the retention trend).

Kept in a module of their own, next to the maths in :mod:`retention.retention_trend`, so the nightly step and the
pages reach the trend through one small door.
"""

from __future__ import annotations

import datetime

import pandas as pd
from django.utils import timezone

from accounts.models import Organization
from accounts.timekeeping import day_number
from retention.models import RetentionTrend
from retention.retention_trend import compute_retention_trend


def retention_trend_refresh(
    *, org: Organization, as_of: datetime.date, purchase_days: pd.DataFrame, event_days: pd.DataFrame
) -> RetentionTrend:
    """Compute the night's monthly churn and D1/D7/D30 history and store it for ``as_of`` (replacing a replay's)."""
    window = int(org.churn_window_days)
    trend = compute_retention_trend(
        as_of=day_number(as_of),
        purchase_days=purchase_days[["customer_id", "day"]],
        event_days=event_days[["customer_id", "day"]],
        churn_window_days=window,
    )
    stored, _created = RetentionTrend.objects.update_or_create(
        organization=org,
        as_of=as_of,
        defaults={
            "churn_window_days": window,
            "churn": trend["churn"],
            "first_event_retention": trend["first_event_retention"],
            "created_at": timezone.now(),
        },
    )
    return stored


def latest_retention_trend(*, org: Organization) -> RetentionTrend | None:
    """The trend of the organization's latest night, or None before the first run."""
    return RetentionTrend.objects.for_org(org).order_by("-as_of", "-id").first()
