"""The nightly engine's input frames, read from the real database."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from accounts.timekeeping import day_number
from crm.models import SpendPeriod
from retention.selectors import spend_frame
from tests.factories import ChannelFactory, ChannelSpendFactory

pytestmark = pytest.mark.django_db


def test_a_months_spend_is_spread_over_its_days_and_cut_at_the_as_of_day(org):
    channel = ChannelFactory(organization=org, code="ads")
    ChannelSpendFactory(
        channel=channel, date=datetime.date(2026, 2, 1), period=SpendPeriod.MONTH, amount=Decimal("2800")
    )
    ChannelSpendFactory(
        channel=channel, date=datetime.date(2026, 3, 1), period=SpendPeriod.MONTH, amount=Decimal("3100")
    )
    ChannelSpendFactory(channel=channel, date=datetime.date(2026, 3, 10), amount=Decimal("55"))

    frame = spend_frame(org=org, as_of=datetime.date(2026, 3, 15))

    february = frame[frame["day"] < day_number(datetime.date(2026, 3, 1))]
    assert len(february) == 28 and february["amount"].tolist() == [100.0] * 28
    march = frame[frame["day"] >= day_number(datetime.date(2026, 3, 1))]
    assert march["day"].max() == day_number(datetime.date(2026, 3, 15))  # nothing after the as-of day
    assert march["amount"].sum() == pytest.approx(15 * 100 + 55)
    assert frame["amount"].sum() == pytest.approx(2800 + 1500 + 55)


def test_a_contacts_day_is_its_first_purchase_when_it_was_created_later(org):
    """Customers imported today with years of orders are contacts since their first purchase, not since today."""
    from retention.selectors import customers_frame, purchase_days_frame
    from tests.factories import CustomerFactory, OrderFactory

    as_of = datetime.date(2026, 3, 31)
    noon = datetime.time(12, tzinfo=datetime.UTC)
    imported = CustomerFactory(organization=org, created_at=datetime.datetime.combine(datetime.date(2026, 6, 1), noon))
    OrderFactory(customer=imported, ordered_at=datetime.datetime.combine(datetime.date(2025, 5, 2), noon))
    later = CustomerFactory(organization=org, created_at=datetime.datetime.combine(datetime.date(2026, 6, 1), noon))
    early = CustomerFactory(organization=org, created_at=datetime.datetime.combine(datetime.date(2024, 1, 1), noon))
    OrderFactory(customer=early, ordered_at=datetime.datetime.combine(datetime.date(2025, 1, 1), noon))

    days = purchase_days_frame(org=org, as_of=as_of)
    frame = customers_frame(org=org, as_of=as_of, purchase_days=days).set_index("customer_id")["created_day"]

    assert frame[imported.pk] == day_number(datetime.date(2025, 5, 2))
    assert frame[early.pk] == day_number(datetime.date(2024, 1, 1))
    assert later.pk not in frame.index  # neither created nor buying by the as-of day
