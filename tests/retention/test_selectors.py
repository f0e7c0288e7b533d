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
