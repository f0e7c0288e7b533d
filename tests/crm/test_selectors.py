"""CRM selectors: what the customer list, the customer page, the task inbox and the home page show."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from crm import selectors
from crm.models import Customer, OrderStatus, TaskStatus
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, TaskFactory

NOW = timezone.now()


def external_ids(customers) -> list[str]:
    return [customer.external_id for customer in customers]


# customers_search ------------------------------------------------------------------------------------------


@pytest.fixture
def people(org):
    """Three customers with distinct names, e-mails and phones, created a day apart (C-A oldest)."""
    return [
        CustomerFactory(
            organization=org,
            external_id="C-A",
            name="Zhang Wei",
            email="zhang.wei@example.com",
            phone="+86 138 0000 1111",
            created_at=NOW - datetime.timedelta(days=3),
        ),
        CustomerFactory(
            organization=org,
            external_id="C-B",
            name="Li Na",
            email="na.li@shop.example",
            phone="+86 139 2222 3333",
            created_at=NOW - datetime.timedelta(days=2),
        ),
        CustomerFactory(
            organization=org,
            external_id="C-C",
            name="Anna Schmidt",
            email="anna@example.de",
            phone="+49 30 1234",
            created_at=NOW - datetime.timedelta(days=1),
        ),
    ]


def test_customers_search_matches_part_of_a_name_case_insensitively(org, people):
    assert external_ids(selectors.customers_search(org=org, query="ZHANG")) == ["C-A"]


def test_customers_search_matches_part_of_an_email(org, people):
    assert external_ids(selectors.customers_search(org=org, query="shop.example")) == ["C-B"]


def test_customers_search_matches_part_of_a_phone_number(org, people):
    assert external_ids(selectors.customers_search(org=org, query="2222")) == ["C-B"]


def test_customers_search_matches_a_whole_external_id_in_any_case(org, people):
    assert external_ids(selectors.customers_search(org=org, query="c-b")) == ["C-B"]


def test_customers_search_does_not_match_part_of_an_external_id(org, people):
    assert external_ids(selectors.customers_search(org=org, query="C-")) == []


def test_customers_search_ignores_surrounding_blanks_in_the_query(org, people):
    assert external_ids(selectors.customers_search(org=org, query="  anna ")) == ["C-C"]


def test_customers_search_never_returns_another_organizations_customers(org, other_org, people):
    CustomerFactory(organization=other_org, external_id="X-1", name="Zhang San")
    assert external_ids(selectors.customers_search(org=org, query="zhang")) == ["C-A"]


def test_customers_search_filters_by_channel_code(org, people):
    web = ChannelFactory(organization=org, code="web")
    Customer.objects.filter(external_id="C-B").update(channel=web)
    assert external_ids(selectors.customers_search(org=org, channel_code="web")) == ["C-B"]


def test_customers_search_by_tag_matches_the_whole_tag_only(org):
    CustomerFactory(organization=org, external_id="T-1", tags=["b2b", "vip"])
    CustomerFactory(organization=org, external_id="T-2", tags=["vip-gold"])
    CustomerFactory(organization=org, external_id="T-3", tags=[])
    assert external_ids(selectors.customers_search(org=org, tag="vip")) == ["T-1"]


def test_customers_search_by_tag_is_case_sensitive_on_every_database(org):
    CustomerFactory(organization=org, external_id="T-1", tags=["VIP"])
    CustomerFactory(organization=org, external_id="T-2", tags=["vip"])
    assert external_ids(selectors.customers_search(org=org, tag="vip")) == ["T-2"]


def test_customers_search_by_tag_matches_tags_with_quotes_and_chinese_text(org):
    CustomerFactory(organization=org, external_id="T-1", tags=['say "hi"', "会员"])
    CustomerFactory(organization=org, external_id="T-2", tags=["say hi"])
    assert external_ids(selectors.customers_search(org=org, tag="会员")) == ["T-1"]
    assert external_ids(selectors.customers_search(org=org, tag='say "hi"')) == ["T-1"]


def test_customers_search_by_tag_treats_like_wildcards_literally(org):
    CustomerFactory(organization=org, external_id="T-1", tags=["a_b"])
    CustomerFactory(organization=org, external_id="T-2", tags=["axb"])
    assert external_ids(selectors.customers_search(org=org, tag="a_b")) == ["T-1"]


def test_customers_search_by_owner_returns_only_that_owners_customers(org, people, ops_user):
    Customer.objects.filter(external_id="C-C").update(owner=ops_user)
    assert external_ids(selectors.customers_search(org=org, owner=ops_user)) == ["C-C"]


def test_customers_search_unassigned_returns_customers_without_owner(org, people, ops_user):
    Customer.objects.filter(external_id="C-C").update(owner=ops_user)
    assert external_ids(selectors.customers_search(org=org, unassigned=True, sort="oldest")) == ["C-A", "C-B"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["C-C", "C-B", "C-A"]),
        ("oldest", ["C-A", "C-B", "C-C"]),
        ("name", ["C-C", "C-B", "C-A"]),
        ("-name", ["C-A", "C-B", "C-C"]),
        ("external_id", ["C-A", "C-B", "C-C"]),
    ],
)
def test_customers_search_sorts_by_the_chosen_key(org, people, sort, expected):
    assert external_ids(selectors.customers_search(org=org, sort=sort)) == expected


def test_customers_search_falls_back_to_newest_first_for_an_unknown_sort(org, people):
    assert external_ids(selectors.customers_search(org=org, sort="; DROP TABLE")) == ["C-C", "C-B", "C-A"]


# customer_order_summary ------------------------------------------------------------------------------------


def test_customer_order_summary_counts_only_completed_orders(org):
    customer = CustomerFactory(organization=org)
    first = NOW - datetime.timedelta(days=40)
    last = NOW - datetime.timedelta(days=10)
    OrderFactory(customer=customer, amount=Decimal("100.00"), ordered_at=first)
    OrderFactory(customer=customer, amount=Decimal("50.50"), ordered_at=last)
    OrderFactory(customer=customer, amount=Decimal("900.00"), status=OrderStatus.REFUNDED, ordered_at=NOW)
    OrderFactory(customer=customer, amount=Decimal("800.00"), status=OrderStatus.CANCELLED, ordered_at=NOW)
    OrderFactory(customer=customer, amount=Decimal("700.00"), status=OrderStatus.PENDING, ordered_at=NOW)

    summary = selectors.customer_order_summary(customer=customer)

    assert summary.order_count == 2
    assert summary.revenue == Decimal("150.50")
    assert (summary.first_order_at, summary.last_order_at) == (first, last)


def test_customer_order_summary_rounds_the_average_order_value_to_cents(org):
    customer = CustomerFactory(organization=org)
    for amount in ("10.00", "10.00", "10.01"):
        OrderFactory(customer=customer, amount=Decimal(amount))
    # 30.01 / 3 = 10.00333… → 10.00
    assert selectors.customer_order_summary(customer=customer).average_order_value == Decimal("10.00")


def test_customer_order_summary_of_a_customer_without_orders_is_zero(org):
    summary = selectors.customer_order_summary(customer=CustomerFactory(organization=org))
    assert (summary.order_count, summary.revenue, summary.average_order_value) == (0, Decimal("0"), Decimal("0"))
    assert (summary.first_order_at, summary.last_order_at) == (None, None)


# tasks_inbox -----------------------------------------------------------------------------------------------


@pytest.fixture
def inbox(org, other_org, ops_user, admin_user):
    """Mine (due later, due sooner, undated, done), a colleague's, an unassigned one, and another org's."""
    today = NOW.date()
    customer = CustomerFactory(organization=org)
    foreign = CustomerFactory(organization=other_org)
    return {
        "mine_later": TaskFactory(
            customer=customer,
            title="mine later",
            owner=ops_user,
            due_date=today + datetime.timedelta(days=30),
        ),
        "mine_soon": TaskFactory(customer=customer, title="mine soon", owner=ops_user, due_date=today),
        "mine_undated": TaskFactory(customer=customer, title="mine undated", owner=ops_user),
        "mine_done": TaskFactory(customer=customer, title="mine done", owner=ops_user, status=TaskStatus.DONE),
        "colleague": TaskFactory(customer=customer, title="colleague", owner=admin_user, due_date=today),
        "unassigned": TaskFactory(customer=customer, title="unassigned", due_date=today),
        "foreign": TaskFactory(customer=foreign, title="foreign"),
    }


def titles(tasks) -> list[str]:
    return [task.title for task in tasks]


def test_tasks_inbox_mine_lists_my_open_tasks_soonest_due_first_and_undated_last(org, ops_user, inbox):
    assert titles(selectors.tasks_inbox(org=org, user=ops_user)) == ["mine soon", "mine later", "mine undated"]


def test_tasks_inbox_unassigned_lists_open_tasks_without_owner(org, ops_user, inbox):
    assert titles(selectors.tasks_inbox(org=org, user=ops_user, scope="unassigned")) == ["unassigned"]


def test_tasks_inbox_all_lists_everyones_open_tasks_in_the_organization(org, ops_user, inbox):
    tasks = selectors.tasks_inbox(org=org, user=ops_user, scope="all")
    assert sorted(titles(tasks)) == ["colleague", "mine later", "mine soon", "mine undated", "unassigned"]


def test_tasks_inbox_with_status_done_lists_only_done_tasks(org, ops_user, inbox):
    assert titles(selectors.tasks_inbox(org=org, user=ops_user, status=TaskStatus.DONE)) == ["mine done"]


def test_tasks_inbox_with_empty_status_lists_tasks_of_every_status(org, ops_user, inbox):
    tasks = selectors.tasks_inbox(org=org, user=ops_user, status="")
    assert sorted(titles(tasks)) == ["mine done", "mine later", "mine soon", "mine undated"]


# org_counts ------------------------------------------------------------------------------------------------


def test_org_counts_counts_this_organizations_rows_and_open_tasks_only(org, other_org):
    customers = [CustomerFactory(organization=org) for _ in range(3)]
    ChannelFactory(organization=org)
    OrderFactory(customer=customers[0])
    OrderFactory(customer=customers[1])
    TaskFactory(customer=customers[0])
    TaskFactory(customer=customers[0], status=TaskStatus.DONE)
    TaskFactory(customer=customers[1], status=TaskStatus.CANCELLED)
    foreign = CustomerFactory(organization=other_org)
    OrderFactory(customer=foreign)
    TaskFactory(customer=foreign)
    ChannelFactory(organization=other_org)

    assert selectors.org_counts(org=org) == {"customers": 3, "orders": 2, "channels": 1, "open_tasks": 1}
