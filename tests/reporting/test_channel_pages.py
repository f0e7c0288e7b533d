"""The channels page (league table, quadrant, 70/30 split, recommendation), the channel detail and the budget API.

The portfolio is written as nightly ``ChannelMetric`` rows with hand-picked numbers, so every expected figure
below is computed by hand:

=========  ======  ===  =====  ==========  =======  =======  ==============================
channel    spend   new  CAC    mean value  LTV/CAC  payback  advice
=========  ======  ===  =====  ==========  =======  =======  ==============================
search     1000    20   50     500         10       4        core #1, grow
social     1000    10   100    200         2        6        core #2, hold (between 1 and 3)
display    1000    10   100    50          0.5      30       testing, cut
referral   0       5    0      300         —        —        no spend, hold
=========  ======  ===  =====  ==========  =======  =======  ==============================

Blended CAC before: 3000 / 45 = 66.67. Display loses half its spend (500, 5 customers at CAC 100); search gains
it (500 / 50 = 10 customers). After: 3000 / 50 = 60.00, −10.0%. Core share 2000 / 3000 = 66.7% (on policy);
if followed, 2500 / 3000 = 83.3%.
"""

from __future__ import annotations

import datetime
import html
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from accounts.models import Role
from reporting.channel_budget import ChannelFigures, Reason, decide
from reporting.channel_portfolio import reason_text
from reporting.models import ChannelMetric, MetricPeriod
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 10, 15)
TRAILING_START = AS_OF - datetime.timedelta(days=89)
PORTFOLIO = {
    # code: (name, spend, new customers, mean value, payback, conversion, roi)
    "search": ("Search ads", "1000", 20, "500", 4.0, 0.5, 2.0),
    "social": ("Social media", "1000", 10, "200", 6.0, 0.25, 0.4),
    "display": ("Display", "1000", 10, "50", 30.0, 0.1, -0.6),
    "referral": ("Referral", "0", 5, "300", None, 0.8, None),
}
MONTHS = [datetime.date(2026, 8, 1), datetime.date(2026, 9, 1), datetime.date(2026, 10, 1)]


def _metric(org, channel, *, period, start, end, spend, new, value, payback, conversion, roi) -> ChannelMetric:
    spend = Decimal(spend)
    cac = (spend / new).quantize(Decimal("0.01")) if new else None
    value = Decimal(value) if new else None
    return ChannelMetric.objects.create(
        organization=org,
        as_of=AS_OF,
        channel=channel,
        period=period,
        period_start=start,
        period_end=end,
        spend=spend,
        new_customers=new,
        contacts=new * 2,
        converted_contacts=new,
        conversion=conversion,
        cac=cac,
        mean_customer_value=value,
        ltv_cac=float(value / cac) if cac else None,
        roi=roi,
        payback_months=payback,
    )


@pytest.fixture
def portfolio(org):
    channels = {}
    for code, (name, spend, new, value, payback, conversion, roi) in PORTFOLIO.items():
        channel = ChannelFactory(organization=org, code=code, name=name)
        channels[code] = channel
        _metric(
            org,
            channel,
            period=MetricPeriod.TRAILING_90,
            start=TRAILING_START,
            end=AS_OF,
            spend=spend,
            new=new,
            value=value,
            payback=payback,
            conversion=conversion,
            roi=roi,
        )
    for index, month in enumerate(MONTHS):
        end = AS_OF if month.month == AS_OF.month else (month + datetime.timedelta(days=32)).replace(day=1)
        _metric(
            org,
            channels["search"],
            period=MetricPeriod.MONTH,
            start=month,
            end=end,
            spend=str(300 + 100 * index),
            new=5 + index,
            value="400",
            payback=3.0 + index,
            conversion=0.4,
            roi=1.5,
        )
    return channels


@pytest.fixture
def other_portfolio(other_org):
    channel = ChannelFactory(organization=other_org, code="billboards", name="Globex billboards")
    _metric(
        other_org,
        channel,
        period=MetricPeriod.TRAILING_90,
        start=TRAILING_START,
        end=AS_OF,
        spend="777",
        new=7,
        value="100",
        payback=5.0,
        conversion=0.3,
        roi=0.1,
    )
    return channel


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _table(body: str, table_id: str) -> list[list[str]]:
    match = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', body, re.DOTALL)
    assert match, f"no table #{table_id}"
    rows_html = re.search(r"<tbody>(.*?)</tbody>", match.group(1), re.DOTALL).group(1)
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", rows_html, re.DOTALL)
    ]


def _by_id(body: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', body, re.DOTALL)
    assert match, f"no #{element_id}"
    return _text(match.group(1))


def _page(client, params: dict | None = None, status: int = 200) -> str:
    response = client.get(reverse("reporting:channel-report"), params or {})
    assert response.status_code == status
    return response.content.decode()


# The page -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPS, Role.MARKETER, Role.VIEWER])
def test_every_role_reads_the_channel_page_with_its_recommendation(client, org, member_factory, portfolio, role):
    client.force_login(member_factory(org, role))
    body = _page(client)

    assert [row[0] for row in _table(body, "channel-table")] == ["Display", "Search ads", "Social media", "Referral"]
    advice = {row[0]: row for row in _table(body, "advice-table")}
    assert advice["Search ads"][1:3] == ["Core", "Grow"]
    assert advice["Social media"][1:3] == ["Core", "Hold"]
    assert advice["Display"][1:3] == ["Testing", "Cut"]
    assert advice["Referral"][1:3] == ["No spend", "Hold"]
    assert "LTV/CAC 0.5× is below 1×" in advice["Display"][3]
    assert 'data-chart-source="channel-quadrant-chart-data"' in body
    assert 'data-chart-source="channel-split-chart-data"' in body


def test_the_page_states_the_split_and_the_blended_cac_effect_with_its_assumption(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    body = _page(client)

    assert _by_id(body, "split-core-share") == "66.7%"
    assert _by_id(body, "split-testing-share") == "33.3%"
    assert _by_id(body, "split-summary").startswith("On policy")
    assert _by_id(body, "split-after-core-share").startswith("83.3%")
    assert _by_id(body, "blended-before") == "66.67 CNY"
    assert _by_id(body, "blended-after") == "60.00 CNY"
    assert _by_id(body, "blended-change") == "-10.0%"
    assert "50% of each cut channel's spend" in _by_id(body, "blended-assumption")
    advice = {row[0]: row for row in _table(body, "advice-table")}
    assert advice["Display"][4:] == ["1,000.00", "-500.00"]
    assert advice["Search ads"][4:] == ["1,000.00", "+500.00"]
    assert advice["Social media"][4:] == ["1,000.00", "—"]


def test_channel_names_link_to_their_detail_page(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    body = _page(client)

    assert body.count(f'href="{reverse("reporting:channel-detail", args=["display"])}"') == 2  # league + advice


def test_the_quadrant_chart_plots_cac_against_value_per_class_with_median_guides(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    response = client.get(reverse("reporting:channel-report"))

    chart = response.context["quadrant_chart"]
    core, testing = chart["series"]
    assert [(p["label"], p["x"], p["y"]) for p in core["data"]] == [
        ("Search ads", 50.0, 500.0),
        ("Social media", 100.0, 200.0),
    ]
    assert [(p["label"], p["x"], p["y"]) for p in testing["data"]] == [("Display", 100.0, 50.0)]
    assert [(g["axis"], g["value"]) for g in chart["guides"]] == [("x", 100.0), ("y", 200.0)]


# Sorting ------------------------------------------------------------------------------------------------------

EXPECTED_ORDER = {
    # column: (asc, desc) by channel code; undefined values last either way
    "spend": (["referral", "display", "search", "social"], ["display", "search", "social", "referral"]),
    "new_customers": (["referral", "display", "social", "search"], ["search", "display", "social", "referral"]),
    "cac": (["referral", "search", "display", "social"], ["display", "social", "search", "referral"]),
    "conversion": (["display", "social", "search", "referral"], ["referral", "search", "social", "display"]),
    "mean_customer_value": (
        ["display", "social", "referral", "search"],
        ["search", "referral", "social", "display"],
    ),
    "ltv_cac": (["display", "social", "search", "referral"], ["search", "social", "display", "referral"]),
    "roi": (["display", "social", "search", "referral"], ["search", "social", "display", "referral"]),
    "payback_months": (["search", "social", "display", "referral"], ["display", "social", "search", "referral"]),
    "channel": (["display", "referral", "search", "social"], ["social", "search", "referral", "display"]),
}


@pytest.mark.parametrize("column", sorted(EXPECTED_ORDER))
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_the_league_table_sorts_by_every_column_both_ways(client, viewer_user, portfolio, column, direction):
    client.force_login(viewer_user)
    response = client.get(reverse("reporting:channel-report"), {"sort": column, "dir": direction})

    assert response.status_code == 200
    order = [row["metric"].channel.code for row in response.context["rows"]]
    assert order == EXPECTED_ORDER[column][0 if direction == "asc" else 1]
    body = response.content.decode()
    aria = "ascending" if direction == "asc" else "descending"
    assert re.search(rf'<th scope="col"[^>]*aria-sort="{aria}"[^>]*><a [^>]*data-sort="{column}"', body)
    assert body.count("aria-sort=") == 1


def test_a_sorted_header_links_to_the_reverse_order_and_keeps_the_period(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    response = client.get(reverse("reporting:channel-report"), {"sort": "cac", "dir": "asc"})

    headers = {h["column"]: h["href"] for h in response.context["headers"]}
    assert headers["cac"] == "?period=trailing_90d&sort=cac&dir=desc"
    assert headers["spend"] == "?period=trailing_90d&sort=spend&dir=desc"
    assert headers["payback_months"] == "?period=trailing_90d&sort=payback_months&dir=asc"


def test_the_default_order_is_by_spend_and_the_month_view_groups_by_channel(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    default = client.get(reverse("reporting:channel-report"))
    assert (default.context["sort"].column, default.context["sort"].direction) == ("spend", "desc")

    months = client.get(reverse("reporting:channel-report"), {"period": "month"})
    rows = _table(months.content.decode(), "channel-table")
    assert [(row[0], row[1][:7]) for row in rows] == [
        ("Search ads", "2026-10"),
        ("Search ads", "2026-09"),
        ("Search ads", "2026-08"),
    ]
    by_month = client.get(reverse("reporting:channel-report"), {"period": "month", "sort": "month", "dir": "asc"})
    assert [row["metric"].period_start for row in by_month.context["rows"]] == MONTHS


@pytest.mark.parametrize(
    "params, message",
    [
        ({"sort": "password"}, "Cannot sort by “password”"),
        ({"sort": "spend", "dir": "sideways"}, "must be “asc” or “desc”"),
        ({"sort": "month"}, "Cannot sort by “month”"),  # no month column in the trailing view
    ],
)
def test_an_unknown_sort_is_refused_with_a_400_that_still_shows_the_page(
    client, viewer_user, portfolio, params, message
):
    client.force_login(viewer_user)
    body = _page(client, params, status=400)

    assert message in html.unescape(_by_id(body, "sort-error"))
    assert len(_table(body, "channel-table")) == 4  # the page, in its default order


def test_the_page_before_the_first_nightly_run_says_so(client, viewer_user):
    client.force_login(viewer_user)
    body = _page(client)

    assert "No channel figures yet" in body
    assert 'id="advice-table"' not in body


def test_another_organizations_channels_never_show(client, viewer_user, portfolio, other_portfolio):
    client.force_login(viewer_user)
    body = _page(client)

    assert "Globex billboards" not in body
    assert "777" not in body


# Detail -------------------------------------------------------------------------------------------------------


def test_the_detail_page_shows_the_monthly_trend_and_the_current_advice(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    response = client.get(reverse("reporting:channel-detail", args=["search"]))

    assert response.status_code == 200
    body = response.content.decode()
    assert _by_id(body, "channel-name") == "Search ads"
    assert _by_id(body, "channel-action") == "Grow"
    assert _by_id(body, "channel-class") == "Core #1"
    assert "LTV/CAC 10.0×" in _by_id(body, "channel-reason")
    rows = _table(body, "channel-months")
    assert [row[0][:7] for row in rows] == ["2026-10", "2026-09", "2026-08"]
    assert [row[1] for row in rows] == ["500.00", "400.00", "300.00"]
    charts = dict(response.context["trend_charts"])
    assert set(charts) == {
        "channel-spend-chart",
        "channel-new-chart",
        "channel-cac-chart",
        "channel-ltv-cac-chart",
        "channel-conversion-chart",
    }
    assert charts["channel-spend-chart"]["labels"] == ["2026-08", "2026-09", "2026-10"]
    assert charts["channel-spend-chart"]["series"][0]["data"] == [300.0, 400.0, 500.0]
    assert charts["channel-new-chart"]["series"][0]["data"] == [5.0, 6.0, 7.0]
    for chart_id in charts:
        assert f'data-chart-source="{chart_id}-data"' in body


def test_the_detail_of_a_channel_without_months_says_so(client, viewer_user, portfolio):
    client.force_login(viewer_user)
    body = client.get(reverse("reporting:channel-detail", args=["display"])).content.decode()

    assert "No monthly figures for this channel yet." in body
    assert _by_id(body, "channel-action") == "Cut"


def test_the_detail_of_another_organizations_or_an_unknown_channel_is_404(
    client, viewer_user, portfolio, other_portfolio
):
    client.force_login(viewer_user)

    assert client.get(reverse("reporting:channel-detail", args=["billboards"])).status_code == 404
    assert client.get(reverse("reporting:channel-detail", args=["no-such-channel"])).status_code == 404


def test_a_channel_code_in_chinese_links_to_its_detail_page(client, org, viewer_user, portfolio):
    """Imports accept any letters in a code (微信), so the page must not assume an ASCII slug."""
    wechat = ChannelFactory(organization=org, code="微信", name="WeChat")
    _metric(
        org,
        wechat,
        period=MetricPeriod.TRAILING_90,
        start=TRAILING_START,
        end=AS_OF,
        spend="100",
        new=4,
        value="300",
        payback=2.0,
        conversion=0.5,
        roi=1.0,
    )
    client.force_login(viewer_user)

    page = client.get(reverse("reporting:channel-report"))
    detail_url = reverse("reporting:channel-detail", args=["微信"])

    assert page.status_code == 200
    assert detail_url in page.content.decode()
    assert client.get(detail_url).status_code == 200


def test_the_channel_pages_need_a_sign_in(client, portfolio):
    for url in (reverse("reporting:channel-report"), reverse("reporting:channel-detail", args=["search"])):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# API ----------------------------------------------------------------------------------------------------------


def test_the_budget_api_returns_the_split_the_advice_and_the_blended_cac_effect(read_api, portfolio):
    response = read_api.get("/api/v1/channel-budget/")

    assert response.status_code == 200
    data = response.json()
    assert data["as_of"] == "2026-10-15"
    assert data["split"]["core_spend"] == "2000.00"
    assert data["split"]["testing_spend"] == "1000.00"
    assert data["split"]["core_share"] == pytest.approx(2 / 3)
    assert data["split"]["policy_status"] == "on_policy"
    assert data["split_if_followed"]["core_share"] == pytest.approx(2500 / 3000)
    effect = data["blended_cac"]
    assert (effect["before"], effect["after"], effect["change"]) == ("66.67", "60.00", "-6.67")
    assert effect["relative_change"] == pytest.approx(-0.1)
    assert (effect["moved_spend"], effect["saved_spend"]) == ("500.00", "0.00")
    assert (effect["customers_lost"], effect["customers_gained"]) == (5.0, 10.0)
    assert "Assumption" in effect["assumption"]
    channels = {c["code"]: c for c in data["channels"]}
    assert [c["code"] for c in data["channels"]] == ["search", "display", "social", "referral"]
    assert (channels["search"]["channel_class"], channels["search"]["core_rank"], channels["search"]["action"]) == (
        "core",
        1,
        "grow",
    )
    assert channels["display"]["reason_code"] == "ltv_cac_below_cut"
    assert channels["display"]["proposed_change"] == "-500.00"
    assert channels["display"]["expected_customer_change"] == -5.0
    assert channels["referral"]["channel_class"] == "unpaid"
    assert channels["referral"]["cac"] == "0.00"
    assert channels["referral"]["ltv_cac"] is None
    assert data["policy"]["core_share"] == 0.7


def test_the_numbers_on_the_page_equal_the_apis(client, viewer_user, read_api, portfolio):
    data = read_api.get("/api/v1/channel-budget/").json()
    client.force_login(viewer_user)
    body = _page(client)

    def money(value: str) -> str:
        return f"{Decimal(value):,.2f}"

    rows = _table(body, "advice-table")
    assert [row[0] for row in rows] == [c["name"] for c in data["channels"]]
    for row, channel in zip(rows, data["channels"], strict=True):
        assert row[2] == channel["action"].title()
        assert row[3] == channel["reason"]
        assert row[4] == money(channel["spend"])
        change = Decimal(channel["proposed_change"])
        assert row[5] == ("—" if not change else ("+" if change > 0 else "") + money(channel["proposed_change"]))
    assert _by_id(body, "blended-before") == f"{money(data['blended_cac']['before'])} CNY"
    assert _by_id(body, "blended-after") == f"{money(data['blended_cac']['after'])} CNY"
    assert _by_id(body, "split-core-share") == f"{data['split']['core_share'] * 100:.1f}%"
    assert _by_id(body, "split-summary") == data["split"]["summary"]


def test_the_budget_api_answers_only_for_the_keys_organization(api_key_client, other_org, portfolio, other_portfolio):
    data = api_key_client(other_org, ("read",)).get("/api/v1/channel-budget/").json()

    assert [c["code"] for c in data["channels"]] == ["billboards"]
    assert data["blended_cac"]["before"] == "111.00"


def test_the_budget_api_without_figures_has_no_shares_and_no_blended_cac(read_api):
    data = read_api.get("/api/v1/channel-budget/").json()

    assert data["as_of"] is None
    assert data["channels"] == []
    assert data["split"]["policy_status"] == "no_spend"
    assert data["split"]["core_share"] is None
    assert data["blended_cac"]["before"] is None


def test_the_budget_api_needs_credentials_and_is_read_only(api_client_anonymous, read_api, portfolio):
    assert api_client_anonymous.get("/api/v1/channel-budget/").status_code in {401, 403}
    assert read_api.post("/api/v1/channel-budget/", {}, format="json").status_code in {403, 405}


@pytest.fixture
def api_client_anonymous():
    return APIClient()


# Reasons in words -----------------------------------------------------------------------------------------------

REASON_CASES = [
    # (spend, new, value, payback, blended) → the code decide() gives, and words its text must contain
    ((1000, 20, 500, 4.0, 50), "grow", "LTV/CAC 10.0× (≥ 3×) and payback in 4.0 months (≤ 12)"),
    ((1000, 10, 200, 6.0, 50), "ltv_cac_between", "below 3×"),
    ((1000, 10, 400, 13.0, 50), "payback_between", "13.0 months (more than 12)"),
    ((1000, 10, 50, 6.0, 50), "ltv_cac_below_cut", "LTV/CAC 0.5× is below 1×"),
    ((1000, 10, 400, 30.0, 50), "payback_above_cut", "30.0 months (more than 24)"),
    ((300, 0, 0, None, 100), "spend_without_customers", "300.00 CNY spent without a single new customer"),
    ((30, 0, 0, None, 100), "too_early_no_customers", "No new customer yet for 30.00 CNY"),
    ((300, 0, 0, None, None), "no_customers_anywhere", "no new customer from any channel"),
    ((100, 1, 500, 1.0, 100), "too_few_customers", "Only 1 new customer in 90 days (fewer than 10)"),
    ((0, 5, 300, None, 100), "unpaid_with_customers", "No spend: 5 new customers came without budget"),
    ((0, 0, 0, None, 100), "idle", "No spend and no new customers"),
]


@pytest.mark.parametrize("numbers, code, words", REASON_CASES, ids=[case[1] for case in REASON_CASES])
def test_every_reason_reads_with_its_measured_numbers_and_threshold(numbers, code, words):
    spend, new, value, payback, blended = numbers
    cac = spend / new if new else None
    figures = ChannelFigures(
        "c",
        "C",
        float(spend),
        new,
        cac=cac,
        mean_customer_value=float(value) if new else None,
        ltv_cac=value / cac if cac else None,
        payback_months=payback,
    )
    _, reason = decide(figures, blended=blended)
    assert reason.code == code
    assert words in reason_text(reason, currency="CNY")


def test_undefined_ratio_reasons_read_without_numbers():
    assert "cannot be measured" in reason_text(Reason("ltv_cac_undefined", {"new_customers": 20}))
    assert "cannot be measured" in reason_text(Reason("payback_undefined", {"new_customers": 20}))


def test_the_budget_download_keeps_a_cut_channels_negative_change_a_number(client, viewer_user, portfolio):
    client.force_login(viewer_user)

    response = client.get(reverse("reporting:export-channel-budget-xlsx"))
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = {row[1]: row for row in sheet.iter_rows(min_row=2, values_only=True)}

    assert rows["display"][3] == "Cut"
    assert rows["display"][10] == pytest.approx(-500.0)  # half of its 1,000 moves away: a number, not "'-500.00"
    assert isinstance(rows["search"][5], int | float)
