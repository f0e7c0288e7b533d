"""The nightly engine's inputs, read as compact pandas frames of day numbers (``accounts.timekeeping``).

Each frame holds only data on or before the as-of day, in the organization's time zone, so any night can be
replayed. On PostgreSQL the database does the grouping and streams the result with ``COPY ... TO STDOUT``
(about a second per million rows, a few bytes per row); SQLite, the laptop default, reads rows through the ORM
and groups them in pandas: same frames, smaller data.
"""

from __future__ import annotations

import calendar
import datetime
import io
from collections.abc import Iterable

import numpy as np
import pandas as pd
from django.db import connection

from accounts.models import Organization
from accounts.timekeeping import EPOCH, day_number, end_of_day, organization_time_zone, time_zone_name
from crm.models import ChannelSpend, Customer, Event, Feedback, Order, OrderStatus, SpendPeriod
from retention.models import RetentionTrend

PURCHASE_DAY_COLUMNS = {"customer_id": "int64", "day": "int32", "amount": "float64"}
CUSTOMER_COLUMNS = {"customer_id": "int64", "created_day": "int32", "channel_id": "int64"}
SPEND_COLUMNS = {"channel_id": "int64", "day": "int32", "amount": "float64"}
EVENT_DAY_COLUMNS = {"customer_id": "int64", "day": "int32", "events": "int32"}
FEEDBACK_COLUMNS = {"customer_id": "int64", "day": "int32", "kind": "str", "score": "int32", "scale_max": "int32"}


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def copy_frame(query: str, params: list, columns: dict[str, str]) -> pd.DataFrame:
    """Run ``query`` through ``COPY ... TO STDOUT`` and parse the text stream with pandas' C reader."""
    buffer = io.BytesIO()
    # The raw psycopg cursor raises psycopg's own errors; wrapped, a dropped connection is Django's
    # OperationalError like everywhere else (and the nightly run is retried for it).
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        with raw.copy(f"COPY ({query}) TO STDOUT", params) as copy:
            for chunk in copy:
                buffer.write(chunk)
    if buffer.tell() == 0:
        return _empty(columns)
    buffer.seek(0)
    return pd.read_csv(buffer, sep="\t", header=None, names=list(columns), dtype=columns, na_filter=False, engine="c")


def _local_days(instants: Iterable[datetime.datetime], org: Organization) -> np.ndarray:
    """Day numbers of aware datetimes in the organization's time zone (the SQLite path)."""
    stamps = pd.to_datetime(pd.Series(list(instants), dtype="object"), utc=True)
    if stamps.empty:
        return np.array([], dtype=np.int32)
    local = stamps.dt.tz_convert(organization_time_zone(org)).dt.tz_localize(None).dt.normalize()
    return ((local - pd.Timestamp(EPOCH)).dt.days).to_numpy(dtype=np.int32)


def purchase_days_frame(*, org: Organization, as_of: datetime.date) -> pd.DataFrame:
    """One row per customer and purchase day: ``customer_id, day, amount`` (the day's completed orders summed).

    A purchase day is a calendar day in the organization's time zone with at least one completed order
    (DESIGN.md §4); pending, cancelled and refunded orders are not purchases. Sorted by customer, then day.
    """
    before = end_of_day(org, as_of)
    if connection.vendor == "postgresql":
        return copy_frame(
            "SELECT customer_id, ((ordered_at AT TIME ZONE %s)::date - DATE '1970-01-01') AS day, sum(amount) "
            "FROM crm_order WHERE organization_id = %s AND status = %s AND ordered_at < %s "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            [time_zone_name(org), org.pk, OrderStatus.COMPLETED, before],
            PURCHASE_DAY_COLUMNS,
        )
    rows = list(
        Order.objects.for_org(org)
        .filter(status=OrderStatus.COMPLETED, ordered_at__lt=before)
        .values_list("customer_id", "ordered_at", "amount")
    )
    if not rows:
        return _empty(PURCHASE_DAY_COLUMNS)
    customer_ids, instants, amounts = zip(*rows, strict=True)
    orders = pd.DataFrame(
        {
            "customer_id": np.array(customer_ids, dtype=np.int64),
            "day": _local_days(instants, org),
            "amount": np.array(amounts, dtype=np.float64),
        }
    )
    days = orders.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()
    return days.astype(PURCHASE_DAY_COLUMNS)


def customers_frame(*, org: Organization, as_of: datetime.date, purchase_days: pd.DataFrame) -> pd.DataFrame:
    """Every contact on ``as_of``: ``customer_id, created_day, channel_id`` (0 = no channel).

    A contact's day is the earlier of its creation and its first purchase day: customers imported or created
    from orders today may carry years of purchases, and counting them as contacts of today (or not at all when
    a past night is replayed) would put them in the wrong month of their channel's conversion and CAC.
    """
    if connection.vendor == "postgresql":
        frame = copy_frame(
            "SELECT id, ((created_at AT TIME ZONE %s)::date - DATE '1970-01-01'), coalesce(channel_id, 0) "
            "FROM crm_customer WHERE organization_id = %s ORDER BY id",
            [time_zone_name(org), org.pk],
            CUSTOMER_COLUMNS,
        )
    else:
        rows = list(Customer.objects.for_org(org).order_by("id").values_list("id", "created_at", "channel_id"))
        if not rows:
            return _empty(CUSTOMER_COLUMNS)
        ids, created, channels = zip(*rows, strict=True)
        frame = pd.DataFrame(
            {
                "customer_id": np.array(ids, dtype=np.int64),
                "created_day": _local_days(created, org),
                "channel_id": np.array([channel or 0 for channel in channels], dtype=np.int64),
            }
        )
    if frame.empty:
        return frame
    first_purchase = purchase_days.groupby("customer_id")["day"].min()
    first = first_purchase.reindex(frame["customer_id"].to_numpy()).to_numpy(dtype=np.float64)
    contact_day = np.fmin(frame["created_day"].to_numpy(dtype=np.float64), first)
    frame["created_day"] = contact_day.astype(np.int32)
    return frame[contact_day <= day_number(as_of)].reset_index(drop=True)


def spend_frame(*, org: Organization, as_of: datetime.date) -> pd.DataFrame:
    """Channel spend per day on or before ``as_of``: ``channel_id, day, amount``.

    A month's spend (``period`` "month") is spread evenly over the month's days, so a window of days holds
    the share of the month it covers: the current month counts up to ``as_of``, and the CAC of a trailing
    30 days does not jump when a month's first day enters or leaves it.
    """
    rows = list(
        ChannelSpend.objects.for_org(org).filter(date__lte=as_of).values_list("channel_id", "date", "amount", "period")
    )
    if not rows:
        return _empty(SPEND_COLUMNS)
    channel = np.array([row[0] for row in rows], dtype=np.int64)
    start = np.array([day_number(row[1]) for row in rows], dtype=np.int64)
    amount = np.array([row[2] for row in rows], dtype=np.float64)
    length = np.array(
        [calendar.monthrange(row[1].year, row[1].month)[1] if row[3] == SpendPeriod.MONTH else 1 for row in rows],
        dtype=np.int64,
    )
    repeat = np.repeat(np.arange(len(rows)), length)
    offset = np.arange(repeat.size) - np.repeat(np.cumsum(length) - length, length)
    days = pd.DataFrame(
        {
            "channel_id": channel[repeat],
            "day": (start[repeat] + offset).astype(np.int32),
            "amount": amount[repeat] / length[repeat],
        }
    )
    return days[days["day"] <= day_number(as_of)].reset_index(drop=True)


def event_days_frame(*, org: Organization, as_of: datetime.date) -> pd.DataFrame:
    """Per customer and day with any event: ``customer_id, day, events`` (how many that day)."""
    before = end_of_day(org, as_of)
    if connection.vendor == "postgresql":
        return copy_frame(
            "SELECT customer_id, ((occurred_at AT TIME ZONE %s)::date - DATE '1970-01-01') AS day, count(*) "
            "FROM crm_event WHERE organization_id = %s AND occurred_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
            [time_zone_name(org), org.pk, before],
            EVENT_DAY_COLUMNS,
        )
    rows = list(Event.objects.for_org(org).filter(occurred_at__lt=before).values_list("customer_id", "occurred_at"))
    if not rows:
        return _empty(EVENT_DAY_COLUMNS)
    events = pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": _local_days([row[1] for row in rows], org),
        }
    )
    counted = events.groupby(["customer_id", "day"], sort=True).size().rename("events").reset_index()
    return counted.astype(EVENT_DAY_COLUMNS)


def feedback_frame(*, org: Organization, as_of: datetime.date) -> pd.DataFrame:
    """Survey answers on or before ``as_of``: ``customer_id, day, kind, score, scale_max``."""
    before = end_of_day(org, as_of)
    rows = list(
        Feedback.objects.for_org(org)
        .filter(answered_at__lt=before)
        .order_by("customer_id", "answered_at", "id")
        .values_list("customer_id", "answered_at", "kind", "score", "scale_max")
    )
    if not rows:
        return _empty(FEEDBACK_COLUMNS)
    return pd.DataFrame(
        {
            "customer_id": np.array([row[0] for row in rows], dtype=np.int64),
            "day": _local_days([row[1] for row in rows], org),
            "kind": [row[2] for row in rows],
            "score": np.array([row[3] for row in rows], dtype=np.int32),
            "scale_max": np.array([row[4] for row in rows], dtype=np.int32),
        }
    )


def latest_retention_trend(*, org: Organization) -> RetentionTrend | None:
    """The trend of the organization's latest night, or None before the first run."""
    return RetentionTrend.objects.for_org(org).order_by("-as_of", "-id").first()
