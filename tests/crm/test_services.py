"""CRM services: every write is validated, all-or-nothing, and leaves one audit row saying who did what."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models.signals import pre_save
from django.utils import timezone

from accounts.models import AuditLog, Role
from accounts.services import Actor, api_key_create
from crm import services
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Note, Order, Task, TaskStatus
from tests.factories import (
    ChannelFactory,
    ChannelSpendFactory,
    CustomerFactory,
    OrderFactory,
    TaskFactory,
    UserFactory,
)

NOW = timezone.now()
YESTERDAY = NOW - datetime.timedelta(days=1)
NEXT_WEEK = NOW + datetime.timedelta(days=7)


@pytest.fixture
def actor(ops_user):
    return Actor(user=ops_user)


@pytest.fixture
def customer(org):
    return CustomerFactory(organization=org, external_id="C-1")


@pytest.fixture
def channel(org):
    return ChannelFactory(organization=org, code="web", name="Web shop")


def field_errors(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


class NothingWritten:
    """Counts every CRM row and audit row before and after a failing call."""

    models = (Channel, ChannelSpend, Customer, Order, Event, Feedback, Note, Task, AuditLog)

    def __init__(self) -> None:
        self.before = self.counts()

    def counts(self) -> dict[str, int]:
        return {model.__name__: model.objects.count() for model in self.models}

    def check(self) -> None:
        assert self.counts() == self.before


@pytest.fixture
def nothing_written(db):
    return NothingWritten()


def rejects(nothing_written, call, **kwargs) -> dict[str, list[str]]:
    """Call a service expecting a ValidationError; return its field errors after checking nothing was written."""
    with pytest.raises(ValidationError) as excinfo:
        call(**kwargs)
    nothing_written.check()
    return field_errors(excinfo)


# Audit trail -----------------------------------------------------------------------------------------------


def test_create_records_one_audit_row_naming_the_user_the_action_and_the_object(org, actor, ops_user):
    channel = services.channel_create(org=org, actor=actor, code="web", name="Web shop")
    entry = AuditLog.objects.for_org(org).get()
    assert (entry.actor_user, entry.actor_api_key, entry.actor_label) == (ops_user, None, ops_user.email)
    assert (entry.action, entry.object_type, entry.object_id) == ("channel.create", "channel", str(channel.pk))
    assert entry.before is None
    assert entry.after["code"] == "web"
    assert entry.after["name"] == "Web shop"


def test_write_through_an_api_key_records_the_key_as_actor(org):
    key, _ = api_key_create(org=org, name="shop sync", scopes=["write"])
    services.channel_create(org=org, actor=Actor(api_key=key), code="web", name="Web")
    entry = AuditLog.objects.for_org(org).get(action="channel.create")
    assert (entry.actor_user, entry.actor_api_key, entry.actor_label) == (None, key, f"api-key:{key.prefix}")


def test_update_records_before_and_after(org, actor, channel):
    services.channel_update(channel=channel, actor=actor, name="Online shop")
    entry = AuditLog.objects.for_org(org).get(action="channel.update")
    assert entry.before["name"] == "Web shop"
    assert entry.after["name"] == "Online shop"
    assert entry.object_id == str(channel.pk)


def test_delete_records_the_deleted_row_as_before(org, actor, channel):
    channel_id = channel.pk
    services.channel_delete(channel=channel, actor=actor)
    entry = AuditLog.objects.for_org(org).get(action="channel.delete")
    assert (entry.object_type, entry.object_id) == ("channel", str(channel_id))
    assert entry.before["code"] == "web"
    assert entry.after is None
    assert not Channel.objects.filter(pk=channel_id).exists()


# Channels --------------------------------------------------------------------------------------------------


def test_channel_create_strips_code_and_name(org, actor):
    channel = services.channel_create(org=org, actor=actor, code=" web ", name=" Web shop ", kind="paid")
    assert (channel.code, channel.name, channel.kind) == ("web", "Web shop", "paid")


def test_channel_create_rejects_a_duplicate_code_naming_code(org, actor, channel, nothing_written):
    errors = rejects(nothing_written, services.channel_create, org=org, actor=actor, code="web", name="Again")
    assert errors == {"code": ["A channel with this code already exists."]}


def test_channel_create_allows_a_code_another_organization_uses(org, other_org, actor, channel):
    other = services.channel_create(org=other_org, actor=actor, code="web", name="Web")
    assert other.organization == other_org


def test_channel_create_rejects_a_code_that_is_not_a_slug(org, actor, nothing_written):
    errors = rejects(nothing_written, services.channel_create, org=org, actor=actor, code="web shop!", name="Web")
    assert list(errors) == ["code"]


def test_channel_create_rejects_an_unknown_kind(org, actor, nothing_written):
    errors = rejects(nothing_written, services.channel_create, org=org, actor=actor, code="tv", name="TV", kind="tv")
    assert list(errors) == ["kind"]


def test_channel_create_rejects_an_over_long_name(org, actor, nothing_written):
    errors = rejects(nothing_written, services.channel_create, org=org, actor=actor, code="web", name="x" * 121)
    assert list(errors) == ["name"]


def test_channel_update_rejects_an_unknown_field(actor, channel, nothing_written):
    errors = rejects(nothing_written, services.channel_update, channel=channel, actor=actor, colour="red")
    assert errors == {"colour": ["Unknown field."]}


def test_channel_update_rejects_a_non_boolean_active_flag(actor, channel, nothing_written):
    errors = rejects(nothing_written, services.channel_update, channel=channel, actor=actor, is_active="no")
    assert list(errors) == ["is_active"]


def test_channel_update_with_bad_input_leaves_the_callers_instance_unchanged(org, actor, channel):
    ChannelFactory(organization=org, code="shop")
    with pytest.raises(ValidationError):
        services.channel_update(channel=channel, actor=actor, code="shop", name="Renamed")
    assert (channel.code, channel.name) == ("web", "Web shop")
    channel.refresh_from_db()
    assert (channel.code, channel.name) == ("web", "Web shop")


def test_channel_delete_refuses_a_channel_customers_came_through(org, actor, channel, nothing_written):
    CustomerFactory(organization=org, channel=channel)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.channel_delete, channel=channel, actor=actor)
    assert list(errors) == ["channel"]


# Channel spend ---------------------------------------------------------------------------------------------


def test_channel_spend_create_stores_the_amount_as_decimal(org, actor, channel):
    spend = services.channel_spend_create(
        org=org, actor=actor, channel=channel, date=datetime.date(2025, 3, 1), amount="1200.50"
    )
    spend.refresh_from_db()
    assert spend.amount == Decimal("1200.50")


def test_channel_spend_create_rejects_a_negative_amount(org, actor, channel, nothing_written):
    errors = rejects(
        nothing_written,
        services.channel_spend_create,
        org=org,
        actor=actor,
        channel=channel,
        date=datetime.date(2025, 3, 1),
        amount="-1",
    )
    assert list(errors) == ["amount"]


def test_channel_spend_create_rejects_an_absurd_amount(org, actor, channel, nothing_written, settings):
    settings.CUSTOPS_MAX_ORDER_AMOUNT = "10000000"
    errors = rejects(
        nothing_written,
        services.channel_spend_create,
        org=org,
        actor=actor,
        channel=channel,
        date=datetime.date(2025, 3, 1),
        amount="10000000.01",
    )
    assert errors == {"amount": ["The amount is larger than 10000000, which is treated as a data error."]}


def test_channel_spend_create_rejects_a_date_beyond_the_future_tolerance(org, actor, channel, nothing_written):
    errors = rejects(
        nothing_written,
        services.channel_spend_create,
        org=org,
        actor=actor,
        channel=channel,
        date=NEXT_WEEK.date(),
        amount="1",
    )
    assert list(errors) == ["date"]


def test_channel_spend_create_accepts_tomorrow_within_the_tolerance(org, actor, channel):
    tomorrow = (NOW + datetime.timedelta(days=1)).date()
    spend = services.channel_spend_create(org=org, actor=actor, channel=channel, date=tomorrow, amount="1")
    assert spend.date == tomorrow


def test_channel_spend_create_rejects_a_date_time_where_a_date_is_expected(org, actor, channel, nothing_written):
    errors = rejects(
        nothing_written,
        services.channel_spend_create,
        org=org,
        actor=actor,
        channel=channel,
        date=YESTERDAY,
        amount="1",
    )
    assert errors == {"date": ["Enter a date such as 2025-01-31."]}


def test_channel_spend_create_rejects_another_organizations_channel(org, other_org, actor, nothing_written):
    foreign = ChannelFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(
        nothing_written,
        services.channel_spend_create,
        org=org,
        actor=actor,
        channel=foreign,
        date=datetime.date(2025, 3, 1),
        amount="1",
    )
    assert errors == {"channel": ["Unknown channel: it does not exist in this organization."]}


def test_channel_spend_create_rejects_a_second_row_for_the_same_channel_and_day_naming_date(
    org, actor, channel, nothing_written
):
    ChannelSpendFactory(channel=channel, date=datetime.date(2025, 3, 1))
    nothing_written.before = nothing_written.counts()
    errors = rejects(
        nothing_written,
        services.channel_spend_create,
        org=org,
        actor=actor,
        channel=channel,
        date=datetime.date(2025, 3, 1),
        amount="5",
    )
    assert errors == {"date": ["Spend for this channel and date already exists; update it instead."]}


def test_channel_spend_update_changes_the_amount(actor, channel):
    spend = ChannelSpendFactory(channel=channel, amount=Decimal("10.00"))
    services.channel_spend_update(spend=spend, actor=actor, amount="12.5")
    spend.refresh_from_db()
    assert spend.amount == Decimal("12.50")


# Customers -------------------------------------------------------------------------------------------------


def test_customer_create_generates_an_external_id_when_none_is_given(org, actor):
    customer = services.customer_create(org=org, actor=actor, name="Li Lei")
    assert customer.external_id.startswith("cust-")
    assert len(customer.external_id) == len("cust-") + 16


def test_customer_create_lowercases_and_strips_the_email(org, actor):
    customer = services.customer_create(org=org, actor=actor, email="  Li.Lei@Example.COM ")
    assert customer.email == "li.lei@example.com"


def test_customer_create_treats_a_missing_name_as_empty(org, actor):
    customer = services.customer_create(org=org, actor=actor, external_id="C-9", name=None)
    assert customer.name == ""


def test_customer_create_rejects_a_duplicate_external_id_naming_external_id(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, external_id="C-1")
    assert errors == {"external_id": ["A customer with this external id already exists."]}


def test_customer_create_reports_a_lost_race_on_external_id_as_a_field_error(org, actor, nothing_written):
    """Another writer inserts the same external id after our check: the database refuses, we say which field."""

    def competing_writer(sender, instance, **kwargs):
        pre_save.disconnect(competing_writer, sender=Customer)
        Customer.objects.create(organization=org, external_id="C-RACE")

    pre_save.connect(competing_writer, sender=Customer, weak=False)
    try:
        errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, external_id="C-RACE")
    finally:
        pre_save.disconnect(competing_writer, sender=Customer)
    assert errors == {"external_id": ["A customer with this external id already exists."]}


def test_customer_create_rejects_an_invalid_email(org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, email="not-an-email")
    assert list(errors) == ["email"]


def test_customer_create_rejects_an_over_long_name(org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, name="x" * 201)
    assert errors == {"name": ["Ensure this value has at most 200 characters (it has 201)."]}


def test_customer_create_rejects_another_organizations_channel(org, other_org, actor, nothing_written):
    foreign = ChannelFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, channel=foreign)
    assert list(errors) == ["channel"]


def test_customer_create_rejects_a_channel_given_as_text(org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, channel="web")
    assert errors == {"channel": ["Expected a channel."]}


def test_customer_create_rejects_an_owner_who_is_not_a_member(org, other_org, actor, member_factory, nothing_written):
    outsider = member_factory(other_org, Role.ADMIN)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, owner=outsider)
    assert errors == {"owner": ["This person is not a member of the organization."]}


def test_customer_create_rejects_an_inactive_member_as_owner(org, actor, member_factory, nothing_written):
    former = member_factory(org, Role.OPS, is_active=False)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, owner=former)
    assert list(errors) == ["owner"]


def test_customer_create_rejects_a_naive_created_at(org, actor, nothing_written):
    errors = rejects(
        nothing_written, services.customer_create, org=org, actor=actor, created_at=datetime.datetime(2025, 1, 1)
    )
    assert errors == {"created_at": ["Give a time zone with this date-time."]}


def test_customer_create_rejects_a_created_at_beyond_the_future_tolerance(org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, created_at=NEXT_WEEK)
    assert list(errors) == ["created_at"]


def test_customer_create_rejects_a_created_at_before_1970(org, actor, nothing_written):
    errors = rejects(
        nothing_written,
        services.customer_create,
        org=org,
        actor=actor,
        created_at=datetime.datetime(1969, 12, 31, tzinfo=datetime.UTC),
    )
    assert list(errors) == ["created_at"]


def test_customer_create_rejects_an_organization_field(org, other_org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, organization=other_org)
    assert errors == {"organization": ["Unknown field."]}


def test_customer_create_rejects_a_non_boolean_consent(org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, consent_email="yes")
    assert list(errors) == ["consent_email"]


def test_customer_create_rejects_tags_that_are_not_a_list_of_text(org, actor, nothing_written):
    errors = rejects(nothing_written, services.customer_create, org=org, actor=actor, tags="vip")
    assert errors == {"tags": ["Tags must be a list of strings."]}


def test_customer_create_stores_tags_stripped_deduplicated_and_sorted(org, actor):
    customer = services.customer_create(org=org, actor=actor, tags=[" vip", "b2b", "vip ", " "])
    assert customer.tags == ["b2b", "vip"]


def test_customer_create_rejects_attributes_that_json_cannot_store(org, actor, nothing_written):
    errors = rejects(
        nothing_written, services.customer_create, org=org, actor=actor, attributes={"score": float("nan")}
    )
    assert list(errors) == ["attributes"]


def test_customer_create_stamps_consent_time_when_consent_is_given(org, actor):
    customer = services.customer_create(org=org, actor=actor, consent_email=True)
    assert customer.consent_email_at is not None
    assert customer.consent_sms_at is None


def test_customer_update_stamps_consent_time_only_when_the_flag_changes(actor, customer):
    services.customer_update(customer=customer, actor=actor, consent_email=False)
    assert customer.consent_email_at is None
    services.customer_update(customer=customer, actor=actor, consent_email=True)
    assert customer.consent_email_at is not None


def test_customer_update_rejects_an_empty_external_id(actor, customer, nothing_written):
    errors = rejects(nothing_written, services.customer_update, customer=customer, actor=actor, external_id=" ")
    assert errors == {"external_id": ["The external id cannot be empty."]}


def test_customer_update_rejects_another_customers_external_id(org, actor, customer, nothing_written):
    second = CustomerFactory(organization=org, external_id="C-2")
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.customer_update, customer=second, actor=actor, external_id="C-1")
    assert list(errors) == ["external_id"]
    assert second.external_id == "C-2"


def test_customer_delete_removes_the_customers_orders(org, actor, customer):
    OrderFactory(customer=customer)
    services.customer_delete(customer=customer, actor=actor)
    assert not Order.objects.for_org(org).exists()


# Orders ----------------------------------------------------------------------------------------------------


def make_order(org, actor, customer, **overrides):
    fields = {"external_id": "O-1", "customer": customer, "ordered_at": YESTERDAY, "amount": "59.90"}
    fields.update(overrides)
    return services.order_create(org=org, actor=actor, **fields)


def test_order_create_takes_the_organizations_currency_by_default(org, actor, customer):
    org.currency = "USD"
    order = make_order(org, actor, customer)
    assert (order.currency, order.amount, order.status) == ("USD", Decimal("59.90"), "completed")


def test_order_create_uppercases_the_currency(org, actor, customer):
    assert make_order(org, actor, customer, currency="eur").currency == "EUR"


def test_order_create_rejects_an_invalid_currency(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=customer, currency="EURO")
    assert list(errors) == ["currency"]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-0.01", "The amount cannot be negative; record refunds with the status 'refunded'."),
        ("10000000.01", "The amount is larger than 10000000, which is treated as a data error."),
        ("12.345", "Use at most two decimal places."),
        ("NaN", "Enter a finite number."),
        ("Infinity", "Enter a finite number."),
        ("twelve", "Enter a number."),
        (True, "Enter a number."),
        (None, "Enter a number."),
    ],
)
def test_order_create_rejects_a_bad_amount(org, actor, customer, nothing_written, amount, message):
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=customer, amount=amount)
    assert errors == {"amount": [message]}


def test_order_create_accepts_zero_as_an_amount(org, actor, customer):
    assert make_order(org, actor, customer, amount=0).amount == Decimal("0")


def test_order_create_rejects_a_naive_ordered_at(org, actor, customer, nothing_written):
    errors = rejects(
        nothing_written,
        make_order,
        org=org,
        actor=actor,
        customer=customer,
        ordered_at=datetime.datetime(2025, 1, 1, 12),
    )
    assert errors == {"ordered_at": ["Give a time zone with this date-time."]}


def test_order_create_rejects_an_ordered_at_given_as_text(org, actor, customer, nothing_written):
    errors = rejects(
        nothing_written, make_order, org=org, actor=actor, customer=customer, ordered_at="2025-01-01T12:00:00Z"
    )
    assert list(errors) == ["ordered_at"]


def test_order_create_rejects_an_ordered_at_beyond_the_future_tolerance(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=customer, ordered_at=NEXT_WEEK)
    assert errors == {"ordered_at": ["This date lies in the future; only past or present dates are accepted."]}


def test_order_create_accepts_an_ordered_at_within_the_future_tolerance(org, actor, customer):
    an_hour_ahead = NOW + datetime.timedelta(hours=1)
    assert make_order(org, actor, customer, ordered_at=an_hour_ahead).ordered_at == an_hour_ahead


def test_order_create_rejects_another_organizations_customer(org, other_org, actor, nothing_written):
    foreign = CustomerFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=foreign)
    assert errors == {"customer": ["Unknown customer: it does not exist in this organization."]}


def test_order_create_rejects_a_missing_customer(org, actor, nothing_written):
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=None)
    assert list(errors) == ["customer"]


def test_order_create_rejects_a_duplicate_external_id_naming_external_id(org, actor, customer, nothing_written):
    OrderFactory(customer=customer, external_id="O-1")
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=customer)
    assert errors == {"external_id": ["An order with this external id already exists."]}


def test_order_create_reports_a_lost_race_on_external_id_as_a_field_error(org, actor, customer, nothing_written):
    def competing_writer(sender, instance, **kwargs):
        pre_save.disconnect(competing_writer, sender=Order)
        Order.objects.create(organization=org, customer=customer, external_id="O-1", ordered_at=NOW, amount=1)

    pre_save.connect(competing_writer, sender=Order, weak=False)
    try:
        errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=customer)
    finally:
        pre_save.disconnect(competing_writer, sender=Order)
    assert errors == {"external_id": ["An order with this external id already exists."]}


def test_order_create_rejects_an_unknown_status(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, make_order, org=org, actor=actor, customer=customer, status="shipped")
    assert list(errors) == ["status"]


def test_order_update_records_the_old_and_new_amount(org, actor, customer):
    order = make_order(org, actor, customer)
    services.order_update(order=order, actor=actor, amount="70")
    entry = AuditLog.objects.for_org(org).get(action="order.update")
    assert (entry.before["amount"], entry.after["amount"]) == ("59.90", "70.00")


def test_order_update_rejects_moving_the_order_to_another_organizations_customer(
    org, other_org, actor, customer, nothing_written
):
    order = OrderFactory(customer=customer)
    foreign = CustomerFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.order_update, order=order, actor=actor, customer=foreign)
    assert list(errors) == ["customer"]
    order.refresh_from_db()
    assert order.customer == customer


# Events ----------------------------------------------------------------------------------------------------


def test_event_create_stores_name_and_properties(org, actor, customer):
    event = services.event_create(
        org=org, actor=actor, customer=customer, name=" signup ", occurred_at=YESTERDAY, properties={"plan": "pro"}
    )
    assert (event.name, event.properties) == ("signup", {"plan": "pro"})


def test_event_create_rejects_an_occurred_at_beyond_the_future_tolerance(org, actor, customer, nothing_written):
    errors = rejects(
        nothing_written,
        services.event_create,
        org=org,
        actor=actor,
        customer=customer,
        name="signup",
        occurred_at=NEXT_WEEK,
    )
    assert list(errors) == ["occurred_at"]


def test_event_create_rejects_properties_that_are_not_an_object(org, actor, customer, nothing_written):
    errors = rejects(
        nothing_written,
        services.event_create,
        org=org,
        actor=actor,
        customer=customer,
        name="signup",
        occurred_at=YESTERDAY,
        properties=["plan"],
    )
    assert errors == {"properties": ["Give a JSON object of names to values."]}


def test_event_create_rejects_an_over_long_name(org, actor, customer, nothing_written):
    errors = rejects(
        nothing_written,
        services.event_create,
        org=org,
        actor=actor,
        customer=customer,
        name="x" * 101,
        occurred_at=YESTERDAY,
    )
    assert list(errors) == ["name"]


def test_event_create_rejects_another_organizations_customer(org, other_org, actor, nothing_written):
    foreign = CustomerFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(
        nothing_written,
        services.event_create,
        org=org,
        actor=actor,
        customer=foreign,
        name="signup",
        occurred_at=YESTERDAY,
    )
    assert list(errors) == ["customer"]


# Feedback --------------------------------------------------------------------------------------------------


def answer(org, actor, customer, **overrides):
    fields = {"kind": "nps", "score": 9, "answered_at": YESTERDAY}
    fields.update(overrides)
    return services.feedback_create(org=org, actor=actor, customer=customer, **fields)


@pytest.mark.parametrize("score", [0, 10])
def test_feedback_accepts_nps_at_both_ends_of_the_scale(org, actor, customer, score):
    feedback = answer(org, actor, customer, score=score)
    assert (feedback.score, feedback.scale_max) == (score, 10)


@pytest.mark.parametrize("score", [-1, 11])
def test_feedback_rejects_nps_outside_0_to_10(org, actor, customer, nothing_written, score):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, score=score)
    assert errors == {"score": ["The value must lie between 0 and 10."]}


def test_feedback_rejects_nps_on_another_scale(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, scale_max=5)
    assert errors == {"scale_max": ["NPS is always asked on a 0–10 scale."]}


@pytest.mark.parametrize("score", [0, 6])
def test_feedback_rejects_csat_outside_the_default_1_to_5_scale(org, actor, customer, nothing_written, score):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, kind="csat", score=score)
    assert errors == {"score": ["The value must lie between 1 and 5."]}


def test_feedback_accepts_csat_at_the_top_of_the_surveys_own_scale(org, actor, customer):
    feedback = answer(org, actor, customer, kind="csat", score=7, scale_max=7)
    assert (feedback.score, feedback.scale_max) == (7, 7)


def test_feedback_rejects_a_csat_scale_of_zero_instead_of_defaulting_it(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, kind="csat", scale_max=0)
    assert errors == {"scale_max": ["The value must lie between 2 and 100."]}


def test_feedback_rejects_a_fractional_score(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, score=7.5)
    assert errors == {"score": ["Enter a whole number."]}


def test_feedback_rejects_an_unknown_kind(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, kind="ces")
    assert errors == {"kind": ["Use 'nps' or 'csat'."]}


def test_feedback_rejects_an_over_long_comment(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, answer, org=org, actor=actor, customer=customer, comment="x" * 5001)
    assert errors == {"comment": ["Ensure this text has at most 5000 characters (it has 5001)."]}


def test_feedback_rejects_a_naive_answered_at(org, actor, customer, nothing_written):
    errors = rejects(
        nothing_written, answer, org=org, actor=actor, customer=customer, answered_at=datetime.datetime(2025, 1, 1)
    )
    assert list(errors) == ["answered_at"]


# Notes -----------------------------------------------------------------------------------------------------


def test_note_create_records_the_acting_person_as_author(org, actor, ops_user, customer):
    note = services.note_create(org=org, actor=actor, customer=customer, body="  Called, will reorder.  ")
    assert (note.body, note.author) == ("Called, will reorder.", ops_user)


def test_note_create_through_an_api_key_has_no_author(org, customer):
    key, _ = api_key_create(org=org, name="helpdesk", scopes=["write"])
    note = services.note_create(org=org, actor=Actor(api_key=key), customer=customer, body="Ticket #12 closed.")
    assert note.author is None


@pytest.mark.parametrize("body", ["", "   \n ", None])
def test_note_create_rejects_an_empty_note(org, actor, customer, nothing_written, body):
    errors = rejects(nothing_written, services.note_create, org=org, actor=actor, customer=customer, body=body)
    assert errors == {"body": ["Write something in the note."]}


def test_note_create_rejects_an_over_long_note(org, actor, customer, nothing_written):
    errors = rejects(nothing_written, services.note_create, org=org, actor=actor, customer=customer, body="x" * 10001)
    assert errors == {"body": ["Ensure this text has at most 10000 characters (it has 10001)."]}


def test_note_create_rejects_another_organizations_customer(org, other_org, actor, nothing_written):
    foreign = CustomerFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.note_create, org=org, actor=actor, customer=foreign, body="Hi")
    assert list(errors) == ["customer"]


# Tasks -----------------------------------------------------------------------------------------------------


def test_task_create_records_who_created_it(org, actor, ops_user, customer):
    task = services.task_create(org=org, actor=actor, customer=customer, title=" Call back ", owner=ops_user)
    assert (task.title, task.owner, task.created_by, task.status) == ("Call back", ops_user, ops_user, "open")


def test_task_create_rejects_an_owner_from_another_organization(org, other_org, actor, member_factory, nothing_written):
    outsider = member_factory(other_org, Role.OPS)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.task_create, org=org, actor=actor, title="Call", owner=outsider)
    assert list(errors) == ["owner"]


def test_task_create_rejects_an_owner_with_no_membership_at_all(org, actor, nothing_written):
    stranger = UserFactory()
    errors = rejects(nothing_written, services.task_create, org=org, actor=actor, title="Call", owner=stranger)
    assert list(errors) == ["owner"]


def test_task_create_rejects_another_organizations_customer(org, other_org, actor, nothing_written):
    foreign = CustomerFactory(organization=other_org)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.task_create, org=org, actor=actor, title="Call", customer=foreign)
    assert list(errors) == ["customer"]


def test_task_create_rejects_an_empty_title(org, actor, nothing_written):
    errors = rejects(nothing_written, services.task_create, org=org, actor=actor, title="  ")
    assert list(errors) == ["title"]


def test_task_create_rejects_an_over_long_description(org, actor, nothing_written):
    errors = rejects(nothing_written, services.task_create, org=org, actor=actor, title="Call", description="x" * 10001)
    assert list(errors) == ["description"]


def test_task_create_rejects_an_unknown_field(org, actor, nothing_written):
    errors = rejects(nothing_written, services.task_create, org=org, actor=actor, title="Call", priority="high")
    assert errors == {"priority": ["Unknown field."]}


def test_task_complete_stamps_the_completion_time(org, actor, customer):
    task = TaskFactory(customer=customer)
    services.task_complete(task=task, actor=actor)
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.completed_at is not None


def test_task_reopened_loses_its_completion_time(org, actor, customer):
    task = TaskFactory(customer=customer, status=TaskStatus.DONE, completed_at=YESTERDAY)
    services.task_update(task=task, actor=actor, status=TaskStatus.OPEN)
    task.refresh_from_db()
    assert task.completed_at is None


def test_task_update_with_an_unknown_status_keeps_the_row_and_instance(org, actor, customer, nothing_written):
    task = TaskFactory(customer=customer)
    nothing_written.before = nothing_written.counts()
    errors = rejects(nothing_written, services.task_update, task=task, actor=actor, status="later")
    assert list(errors) == ["status"]
    assert (task.status, task.completed_at) == (TaskStatus.OPEN, None)
