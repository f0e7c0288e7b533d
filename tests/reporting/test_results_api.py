"""The read API over the nightly results: scores, KPIs, channel metrics, cohorts, alerts and the value model.

One shop (two channels with weekly spend, 120 buyers whose purchases follow the BG/NBD story, contacts who
never bought, events and survey answers) is built once for the module and the nightly pipeline runs on three
days; every test then reads what the run stored and compares the API with the rows and the raw data.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db.models import Min, Sum
from rest_framework.test import APIClient

from accounts.models import Organization
from accounts.services import Actor
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Order
from reporting import nightly
from reporting.models import (
    Alert,
    AlertKind,
    AlertRule,
    ChannelMetric,
    CohortCell,
    JobStatus,
    KpiSnapshot,
    MetricPeriod,
)
from reporting.services import alert_acknowledge, alert_rules_for
from retention.models import ClvModelReport, FitStatus
from segmentation.models import CustomerScore
from tests.factories import ChannelFactory, CustomerFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
HISTORY_START = datetime.date(2025, 1, 1)
AS_OF = datetime.date(2026, 10, 31)
#: The nightly runs of the shop: 30 days before the last one (for the high-value retention KPI), then two nights.
RUN_DAYS = (datetime.date(2026, 10, 1), datetime.date(2026, 10, 30), AS_OF)
BUYERS = 120
CONTACTS_WITHOUT_ORDERS = 15
#: A seed whose data give converged BG/NBD and Gamma-Gamma fits and a holdout calibration table on every night.
SEED = 1

SCORE_FIELDS = {
    "customer",
    "customer_external_id",
    "customer_name",
    "as_of",
    "tier",
    "stage",
    "rfm_segment",
    "r_score",
    "f_score",
    "m_score",
    "purchase_days",
    "first_purchase_on",
    "last_purchase_on",
    "recency_days",
    "frequency",
    "recency_t_x",
    "age_t",
    "revenue",
    "mean_repeat_value",
    "p_alive",
    "expected_purchases_30",
    "expected_purchases_90",
    "expected_purchases_365",
    "expected_spend",
    "predicted_value",
    "customer_value",
    "churned",
    "churn_probability",
    "at_risk",
}

#: Every list of the nightly results, and a model to find one of its rows for the detail route.
RESULT_LISTS = {
    "/api/v1/scores/": CustomerScore,
    "/api/v1/kpis/": KpiSnapshot,
    "/api/v1/channel-metrics/": ChannelMetric,
    "/api/v1/cohorts/": CohortCell,
    "/api/v1/alerts/": Alert,
    "/api/v1/models/clv/": ClvModelReport,
}


@dataclass(frozen=True)
class Shop:
    org: Organization
    search: Channel
    social: Channel


def _at(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=UTC)


def build_shop(org: Organization, *, seed: int = SEED) -> Shop:
    """Customers, orders, spend, events and answers from ``HISTORY_START`` to ``AS_OF``, drawn with ``seed``.

    Each buyer has a purchase rate (gamma) and a dropout chance after each repeat purchase (beta), and spends
    gamma-distributed amounts around a personal mean: the stories BG/NBD and Gamma-Gamma assume, so both fit.
    """
    rng = random.Random(seed)
    search = ChannelFactory(organization=org, code="search", name="Search ads")
    social = ChannelFactory(organization=org, code="social", name="Social media")
    spend = []
    week = HISTORY_START
    while week <= AS_OF:
        spend.append(
            ChannelSpend(organization=org, channel=search, date=week, amount=Decimal(300 + rng.randint(0, 100)))
        )
        spend.append(
            ChannelSpend(organization=org, channel=social, date=week, amount=Decimal(120 + rng.randint(0, 80)))
        )
        week += datetime.timedelta(days=7)
    ChannelSpend.objects.bulk_create(spend)

    orders, events, answers = [], [], []
    span = (AS_OF - HISTORY_START).days
    for n in range(BUYERS):
        created = HISTORY_START + datetime.timedelta(days=rng.randint(0, span - 5))
        customer = CustomerFactory(
            organization=org,
            external_id=f"SHOP{n:04d}",
            name=f"Shopper {n:03d}",
            channel=(search, social, None)[n % 3],
            created_at=_at(created, 9),
        )
        rate = rng.gammavariate(0.6, 1 / 30)
        dropout = rng.betavariate(0.7, 2.5)
        worth = rng.gammavariate(4.0, 1 / 60)
        days = [created]
        while True:
            day = days[-1] + datetime.timedelta(days=1 + min(1000, int(rng.expovariate(rate))))
            if day > AS_OF:
                break
            days.append(day)
            if rng.random() < dropout:
                break
        for index, day in enumerate(days):
            amount = max(5.0, rng.gammavariate(6.0, 1 / worth))
            orders.append(
                Order(
                    organization=org,
                    customer=customer,
                    external_id=f"SO{n:04d}-{index}",
                    ordered_at=_at(day, 14),
                    amount=Decimal(str(round(amount, 2))),
                    currency="CNY",
                )
            )
        for k in (0, 1, 7):
            if rng.random() < 0.7:
                events.append(
                    Event(
                        organization=org,
                        customer=customer,
                        name="page_view",
                        occurred_at=_at(created + datetime.timedelta(days=k), 10),
                    )
                )
        answered_at = _at(AS_OF - datetime.timedelta(days=rng.randint(0, 25)))
        if rng.random() < 0.3:
            answers.append(
                Feedback(
                    organization=org,
                    customer=customer,
                    kind="nps",
                    score=rng.randint(0, 10),
                    scale_max=10,
                    answered_at=answered_at,
                )
            )
        elif rng.random() < 0.2:
            answers.append(
                Feedback(
                    organization=org,
                    customer=customer,
                    kind="csat",
                    score=rng.randint(1, 5),
                    scale_max=5,
                    answered_at=answered_at,
                )
            )
    for n in range(CONTACTS_WITHOUT_ORDERS):
        CustomerFactory(
            organization=org,
            external_id=f"LEAD{n:04d}",
            name=f"Lead {n:03d}",
            channel=(search, social)[n % 2],
            created_at=_at(AS_OF - datetime.timedelta(days=rng.randint(1, 150)), 9),
        )
    Order.objects.bulk_create(orders)
    Event.objects.bulk_create(events)
    Feedback.objects.bulk_create(answers)
    return Shop(org=org, search=search, social=social)


def open_shop(django_db_blocker) -> Iterator[Shop]:
    """Build the shop (organization ``acme``, the conftest ``org``) and run the nightly on ``RUN_DAYS``.

    The rows are committed, outside the tests' transactions, so every test of a module reads the same run; each
    test's own writes (acknowledgements, members, keys) are rolled back as usual. The shop is deleted at the end,
    also when building it failed. The monthly churn rule's threshold is 0, so every night raises that alert.
    """
    with django_db_blocker.unblock():
        org = OrganizationFactory(slug="acme", name="Acme Retail")
    try:
        with django_db_blocker.unblock():
            shop = build_shop(org)
            alert_rules_for(org)
            AlertRule.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN).update(threshold=Decimal("0"))
            for day in RUN_DAYS:
                job = nightly.run_nightly(org=org, as_of=day, triggered_by="test")
                assert job.status == JobStatus.SUCCEEDED, job.error
        yield shop
    finally:
        with django_db_blocker.unblock():
            org.delete()


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker) -> Iterator[Shop]:
    yield from open_shop(django_db_blocker)


def _results(client, url: str, params: dict | None = None) -> list[dict]:
    """Every row of a list, following the cursor's ``next`` links."""
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    body = response.json()
    rows = list(body["results"])
    while body["next"]:
        body = client.get(body["next"]).json()
        rows.extend(body["results"])
    return rows


def _stored_scores(org, **lookup) -> set[int]:
    return set(CustomerScore.objects.for_org(org).filter(**lookup).values_list("customer_id", flat=True))


# Scores ------------------------------------------------------------------------------------------------------


def test_scores_list_every_customer_with_the_documented_fields(shop, read_api):
    """All 135 customers (buyers and contacts) are listed across cursor pages, each with the full score record."""
    rows = _results(read_api, "/api/v1/scores/")

    assert len(rows) == BUYERS + CONTACTS_WITHOUT_ORDERS
    assert {row["customer"] for row in rows} == set(Customer.objects.for_org(shop.org).values_list("id", flat=True))
    assert all(set(row) == SCORE_FIELDS for row in rows)
    assert {row["as_of"] for row in rows} == {AS_OF.isoformat()}


def test_a_score_row_carries_the_stored_numbers(shop, read_api):
    """The most valuable customer's row: money as exact decimals, the model's numbers as stored."""
    top = CustomerScore.objects.for_org(shop.org).select_related("customer").order_by("-customer_value").first()

    (row,) = _results(read_api, "/api/v1/scores/", {"customer_external_id": top.customer.external_id})

    assert row["customer"] == top.customer_id
    assert row["customer_name"] == top.customer.name
    assert (row["tier"], row["stage"], row["rfm_segment"]) == ("high", top.stage, top.rfm_segment)
    assert Decimal(row["customer_value"]) == top.customer_value
    assert Decimal(row["revenue"]) == top.revenue
    assert Decimal(row["predicted_value"]) == top.predicted_value
    assert row["purchase_days"] == top.purchase_days > 1
    assert row["p_alive"] == pytest.approx(top.p_alive)
    assert row["last_purchase_on"] == top.last_purchase_on.isoformat()


def test_a_contact_who_never_bought_is_scored_without_tier_or_value(shop, read_api):
    (row,) = _results(read_api, "/api/v1/scores/", {"customer_external_id": "LEAD0000"})

    assert row["purchase_days"] == 0
    assert row["tier"] == ""
    assert row["last_purchase_on"] is None
    assert Decimal(row["customer_value"]) == 0


@pytest.mark.parametrize(
    ("params", "lookup"),
    [
        ({"tier": "high"}, {"tier": "high"}),
        ({"tier": "potential"}, {"tier": "potential"}),
        ({"stage": "churned"}, {"stage": "churned"}),
        ({"stage": "growing"}, {"stage": "growing"}),
        ({"segment": "champions"}, {"rfm_segment": "champions"}),
        ({"segment": "at_risk"}, {"rfm_segment": "at_risk"}),
        ({"at_risk": "true"}, {"at_risk": True}),
        ({"at_risk": "false"}, {"at_risk": False}),
        ({"churned": "true"}, {"churned": True}),
        ({"tier": "mid", "at_risk": "true"}, {"tier": "mid", "at_risk": True}),
    ],
)
def test_score_filters_return_exactly_the_matching_customers(shop, read_api, params, lookup):
    """Each filter keeps exactly the customers whose stored score matches, across every cursor page."""
    expected = _stored_scores(shop.org, **lookup)
    assert 0 < len(expected) < BUYERS + CONTACTS_WITHOUT_ORDERS  # the filter has something to keep and to drop

    listed = {row["customer"] for row in _results(read_api, "/api/v1/scores/", params)}

    assert listed == expected


def test_score_value_range_keeps_customers_between_both_bounds_inclusive(shop, read_api):
    """``min_value``/``max_value`` bound the customer value, and a customer exactly on a bound is kept."""
    values = sorted(CustomerScore.objects.for_org(shop.org).values_list("customer_value", flat=True))
    low, high = values[40], values[100]

    rows = _results(read_api, "/api/v1/scores/", {"min_value": str(low), "max_value": str(high)})

    assert {row["customer"] for row in rows} == _stored_scores(
        shop.org, customer_value__gte=low, customer_value__lte=high
    )
    assert {Decimal(row["customer_value"]) for row in rows} >= {low, high}
    above = _results(read_api, "/api/v1/scores/", {"min_value": str(high)})
    assert all(Decimal(row["customer_value"]) >= high for row in above)
    assert len(above) == len(_stored_scores(shop.org, customer_value__gte=high))


def test_score_filter_by_external_id_finds_one_customer_and_an_unknown_one_none(shop, read_api):
    (row,) = _results(read_api, "/api/v1/scores/", {"customer_external_id": "SHOP0007"})
    assert row["customer_external_id"] == "SHOP0007"
    assert _results(read_api, "/api/v1/scores/", {"customer_external_id": "NOPE"}) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tier", "bogus"),
        ("stage", "dormant"),
        ("segment", "R5F5M5"),
        ("at_risk", "maybe"),
        ("churned", "perhaps"),
        ("min_value", "abc"),
        ("min_value", "1e400"),
        ("max_value", "-1e400"),
        ("min_value", "NaN"),
        ("max_value", "Infinity"),
        ("customer", "0"),
        ("customer", "99999999999999999999"),
    ],
)
def test_a_bad_score_filter_is_a_400_naming_the_parameter(shop, read_api, name, value):
    """Never a silently ignored filter (a full list that looks filtered) nor an overflow in the database driver."""
    response = read_api.get("/api/v1/scores/", {name: value})

    assert response.status_code == 400
    body = response.json()
    assert name in body["errors"]
    assert name in body["detail"]


def test_score_detail_is_addressed_by_customer_id(shop, read_api):
    score = CustomerScore.objects.for_org(shop.org).order_by("customer_id").last()

    response = read_api.get(f"/api/v1/scores/{score.customer_id}/")

    assert response.status_code == 200
    assert response.json()["customer"] == score.customer_id
    assert Decimal(response.json()["customer_value"]) == score.customer_value
    missing = Customer.objects.order_by("-id").values_list("id", flat=True).first() + 1000
    assert read_api.get(f"/api/v1/scores/{missing}/").status_code == 404
    assert read_api.get("/api/v1/scores/SHOP0001/").status_code == 404


def test_another_organizations_customer_has_no_score_here(shop, other_org, read_api, api_key_client):
    """A score is found by customer id within the caller's organization only, in both directions."""
    stranger = CustomerFactory(organization=other_org)
    CustomerScore.objects.create(organization=other_org, customer=stranger, as_of=AS_OF, stage="acquired")
    ours = CustomerScore.objects.for_org(shop.org).first()

    assert read_api.get(f"/api/v1/scores/{stranger.pk}/").status_code == 404
    assert api_key_client(other_org, ("read",)).get(f"/api/v1/scores/{ours.customer_id}/").status_code == 404


@pytest.mark.parametrize("url", list(RESULT_LISTS))
def test_every_result_list_is_readable_with_the_read_scope_alone(shop, read_api, url):
    response = read_api.get(url)

    assert response.status_code == 200
    assert response.json()["results"]


@pytest.mark.parametrize(("url", "model"), list(RESULT_LISTS.items()))
def test_no_nightly_result_can_be_created_changed_or_deleted(shop, write_api, url, model):
    """Even a key with the write scope gets 405s; the only write of this API is acknowledging an alert."""
    row = model.objects.for_org(shop.org).first()
    detail = f"{url}{row.customer_id if model is CustomerScore else row.pk}/"

    assert write_api.post(url, {}, format="json").status_code == 405
    assert write_api.put(detail, {}, format="json").status_code == 405
    assert write_api.patch(detail, {}, format="json").status_code == 405
    assert write_api.delete(detail).status_code == 405
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("url", list(RESULT_LISTS))
def test_another_organization_sees_none_of_the_results(shop, other_org, api_key_client, url):
    """Only organization A ran; B's lists are empty and A's rows are 404s to B."""
    other = api_key_client(other_org, ("read",))
    model = RESULT_LISTS[url]
    row = model.objects.for_org(shop.org).first()

    assert other.get(url).json()["results"] == []
    detail = f"{url}{row.customer_id if model is CustomerScore else row.pk}/"
    assert other.get(detail).status_code == 404


def test_result_lists_need_credentials(shop):
    """Without a key or a session nothing of the nightly results is served."""
    response = APIClient().get("/api/v1/scores/")

    assert response.status_code == 401
    assert "results" not in response.json()


# KPIs --------------------------------------------------------------------------------------------------------


def test_kpis_list_one_snapshot_per_run_day_with_the_stored_values(shop, read_api):
    """Three nightly runs, three snapshots, each with the values as stored (the at-risk count included)."""
    rows = _results(read_api, "/api/v1/kpis/")

    # Newest day first, whatever order the nights were computed in.
    assert [row["day"] for row in rows] == sorted((day.isoformat() for day in RUN_DAYS), reverse=True)
    stored = {snapshot.day.isoformat(): snapshot.values for snapshot in KpiSnapshot.objects.for_org(shop.org)}
    assert {row["day"]: row["values"] for row in rows} == stored
    latest = stored[AS_OF.isoformat()]
    assert latest["buying_customers"] == BUYERS
    assert latest["at_risk_customers"] == len(_stored_scores(shop.org, at_risk=True))


def test_kpis_filter_by_day_range(shop, read_api):
    days = [row["day"] for row in _results(read_api, "/api/v1/kpis/", {"day_from": "2026-10-02"})]
    assert sorted(days) == ["2026-10-30", "2026-10-31"]
    days = [row["day"] for row in _results(read_api, "/api/v1/kpis/", {"day_to": "2026-10-30"})]
    assert sorted(days) == ["2026-10-01", "2026-10-30"]
    days = [
        row["day"] for row in _results(read_api, "/api/v1/kpis/", {"day_from": "2026-10-30", "day_to": "2026-10-30"})
    ]
    assert days == ["2026-10-30"]


def test_kpis_refuse_a_malformed_day(shop, read_api):
    response = read_api.get("/api/v1/kpis/", {"day_from": "last week"})

    assert response.status_code == 400
    assert "day_from" in response.json()["errors"]


def test_kpi_definitions_cover_every_code_stored_in_a_snapshot(shop, read_api):
    """A client reading ``values`` can look up the unit and meaning of each code it finds there."""
    response = read_api.get("/api/v1/kpis/definitions/")

    assert response.status_code == 200
    definitions = {row["code"]: row for row in response.json()}
    stored_codes = set().union(*(snapshot.values for snapshot in KpiSnapshot.objects.for_org(shop.org)))
    assert stored_codes - set(definitions) == set()
    for code in stored_codes:
        assert definitions[code]["unit"] in {"count", "money", "share", "ratio", "score"}
        assert definitions[code]["definition"]
        assert definitions[code]["label"]
    assert definitions["monthly_churn_rate"]["unit"] == "share"
    assert definitions["monthly_churn_rate"]["higher_is_better"] is False
    assert definitions["revenue"]["unit"] == "money"


# Channel metrics ---------------------------------------------------------------------------------------------


def _spend(channel, start: datetime.date, end: datetime.date) -> Decimal:
    rows = ChannelSpend.objects.for_org(channel.organization).filter(channel=channel, date__range=(start, end))
    return rows.aggregate(total=Sum("amount"))["total"] or Decimal("0")


def _new_customers(channel, start: datetime.date, end: datetime.date) -> int:
    """Customers of the channel whose first completed order falls in the period (the shop's days are UTC days)."""
    firsts = (
        Customer.objects.for_org(channel.organization)
        .filter(channel=channel)
        .annotate(first=Min("orders__ordered_at"))
        .filter(first__date__range=(start, end))
    )
    return firsts.count()


def test_trailing_90_day_metrics_of_a_channel_match_its_spend_and_new_customers(shop, read_api):
    """Spend and new customers recounted from the raw rows agree with the API, and CAC is their quotient."""
    (row,) = _results(read_api, "/api/v1/channel-metrics/", {"channel": "search", "period": "trailing_90d"})

    stored = ChannelMetric.objects.for_org(shop.org).get(channel=shop.search, period=MetricPeriod.TRAILING_90)
    start = AS_OF - datetime.timedelta(days=89)
    assert (row["id"], row["channel_code"], row["channel_name"]) == (stored.pk, "search", "Search ads")
    assert (row["as_of"], row["period_start"], row["period_end"]) == (
        AS_OF.isoformat(),
        start.isoformat(),
        AS_OF.isoformat(),
    )
    spend = _spend(shop.search, start, AS_OF)
    new_customers = _new_customers(shop.search, start, AS_OF)
    assert Decimal(row["spend"]) == spend == stored.spend
    assert row["new_customers"] == new_customers == stored.new_customers > 0
    assert Decimal(row["cac"]) == (spend / new_customers).quantize(Decimal("0.01")) == stored.cac
    assert Decimal(row["mean_customer_value"]) == stored.mean_customer_value
    assert row["ltv_cac"] == pytest.approx(float(stored.mean_customer_value / stored.cac), abs=1e-3)
    assert row["conversion"] == pytest.approx(row["converted_contacts"] / row["contacts"])
    assert row["roi"] == pytest.approx(stored.roi)


def test_monthly_metrics_of_a_channel_have_one_row_per_month_with_that_months_spend(shop, read_api):
    rows = _results(read_api, "/api/v1/channel-metrics/", {"channel": "social", "period": "month"})

    stored = ChannelMetric.objects.for_org(shop.org).filter(channel=shop.social, period=MetricPeriod.MONTH)
    assert sorted(row["id"] for row in rows) == sorted(stored.values_list("id", flat=True))
    assert {row["channel_code"] for row in rows} == {"social"}
    assert {row["period"] for row in rows} == {"month"}
    months = sorted(row["period_start"] for row in rows)
    assert months[0] == "2025-01-01" and months[-1] == "2026-10-01"
    assert len(months) == 22
    for row in rows:
        start = datetime.date.fromisoformat(row["period_start"])
        end = datetime.date.fromisoformat(row["period_end"])
        assert start.day == 1
        assert Decimal(row["spend"]) == _spend(shop.social, start, end)
        assert row["new_customers"] == _new_customers(shop.social, start, end)
    (october,) = [row for row in rows if row["period_start"] == "2026-10-01"]
    assert october["period_end"] == AS_OF.isoformat()


def test_channel_metrics_filter_by_period_start(shop, read_api):
    rows = _results(
        read_api,
        "/api/v1/channel-metrics/",
        {"period": "month", "period_from": "2026-09-01", "period_to": "2026-10-01"},
    )

    assert sorted((row["channel_code"], row["period_start"]) for row in rows) == [
        ("search", "2026-09-01"),
        ("search", "2026-10-01"),
        ("social", "2026-09-01"),
        ("social", "2026-10-01"),
    ]


def test_channel_metrics_refuse_an_unknown_period(shop, read_api):
    response = read_api.get("/api/v1/channel-metrics/", {"period": "quarter"})

    assert response.status_code == 400
    assert "period" in response.json()["errors"]


# Cohorts -----------------------------------------------------------------------------------------------------


def test_cohorts_without_a_channel_are_the_all_channel_cells_only(shop, read_api):
    """No per-channel cell leaks into the default matrix: its month-0 cohorts add up to the 120 buyers."""
    cells = _results(read_api, "/api/v1/cohorts/")

    assert len(cells) == CohortCell.objects.for_org(shop.org).filter(channel__isnull=True).count()
    assert {(cell["channel"], cell["channel_code"]) for cell in cells} == {(None, None)}
    first_months = [cell for cell in cells if cell["months_since"] == 0]
    assert sum(cell["cohort_size"] for cell in first_months) == BUYERS
    assert {cell["retention"] for cell in first_months} == {1.0}
    assert min(cell["cohort_month"] for cell in cells) == "2025-01-01"


def test_cohorts_of_one_channel_are_that_channels_cells_only(shop, read_api):
    cells = _results(read_api, "/api/v1/cohorts/", {"channel": "search"})

    stored = CohortCell.objects.for_org(shop.org).filter(channel=shop.search)
    assert sorted(cell["id"] for cell in cells) == sorted(stored.values_list("id", flat=True))
    assert {(cell["channel"], cell["channel_code"]) for cell in cells} == {(shop.search.pk, "search")}
    buyers = Customer.objects.for_org(shop.org).filter(channel=shop.search, orders__isnull=False).distinct()
    assert sum(cell["cohort_size"] for cell in cells if cell["months_since"] == 0) == buyers.count()


def test_cohorts_of_an_unknown_channel_are_empty(shop, read_api):
    assert _results(read_api, "/api/v1/cohorts/", {"channel": "billboards"}) == []


def test_cohorts_filter_by_cohort_month(shop, read_api):
    cells = _results(read_api, "/api/v1/cohorts/", {"cohort_from": "2026-09-01", "cohort_to": "2026-09-30"})

    assert {cell["cohort_month"] for cell in cells} == {"2026-09-01"}
    assert sorted(cell["months_since"] for cell in cells) == [0, 1]


# Alerts ------------------------------------------------------------------------------------------------------


def _alert(org, kind=AlertKind.MONTHLY_CHURN) -> Alert:
    return Alert.objects.for_org(org).filter(kind=kind).order_by("-raised_on").first()


def test_alerts_list_what_the_nightly_rules_raised(shop, read_api):
    rows = _results(read_api, "/api/v1/alerts/")

    stored = Alert.objects.for_org(shop.org)
    assert sorted(row["id"] for row in rows) == sorted(stored.values_list("id", flat=True))
    churn = [row for row in rows if row["kind"] == "monthly_churn"]
    assert sorted(row["raised_on"] for row in churn) == [day.isoformat() for day in RUN_DAYS]
    assert all(row["threshold"] == 0 and row["value"] > 0 for row in churn)
    assert all(row["message"].startswith("Monthly churn is ") for row in churn)
    assert {row["acknowledged_at"] for row in rows} == {None}


def test_alerts_open_filter_separates_acknowledged_ones(shop, read_api, ops_user):
    seen = _alert(shop.org)
    alert_acknowledge(alert=seen, actor=Actor(user=ops_user))
    everything = {row["id"] for row in _results(read_api, "/api/v1/alerts/")}

    still_open = {row["id"] for row in _results(read_api, "/api/v1/alerts/", {"open": "true"})}
    acknowledged = [row["id"] for row in _results(read_api, "/api/v1/alerts/", {"open": "false"})]

    assert acknowledged == [seen.pk]
    assert still_open == everything - {seen.pk}
    assert read_api.get("/api/v1/alerts/", {"open": "sometimes"}).status_code == 400


def test_an_ops_user_acknowledges_an_alert_once(shop, session_api, ops_user, admin_user):
    """The first acknowledgement is kept: a second one by someone else changes neither time nor person."""
    alert = _alert(shop.org)

    response = session_api(ops_user).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alert.pk
    assert body["acknowledged_by"] == ops_user.email
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by == ops_user
    assert datetime.datetime.fromisoformat(body["acknowledged_at"]) == alert.acknowledged_at

    again = session_api(admin_user).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")

    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == body["acknowledged_at"]
    assert again.json()["acknowledged_by"] == ops_user.email


def test_a_viewer_cannot_acknowledge_an_alert(shop, session_api, viewer_user):
    alert = _alert(shop.org)

    response = session_api(viewer_user).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")

    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_a_read_only_key_cannot_acknowledge_and_a_write_key_can(shop, read_api, write_api):
    alert = _alert(shop.org)

    refused = read_api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert refused.status_code == 403
    assert "write" in refused.json()["detail"]
    alert.refresh_from_db()
    assert alert.acknowledged_at is None

    accepted = write_api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert accepted.status_code == 200
    assert accepted.json()["acknowledged_at"] is not None
    assert accepted.json()["acknowledged_by"] is None
    assert accepted.json()["acknowledged_by_label"].startswith("api-key:")  # the page says a key did it
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by is None


def test_another_organizations_alert_cannot_be_acknowledged(shop, other_org, write_api, session_api, ops_user):
    theirs = Alert.objects.create(
        organization=other_org, kind=AlertKind.MONTHLY_CHURN, raised_on=AS_OF, message="Their churn."
    )

    assert write_api.post(f"/api/v1/alerts/{theirs.pk}/acknowledge/").status_code == 404
    assert session_api(ops_user).post(f"/api/v1/alerts/{theirs.pk}/acknowledge/").status_code == 404
    assert write_api.get(f"/api/v1/alerts/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None


def test_alerts_cannot_be_created_changed_or_deleted(shop, write_api, session_api, ops_user):
    alert = _alert(shop.org)
    count = Alert.objects.for_org(shop.org).count()
    payload = {"kind": "monthly_churn", "raised_on": "2026-11-01", "message": "made up"}

    assert write_api.post("/api/v1/alerts/", payload, format="json").status_code == 405
    assert session_api(ops_user).post("/api/v1/alerts/", payload, format="json").status_code == 405
    assert write_api.patch(f"/api/v1/alerts/{alert.pk}/", {"message": "x"}, format="json").status_code == 405
    assert write_api.delete(f"/api/v1/alerts/{alert.pk}/").status_code == 405
    assert Alert.objects.for_org(shop.org).count() == count


# Lifetime-value model ----------------------------------------------------------------------------------------


def test_latest_model_is_a_404_with_an_explanation_before_any_run(other_org, api_key_client):
    response = api_key_client(other_org, ("read",)).get("/api/v1/models/clv/latest/")

    assert response.status_code == 404
    assert response.json()["detail"] == "No lifetime-value model yet: it is fitted by the first nightly run."


def test_latest_model_reports_the_fitted_parameters_of_the_last_run(shop, read_api):
    """The shop's data fit both models; the report carries parameters, fit quality, calibration and churn model."""
    response = read_api.get("/api/v1/models/clv/latest/")

    assert response.status_code == 200
    body = response.json()
    stored = ClvModelReport.objects.for_org(shop.org).get(as_of=AS_OF)
    assert body["id"] == stored.pk
    assert (body["as_of"], body["time_unit"], body["status"]) == (AS_OF.isoformat(), "days", FitStatus.FITTED)
    assert set(body["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood", "converged"}
    assert body["bgnbd"]["converged"] is True
    assert body["bgnbd"]["r"] == pytest.approx(stored.bgnbd_r)
    assert body["bgnbd"]["alpha"] == pytest.approx(stored.bgnbd_alpha)
    assert all(body["bgnbd"][name] > 0 for name in ("r", "alpha", "a", "b"))
    assert body["bgnbd"]["log_likelihood"] < 0
    assert set(body["gamma_gamma"]) == {"p", "q", "v", "log_likelihood", "converged"}
    assert body["gamma_gamma"]["converged"] is True
    assert body["gamma_gamma"]["q"] > 1
    assert body["gamma_gamma"]["p"] == pytest.approx(stored.gg_p)
    assert body["customers"] == BUYERS
    assert body["repeaters"] == len(_stored_scores(shop.org, frequency__gt=0))
    assert body["fit_seconds"] >= 0
    assert body["calibration"]["holdout_days"] == shop.org.churn_window_days
    buckets = body["calibration"]["buckets"]
    assert [bucket["frequency"] for bucket in buckets] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert set(buckets[0]) == {"frequency", "customers", "predicted", "actual"}
    assert body["churn_model"] == "bgnbd"
    assert body["churn_evaluation"]["baseline_auc"] is not None
    assert "too few customers" in body["churn_evaluation"]["message"]


def test_model_history_lists_one_report_per_run_day(shop, read_api):
    rows = _results(read_api, "/api/v1/models/clv/")

    assert sorted(row["as_of"] for row in rows) == [day.isoformat() for day in RUN_DAYS]
    first = read_api.get(f"/api/v1/models/clv/{rows[-1]['id']}/")
    assert first.status_code == 200
    assert first.json()["as_of"] == rows[-1]["as_of"]


def test_another_organization_has_no_latest_model_of_ours(shop, other_org, api_key_client):
    """Only organization A ran: B's latest model is still the 404, not A's report."""
    assert api_key_client(other_org, ("read",)).get("/api/v1/models/clv/latest/").status_code == 404


def test_another_organizations_scores_list_is_empty_after_only_ours_ran(shop, other_org, api_key_client):
    """B has a customer with the same external id as one of A's scored customers, and still sees no score."""
    CustomerFactory(organization=other_org, external_id="SHOP0001")
    other = api_key_client(other_org, ("read",))

    assert other.get("/api/v1/scores/").json()["results"] == []
    assert other.get("/api/v1/scores/", {"customer_external_id": "SHOP0001"}).json()["results"] == []


def test_kpi_pages_follow_the_day_order_and_refuse_a_forged_cursor(shop, read_api):
    first = read_api.get("/api/v1/kpis/", {"page_size": 2}).json()
    assert [row["day"] for row in first["results"]] == ["2026-10-31", "2026-10-30"]
    second = read_api.get(first["next"]).json()
    assert [row["day"] for row in second["results"]] == ["2026-10-01"]
    forged = read_api.get("/api/v1/kpis/", {"cursor": "cD1ub3RhZGF5"})  # base64 of "p=notaday"
    assert forged.status_code == 400
    assert "cursor" in forged.json()["errors"]


def test_score_pages_follow_customer_ids_so_a_nightly_rewrite_cannot_cut_a_listing_short(shop, read_api):
    """The scores are rewritten each night with new row ids; pages go by customer id, which stays."""
    first = read_api.get("/api/v1/scores/", {"page_size": 5}).json()
    ids = [row["customer"] for row in first["results"]]
    assert ids == sorted(ids)
    second = read_api.get(first["next"]).json()
    assert min(row["customer"] for row in second["results"]) > max(ids)
