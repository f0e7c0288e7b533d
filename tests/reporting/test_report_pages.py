"""The report pages show what the nightly run stored: KPIs, channels, cohorts, scores, the value model, alerts, jobs.

The shop of ``test_results_api`` (120 buyers, two channels, three nightly runs) is built once for the module;
each test signs in a member of the shop's organization and checks the page against the stored rows, formatted
as the page promises (amounts with two places and thousands separators, shares as percentages).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from reporting.models import Alert, AlertKind, AlertRule, ChannelMetric, CohortCell, JobRun, KpiSnapshot, MetricPeriod
from reporting.selectors import kpi_definitions
from reporting.views import KPI_GROUPS
from retention.models import ClvModelReport
from segmentation.models import CustomerScore
from tests.reporting.test_results_api import AS_OF, BUYERS, CONTACTS_WITHOUT_ORDERS, RUN_DAYS, Shop, open_shop

pytestmark = pytest.mark.django_db

PAGES = ("kpi-overview", "channel-report", "cohort-report", "score-list", "clv-model", "alert-list", "job-list")

#: What each page says before the organization's first nightly run.
EMPTY_STATES = {
    "kpi-overview": "No figures yet: they appear after the first nightly run",
    "channel-report": "No channel figures yet: they appear after the first nightly run.",
    "cohort-report": "No cohorts yet: they appear after the first nightly run.",
    "score-list": "No scores yet: they appear after the first nightly run.",
    "clv-model": "No model yet: it is fitted by the first nightly run.",
    "alert-list": "No open alert.",
    "job-list": "No nightly run yet.",
}


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker) -> Iterator[Shop]:
    yield from open_shop(django_db_blocker)


def _page(client, name: str, params: dict | None = None) -> str:
    response = client.get(reverse(f"reporting:{name}"), params or {})
    assert response.status_code == 200
    return response.content.decode()


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _table(body: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with ``table_id``, as lists of cell texts."""
    match = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', body, re.DOTALL)
    assert match, f"no table #{table_id}"
    rows_html = re.search(r"<tbody>(.*?)</tbody>", match.group(1), re.DOTALL).group(1)
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", rows_html, re.DOTALL)
    ]


def _fixed(value, places: int) -> str:
    """``value`` with ``places`` decimals, rounded half up from its shortest repr (Django's ``floatformat``)."""
    return str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _money(value) -> str:
    return "—" if value is None else f"{float(value):,.2f}"


def _percent(value) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def _kpi(value, unit: str) -> str:
    if value is None:
        return "—"
    return {
        "money": _money(value),
        "share": _percent(value),
        "ratio": f"{_fixed(value, 2)}×",
        "score": _fixed(value, 1),
        "count": f"{value:,}",
    }[unit]


@pytest.fixture
def viewer_client(client, shop, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture
def ops_client(client, shop, ops_user):
    client.force_login(ops_user)
    return client


# KPIs --------------------------------------------------------------------------------------------------------


def test_kpi_overview_shows_a_tile_per_kpi_with_the_latest_snapshots_value(viewer_client, shop):
    """Every KPI of the page's groups has its ``kpi-<code>`` tile, formatted by its unit from the latest snapshot."""
    body = _page(viewer_client, "kpi-overview")

    values = KpiSnapshot.objects.for_org(shop.org).get(day=AS_OF).values
    units = {row["code"]: row["unit"] for row in kpi_definitions()}
    tiles = dict(
        re.findall(r'<article class="kpi-tile" id="kpi-([a-z0-9_]+)".*?<strong>(.*?)</strong>', body, re.DOTALL)
    )
    codes = [code for group in KPI_GROUPS for code in group]
    assert set(tiles) == set(codes)
    assert {code: _text(tiles[code]) for code in codes} == {code: _kpi(values[code], units[code]) for code in codes}
    assert "The 30 days up to 2026-10-31" in body


def test_kpi_overview_formats_money_shares_and_counts(viewer_client, shop):
    """Spot checks of the formats, so a formatting change shows up as a readable failure."""
    body = _page(viewer_client, "kpi-overview")
    values = KpiSnapshot.objects.for_org(shop.org).get(day=AS_OF).values

    revenue = f"{values['revenue']:,.2f}"
    assert re.search(rf'id="kpi-revenue".*?<strong>{re.escape(revenue)}\s*</strong>', body, re.DOTALL)
    churn = f"{values['monthly_churn_rate'] * 100:.1f}%"
    assert re.search(rf'id="kpi-monthly_churn_rate".*?<strong>{re.escape(churn)}\s*</strong>', body, re.DOTALL)
    assert re.search(rf'id="kpi-buying_customers".*?<strong>{BUYERS}\s*</strong>', body, re.DOTALL)


def test_kpi_overview_lists_the_last_30_nights_and_the_definitions(viewer_client, shop):
    body = _page(viewer_client, "kpi-overview")

    history = _table(body, "kpi-history")
    assert [row[0] for row in history] == ["2026-10-31", "2026-10-30"]  # 2026-10-01 is 31 nights back
    previous = KpiSnapshot.objects.for_org(shop.org).get(day=RUN_DAYS[1]).values
    assert history[1][1] == _money(previous["revenue"])
    assert history[1][4] == _percent(previous["monthly_churn_rate"])
    assert 'id="kpi-definitions"' in body
    assert "<code>monthly_churn_rate</code>" in body


# Channels ----------------------------------------------------------------------------------------------------


def test_channel_report_shows_each_channels_trailing_90_days_by_default(viewer_client, shop):
    """Spend, new customers, CAC, conversion, value, LTV/CAC and ROI of each channel's stored trailing row."""
    body = _page(viewer_client, "channel-report")

    rows = {row[0]: row for row in _table(body, "channel-table")}
    assert set(rows) == {"Search ads", "Social media"}
    for channel in (shop.search, shop.social):
        metric = ChannelMetric.objects.for_org(shop.org).get(channel=channel, period=MetricPeriod.TRAILING_90)
        row = rows[channel.name]
        assert row[1] == _money(metric.spend)
        assert row[2] == str(metric.new_customers)
        assert row[3] == _money(metric.cac)
        assert row[4] == f"{_percent(metric.conversion)} ({metric.converted_contacts}/{metric.contacts})"
        assert row[5] == _money(metric.mean_customer_value)
        assert row[6] == f"{_fixed(metric.ltv_cac, 2)}×"
        assert row[7] == _percent(metric.roi)
    assert '<option value="trailing_90d" selected>' in body


def test_channel_report_by_month_shows_the_last_six_months_of_each_channel(viewer_client, shop):
    body = _page(viewer_client, "channel-report", {"period": "month"})

    rows = _table(body, "channel-table")
    months = ["2026-10 to date", "2026-09", "2026-08", "2026-07", "2026-06", "2026-05"]  # October ends on the as-of day
    assert [(row[0], row[1]) for row in rows] == [(name, m) for name in ("Search ads", "Social media") for m in months]
    october = ChannelMetric.objects.for_org(shop.org).get(
        channel=shop.search, period=MetricPeriod.MONTH, period_start=AS_OF.replace(day=1)
    )
    assert rows[0][2:5] == [_money(october.spend), str(october.new_customers), _money(october.cac)]
    assert '<option value="month" selected>' in body


def test_channel_report_falls_back_to_trailing_90_days_for_an_unknown_period(viewer_client, shop):
    body = _page(viewer_client, "channel-report", {"period": "decade"})

    assert len(_table(body, "channel-table")) == 2
    assert '<option value="trailing_90d" selected>' in body


# Cohorts -----------------------------------------------------------------------------------------------------


def _cohort_rows(org, channel) -> dict[str, list[CohortCell]]:
    rows: dict[str, list[CohortCell]] = {}
    for cell in CohortCell.objects.for_org(org).filter(channel=channel).order_by("cohort_month", "months_since"):
        rows.setdefault(cell.cohort_month.strftime("%Y-%m"), []).append(cell)
    return rows


def test_cohort_report_shows_retention_of_all_channels_by_default(viewer_client, shop):
    body = _page(viewer_client, "cohort-report")

    table = _table(body, "cohort-table")
    stored = _cohort_rows(shop.org, None)
    assert [row[0] for row in table] == list(stored)
    for row in table:
        cells = stored[row[0]]
        assert row[1] == str(cells[0].cohort_size)
        assert row[2:] == [_percent(cell.retention) for cell in cells]
    assert sum(int(row[1]) for row in table) == BUYERS


def test_cohort_report_of_one_channel_shows_its_cumulative_revenue_per_customer(viewer_client, shop):
    body = _page(viewer_client, "cohort-report", {"channel": "search", "show": "revenue"})

    table = _table(body, "cohort-table")
    stored = _cohort_rows(shop.org, shop.search)
    assert [row[0] for row in table] == list(stored)
    for row in table:
        cells = stored[row[0]]
        assert row[1] == str(cells[0].cohort_size)
        assert row[2:] == [_money(cell.cumulative_revenue_per_customer) for cell in cells]
    assert '<option value="search" selected>' in body
    assert '<option value="revenue" selected>' in body


def test_cohort_report_ignores_an_unknown_channel_and_display(viewer_client, shop):
    body = _page(viewer_client, "cohort-report", {"channel": "billboards", "show": "pie"})

    table = _table(body, "cohort-table")
    assert sum(int(row[1]) for row in table) == BUYERS
    assert table[0][2] == "100.0%"


# Scores ------------------------------------------------------------------------------------------------------


def _score_count(body: str) -> str:
    return _text(re.search(r'<p class="muted" id="score-count">(.*?)</p>', body, re.DOTALL).group(1))


def test_score_list_shows_the_most_valuable_customers_first_with_links(viewer_client, shop):
    """The first page is the 50 most valuable customers in order, each linked to their customer page."""
    body = _page(viewer_client, "score-list")

    assert _score_count(body) == f"{BUYERS + CONTACTS_WITHOUT_ORDERS} customers"
    assert "As of 2026-10-31." in body
    top = list(CustomerScore.objects.for_org(shop.org).select_related("customer").order_by("-customer_value")[:50])
    rows = _table(body, "score-table")
    assert [row[0] for row in rows] == [score.customer.name for score in top]
    assert rows[0][4:7] == [_money(top[0].revenue), _money(top[0].predicted_value), _money(top[0].customer_value)]
    assert rows[0][7] == _percent(top[0].p_alive)
    for score in top:
        assert f'href="{reverse("crm:customer-detail", args=[score.customer_id])}"' in body


def test_score_list_paginates_by_fifty(viewer_client, shop):
    first = _page(viewer_client, "score-list")
    third = _page(viewer_client, "score-list", {"page": 3})

    assert "1 / 3" in first
    assert "page=2" in first
    assert len(_table(third, "score-table")) == BUYERS + CONTACTS_WITHOUT_ORDERS - 100
    leads = [row[0] for row in _table(third, "score-table") if row[0].startswith("Lead")]
    assert len(leads) == CONTACTS_WITHOUT_ORDERS  # no purchase, no value: last


@pytest.mark.parametrize(
    ("params", "lookup"),
    [
        ({"tier": "high"}, {"tier": "high"}),
        ({"stage": "churned"}, {"stage": "churned"}),
        ({"segment": "champions"}, {"rfm_segment": "champions"}),
        ({"at_risk": "yes"}, {"at_risk": True}),
        ({"tier": "mid", "at_risk": "no"}, {"tier": "mid", "at_risk": False}),
    ],
)
def test_score_list_filters(viewer_client, shop, params, lookup):
    body = _page(viewer_client, "score-list", params)

    expected = CustomerScore.objects.for_org(shop.org).filter(**lookup).select_related("customer")
    count = expected.count()
    assert 0 < count < BUYERS
    assert _score_count(body) == f"{count} customer{'s' if count > 1 else ''}"
    assert {row[0] for row in _table(body, "score-table")} == {s.customer.name for s in expected[:50]}
    for name, value in params.items():
        assert re.search(rf'<option value="{value}" selected>', body), name


def test_score_list_keeps_the_filters_on_the_next_page(viewer_client, shop):
    churned = CustomerScore.objects.for_org(shop.org).filter(stage="churned").count()
    assert churned > 50

    body = _page(viewer_client, "score-list", {"stage": "churned"})

    assert 'href="?stage=churned&page=2"' in body
    second = _page(viewer_client, "score-list", {"stage": "churned", "page": 2})
    assert len(_table(second, "score-table")) == churned - 50


def test_score_list_ignores_unknown_filter_values(viewer_client, shop):
    body = _page(viewer_client, "score-list", {"tier": "bogus", "stage": "x", "at_risk": "maybe"})

    assert _score_count(body) == f"{BUYERS + CONTACTS_WITHOUT_ORDERS} customers"


def test_score_list_breaks_customers_down_by_tier_and_stage(viewer_client, shop):
    body = _page(viewer_client, "score-list")

    tiers = {row[0]: row[1] for row in _table(body, "tier-breakdown")}
    scores = CustomerScore.objects.for_org(shop.org)
    assert tiers == {
        "No purchase yet": str(CONTACTS_WITHOUT_ORDERS),
        "High value": str(scores.filter(tier="high").count()),
        "Mid value": str(scores.filter(tier="mid").count()),
        "Potential": str(scores.filter(tier="potential").count()),
    }
    stages = {row[0]: int(row[1]) for row in _table(body, "stage-breakdown")}
    assert stages["Churned"] == scores.filter(stage="churned").count()
    assert sum(stages.values()) == BUYERS + CONTACTS_WITHOUT_ORDERS


def test_score_list_does_not_link_the_no_purchase_row_to_every_customer(viewer_client, shop):
    """``?tier=`` means "any tier", so a link there under "No purchase yet" would list all 135 customers."""
    body = _page(viewer_client, "score-list")

    assert 'href="?tier="' not in body
    assert 'href="?tier=high"' in body


# Lifetime-value model ----------------------------------------------------------------------------------------


def test_clv_model_page_shows_the_parameters_of_the_latest_fit(viewer_client, shop):
    body = _page(viewer_client, "clv-model")

    report = ClvModelReport.objects.for_org(shop.org).get(as_of=AS_OF)
    assert dict(_table(body, "bgnbd-params")) == {
        "r": _fixed(report.bgnbd_r, 4),
        "α": _fixed(report.bgnbd_alpha, 4),
        "a": _fixed(report.bgnbd_a, 4),
        "b": _fixed(report.bgnbd_b, 4),
        "log-likelihood": _fixed(report.bgnbd_log_likelihood, 2),
        "converged": "yes",
    }
    assert dict(_table(body, "gg-params"))["q"] == _fixed(report.gg_q, 4)
    summary = _text(re.search(r'id="model-summary">(.*?)</section>', body, re.DOTALL).group(1))
    assert f"Buying customers {BUYERS}" in summary
    assert f"Repeat buyers {report.repeaters}" in summary
    assert "Status Fitted" in summary


def test_clv_model_page_draws_the_calibration_chart_and_table(viewer_client, shop):
    body = _page(viewer_client, "clv-model")

    buckets = ClvModelReport.objects.for_org(shop.org).get(as_of=AS_OF).calibration["buckets"]
    chart = re.search(r'<figure class="chart" id="calibration-chart">(.*?)</figure>', body, re.DOTALL).group(1)
    assert "<svg" not in chart  # the shared chart include (Chart.js + table view), not an inline SVG
    described = json.loads(re.search(r'<script id="calibration-chart-data" [^>]*>(.*?)</script>', chart).group(1))
    assert described["labels"] == [b["frequency"] for b in buckets] and len(buckets) == 8
    assert [one["data"] for one in described["series"]] == [
        [b["predicted"] for b in buckets],
        [b["actual"] for b in buckets],
    ]
    assert _table(body, "calibration-table") == [
        [b["frequency"], str(b["customers"]), _fixed(b["predicted"], 3), _fixed(b["actual"], 3)] for b in buckets
    ]
    assert "the last 90 days" in body


def test_clv_model_page_explains_the_churn_model_and_lists_earlier_nights(viewer_client, shop):
    body = _page(viewer_client, "clv-model")

    evaluation = ClvModelReport.objects.for_org(shop.org).get(as_of=AS_OF).churn_evaluation
    churn = _text(re.search(r'<p id="churn-model">(.*?)</p>', body, re.DOTALL).group(1))
    assert churn.startswith("In use: BG/NBD: P(no purchase in the churn window).")
    assert evaluation["message"] in churn
    table = _table(body, "churn-evaluation")
    # Too few customers to train the classifier: only the BG/NBD baseline has a row.
    assert table == [
        [
            "BG/NBD: P(no purchase in the churn window)",
            _fixed(evaluation["baseline_auc"], 3),
            _percent(evaluation["baseline_precision_top10"]),
        ]
    ]
    # The current night is shown above; the history lists the nights before it.
    assert [row[0] for row in _table(body, "model-history")] == ["2026-10-30", "2026-10-01"]


# Alerts ------------------------------------------------------------------------------------------------------


def _open_alert(org) -> Alert:
    return Alert.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN, raised_on=AS_OF).get()


def test_alert_list_offers_ops_the_acknowledge_button(ops_client, shop):
    body = _page(ops_client, "alert-list")

    alerts = Alert.objects.for_org(shop.org)
    for alert in alerts:
        assert alert.message in html.unescape(body)
        assert f'action="{reverse("reporting:alert-acknowledge", args=[alert.pk])}"' in body
    assert body.count(">Acknowledge</button>") == alerts.count()


def test_alert_list_hides_the_acknowledge_button_from_a_viewer(viewer_client, shop):
    body = _page(viewer_client, "alert-list")

    assert "Acknowledge</button>" not in body
    assert "alert-acknowledge" not in body and "/acknowledge/" not in body
    assert _open_alert(shop.org).message in html.unescape(body)


def test_ops_acknowledges_an_alert_from_the_page(ops_client, shop, ops_user):
    """The button's POST marks the alert, redirects to the list, which no longer offers it; "All" names who."""
    alert = _open_alert(shop.org)

    response = ops_client.post(reverse("reporting:alert-acknowledge", args=[alert.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("reporting:alert-list")
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by == ops_user
    still_open = _page(ops_client, "alert-list")
    assert "Alert acknowledged." in still_open
    assert reverse("reporting:alert-acknowledge", args=[alert.pk]) not in still_open
    everything = _page(ops_client, "alert-list", {"show": "all"})
    assert ops_user.email in everything


def test_a_viewer_cannot_acknowledge_an_alert_from_the_page(viewer_client, shop):
    alert = _open_alert(shop.org)

    response = viewer_client.post(reverse("reporting:alert-acknowledge", args=[alert.pk]))

    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_another_organizations_alert_is_a_404_on_the_page(ops_client, shop, other_org):
    theirs = Alert.objects.create(
        organization=other_org, kind=AlertKind.MONTHLY_CHURN, raised_on=AS_OF, message="Their churn."
    )

    response = ops_client.post(reverse("reporting:alert-acknowledge", args=[theirs.pk]))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None
    assert "Their churn." not in _page(ops_client, "alert-list", {"show": "all"})


def test_acknowledging_needs_a_post(ops_client, shop):
    alert = _open_alert(shop.org)

    assert ops_client.get(reverse("reporting:alert-acknowledge", args=[alert.pk])).status_code == 405
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# Jobs --------------------------------------------------------------------------------------------------------


def test_job_list_shows_the_shops_three_runs(viewer_client, shop):
    body = _page(viewer_client, "job-list")

    rows = [row for row in _table(body, "job-table") if len(row) == 6]
    assert sorted(row[1] for row in rows) == [day.isoformat() for day in RUN_DAYS]
    assert {row[2] for row in rows} == {"Succeeded"}
    assert {row[5] for row in rows} == {"test"}
    assert JobRun.objects.for_org(shop.org).count() == 3


# Every page --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_report_page_shows_its_empty_state_before_the_first_run(client, shop, other_org, member_factory, name):
    """Organization B has not run yet (A has): each page says so, and shows nothing of A's."""
    client.force_login(member_factory(other_org, Role.VIEWER))

    body = _page(client, name)

    assert EMPTY_STATES[name] in body
    assert "Shopper" not in body and "Search ads" not in body


@pytest.mark.parametrize("name", PAGES)
def test_a_viewer_can_read_every_report_page(viewer_client, name):
    """Reading needs no writing role: a viewer gets each page with the shop's figures, not its empty state."""
    body = _page(viewer_client, name)

    assert EMPTY_STATES[name] not in body
    assert f'href="{reverse(f"reporting:{name}")}" aria-current="page"' in body


@pytest.mark.parametrize("name", PAGES)
def test_every_report_page_requires_sign_in(client, name):
    response = client.get(reverse(f"reporting:{name}"))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


# Alert rules --------------------------------------------------------------------------------------------------


def _rule(shop, kind: str) -> AlertRule:
    from reporting.services import alert_rules_for

    return alert_rules_for(shop.org)[kind]


def test_an_admin_changes_an_alert_threshold_in_percent_and_it_is_audited(client, shop, admin_user):
    client.force_login(admin_user)
    body = client.get(reverse("reporting:alert-list")).content.decode()
    assert 'id="alert-rules"' in body and 'id="rule-cac_spike"' in body
    response = client.post(
        reverse("reporting:alert-rule-edit", args=[_rule(shop, "cac_spike").pk]),
        {"cac_spike-threshold_percent": "35", "cac_spike-enabled": "on"},
    )
    assert response.status_code == 302
    rule = AlertRule.objects.for_org(shop.org).get(kind="cac_spike")
    assert (rule.threshold, rule.enabled, rule.notify_by_email) == (Decimal("0.350"), True, False)
    assert AuditLog.objects.filter(organization=shop.org, action="alert_rule.update").exists()


def test_an_impossible_churn_threshold_is_refused_with_the_reason_and_nothing_changes(client, shop, admin_user):
    client.force_login(admin_user)
    before = AlertRule.objects.for_org(shop.org).get(kind="monthly_churn").threshold
    response = client.post(
        reverse("reporting:alert-rule-edit", args=[_rule(shop, "monthly_churn").pk]),
        {"monthly_churn-threshold_percent": "150", "monthly_churn-enabled": "on"},
    )
    assert response.status_code == 400
    assert "between 0% and 100%" in response.content.decode()
    assert AlertRule.objects.for_org(shop.org).get(kind="monthly_churn").threshold == before


def test_only_admins_see_and_change_alert_rules(ops_client, shop):
    assert 'id="alert-rules"' not in ops_client.get(reverse("reporting:alert-list")).content.decode()
    response = ops_client.post(
        reverse("reporting:alert-rule-edit", args=[_rule(shop, "cac_spike").pk]), {"cac_spike-threshold_percent": "1"}
    )
    assert response.status_code == 403


def test_an_unknown_alert_rule_is_not_found(client, shop, admin_user):
    client.force_login(admin_user)
    assert client.post(reverse("reporting:alert-rule-edit", args=[987654]), {}).status_code == 404
