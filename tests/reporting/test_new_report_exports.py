"""Downloads of the channel budget, customer mix and retention trend tables: the same numbers as their APIs."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from accounts.models import Role
from reporting import nightly
from tests.reporting.test_nightly_engine import AS_OF, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_shop(shop):  # noqa: F811
    org, _people = shop
    job = nightly.run_nightly(org=org, as_of=AS_OF)
    assert job.status == "succeeded", job.error
    return org


def _download(client, member_factory, org, table: str, fmt: str = "csv"):
    client.force_login(member_factory(org, Role.VIEWER))
    response = client.get(f"/reports/export/{table}.{fmt}")
    assert response.status_code == 200, response.content[:300]
    return response


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_rfm_grid_export_lists_the_apis_25_cells(client, member_factory, api_key_client, scored_shop):
    api = api_key_client(scored_shop, ("read",)).get("/api/v1/customer-mix/").json()

    header, *rows = _rows(_download(client, member_factory, scored_shop, "rfm-grid"))

    assert header == ["Recency score", "Frequency score", "Customers", "Customer value"]
    cells = api["rfm_grid"]["cells"]
    assert len(rows) == len(cells) == 25
    for row, cell in zip(rows, cells, strict=True):
        assert [int(row[0]), int(row[1]), int(row[2])] == [cell["r"], cell["f"], cell["customers"]]
        assert _number(row[3]) == pytest.approx(cell["value"], abs=0.005)
    assert sum(int(row[2]) for row in rows) == api["rfm_grid"]["customers"] > 0


def test_tier_value_and_stage_flow_exports_match_the_api(client, member_factory, api_key_client, scored_shop):
    api = api_key_client(scored_shop, ("read",)).get("/api/v1/customer-mix/").json()

    tiers = _rows(_download(client, member_factory, scored_shop, "tiers"))[1:]
    bins = _rows(_download(client, member_factory, scored_shop, "value-distribution"))[1:]
    flow = _rows(_download(client, member_factory, scored_shop, "stage-flow"))[1:]

    assert [int(row[1]) for row in tiers] == [tier["customers"] for tier in api["tiers"]]
    assert [int(row[2]) for row in bins] == [b["customers"] for b in api["value_bins"]]
    moves = [(m["month_end"], move["customers"]) for m in api["stage_flow"]["months"] for move in m["transitions"]]
    assert [(row[0], int(row[3])) for row in flow] == moves
    assert {row[1] for row in flow} >= {"New contact"}


def test_retention_trend_exports_match_the_api(client, member_factory, api_key_client, scored_shop):
    api = api_key_client(scored_shop, ("read",)).get("/api/v1/retention-trend/").json()

    churn = _rows(_download(client, member_factory, scored_shop, "churn-trend"))
    first = _rows(_download(client, member_factory, scored_shop, "first-event-retention"))

    assert churn[0] == ["Month", "Complete month", "Customers at the start", "Customers churned", "Monthly churn"]
    assert [(row[0], int(row[2]), int(row[3]), _number(row[4])) for row in churn[1:]] == [
        (m["month"], m["customers_at_start"], m["churned"], m["rate"]) for m in api["churn"]
    ]
    assert [(row[0], _number(row[2]), _number(row[3]), _number(row[4])) for row in first[1:]] == [
        (m["month"], m["d1"], m["d7"], m["d30"]) for m in api["first_event_retention"]
    ]


def test_channel_budget_export_matches_the_api_in_csv_and_xlsx(client, member_factory, api_key_client, scored_shop):
    api = api_key_client(scored_shop, ("read",)).get("/api/v1/channel-budget/").json()

    header, *rows = _rows(_download(client, member_factory, scored_shop, "channel-budget"))
    sheet = load_workbook(io.BytesIO(_download(client, member_factory, scored_shop, "channel-budget", "xlsx").content))

    assert header[:5] == ["Channel", "Channel code", "Class", "Action", "Reason"]
    assert [(row[1], row[3].lower(), row[4]) for row in rows] == [
        (c["code"], c["action"], c["reason"]) for c in api["channels"]
    ]
    values = list(sheet.active.iter_rows(values_only=True))
    assert [row[1] for row in values[1:]] == [c["code"] for c in api["channels"]]
    # Amounts are numbers a spreadsheet can add up, negative ones included (not "'-1234.50" text).
    for row, channel in zip(values[1:], api["channels"], strict=True):
        assert isinstance(row[5], int | float) and row[5] == pytest.approx(float(channel["spend"]))
        if channel["proposed_change"] is not None:
            assert isinstance(row[10], int | float) and row[10] == pytest.approx(float(channel["proposed_change"]))
    assert [_number(row[10]) for row in rows] == [
        None if c["proposed_change"] is None else float(c["proposed_change"]) for c in api["channels"]
    ]
    assert len(rows) >= 1


def test_before_the_first_night_the_new_exports_are_headers_only(client, member_factory, org):
    for table in ("rfm-grid", "tiers", "value-distribution", "stage-flow", "churn-trend", "first-event-retention"):
        rows = _rows(_download(client, member_factory, org, table))
        assert len(rows) == 1, table
