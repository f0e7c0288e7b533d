"""The "Customers and value" page and ``GET /api/v1/customer-mix/`` show the same nightly snapshot.

The shop of ``test_nightly_engine`` (six contacts, five buyers, as of 2026-03-31) is scored by a real nightly
run; each test signs in a member of the shop's organization by role. Amounts are checked as the page formats
them (two places, thousands separators), shares as percentages with one place.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from accounts.models import Role
from reporting import nightly
from tests.reporting.test_nightly_engine import AS_OF, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

URL = "/reports/customers/"


@pytest.fixture
def scored_shop(shop):  # noqa: F811
    org, _people = shop
    job = nightly.run_nightly(org=org, as_of=AS_OF)
    assert job.status == "succeeded", job.error
    return org


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _money(value: float) -> str:
    return f"{float(value):,.2f}"


def _page_as(client, member_factory, org, role: str) -> str:
    client.force_login(member_factory(org, role))
    response = client.get(reverse("reporting:customer-value"))
    assert response.status_code == 200
    return response.content.decode()


def _api(api_key_client, org) -> dict:
    response = api_key_client(org, ("read",)).get("/api/v1/customer-mix/")
    assert response.status_code == 200, response.content
    return response.json()


def _chart_data(body: str, chart_id: str) -> dict:
    match = re.search(rf'<script id="{chart_id}-data" type="application/json">(.*?)</script>', body, re.DOTALL)
    assert match, f"no chart #{chart_id}"
    return json.loads(match.group(1))


def test_the_route_is_named_and_listed_in_the_report_navigation(client, member_factory, scored_shop):
    assert reverse("reporting:customer-value") == URL
    body = _page_as(client, member_factory, scored_shop, Role.VIEWER)
    nav = re.search(r'<nav class="report-nav".*?</nav>', body, re.DOTALL).group(0)
    assert f'<a href="{URL}" aria-current="page">Customers and value</a>' in nav
    assert f'<a href="{reverse("reporting:clv-model")}" id="clv-model-link">' in body


def test_the_rfm_grid_shows_the_apis_customers_and_value_per_cell(client, member_factory, api_key_client, scored_shop):
    body = _page_as(client, member_factory, scored_shop, Role.VIEWER)
    api = _api(api_key_client, scored_shop)

    grid = re.search(r'<table class="compact" id="rfm-grid">(.*?)</table>', body, re.DOTALL).group(1)
    cells = re.findall(
        r'<td data-heat="([0-9.]+)" data-r="(\d)" data-f="(\d)">'
        r'<span class="cell-customers">(.*?)</span><small class="cell-value">(.*?)</small></td>',
        grid,
    )
    assert len(cells) == 25
    on_page = {(int(r), int(f)): (customers, value) for _heat, r, f, customers, value in cells}
    assert on_page == {(c["r"], c["f"]): (str(c["customers"]), _money(c["value"])) for c in api["rfm_grid"]["cells"]}
    assert on_page[(2, 5)] == ("1", "800.00")  # F: R2 F5, value 800
    assert re.findall(r'<th scope="row">R(\d)</th>', grid) == ["5", "4", "3", "2", "1"]
    heat = {(int(r), int(f)): float(h) for h, r, f, _c, _v in cells}
    assert heat[(2, 5)] == 0.75 and heat[(5, 5)] == 0.0  # strength by count: the busiest cell is the darkest


def test_the_tier_pyramid_shows_the_apis_tiers_high_on_top_with_the_playbook(
    client, member_factory, api_key_client, scored_shop
):
    body = _page_as(client, member_factory, scored_shop, Role.VIEWER)
    api = _api(api_key_client, scored_shop)

    pyramid = re.search(r'<ol class="tier-pyramid" id="tier-pyramid">(.*?)</ol>', body, re.DOTALL).group(1)
    assert re.findall(r'data-tier="(\w+)"', pyramid) == ["high", "mid", "potential"]
    items = re.findall(r"<li [^>]*>(.*?)</li>", pyramid, re.DOTALL)
    for item, tier in zip(items, api["tiers"], strict=True):
        customers = _text(re.search(r'<span class="tier-customers">(.*?)</span>', item).group(1))
        assert customers.split()[0] == str(tier["customers"])
        assert _text(re.search(r'<span class="tier-value">(.*?)</span>', item).group(1)) == _money(tier["value"])
        share = "—" if tier["value_share"] is None else f"{tier['value_share'] * 100:.1f}%"
        assert _text(re.search(r'<span class="tier-share">(.*?)</span>', item).group(1)) == share
    assert "Exclusive service" in items[0] and "Repurchase incentives" in items[1] and "Helpful content" in items[2]


def test_the_stage_flow_chart_and_transition_table_match_the_api(client, member_factory, api_key_client, scored_shop):
    body = _page_as(client, member_factory, scored_shop, Role.VIEWER)
    api = _api(api_key_client, scored_shop)
    months = api["stage_flow"]["months"]

    stage_chart = _chart_data(body, "stage-flow-chart")
    assert stage_chart["kind"] == "bar" and stage_chart["stacked"] is True
    assert stage_chart["labels"] == [month["month_end"] for month in months]
    assert [one["label"] for one in stage_chart["series"]] == [
        "Acquired",
        "Activated",
        "Growing",
        "Mature",
        "Churned",
        "Reactivated",
    ]
    for one, code in zip(stage_chart["series"], api["stage_flow"]["stages"], strict=True):
        assert one["data"] == [month["counts"][code] for month in months]

    table = re.search(r'<table[^>]*id="stage-transitions"[^>]*>(.*?)</table>', body, re.DOTALL).group(1)
    rows = {
        code: [int(n) for n in re.findall(r"<td>(\d+)</td>", row)]
        for code, row in re.findall(r'<tr data-from="(\w+)">(.*?)</tr>', table, re.DOTALL)
    }
    moves = {(m["from"] or "new", m["to"]): m["customers"] for m in months[-1]["transitions"]}
    stages = api["stage_flow"]["stages"]
    for code, counts in rows.items():
        assert counts[:-1] == [moves.get((code, target), 0) for target in stages]
        assert counts[-1] == sum(counts[:-1])
    assert rows["churned"][stages.index("reactivated")] == 1  # A came back in March
    assert rows["new"][stages.index("growing")] == 1  # B


def test_the_value_distribution_chart_matches_the_apis_bins(client, member_factory, api_key_client, scored_shop):
    body = _page_as(client, member_factory, scored_shop, Role.VIEWER)
    api = _api(api_key_client, scored_shop)

    value_chart = _chart_data(body, "value-distribution-chart")
    assert value_chart["series"][0]["data"] == [float(one["customers"]) for one in api["value_bins"]]
    assert len(value_chart["labels"]) == len(api["value_bins"])
    assert sum(value_chart["series"][0]["data"]) == 5


@pytest.mark.parametrize(
    ("role", "sees_links"), [(Role.ADMIN, True), (Role.MARKETER, True), (Role.OPS, False), (Role.VIEWER, False)]
)
def test_only_roles_that_create_campaigns_see_the_tier_campaign_links(
    client, member_factory, scored_shop, role, sees_links
):
    body = _page_as(client, member_factory, scored_shop, role)

    links = re.findall(r'<a href="([^"]+)" class="tier-campaign-link"', body)
    if sees_links:
        create = reverse("campaigns:campaign-create")
        assert links == [f"{create}?tier=high", f"{create}?tier=mid", f"{create}?tier=potential"]
    else:
        assert links == []
        assert "Start tier campaign" not in body


def test_before_the_first_nightly_run_the_page_and_the_api_say_there_is_nothing_yet(
    client, member_factory, api_key_client, org
):
    body = _page_as(client, member_factory, org, Role.VIEWER)
    assert "No figures yet: they appear after the first nightly run." in body
    assert 'id="rfm-grid"' not in body

    response = api_key_client(org, ("read",)).get("/api/v1/customer-mix/")
    assert response.status_code == 404


def test_the_api_serves_only_the_callers_organization(api_key_client, other_org, scored_shop):
    assert api_key_client(other_org, ("read",)).get("/api/v1/customer-mix/").status_code == 404
    body = _api(api_key_client, scored_shop)
    assert body["as_of"] == AS_OF.isoformat()
    assert set(body) == {"as_of", "computed_at", "rfm_grid", "tiers", "value_bins", "stage_flow"}


def test_the_api_refuses_writes_and_anonymous_callers(client, api_key_client, scored_shop):
    assert client.get("/api/v1/customer-mix/").status_code in (401, 403)
    assert api_key_client(scored_shop).post("/api/v1/customer-mix/", {}, format="json").status_code == 405


def test_the_schema_documents_one_customer_mix_object_with_its_404():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/api/v1/customer-mix/"]["get"]["responses"]
    # 304 (If-None-Match) and 429 (throttling) are documented on every read since the API consistency pass.
    assert set(responses) == {"200", "304", "401", "403", "404", "429"}
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CustomerMix"}
    mix = schema["components"]["schemas"]["CustomerMix"]["properties"]
    assert set(mix) == {"as_of", "computed_at", "rfm_grid", "tiers", "value_bins", "stage_flow"}
