"""The demo simulator on arrays alone: deterministic, causal, and shaped like a real customer base."""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.demo_data import (
    DEFAULT_CHANNELS,
    HISTORY_MONTHS,
    MAX_EVENTS_PER_CUSTOMER,
    DemoData,
    event_properties_json,
    sequence_ids,
    simulate_demo,
    tags_json,
)

TODAY = datetime.date(2026, 11, 25)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return simulate_demo(customers=20_000, seed=42, today=TODAY)


def _rows(data: DemoData) -> dict[str, np.ndarray]:
    """Every array of the simulated data, keyed by table and column."""
    arrays = {}
    for table in ("spend", "customers", "orders", "events", "feedback", "notes", "tasks"):
        for column in dataclasses.fields(getattr(data, table)):
            arrays[f"{table}.{column.name}"] = getattr(getattr(data, table), column.name)
    return arrays


def _order_counts(data: DemoData) -> np.ndarray:
    return np.bincount(data.orders.customer, minlength=len(data.customers))


def _revenue(data: DemoData) -> np.ndarray:
    return np.bincount(data.orders.customer, weights=data.orders.cents, minlength=len(data.customers)) / 100


def test_the_same_seed_gives_identical_data():
    first = _rows(simulate_demo(customers=3000, seed=7, today=TODAY))
    second = _rows(simulate_demo(customers=3000, seed=7, today=TODAY))
    assert first.keys() == second.keys()
    for name, values in first.items():
        np.testing.assert_array_equal(values, second[name], err_msg=name)


def test_another_seed_gives_other_data():
    first = simulate_demo(customers=3000, seed=7, today=TODAY)
    second = simulate_demo(customers=3000, seed=8, today=TODAY)
    assert len(first.orders) != len(second.orders) or not np.array_equal(first.orders.cents, second.orders.cents)


def test_the_window_covers_24_months_and_ends_at_local_midnight_starting_today(demo):
    assert demo.window_end == np.datetime64("2026-11-24T16:00:00")  # 2026-11-25 00:00 in Asia/Shanghai
    assert demo.window_start == np.datetime64("2024-10-31T16:00:00")  # 2024-11-01 00:00 in Asia/Shanghai
    assert demo.customers.created_at.min() >= demo.window_start
    assert demo.customers.created_at.max() < demo.window_end


def test_orders_fall_between_the_customers_acquisition_and_the_start_of_today(demo):
    acquired = demo.customers.created_at[demo.orders.customer]
    assert (demo.orders.ordered_at >= acquired).all()
    assert (demo.orders.ordered_at < demo.window_end).all()


def test_events_feedback_notes_and_tasks_come_after_acquisition_and_before_today(demo):
    for table, column in (
        ("events", "occurred_at"),
        ("feedback", "answered_at"),
        ("notes", "created_at"),
        ("tasks", "created_at"),
    ):
        rows = getattr(demo, table)
        stamps = getattr(rows, column)
        assert (stamps >= demo.customers.created_at[rows.customer]).all(), table
        assert (stamps < demo.window_end).all(), table


def test_about_a_third_of_customers_never_order(demo):
    never = (_order_counts(demo) == 0).mean()
    assert 0.2 < never < 0.45


def test_some_customers_order_several_times_on_the_same_day(demo):
    days = demo.orders.ordered_at.astype("datetime64[D]")
    pairs = np.unique(np.stack([demo.orders.customer.astype(np.int64), days.astype(np.int64)]), axis=1)
    assert 0 < len(demo.orders) - pairs.shape[1] < 0.2 * len(demo.orders)


def test_spend_is_heavy_tailed(demo):
    """A few big spenders: the top 10% of buyers bring more than 40% of revenue, as in most shops."""
    revenue = np.sort(_revenue(demo)[_order_counts(demo) > 0])[::-1]
    assert revenue[: len(revenue) // 10].sum() / revenue.sum() > 0.4
    amounts = demo.orders.cents
    assert amounts.max() > 20 * np.median(amounts)
    assert amounts.mean() > np.median(amounts)


def test_channels_differ_in_customer_value(demo):
    """Offline stores and referrals bring few, loyal, valuable customers; Douyin and affiliates many cheap ones."""
    revenue = _revenue(demo)
    codes = [profile.code for profile in demo.channels]
    mean_value = {code: revenue[demo.customers.channel == index].mean() for index, code in enumerate(codes)}
    assert mean_value["offline-store"] > 5 * mean_value["douyin"]
    assert mean_value["referral"] > 3 * mean_value["affiliate"]
    assert len({round(value, -1) for value in mean_value.values()}) == len(codes)


def test_channels_differ_in_cac_as_their_profiles_say(demo):
    acquired = np.bincount(demo.customers.channel, minlength=len(demo.channels))
    spent = np.bincount(demo.spend.channel, weights=demo.spend.cents, minlength=len(demo.channels)) / 100
    cac = spent / acquired
    for index, profile in enumerate(demo.channels):
        assert 0.6 * profile.cac < cac[index] < 1.3 * profile.cac, profile.code


def test_spend_is_monthly_on_the_first_from_each_channels_launch(demo):
    assert (demo.spend.month.astype("datetime64[M]").astype("datetime64[D]") == demo.spend.month).all()
    months_per_channel = np.bincount(demo.spend.channel, minlength=len(demo.channels))
    for index, profile in enumerate(demo.channels):
        expected = HISTORY_MONTHS + 1 if profile.launched_months_ago is None else profile.launched_months_ago + 1
        assert months_per_channel[index] == expected, profile.code
    assert 8 <= len(demo.channels) <= 12


def test_events_are_bounded_per_customer_and_every_customer_has_one(demo):
    per_customer = np.bincount(demo.events.customer, minlength=len(demo.customers))
    assert per_customer.min() >= 1
    assert per_customer.max() <= MAX_EVENTS_PER_CUSTOMER


def test_nps_rises_with_customer_quality(demo):
    """Promoters come from the customers worth most: NPS answers correlate with the hidden value."""
    is_nps = demo.feedback.kind == 0
    customer = demo.feedback.customer[is_nps]
    quality = np.log(
        demo.customers.purchase_rate[customer] / demo.customers.dropout[customer] * demo.customers.mean_spend[customer]
    )
    scores = demo.feedback.score[is_nps]
    assert scores.min() >= 0 and scores.max() <= 10
    assert np.corrcoef(quality, scores)[0, 1] > 0.3
    csat = demo.feedback.score[~is_nps]
    assert csat.min() >= 1 and csat.max() <= 5


def test_most_customers_consent_to_email_and_few_are_tagged(demo):
    assert 0.6 < demo.customers.consent_email.mean() < 0.95
    vip = (demo.customers.tag_mask & 1).astype(bool)
    assert 0.005 < vip.mean() < 0.03
    assert (demo.customers.owner_slot[vip] >= 0).all()
    assert (demo.customers.owner_slot[~vip] == -1).all()


def test_contact_details_cannot_reach_real_people(demo):
    emails = demo.customers.email[demo.customers.email != ""]
    phones = demo.customers.phone[demo.customers.phone != ""]
    assert np.strings.endswith(emails, ".example").all()
    assert np.strings.startswith(phones, "+8612").all()
    assert (np.strings.str_len(phones) == 14).all()
    assert len(np.unique(emails)) == len(emails)


def test_rendered_columns_are_valid_json_and_ids_are_zero_padded():
    assert list(tags_json(np.array([0, 1, 5], dtype=np.uint8))) == ["[]", '["vip"]', '["vip", "newsletter"]']
    assert list(event_properties_json(np.array([-1, 42]))) == ["{}", '{"sku": "SKU-00042"}']
    assert list(sequence_ids("O", 0, 2, 9)) == ["O000000001", "O000000002"]


def test_refuses_fewer_than_one_customer():
    with pytest.raises(ValueError, match="at least 1"):
        simulate_demo(customers=0, seed=1, today=TODAY)


@settings(max_examples=25, deadline=None)
@given(
    customers=st.integers(min_value=1, max_value=400),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    today=st.dates(min_value=datetime.date(2024, 1, 1), max_value=datetime.date(2031, 12, 31)),
)
def test_invariants_hold_for_any_size_seed_and_day(customers, seed, today):
    data = simulate_demo(customers=customers, seed=seed, today=today, channels=DEFAULT_CHANNELS)
    assert len(data.customers) == customers
    assert (data.orders.ordered_at >= data.customers.created_at[data.orders.customer]).all()
    assert (data.orders.ordered_at < data.window_end).all()
    assert (data.events.occurred_at < data.window_end).all()
    assert (data.orders.cents > 0).all()
    assert np.bincount(data.events.customer, minlength=customers).max() <= MAX_EVENTS_PER_CUSTOMER
