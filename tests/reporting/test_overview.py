"""The executive overview page: tiles with change and sparkline, period and channel filters, targets with status,
the biggest movers, and target editing for admins only.

The organization has one KPI snapshot a night for the 61 nights up to 31 October 2026, with figures that move in
straight lines, so every change below can be worked out by hand.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.services import Actor
from crm.models import Channel
from reporting.models import ChannelMetric, KpiSnapshot, MetricPeriod, Target
from reporting.services import target_create

pytestmark = pytest.mark.django_db

LAST = datetime.date(2026, 10, 31)
URL = reverse("reporting:kpi-overview")


def figures(k: int) -> dict:
    """The snapshot ``k`` nights before the last: revenue grows by 100 a night, churn falls by 0.0005 a night."""
    return {
        "revenue": 10_000.0 - 100 * k,
        "new_customers": 50,
        "active_customers": 400 + k,
        "cac": 120.0 + k,
        "ltv_cac": 3.0,
        "monthly_churn_rate": 0.07 + 0.0005 * k,
        "high_value_retention": 0.92,
        "repeat_purchase_rate": None,
        "nps": 40.0 - 0.5 * k,
    }


@pytest.fixture
def nights(org):
    KpiSnapshot.objects.bulk_create(
        KpiSnapshot(organization=org, day=LAST - datetime.timedelta(days=k), values=figures(k)) for k in range(61)
    )


@pytest.fixture
def churn_target(org, nights):
    return target_create(
        org=org,
        actor=Actor(label="test"),
        today=LAST,
        metric="monthly_churn_rate",
        name="Churn down to 6%",
        baseline_value=Decimal("0.08"),
        baseline_date=datetime.date(2026, 8, 1),
        target_value=Decimal("0.06"),
        deadline=datetime.date(2027, 8, 1),
    )


def page(client, user, params: dict | None = None) -> str:
    client.force_login(user)
    response = client.get(URL, params or {})
    assert response.status_code == 200
    return response.content.decode()


def tile(body: str, code: str) -> str:
    match = re.search(rf'<article class="kpi-tile" id="kpi-{code}".*?</article>', body, re.DOTALL)
    assert match, code
    return match.group(0)


def test_a_tile_shows_the_value_its_change_against_the_night_before_the_period_and_a_sparkline(
    client, viewer_user, nights
):
    """Revenue 10,000.00 on 31 Oct against 7,000.00 on 1 Oct (30 nights back): +42.9%, up, which is good."""
    body = page(client, viewer_user)

    revenue = tile(body, "revenue")
    assert "<strong>10,000.00" in revenue
    assert "+42.9%" in revenue
    assert 'class="kpi-change good"' in revenue
    assert '<svg class="kpi-spark"' in revenue
    assert "Revenue, 30 nights from 2026-10-02 to 2026-10-31: lowest 7,100.00, highest 10,000.00" in revenue


def test_a_share_changes_in_points_and_a_fall_in_churn_is_good(client, viewer_user, nights):
    """Churn 7.0% against 8.5% 30 nights back: -1.5 points, down, and down is good for churn."""
    churn = tile(page(client, viewer_user), "monthly_churn_rate")
    assert "<strong>7.0%" in churn
    assert "−1.5 pts" in churn or "-1.5 pts" in churn
    assert 'class="kpi-change good"' in churn


def test_a_fall_in_cac_is_good_and_a_fall_in_active_customers_bad(client, viewer_user, nights):
    body = page(client, viewer_user)
    cac = tile(body, "cac")
    assert "-20.0%" in cac  # 120 against 150
    assert 'class="kpi-change good"' in cac
    active = tile(body, "active_customers")
    assert "-7.0%" in active  # 400 against 430
    assert 'class="kpi-change bad"' in active


def test_a_kpi_without_values_says_so_instead_of_drawing(client, viewer_user, nights):
    repeat = tile(page(client, viewer_user), "repeat_purchase_rate")
    assert "Not enough nights for a trend yet." in repeat
    assert "<svg" not in repeat


def test_the_90_day_period_compares_with_a_night_that_was_not_computed(client, viewer_user, nights):
    """Nothing was computed on or before 2 Aug (90 nights back), so there is no change to show."""
    body = page(client, viewer_user, {"period": "90"})
    assert "no earlier figure" in tile(body, "revenue")
    assert "No night before the period has been computed" in body
    assert '<option value="90" selected>' in body


def test_a_date_range_ends_its_figures_on_its_last_day(client, viewer_user, nights):
    """From 11 Oct to 21 Oct: the tile shows 21 Oct (9,000.00) against 10 Oct (7,900.00): +13.9%."""
    body = page(client, viewer_user, {"period": "range", "from": "2026-10-11", "to": "2026-10-21"})
    revenue = tile(body, "revenue")
    assert "<strong>9,000.00" in revenue
    assert "+13.9%" in revenue
    assert "11 nights from 2026-10-11 to 2026-10-21" in revenue
    assert 'value="2026-10-11"' in body


def test_a_bad_range_falls_back_to_30_days_and_says_why(client, viewer_user, nights):
    body = page(client, viewer_user, {"period": "range", "from": "2026-10-11"})
    assert "Give both dates of the range as YYYY-MM-DD." in body
    assert "<strong>10,000.00" in tile(body, "revenue")
    body = page(client, viewer_user, {"period": "range", "from": "2026-10-31", "to": "2026-10-31"})
    assert "The range must start before it ends." in body


def test_the_history_table_is_the_table_view_of_the_sparklines(client, viewer_user, nights):
    body = page(client, viewer_user)
    table = re.search(r'<table[^>]*id="kpi-history".*?</table>', body, re.DOTALL).group(0)
    assert table.count("<tr>") == 31  # the header and 30 nights
    assert "2026-10-02" in table
    assert "2026-10-01" not in table


def test_the_movers_are_the_largest_relative_changes_coloured_by_direction(client, viewer_user, nights):
    """Against 1 Oct: revenue +42.9% (good), NPS 40 vs 25 = +60.0% (good), CAC -20.0% (good), churn -17.6%
    (good), active customers -7.0% (bad: fewer active customers)."""
    body = page(client, viewer_user)
    rows = re.findall(r'<tr class="mover (good|bad)" data-code="([a-z_0-9]+)">', body)
    assert rows == [
        ("good", "nps"),
        ("good", "revenue"),
        ("good", "cac"),
        ("good", "monthly_churn_rate"),
        ("bad", "active_customers"),
    ]


def test_the_targets_show_progress_and_status_with_the_rules_on_the_page(client, viewer_user, churn_target):
    """Churn 8% -> 6% from 1 Aug 2026 to 1 Aug 2027; on 31 Oct it is 7%: half way after 91 of 365 days."""
    body = page(client, viewer_user)
    row = re.search(rf'<tr id="target-{churn_target.pk}".*?</tr>', body, re.DOTALL).group(0)
    assert 'data-status="achieved"' not in row
    assert 'data-status="on_track"' in row
    assert "50% of the way, 25% of the time" in row
    assert "On track" in row
    assert "at most 10 points behind the time passed" in body
    assert "more than 25 points behind" in body


def test_the_channel_filter_narrows_only_the_channel_figures_and_says_so(client, viewer_user, org, nights):
    channel = Channel.objects.create(organization=org, code="search", name="Search ads")
    ChannelMetric.objects.create(
        organization=org,
        as_of=LAST,
        channel=channel,
        period=MetricPeriod.TRAILING_90,
        period_start=datetime.date(2026, 8, 3),
        period_end=LAST,
        spend=Decimal("4500"),
        new_customers=30,
        cac=Decimal("150"),
    )
    body = page(client, viewer_user, {"channel": "search"})
    assert "KPI snapshots are computed for the whole organization, not per channel" in body
    assert "Channel: Search ads" in body
    assert "4,500.00" in body
    assert "<strong>10,000.00" in tile(body, "revenue")


def test_the_page_reads_only_precomputed_tables(client, viewer_user, churn_target):
    client.force_login(viewer_user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, {"period": "365", "channel": "search"}).status_code == 200
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "crm_order" not in tables
    assert "crm_customer" not in tables


def test_before_the_first_night_the_page_still_lists_the_targets(client, admin_user, org):
    Target.objects.create(
        organization=org,
        metric="nps",
        name="NPS at least 70",
        baseline_value=40,
        baseline_date=LAST,
        target_value=70,
        deadline=datetime.date(2027, 10, 31),
    )
    body = page(client, admin_user)
    assert "No figures yet" in body
    assert "NPS at least 70" in body
    assert "No data" in body


# Who may change targets -----------------------------------------------------------------------------------------


def test_an_admin_sees_the_add_and_edit_controls(client, admin_user, churn_target):
    body = page(client, admin_user)
    assert 'id="add-target"' in body
    assert reverse("reporting:target-edit", args=[churn_target.pk]) in body


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPS, Role.MARKETER])
def test_other_roles_see_no_controls_and_get_403_on_every_change(client, org, member_factory, churn_target, role):
    user = member_factory(org, role)
    body = page(client, user)
    assert 'id="add-target"' not in body
    assert reverse("reporting:target-edit", args=[churn_target.pk]) not in body
    new = reverse("reporting:target-create")
    edit = reverse("reporting:target-edit", args=[churn_target.pk])
    delete = reverse("reporting:target-delete", args=[churn_target.pk])
    assert client.get(new).status_code == 403
    assert client.post(new, {"name": "Mine", "metric": "nps"}).status_code == 403
    assert client.post(edit, {"name": "Mine"}).status_code == 403
    assert client.post(delete).status_code == 403
    assert Target.objects.get(pk=churn_target.pk).name == "Churn down to 6%"


def form_data(**overrides) -> dict:
    data = {
        "name": "Churn to 5%",
        "metric": "monthly_churn_rate",
        "description": "",
        "baseline_value": "7",
        "baseline_date": "2026-10-31",
        "target_value": "5",
        "deadline": "2099-10-31",
        "owner": "",
    }
    data.update(overrides)
    return data


def test_an_admin_adds_a_target_with_rates_in_percent(client, admin_user, nights):
    client.force_login(admin_user)
    assert client.get(reverse("reporting:target-create")).status_code == 200
    response = client.post(reverse("reporting:target-create"), form_data(owner=str(admin_user.pk)))

    assert response.status_code == 302
    target = Target.objects.get(name="Churn to 5%")
    assert (target.baseline_value, target.target_value) == (Decimal("0.07"), Decimal("0.05"))
    assert target.owner == admin_user
    assert AuditLog.objects.filter(action="target.create", actor_user=admin_user).exists()


def test_the_form_shows_the_services_errors_under_their_fields(client, admin_user, nights):
    client.force_login(admin_user)
    response = client.post(reverse("reporting:target-create"), form_data(target_value="7", deadline="2020-01-01"))

    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_target_value_error"' in body
    assert "equals the baseline" in body
    assert 'id="id_deadline_error"' in body
    assert not Target.objects.filter(name="Churn to 5%").exists()


def test_an_admin_edits_a_target_seeing_rates_in_percent_and_deletes_it(client, admin_user, churn_target):
    client.force_login(admin_user)
    edit = reverse("reporting:target-edit", args=[churn_target.pk])
    assert 'value="8"' in client.get(edit).content.decode()

    response = client.post(edit, form_data(name="Churn to 5.5%", baseline_value="8", target_value="5.5"))
    assert response.status_code == 302
    churn_target.refresh_from_db()
    assert churn_target.target_value == Decimal("0.055")

    assert client.post(reverse("reporting:target-delete", args=[churn_target.pk])).status_code == 302
    assert not Target.objects.filter(pk=churn_target.pk).exists()


def test_another_organizations_target_is_a_404_for_an_admin(client, other_org, member_factory, churn_target):
    client.force_login(member_factory(other_org, Role.ADMIN))
    assert client.get(reverse("reporting:target-edit", args=[churn_target.pk])).status_code == 404
    assert client.post(reverse("reporting:target-delete", args=[churn_target.pk])).status_code == 404
    assert Target.objects.filter(pk=churn_target.pk).exists()
