"""The at-risk list and its bulk follow-up: filters, owner assignment, win-back tasks, roles, tenancy and the cap."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from accounts.services import Actor
from crm.models import Customer, Task, TaskStatus
from reporting import at_risk
from reporting.at_risk import WIN_BACK_TITLE, at_risk_follow_up
from segmentation.models import CustomerScore, Stage, Tier
from tests.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db

URL = "/reports/at-risk/"


def scored(org, name, *, tier=Tier.HIGH, value="1000", at_risk=True, owner=None):
    customer = CustomerFactory(organization=org, name=name, owner=owner)
    CustomerScore.objects.create(
        organization=org,
        customer=customer,
        as_of=timezone.localdate(),
        stage=Stage.GROWING,
        tier=tier,
        at_risk=at_risk,
        customer_value=Decimal(value),
        churn_probability=0.7,
        last_purchase_on=timezone.localdate() - datetime.timedelta(days=60),
    )
    return customer


@pytest.fixture
def flagged(org):
    return {
        "big": scored(org, "Big High", value="9000"),
        "mid": scored(org, "Mid Customer", tier=Tier.MID, value="500"),
        "small": scored(org, "Small High", value="1200"),
        "safe": scored(org, "Safe Customer", at_risk=False),
    }


def names_in_table(page: str) -> list[str]:
    import re

    table = re.search(r'<table class="compact striped" id="at-risk-table">.*?</table>', page, re.S).group(0)
    return re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', table)


def test_the_url_is_named_reporting_at_risk():
    assert reverse("reporting:at-risk") == URL


# The list ----------------------------------------------------------------------------------------------------


def test_list_shows_only_customers_at_risk_most_valuable_first(client, ops_user, flagged):
    client.force_login(ops_user)

    page = client.get(URL).content.decode()

    assert names_in_table(page) == ["Big High", "Small High", "Mid Customer"]
    assert "3 customers at risk" in page


def test_list_filters_by_tier_minimum_value_and_unassigned_or_mine(client, org, ops_user, flagged):
    scored(org, "Mine High", value="3000", owner=ops_user)
    client.force_login(ops_user)

    assert names_in_table(client.get(URL, {"tier": "mid"}).content.decode()) == ["Mid Customer"]
    assert names_in_table(client.get(URL, {"min_value": "1500"}).content.decode()) == ["Big High", "Mine High"]
    unassigned = names_in_table(client.get(URL, {"owner": "unassigned"}).content.decode())
    assert "Mine High" not in unassigned and len(unassigned) == 3
    assert names_in_table(client.get(URL, {"owner": "me"}).content.decode()) == ["Mine High"]


def test_list_survives_nonsense_filters(client, ops_user, flagged):
    client.force_login(ops_user)

    response = client.get(URL, {"tier": "gold", "min_value": "lots", "owner": "boss", "page": "x"})

    assert response.status_code == 200
    assert len(names_in_table(response.content.decode())) == 3


def test_list_pages_fifty_at_a_time(client, org, ops_user):
    for number in range(55):
        scored(org, f"Customer {number:02d}", value=str(1000 + number))
    client.force_login(ops_user)

    first = client.get(URL).content.decode()
    second = client.get(URL, {"page": 2}).content.decode()

    assert len(names_in_table(first)) == 50 and len(names_in_table(second)) == 5
    assert "1 / 2" in first


def test_list_empty_state_says_where_flags_come_from(client, ops_user):
    client.force_login(ops_user)

    assert "Flags come from the nightly scores" in client.get(URL).content.decode()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.VIEWER])
def test_marketers_and_viewers_read_the_list_without_the_bulk_form(client, org, member_factory, flagged, role):
    client.force_login(member_factory(org, role))

    page = client.get(URL).content.decode()

    assert len(names_in_table(page)) == 3
    assert 'id="follow-up-form"' not in page and 'id="readonly-hint"' in page


# Bulk action through the page ---------------------------------------------------------------------------------


def post(client, data, query=""):
    return client.post(URL + query, data)


def test_ops_assigns_selected_customers_to_themself_with_a_task_due_in_n_days(client, ops_user, flagged):
    client.force_login(ops_user)
    picked = [flagged["big"], flagged["mid"]]

    response = post(
        client,
        {
            "scope": "selected",
            "customer": [c.pk for c in picked],
            "assign": "on",
            "owner": ops_user.pk,
            "create_task": "on",
            "due_in_days": 3,
        },
    )

    assert response.status_code == 302 and response.url == URL
    due = timezone.localdate() + datetime.timedelta(days=3)
    for customer in picked:
        customer.refresh_from_db()
        assert customer.owner == ops_user
        task = Task.objects.get(customer=customer)
        assert (task.title, task.owner, task.due_date, task.status) == (str(WIN_BACK_TITLE), ops_user, due, "open")
        assert "churn probability 70%" in task.description
    flagged["small"].refresh_from_db()
    assert flagged["small"].owner is None
    message = client.get(URL).content.decode()
    assert "2 customers handled; 2 owners changed; 2 win-back tasks created." in message


def test_running_the_action_twice_creates_no_second_win_back_task(client, ops_user, flagged):
    client.force_login(ops_user)
    data = {"scope": "selected", "customer": [flagged["big"].pk], "create_task": "on", "due_in_days": 7}

    post(client, data)
    post(client, data)

    assert Task.objects.filter(customer=flagged["big"]).count() == 1
    assert "task open" in client.get(URL).content.decode()


def test_a_done_win_back_task_does_not_stop_a_new_one(org, ops_user, flagged):
    TaskFactory(customer=flagged["big"], title=str(WIN_BACK_TITLE), status=TaskStatus.DONE)

    result = at_risk_follow_up(
        org=org, actor=Actor(user=ops_user), customer_ids=[flagged["big"].pk], due_in_days=1, today=timezone.localdate()
    )

    assert result.tasks_created == 1


def test_all_matching_asks_for_confirmation_with_the_count_then_acts(client, ops_user, flagged):
    client.force_login(ops_user)
    data = {"scope": "all", "assign": "on", "owner": ops_user.pk, "create_task": "on", "due_in_days": 5}

    asked = post(client, data, "?tier=high")

    assert asked.status_code == 200
    assert "2 customers match the filter." in asked.content.decode()
    due = (timezone.localdate() + datetime.timedelta(days=5)).isoformat()
    assert f"Create a win-back task due on {due}" in asked.content.decode()
    assert "Assign them to" in asked.content.decode()
    assert Task.objects.count() == 0

    done = post(client, {**data, "confirm": "on"}, "?tier=high")

    assert done.status_code == 302 and done.url == URL + "?tier=high"
    assert set(Task.objects.values_list("customer__name", flat=True)) == {"Big High", "Small High"}


@pytest.mark.parametrize("role", [Role.MARKETER, Role.VIEWER])
def test_marketers_and_viewers_get_403_on_post_and_nothing_is_written(client, org, member_factory, flagged, role):
    user = member_factory(org, role)
    client.force_login(user)

    response = post(
        client,
        {"scope": "selected", "customer": [flagged["big"].pk], "assign": "on", "owner": user.pk, "create_task": "on"},
    )

    assert response.status_code == 403
    assert Task.objects.count() == 0
    flagged["big"].refresh_from_db()
    assert flagged["big"].owner is None


def test_admin_may_assign(client, admin_user, flagged):
    client.force_login(admin_user)

    response = post(
        client, {"scope": "selected", "customer": [flagged["big"].pk], "assign": "on", "owner": admin_user.pk}
    )

    assert response.status_code == 302
    flagged["big"].refresh_from_db()
    assert flagged["big"].owner == admin_user


def test_another_organizations_customer_in_the_post_is_refused_and_nothing_is_written(
    client, ops_user, other_org, flagged
):
    foreign = scored(other_org, "Foreign Customer")
    client.force_login(ops_user)

    response = post(
        client,
        {
            "scope": "selected",
            "customer": [flagged["big"].pk, foreign.pk],
            "assign": "on",
            "owner": ops_user.pk,
            "create_task": "on",
            "due_in_days": 2,
        },
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert f"1 selected customer is not in this organization (id {foreign.pk}). Nothing was changed." in page
    assert "Foreign Customer" not in page
    assert Task.objects.count() == 0
    assert Customer.objects.filter(owner__isnull=False).count() == 0
    assert not AuditLog.objects.filter(action__in=["task.create", "customer.update", "at_risk.follow_up"]).exists()


def test_owner_must_be_a_member_of_the_organization(client, ops_user, other_org, member_factory, flagged):
    stranger = member_factory(other_org, Role.OPS)
    client.force_login(ops_user)

    response = post(
        client, {"scope": "selected", "customer": [flagged["big"].pk], "assign": "on", "owner": stranger.pk}
    )

    assert response.status_code == 400
    assert "not a member of the organization" in response.content.decode()
    flagged["big"].refresh_from_db()
    assert flagged["big"].owner is None


def test_a_post_without_customers_or_without_an_action_explains_what_is_missing(client, ops_user, flagged):
    client.force_login(ops_user)

    nothing_picked = post(client, {"scope": "selected", "create_task": "on", "due_in_days": 3}).content.decode()
    no_action = post(client, {"scope": "selected", "customer": [flagged["big"].pk]}).content.decode()

    assert "Select at least one customer" in nothing_picked
    assert "Choose an owner, a follow-up task, or both." in no_action
    assert Task.objects.count() == 0


# The service -------------------------------------------------------------------------------------------------


def test_service_refuses_more_than_the_cap_and_writes_nothing(org, ops_user, monkeypatch):
    monkeypatch.setattr(at_risk, "FOLLOW_UP_LIMIT", 2)
    customers = [scored(org, f"C{n}") for n in range(3)]

    with pytest.raises(ValidationError, match="At most 2 customers per action"):
        at_risk_follow_up(
            org=org,
            actor=Actor(user=ops_user),
            customer_ids=[c.pk for c in customers],
            owner=ops_user,
            today=timezone.localdate(),
        )
    assert not Customer.objects.filter(owner=ops_user).exists()


def test_all_matching_handles_only_the_cap_most_valuable_and_says_so(client, org, ops_user, monkeypatch):
    monkeypatch.setattr(at_risk, "FOLLOW_UP_LIMIT", 2)
    for number, value in enumerate(("100", "300", "200")):
        scored(org, f"C{number}", value=value)
    client.force_login(ops_user)
    data = {"scope": "all", "assign": "on", "owner": ops_user.pk}

    asked = post(client, data).content.decode()
    post(client, {**data, "confirm": "on"})

    assert "3 customers match the filter." in asked and "One action handles at most 2" in asked
    assert sorted(Customer.objects.filter(owner=ops_user).values_list("name", flat=True)) == ["C1", "C2"]


def test_service_audits_each_change_and_the_action(org, ops_user, flagged):
    at_risk_follow_up(
        org=org,
        actor=Actor(user=ops_user),
        customer_ids=[flagged["big"].pk, flagged["small"].pk],
        owner=ops_user,
        due_in_days=0,
        today=timezone.localdate(),
    )

    assert AuditLog.objects.filter(action="customer.update").count() == 2
    assert AuditLog.objects.filter(action="task.create").count() == 2
    summary = AuditLog.objects.get(action="at_risk.follow_up")
    assert summary.after["tasks_created"] == 2 and summary.after["owner"] == ops_user.email


def test_task_without_a_new_owner_goes_to_the_customers_owner(org, ops_user, member_factory):
    colleague = member_factory(org, Role.OPS)
    owned = scored(org, "Owned", owner=colleague)
    nobodys = scored(org, "Nobody's")

    at_risk_follow_up(
        org=org,
        actor=Actor(user=ops_user),
        customer_ids=[owned.pk, nobodys.pk],
        due_in_days=2,
        today=timezone.localdate(),
    )

    assert Task.objects.get(customer=owned).owner == colleague
    assert Task.objects.get(customer=nobodys).owner is None
