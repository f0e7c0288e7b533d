"""The segment rule language (segmentation/rules.py): validation errors, and the compiled query checked
against a plain-Python evaluation of the documented semantics on a fixed, varied dataset."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import OrderStatus
from segmentation.models import CustomerScore, RfmSegment, Stage, Tier
from segmentation.rules import (
    MAX_CONDITIONS,
    compile_rules,
    explain,
    segment_queryset,
    validate_rules,
)
from tests.factories import ChannelFactory, CustomerFactory, EventFactory, OrderFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2025, 6, 30)
TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)

NAMES = ["Alice Wong", "alice zhang", "Bob Li", "", "Carol"]
EMAILS = ["alice@shop.cn", "bob@example.com", "", "ALICE@example.com"]
PHONES = ["", "+86 138 0000", "+1 555 0100"]
CHANNEL_CODES = ["web", "store", "ads"]
TAGS = ["vip", "VIP", "b2b", "wholesale"]
CITIES = ["Shanghai", "shanghai", "Beijing", "", None]
EVENT_NAMES = ["login", "cart_abandoned"]
DAYS_AGO = [0, 1, 2, 7, 30, 90, 400]
AMOUNTS = [Decimal("10.00"), Decimal("59.90"), Decimal("250.00")]
VALUES = [Decimal("0.00"), Decimal("59.90"), Decimal("120.50"), Decimal("900.00")]
PROBABILITIES = [None, 0.1, 0.5, 0.9]
ORDER_STATUSES = [OrderStatus.COMPLETED] * 3 + [OrderStatus.CANCELLED, OrderStatus.REFUNDED, OrderStatus.PENDING]


def local_moment(days_ago: int, hour: int, minute: int = 0) -> datetime.datetime:
    """An instant on the local day ``days_ago`` before TODAY, in the organization's time zone."""
    day = TODAY - datetime.timedelta(days=days_ago)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TZ)


def local_days_ago(moment: datetime.datetime) -> int:
    return (TODAY - moment.astimezone(TZ).date()).days


@dataclass
class Plan:
    """What one customer looks like, kept in Python so the expected segment never reads the database."""

    name: str
    email: str
    phone: str
    channel: str | None
    created_at: datetime.datetime
    consent_email: bool
    consent_sms: bool
    tags: list[str]
    attributes: dict
    score: dict | None
    orders: list[tuple[datetime.datetime, str, Decimal, str | None]] = field(default_factory=list)
    events: list[tuple[str, datetime.datetime]] = field(default_factory=list)
    id: int = 0


def random_plan(rng: random.Random) -> Plan:
    attributes = {}
    city = rng.choice([*CITIES, "absent"])
    if city != "absent":
        attributes["city"] = city
    if rng.random() < 0.3:
        attributes["size"] = rng.choice(["L", "M"])
    score = None
    if rng.random() < 0.75:
        score = {
            "tier": rng.choice([*Tier.values, ""]),
            "stage": rng.choice([Stage.ACTIVATED, Stage.MATURE, Stage.CHURNED]),
            "rfm_segment": rng.choice([RfmSegment.CHAMPIONS, RfmSegment.AT_RISK, ""]),
            "r_score": rng.choice([None, 1, 3, 5]),
            "f_score": rng.choice([None, 2, 4]),
            "m_score": rng.choice([None, 1, 5]),
            "customer_value": rng.choice(VALUES),
            "predicted_value": rng.choice([None, *VALUES]),
            "churn_probability": rng.choice(PROBABILITIES),
            "p_alive": rng.choice(PROBABILITIES),
            "at_risk": rng.random() < 0.4,
            "churned": rng.random() < 0.3,
        }
    orders = [
        (
            local_moment(rng.choice(DAYS_AGO), rng.choice([0, 12, 23]), rng.choice([0, 59])),
            rng.choice(ORDER_STATUSES),
            rng.choice(AMOUNTS),
            rng.choice([None, *CHANNEL_CODES]),
        )
        for _ in range(rng.choice([0, 0, 1, 2, 3]))
    ]
    events = [
        (rng.choice(EVENT_NAMES), local_moment(rng.choice(DAYS_AGO), rng.choice([0, 23])))
        for _ in range(rng.choice([0, 1, 2]))
    ]
    return Plan(
        name=rng.choice(NAMES),
        email=rng.choice(EMAILS),
        phone=rng.choice(PHONES),
        channel=rng.choice([None, *CHANNEL_CODES]),
        created_at=local_moment(rng.choice(DAYS_AGO), rng.choice([0, 12, 23]), rng.choice([0, 59])),
        consent_email=rng.random() < 0.5,
        consent_sms=rng.random() < 0.5,
        tags=rng.sample(TAGS, rng.choice([0, 1, 2])),
        attributes=attributes,
        score=score,
        orders=orders,
        events=events,
    )


def create_customer(org, channels: dict, plan: Plan):
    customer = CustomerFactory(
        organization=org,
        name=plan.name,
        email=plan.email,
        phone=plan.phone,
        channel=channels.get(plan.channel),
        created_at=plan.created_at,
        consent_email=plan.consent_email,
        consent_sms=plan.consent_sms,
        tags=plan.tags,
        attributes=plan.attributes,
    )
    if plan.score is not None:
        CustomerScore.objects.create(organization=org, customer=customer, as_of=TODAY, **plan.score)
    for ordered_at, status, amount, channel in plan.orders:
        OrderFactory(
            customer=customer, ordered_at=ordered_at, status=status, amount=amount, channel=channels.get(channel)
        )
    for name, occurred_at in plan.events:
        EventFactory(customer=customer, name=name, occurred_at=occurred_at)
    plan.id = customer.pk
    return customer


@dataclass(repr=False)
class World:
    org: object
    other_org: object
    plans: list[Plan]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Thirty customers of one organization, plus a second organization whose rows must never leak in.

    Built once for the module inside a transaction that is rolled back at the end; each test runs in a
    savepoint inside it.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        org = OrganizationFactory(slug="rules-a", name="Rules A", time_zone=TZ_NAME)
        other = OrganizationFactory(slug="rules-b", name="Rules B", time_zone=TZ_NAME)
        channels = {code: ChannelFactory(organization=org, code=code) for code in CHANNEL_CODES}
        rng = random.Random(20250630)
        plans = [random_plan(rng) for _ in range(30)]
        for plan in plans:
            create_customer(org, channels, plan)
        # The other organization: same channel codes and event names, busy customers.
        other_channels = {code: ChannelFactory(organization=other, code=code) for code in CHANNEL_CODES}
        for plan in [random_plan(rng) for _ in range(8)]:
            create_customer(other, other_channels, plan)
        yield World(org=org, other_org=other, plans=plans)
        transaction.set_rollback(True)


# ------------------------------------------------------------------------------------- brute force


def missing_text(value):
    return None if value in (None, "") else value


def field_value(name: str, plan: Plan):
    """The value of a field for one customer as the documented semantics define it (None = missing)."""
    completed = [order for order in plan.orders if order[1] == OrderStatus.COMPLETED]
    if name in ("name", "email", "phone"):
        return missing_text(getattr(plan, name))
    if name == "channel":
        return plan.channel
    if name == "created_days_ago":
        return local_days_ago(plan.created_at)
    if name in ("consent_email", "consent_sms"):
        return getattr(plan, name)
    if name == "tags":
        return plan.tags
    if name.startswith("attributes."):
        return missing_text(plan.attributes.get(name.split(".", 1)[1]))
    if name == "orders_count":
        return len(completed)
    if name == "orders_revenue":
        return sum((order[2] for order in completed), Decimal("0"))
    if name == "last_order_days_ago":
        return min((local_days_ago(order[0]) for order in completed), default=None)
    if name == "bought_channel":
        return {order[3] for order in completed if order[3]}
    if plan.score is None:
        return None
    value = plan.score[name]
    return missing_text(value) if isinstance(value, str) else value


def as_decimal(value) -> Decimal:
    return Decimal(str(value))


def positive(name: str, op: str, value, actual) -> bool:
    if name == "bought_channel":
        return (value in actual) if op == "eq" else bool(actual & set(value))
    if op == "is_set":
        return actual is not None
    if actual is None:
        return False
    if op == "eq":
        return as_decimal(actual) == as_decimal(value) if name in NUMBER_POOLS else actual == value
    if op == "in":
        return actual in value
    if op == "contains":
        return value in actual if name == "tags" else value.lower() in actual.lower()
    if op == "starts_with":
        return actual.lower().startswith(value.lower())
    number = as_decimal(actual)
    if op == "between":
        return as_decimal(value[0]) <= number <= as_decimal(value[1])
    bound = as_decimal(value)
    return {"gt": number > bound, "gte": number >= bound, "lt": number < bound, "lte": number <= bound}[op]


NEGATIVE = {"ne": "eq", "not_in": "in", "not_contains": "contains", "is_not_set": "is_set"}


def brute_force(rule: dict, plan: Plan) -> bool:
    if "all" in rule:
        return all(brute_force(child, plan) for child in rule["all"])
    if "any" in rule:
        return any(brute_force(child, plan) for child in rule["any"])
    if "not" in rule:
        return not brute_force(rule["not"], plan)
    if "event" in rule:
        did = any(name == rule["event"] and local_days_ago(at) <= rule["within_days"] for name, at in plan.events)
        return did if rule["op"] == "did" else not did
    op, name = rule["op"], rule["field"]
    actual = field_value(name, plan)
    if op in NEGATIVE:
        return not positive(name, NEGATIVE[op], rule.get("value"), actual)
    return positive(name, op, rule.get("value"), actual)


# ---------------------------------------------------------------------------------- rule generator

TEXT_POOLS = {
    "name": ["Alice Wong", "alice", "ALICE", "Bob Li", "li", "Carol"],
    "email": ["alice@shop.cn", "alice", "example.com", "bob@example.com"],
    "phone": ["+86", "+1 555 0100", "0000"],
    "attributes.city": ["Shanghai", "shanghai", "Bei", "SHANG"],
    "attributes.size": ["L", "M", "l"],
}
CHOICE_POOLS = {
    "channel": [*CHANNEL_CODES, "nowhere"],
    "bought_channel": [*CHANNEL_CODES, "nowhere"],
    "tier": Tier.values,
    "stage": [Stage.ACTIVATED, Stage.MATURE, Stage.CHURNED, Stage.ACQUIRED],
    "rfm_segment": [RfmSegment.CHAMPIONS, RfmSegment.AT_RISK, RfmSegment.LOST],
}
NUMBER_POOLS = {
    "created_days_ago": [0, 1, 2, 7, 30, 90, 400],
    "last_order_days_ago": [0, 1, 2, 5, 30, 90, 400],
    "orders_count": [0, 1, 2, 3],
    "orders_revenue": [0, 10, 59.9, 69.9, 250, 300],
    "r_score": [1, 3, 5],
    "f_score": [2, 3, 4],
    "m_score": [1, 5],
    "customer_value": [0, 59.9, 120.5, 500],
    "predicted_value": [0, 59.9, 900],
    "churn_probability": [0.1, 0.5, 0.9],
    "p_alive": [0.1, 0.5, 0.9],
}
BOOL_FIELDS = ["consent_email", "consent_sms", "at_risk", "churned"]


def condition_for(name: str) -> st.SearchStrategy[dict]:
    if name in TEXT_POOLS:
        pool = TEXT_POOLS[name]
        scalar_ops = st.sampled_from(["eq", "ne", "contains", "starts_with"])
        return st.one_of(
            st.builds(lambda op, v: {"field": name, "op": op, "value": v}, scalar_ops, st.sampled_from(pool)),
            st.builds(
                lambda op, vs: {"field": name, "op": op, "value": vs},
                st.sampled_from(["in", "not_in"]),
                st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True),
            ),
            st.sampled_from([{"field": name, "op": "is_set"}, {"field": name, "op": "is_not_set"}]),
        )
    if name in CHOICE_POOLS:
        pool = CHOICE_POOLS[name]
        with_set = (
            [] if name == "bought_channel" else [{"field": name, "op": "is_set"}, {"field": name, "op": "is_not_set"}]
        )
        return st.one_of(
            st.builds(
                lambda op, v: {"field": name, "op": op, "value": v},
                st.sampled_from(["eq", "ne"]),
                st.sampled_from(pool),
            ),
            st.builds(
                lambda op, vs: {"field": name, "op": op, "value": vs},
                st.sampled_from(["in", "not_in"]),
                st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True),
            ),
            *([st.sampled_from(with_set)] if with_set else []),
        )
    if name in NUMBER_POOLS:
        pool = NUMBER_POOLS[name]
        return st.one_of(
            st.builds(
                lambda op, v: {"field": name, "op": op, "value": v},
                st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
                st.sampled_from(pool),
            ),
            st.builds(
                lambda pair: {"field": name, "op": "between", "value": sorted(pair)},
                st.tuples(st.sampled_from(pool), st.sampled_from(pool)),
            ),
            st.sampled_from([{"field": name, "op": "is_set"}, {"field": name, "op": "is_not_set"}]),
        )
    if name == "tags":
        return st.builds(
            lambda op, v: {"field": "tags", "op": op, "value": v},
            st.sampled_from(["contains", "not_contains"]),
            st.sampled_from(TAGS),
        )
    return st.builds(lambda v: {"field": name, "op": "eq", "value": v}, st.booleans())


LEAF_NAMES = [*TEXT_POOLS, *CHOICE_POOLS, *NUMBER_POOLS, "tags", *BOOL_FIELDS]
events = st.builds(
    lambda name, op, days: {"event": name, "op": op, "within_days": days},
    st.sampled_from([*EVENT_NAMES, "never_happens"]),
    st.sampled_from(["did", "did_not"]),
    st.sampled_from([1, 2, 7, 90, 3650]),
)
leaves = st.one_of(st.sampled_from(LEAF_NAMES).flatmap(condition_for), events)


def rule_trees(depth: int = 3) -> st.SearchStrategy[dict]:
    if depth == 0:
        return leaves
    children = rule_trees(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda kids: {"all": kids}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda kids: {"any": kids}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda kid: {"not": kid}, children),
    )


def segment_ids(rule: dict, org) -> set[int]:
    return set(segment_queryset(rule, org=org, today=TODAY).values_list("id", flat=True))


def expected_ids(rule: dict, plans: list[Plan]) -> set[int]:
    return {plan.id for plan in plans if brute_force(rule, plan)}


# ----------------------------------------------------------------------------------------- tests


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rule=rule_trees())
def test_compiled_query_matches_brute_force_evaluation(world, rule):
    assert segment_ids(rule, world.org) == expected_ids(rule, world.plans)


@pytest.mark.parametrize("name", LEAF_NAMES)
def test_every_field_and_its_negation_split_the_customers(world, name):
    """Each leaf, and ``not`` of it, matches the brute force; together they cover everyone exactly once."""
    if name in TEXT_POOLS:
        rule = {"field": name, "op": "contains", "value": TEXT_POOLS[name][0]}
    elif name in CHOICE_POOLS:
        rule = {"field": name, "op": "eq", "value": CHOICE_POOLS[name][0]}
    elif name in NUMBER_POOLS:
        rule = {"field": name, "op": "gte", "value": NUMBER_POOLS[name][1]}
    elif name == "tags":
        rule = {"field": "tags", "op": "contains", "value": "vip"}
    else:
        rule = {"field": name, "op": "eq", "value": False}
    everyone = {plan.id for plan in world.plans}
    matched, unmatched = segment_ids(rule, world.org), segment_ids({"not": rule}, world.org)
    assert matched == expected_ids(rule, world.plans)
    assert matched | unmatched == everyone
    assert not matched & unmatched


def test_customers_without_a_score_fall_on_the_negative_side(world):
    unscored = {plan.id for plan in world.plans if plan.score is None}
    assert unscored, "the dataset needs customers without a score row"
    high = {"field": "tier", "op": "eq", "value": "high"}
    assert not unscored & segment_ids(high, world.org)
    assert unscored <= segment_ids({"not": high}, world.org)
    assert unscored <= segment_ids({"field": "tier", "op": "ne", "value": "high"}, world.org)
    assert not unscored & segment_ids({"field": "at_risk", "op": "eq", "value": False}, world.org)
    assert unscored <= segment_ids({"field": "r_score", "op": "is_not_set"}, world.org)


def test_days_ago_counts_local_calendar_days(world):
    """An order at 00:00 local time yesterday is 1 day ago although it is two UTC dates back."""
    plan = Plan("Night Owl", "", "", None, local_moment(1, 0, 0), False, False, [], {}, None)
    plan.orders = [(local_moment(1, 0, 0), OrderStatus.COMPLETED, Decimal("10.00"), None)]
    plan.events = [("login", local_moment(2, 23, 59))]
    create_customer(world.org, {}, plan)
    for rule in (
        {"field": "last_order_days_ago", "op": "eq", "value": 1},
        {"field": "created_days_ago", "op": "between", "value": [1, 1]},
        {"event": "login", "op": "did", "within_days": 2},
    ):
        assert plan.id in segment_ids(rule, world.org), rule
    assert plan.id not in segment_ids({"event": "login", "op": "did", "within_days": 1}, world.org)


def test_another_organizations_rows_never_make_a_customer_match(org, other_org):
    """Orders, events and channels of organization B pointing at A's customer are invisible to A's rules."""
    foreign_channel = ChannelFactory(organization=other_org, code="partner")
    own_channel = ChannelFactory(organization=org, code="web")
    customer = CustomerFactory(organization=org, channel=foreign_channel)
    recent = local_moment(1, 12)
    OrderFactory(organization=other_org, customer=customer, ordered_at=recent, channel=own_channel)
    OrderFactory(organization=org, customer=customer, ordered_at=recent, status=OrderStatus.CANCELLED)
    OrderFactory(organization=org, customer=customer, ordered_at=recent, channel=foreign_channel)
    EventFactory(organization=other_org, customer=customer, name="login", occurred_at=recent)
    other_customer = CustomerFactory(organization=other_org, tags=["vip"])
    OrderFactory(customer=other_customer, ordered_at=recent, channel=foreign_channel)

    def matches(rule: dict) -> bool:
        return customer.pk in segment_ids(rule, org)

    assert not matches({"field": "bought_channel", "op": "eq", "value": "partner"})
    assert not matches({"field": "bought_channel", "op": "eq", "value": "web"})
    assert not matches({"field": "channel", "op": "eq", "value": "partner"})
    assert not matches({"field": "channel", "op": "is_set"})
    assert not matches({"event": "login", "op": "did", "within_days": 30})
    assert matches({"event": "login", "op": "did_not", "within_days": 30})
    assert matches({"field": "orders_count", "op": "eq", "value": 1})  # only A's completed order
    assert matches({"field": "orders_revenue", "op": "eq", "value": 59.9})
    assert other_customer.pk not in segment_ids({"field": "tags", "op": "contains", "value": "vip"}, org)


def test_explain_marks_every_node(org):
    channel = ChannelFactory(organization=org, code="web")
    customer = CustomerFactory(organization=org, tags=["vip"], attributes={"city": "Shanghai"}, consent_email=True)
    CustomerScore.objects.create(organization=org, customer=customer, as_of=TODAY, tier="mid", stage="mature")
    OrderFactory(customer=customer, ordered_at=local_moment(3, 12), channel=channel)
    rule = {
        "all": [
            {"field": "consent_email", "op": "eq", "value": True},
            {
                "any": [
                    {"field": "tier", "op": "eq", "value": "high"},
                    {"field": "tags", "op": "contains", "value": "vip"},
                ]
            },
            {"not": {"event": "cart_abandoned", "op": "did", "within_days": 7}},
            {"field": "last_order_days_ago", "op": "lte", "value": 2},
        ]
    }
    result = explain(rule, customer=customer, today=TODAY)
    assert result["matched"] is False
    consent, either, no_cart, recent = result["all"]
    assert consent["matched"] is True
    assert either["matched"] is True
    assert [child["matched"] for child in either["any"]] == [False, True]
    assert no_cart["matched"] is True
    assert no_cart["not"]["matched"] is False
    assert recent == {"field": "last_order_days_ago", "op": "lte", "value": 2, "matched": False}
    assert explain({"any": rule["all"][:3]}, customer=customer, today=TODAY)["matched"] is True


def test_a_three_level_rule_is_one_sql_statement(world):
    rule = {
        "all": [
            {
                "any": [
                    {"field": "tier", "op": "in", "value": ["high", "mid"]},
                    {"not": {"field": "tags", "op": "contains", "value": "vip"}},
                ]
            },
            {
                "any": [
                    {"field": "orders_revenue", "op": "gt", "value": 50},
                    {"event": "login", "op": "did", "within_days": 30},
                ]
            },
            {
                "not": {
                    "all": [
                        {"field": "bought_channel", "op": "eq", "value": "web"},
                        {"field": "attributes.city", "op": "contains", "value": "shang"},
                    ]
                }
            },
            {"field": "last_order_days_ago", "op": "between", "value": [1, 90]},
        ]
    }
    with CaptureQueriesContext(connection) as queries:
        ids = list(segment_queryset(rule, org=world.org, today=TODAY).values_list("id", flat=True))
    assert len(queries.captured_queries) == 1
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_ids(rule, world.plans)


def test_validation_normalizes_whole_numbers_and_lists():
    rule = {
        "all": [
            {"field": "orders_count", "op": "gte", "value": 2.0},
            {"field": "tier", "op": "in", "value": ["high", "high", "mid"]},
            {"event": "login", "op": "did", "within_days": 7.0},
        ]
    }
    assert validate_rules(rule) == {
        "all": [
            {"field": "orders_count", "op": "gte", "value": 2},
            {"field": "tier", "op": "in", "value": ["high", "mid"]},
            {"event": "login", "op": "did", "within_days": 7},
        ]
    }


def nest(depth: int) -> dict:
    rule: dict = {"field": "tier", "op": "eq", "value": "high"}
    for _ in range(depth):
        rule = {"all": [rule]}
    return rule


@pytest.mark.parametrize(
    ("rules", "path", "fragment"),
    [
        (
            {"all": [{"field": "tierr", "op": "eq", "value": "high"}]},
            "rules.all[0].field",
            'Unknown field "tierr" (did you mean "tier"?)',
        ),
        ({"field": "name", "op": "regex", "value": "(a+)+$"}, "rules.op", "no regular-expression operator"),
        (
            {"field": "name", "op": "matches", "value": "a.*"},
            "rules.op",
            'Unknown operator "matches"; name (text) takes eq, ne',
        ),
        (
            {"field": "tier", "op": "gt", "value": "high"},
            "rules.op",
            'Operator "gt" does not apply to tier (choice): use eq, ne, in, not_in',
        ),
        ({"field": "orders_count", "op": "gt", "value": "3"}, "rules.value", "orders_count takes a number, not a text"),
        ({"field": "orders_count", "op": "gt", "value": True}, "rules.value", "takes a number, not a boolean"),
        ({"field": "r_score", "op": "gt", "value": 2.5}, "rules.value", "r_score takes a whole number"),
        ({"field": "tier", "op": "eq", "value": ["high"]}, "rules.value", "tier takes a text value, not a list"),
        (
            {"field": "tier", "op": "eq", "value": "gold"},
            "rules.value",
            'Unknown tier "gold"; tier is one of high, mid, potential',
        ),
        ({"field": "at_risk", "op": "eq", "value": "yes"}, "rules.value", "at_risk takes true or false"),
        ({"any": [{"all": []}]}, "rules.any[0].all", '"all" needs at least one rule'),
        ({"not": {"any": "x"}}, "rules.not.any", '"any" takes a list of rules'),
        (nest(7), "rules" + ".all[0]" * 6, "Groups nest at most 6 deep"),
        (
            {
                "any": [{"field": "name", "op": "eq", "value": "x"}] * 60
                + [{"all": [{"field": "phone", "op": "is_set"}] * 60}]
            },
            "rules",
            f"at most {MAX_CONDITIONS} conditions",
        ),
        ({"field": "name", "op": "contains", "value": "x" * 201}, "rules.value", "at most 200 characters"),
        ({"field": "name", "op": "in", "value": [str(i) for i in range(501)]}, "rules.value", "at most 500 values"),
        ({"field": "name", "op": "in", "value": ["ok", 3]}, "rules.value[1]", "name takes a text value, not a number"),
        ({"field": "attributes.ci-ty", "op": "eq", "value": "x"}, "rules.field", 'Bad attribute key "ci-ty"'),
        ({"field": "attributes.a__b", "op": "eq", "value": "x"}, "rules.field", 'without "__"'),
        ({"field": "orders_revenue", "op": "between", "value": [100, 10]}, "rules.value", "low <= high"),
        ({"field": "orders_revenue", "op": "between", "value": [1]}, "rules.value", "between takes [low, high]"),
        ({"event": "login", "op": "did", "within_days": 0}, "rules.within_days", "from 1 to 3650"),
        ({"event": "login", "op": "happened", "within_days": 3}, "rules.op", "use did, did_not"),
        (["tier", "eq", "high"], "rules", "A rule is a JSON object"),
        ("tier = high", "rules", "A rule is a JSON object"),
        ({"field": "tier", "all": [], "op": "eq"}, "rules", 'this one has "all" and "field"'),
        ({}, "rules", "this one has none of them"),
        ({"field": "tier", "op": "eq", "value": "high", "extra": 1}, "rules", 'Unknown key "extra"'),
        ({"field": "email", "op": "is_set", "value": "x"}, "rules.value", "is_set takes no value"),
        ({"field": "email", "op": "eq"}, "rules.value", "eq needs a value"),
        ({"field": "email", "op": "eq", "value": ""}, "rules.value", "use is_set or is_not_set"),
        ({"field": "churn_probability", "op": "gt", "value": float("nan")}, "rules.value", "finite number"),
        ({"field": "tags", "op": "eq", "value": "vip"}, "rules.op", "use contains, not_contains"),
    ],
)
def test_bad_rules_are_rejected_with_the_path_and_what_is_allowed(rules, path, fragment):
    with pytest.raises(ValidationError) as caught:
        validate_rules(rules)
    messages = caught.value.message_dict
    assert path in messages, messages
    assert any(fragment in message for message in messages[path]), messages[path]


def test_the_limits_themselves_are_allowed():
    assert validate_rules(nest(6)) == nest(6)
    hundred = {"any": [{"field": "orders_count", "op": "gte", "value": n} for n in range(MAX_CONDITIONS)]}
    assert validate_rules(hundred) == hundred
    assert validate_rules({"field": "name", "op": "in", "value": [str(i) for i in range(500)]})


def test_every_error_of_a_rule_is_reported_at_once():
    rules = {"all": [{"field": "tierr", "op": "eq", "value": "x"}, {"field": "tier", "op": "regex", "value": ".*"}]}
    with pytest.raises(ValidationError) as caught:
        validate_rules(rules)
    assert set(caught.value.message_dict) == {"rules.all[0].field", "rules.all[1].op"}


def test_compile_validates_too(org):
    with pytest.raises(ValidationError):
        compile_rules({"field": "name", "op": "regex", "value": "(a|a)*"}, org=org, today=TODAY)
