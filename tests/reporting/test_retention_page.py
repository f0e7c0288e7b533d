"""The Retention page (``/reports/cohorts/``) and ``GET /api/v1/retention-trend/``.

The shop of ``test_results_api`` (120 buyers, two channels, nightly runs on 2026-10-01, 10-30 and 10-31; monthly
churn alert threshold 0) is built once for the module. The page's charts carry their numbers as JSON (the chart
include), so the tests compare those with the API's, and the table views with the same numbers formatted.
"""

from __future__ import annotations

import datetime
import html
import json
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from reporting.models import CohortCell, Target
from reporting.retention_views import CURVE_COHORTS
from retention.models import RetentionTrend
from tests.reporting.test_results_api import AS_OF, BUYERS, Shop, open_shop

pytestmark = pytest.mark.django_db

URL = "/api/v1/retention-trend/"


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker) -> Iterator[Shop]:
    yield from open_shop(django_db_blocker)


def _page(client, params: dict | None = None) -> str:
    response = client.get(reverse("reporting:cohort-report"), params or {})
    assert response.status_code == 200
    return response.content.decode()


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _chart(body: str, chart_id: str) -> dict:
    match = re.search(rf'<script id="{chart_id}-data" type="application/json">(.*?)</script>', body, re.DOTALL)
    assert match, f"no chart #{chart_id}"
    return json.loads(match.group(1))


def _series(described: dict, label: str) -> list:
    return next(one["data"] for one in described["series"] if one["label"] == label)


def _table_view(body: str, chart_id: str) -> list[list[str]]:
    figure = re.search(rf'<figure class="chart" id="{chart_id}">(.*?)</figure>', body, re.DOTALL).group(1)
    rows_html = re.search(r"<tbody>(.*?)</tbody>", figure, re.DOTALL).group(1)
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", rows_html, re.DOTALL)
    ]


def _heatmap(body: str) -> list[list[str]]:
    table = re.search(r'<table[^>]*id="cohort-table"[^>]*>(.*?)</table>', body, re.DOTALL).group(1)
    rows_html = re.search(r"<tbody>(.*?)</tbody>", table, re.DOTALL).group(1)
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", rows_html, re.DOTALL)
    ]


def _percent(value) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


@pytest.fixture
def viewer_client(client, shop, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPS, Role.MARKETER, Role.VIEWER])
def test_every_role_sees_the_retention_page(client, shop, member_factory, role):
    client.force_login(member_factory(shop.org, role))
    body = _page(client)
    assert "<h1>Retention</h1>" in body
    for chart_id in ("churn-chart", "first-event-chart", "cohort-curves-chart"):
        assert f'id="{chart_id}"' in body
    assert 'id="cohort-table"' in body
    assert f'href="{reverse("reporting:at-risk")}"' in body
    assert re.search(r'aria-current="page"[^>]*>Retention</a>', body)


def test_the_churn_chart_shows_the_apis_numbers_with_the_month_to_date_apart(viewer_client, read_api, shop):
    trend = read_api.get(URL).json()
    assert trend["as_of"] == AS_OF.isoformat()
    body = _page(viewer_client)

    described = _chart(body, "churn-chart")
    assert described["labels"] == [row["month"][:7] for row in trend["churn"]]
    assert _series(described, "Monthly churn") == [row["rate"] if row["complete"] else None for row in trend["churn"]]
    assert _series(described, "Month to date") == [None if row["complete"] else row["rate"] for row in trend["churn"]]
    # October 31 ends October: twelve complete months, no month to date.
    assert [row["complete"] for row in trend["churn"]] == [True] * 12
    # The shop's churn alert fires above 0: the line is drawn at 0.
    assert described["guides"] == [{"axis": "y", "value": 0.0, "label": "Alert threshold"}]
    table = _table_view(body, "churn-chart")
    assert [row[0] for row in table] == described["labels"]
    assert [row[1] for row in table] == [_percent(row["rate"]) for row in trend["churn"]]
    latest = trend["churn"][-1]
    assert f"Monthly churn in 2026-10: {_percent(latest['rate'])}." in _text(body)


def test_the_d1_d7_d30_chart_shows_the_apis_numbers(viewer_client, read_api, shop):
    trend = read_api.get(URL).json()
    described = _chart(_page(viewer_client), "first-event-chart")
    months = trend["first_event_retention"]
    assert described["labels"] == [row["month"][:7] for row in months]
    for k in (1, 7, 30):
        assert _series(described, f"D{k} retention") == [row[f"d{k}"] for row in months]
    # October is too young for every horizon on October 31: undefined, drawn as a gap, not as 0.
    assert (months[-1]["d1"], months[-1]["d7"], months[-1]["d30"]) == (None, None, None)
    # September is old enough for all three: Sep 30 + 30 = Oct 30, on or before Oct 31.
    assert None not in (months[-2]["d1"], months[-2]["d7"], months[-2]["d30"])


def test_a_churn_target_is_drawn_dashed_along_its_path(viewer_client, read_api, shop):
    Target.objects.create(
        organization=shop.org,
        metric="monthly_churn_rate",
        name="Churn down to 6%",
        baseline_value=Decimal("0.08"),
        baseline_date=datetime.date(2026, 6, 30),
        target_value=Decimal("0.06"),
        deadline=datetime.date(2027, 6, 30),
    )
    trend = read_api.get(URL).json()
    body = _page(viewer_client)
    described = _chart(body, "churn-chart")
    target = next(one for one in described["series"] if one["label"] == "Target: Churn down to 6%")
    assert target["dashed"] is True
    # The months up to the deadline follow the measured ones: November 2026 to June 2027, churn not known yet.
    future = ["2026-11", "2026-12"] + [f"2027-{month:02}" for month in range(1, 7)]
    assert described["labels"] == [row["month"][:7] for row in trend["churn"]] + future
    assert _series(described, "Monthly churn") == [row["rate"] for row in trend["churn"]] + [None] * 8
    ends = [datetime.date.fromisoformat(row["end"]) for row in trend["churn"]]
    ends += [datetime.date(2026, 11, 30), datetime.date(2026, 12, 31), datetime.date(2027, 1, 31)]
    ends += [datetime.date(2027, 2, 28), datetime.date(2027, 3, 31), datetime.date(2027, 4, 30)]
    ends += [datetime.date(2027, 5, 31), datetime.date(2027, 6, 30)]
    baseline = datetime.date(2026, 6, 30)
    # Before the baseline date there was no target; then a straight line, 365 days from 8% to 6%.
    expected = [None if end < baseline else 0.08 - 0.02 * (end - baseline).days / 365 for end in ends]
    assert target["data"] == pytest.approx(expected)
    # November 2025 to May 2026 end before the baseline date; June 2026 ends on it; October is 123 days along.
    assert target["data"][:8] == [None] * 7 + [0.08]
    assert target["data"][11] == pytest.approx(0.08 - 0.02 * 123 / 365)
    assert target["data"][-1] == pytest.approx(0.06)
    assert 'Target "Churn down to 6%": from 8.0% to 6.0% by 2027-06-30' in html.unescape(body)


def test_without_a_target_the_page_says_so(viewer_client, shop):
    body = _page(viewer_client)
    assert "No target is set on monthly churn." in body
    assert len(_chart(body, "churn-chart")["series"]) == 2


def test_the_heatmap_and_curves_follow_the_channel_filter(viewer_client, shop):
    for code, channel in (("", None), ("search", shop.search), ("social", shop.social)):
        body = _page(viewer_client, {"channel": code} if code else None)
        cells: dict[str, list[CohortCell]] = {}
        for cell in (
            CohortCell.objects.for_org(shop.org).filter(channel=channel).order_by("cohort_month", "months_since")
        ):
            cells.setdefault(cell.cohort_month.strftime("%Y-%m"), []).append(cell)
        table = _heatmap(body)
        assert [row[0] for row in table] == list(cells)
        assert [row[2:] for row in table] == [[_percent(c.retention) for c in row] for row in cells.values()]
        curves = _chart(body, "cohort-curves-chart")
        recent = [month for month, row in cells.items() if len(row) > 1][-CURVE_COHORTS:]
        assert len(recent) == CURVE_COHORTS
        assert [one["label"] for one in curves["series"]] == recent
        assert [one["data"] for one in curves["series"]] == [[c.retention for c in cells[month]] for month in recent]
        if code:
            assert f'<option value="{code}" selected>' in body
    all_channels = _heatmap(_page(viewer_client))
    assert sum(int(row[1]) for row in all_channels) == BUYERS


def test_the_trend_does_not_follow_the_channel_filter(viewer_client, shop):
    # Churn and D-k are organization-wide: the filter applies to the cohorts, and the page says nothing else.
    assert _chart(_page(viewer_client, {"channel": "search"}), "churn-chart") == _chart(
        _page(viewer_client), "churn-chart"
    )


def test_no_other_organizations_data(client, shop, other_org, member_factory, viewer_client):
    RetentionTrend.objects.create(
        organization=other_org,
        as_of=datetime.date(2026, 11, 30),
        churn_window_days=90,
        churn=[
            {
                "month": "2026-11-01",
                "start": "2026-10-31",
                "end": "2026-11-30",
                "complete": True,
                "customers_at_start": 7,
                "churned": 6,
                "rate": 0.857142,
            }
        ],
        first_event_retention=[],
    )
    body = _page(viewer_client)
    assert "0.857142" not in body and "85.7%" not in body
    assert "2026-11" not in _chart(body, "churn-chart")["labels"]

    client.force_login(member_factory(other_org, Role.VIEWER))
    other = _page(client)
    assert _chart(other, "churn-chart")["labels"] == ["2026-11"]
    assert "No cohorts yet: they appear after the first nightly run." in other  # the shop's cohorts are not shown


def test_before_the_first_night_the_page_explains_itself(client, other_org, member_factory):
    client.force_login(member_factory(other_org, Role.VIEWER))
    body = _page(client)
    assert "No retention history yet: it is computed by the nightly run." in body
    assert 'id="churn-chart"' not in body


# API ---------------------------------------------------------------------------------------------------------


def test_the_api_returns_the_latest_stored_trend(read_api, shop):
    response = read_api.get(URL)
    assert response.status_code == 200
    stored = RetentionTrend.objects.for_org(shop.org).get(as_of=AS_OF)
    data = response.json()
    assert data["as_of"] == "2026-10-31"
    assert data["churn_window_days"] == stored.churn_window_days
    assert data["churn"] == stored.churn
    assert data["first_event_retention"] == stored.first_event_retention
    assert len(data["churn"]) == 12 and len(data["first_event_retention"]) == 12


def test_the_api_gives_404_before_the_first_night(api_key_client, other_org):
    response = api_key_client(other_org, ("read",)).get(URL)
    assert response.status_code == 404


def test_the_api_needs_credentials(client, shop):
    assert client.get(URL).status_code in (401, 403)


def test_the_api_answers_a_member_session_with_their_organizations_trend(session_api, shop, other_org, member_factory):
    data = session_api(member_factory(shop.org, Role.VIEWER)).get(URL).json()
    assert data["as_of"] == AS_OF.isoformat()
    assert session_api(member_factory(other_org, Role.VIEWER)).get(URL).status_code == 404
