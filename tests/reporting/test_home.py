"""The home page by role: what ops, marketers, viewers and admins see first, and what it costs to show it."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Variant
from campaigns.stats import Uplift
from crm.models import ImportJob, ImportStatus
from reporting import home as home_module
from reporting.models import Alert, AlertKind, JobRun, JobStatus, KpiSnapshot
from segmentation.models import CustomerScore, Segment, SegmentSize, Stage, Tier
from tests.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def as_user(client, user):
    client.force_login(user)
    return client


def score(customer, *, tier=Tier.HIGH, at_risk=True, value="1000", churn=0.7, last_purchase=None):
    return CustomerScore.objects.create(
        organization=customer.organization,
        customer=customer,
        as_of=timezone.localdate(),
        stage=Stage.GROWING,
        tier=tier,
        at_risk=at_risk,
        customer_value=Decimal(value),
        churn_probability=churn,
        last_purchase_on=last_purchase or timezone.localdate() - datetime.timedelta(days=40),
    )


def block(page: str, element_id: str) -> str:
    match = re.search(rf'<article id="{element_id}".*?</article>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(0)


def launched_campaign(org, name, *, days_ago=1, status=CampaignStatus.SENT, customers=()):
    campaign = Campaign.objects.create(
        organization=org, name=name, status=status, launched_at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    variant = Variant.objects.create(organization=org, campaign=campaign, position=1, name="A")
    for index, customer in enumerate(customers):
        Delivery.objects.create(
            organization=org,
            campaign=campaign,
            customer=customer,
            variant=None if index % 4 == 0 else variant,
            status=DeliveryStatus.HOLDOUT if index % 4 == 0 else DeliveryStatus.SENT,
            assigned_at=campaign.launched_at,
        )
    return campaign


# Ops ---------------------------------------------------------------------------------------------------------


def test_ops_home_lists_my_open_tasks_overdue_first(client, org, ops_user, member_factory):
    today = timezone.localdate()
    customer = CustomerFactory(organization=org, name="Bo Zhang")
    TaskFactory(customer=customer, title="Later call", owner=ops_user, due_date=today + datetime.timedelta(days=3))
    TaskFactory(customer=customer, title="Late call", owner=ops_user, due_date=today - datetime.timedelta(days=2))
    TaskFactory(customer=customer, title="Someone else's", owner=member_factory(org, Role.OPS))

    tasks = block(as_user(client, ops_user).get(reverse("home")).content.decode(), "my-tasks")

    assert tasks.index("Late call") < tasks.index("Later call")
    assert "Someone else" not in tasks
    assert "1 overdue" in tasks


def test_ops_home_lists_my_high_value_customers_at_risk_by_value_with_churn_and_last_purchase(
    client, org, ops_user, member_factory
):
    colleague = member_factory(org, Role.OPS)
    score(CustomerFactory(organization=org, name="Small High", owner=ops_user), value="800", churn=0.61)
    score(
        CustomerFactory(organization=org, name="Big High", owner=ops_user),
        value="9000",
        churn=0.83,
        last_purchase=datetime.date(2026, 8, 1),
    )
    score(CustomerFactory(organization=org, name="Safe High", owner=ops_user), at_risk=False)
    score(CustomerFactory(organization=org, name="Mid Mine", owner=ops_user), tier=Tier.MID)
    score(CustomerFactory(organization=org, name="Colleague's High", owner=colleague))

    at_risk = block(as_user(client, ops_user).get(reverse("home")).content.decode(), "my-at-risk")

    assert at_risk.index("Big High") < at_risk.index("Small High")
    assert "83%" in at_risk and "2026-08-01" in at_risk and "9,000.00" in at_risk
    for absent in ("Safe High", "Mid Mine", "Colleague"):
        assert absent not in at_risk
    assert "High value" in at_risk


def test_ops_home_falls_back_to_mid_value_customers_and_says_so(client, org, ops_user):
    score(CustomerFactory(organization=org, name="Mid Mine", owner=ops_user), tier=Tier.MID)

    at_risk = block(as_user(client, ops_user).get(reverse("home")).content.decode(), "my-at-risk")

    assert "Mid Mine" in at_risk
    assert 'id="at-risk-tier-note"' in at_risk
    assert "None of your high-value customers is at risk" in at_risk


def test_ops_home_empty_blocks_say_what_to_do(client, ops_user):
    page = as_user(client, ops_user).get(reverse("home")).content.decode()

    assert "Nothing to follow up" in block(page, "my-tasks")
    assert "Take unassigned at-risk customers from the at-risk list" in block(page, "my-at-risk")
    assert reverse("reporting:at-risk") + "?owner=unassigned" in block(page, "my-at-risk")
    assert "Upload a CSV" in block(page, "home-jobs")
    assert "No nightly run yet" in block(page, "home-jobs")
    assert "No open alert" in block(page, "home-alerts")


def test_ops_home_highlights_failed_imports_and_nightly_runs_with_their_error(client, org, ops_user):
    ImportJob.objects.create(
        organization=org, kind="orders", original_filename="good.csv", status=ImportStatus.SUCCEEDED
    )
    ImportJob.objects.create(
        organization=org,
        kind="customers",
        original_filename="broken.csv",
        status=ImportStatus.FAILED,
        error="\nThe file is not UTF-8 or GBK text.\nTraceback…",
    )
    today = timezone.localdate()
    JobRun.objects.create(organization=org, as_of=today, status=JobStatus.SUCCEEDED)
    JobRun.objects.create(
        organization=org, as_of=today - datetime.timedelta(days=1), status=JobStatus.FAILED, error="x" * 400
    )

    jobs = block(as_user(client, ops_user).get(reverse("home")).content.decode(), "home-jobs")

    assert jobs.count('class="is-failed"') == 2
    assert "The file is not UTF-8 or GBK text." in jobs and "Traceback" not in jobs
    assert "x" * 159 + "…" in jobs and "x" * 160 not in jobs
    assert "good.csv" in jobs


def test_ops_home_shows_only_the_five_latest_imports_and_runs(client, org, ops_user):
    for number in range(7):
        ImportJob.objects.create(
            organization=org,
            kind="orders",
            original_filename=f"file-{number}.csv",
            created_at=timezone.now() - datetime.timedelta(hours=number),
        )
    jobs = block(as_user(client, ops_user).get(reverse("home")).content.decode(), "home-jobs")

    assert "file-4.csv" in jobs and "file-5.csv" not in jobs


def test_ops_home_counts_open_alerts_and_links_to_the_alerts_page(client, org, ops_user):
    today = timezone.localdate()
    for days, kind in enumerate((AlertKind.MONTHLY_CHURN, AlertKind.CAC_SPIKE, AlertKind.HIGH_VALUE_CHURN)):
        Alert.objects.create(organization=org, kind=kind, raised_on=today - datetime.timedelta(days=days), message="m")
    Alert.objects.create(
        organization=org,
        kind=AlertKind.MONTHLY_CHURN,
        raised_on=today - datetime.timedelta(days=9),
        message="old",
        acknowledged_at=timezone.now(),
    )
    Alert.objects.create(
        organization=org, kind=AlertKind.CAC_SPIKE, raised_on=today - datetime.timedelta(days=5), message="fourth"
    )

    alerts = block(as_user(client, ops_user).get(reverse("home")).content.decode(), "home-alerts")

    assert "4 open" in alerts
    assert 'href="/reports/alerts/"' in alerts
    assert "fourth" not in alerts  # only the three latest are listed


# Marketer ----------------------------------------------------------------------------------------------------


def test_marketer_home_shows_segments_with_latest_size_and_the_change_over_7_and_30_nights(client, org, marketer_user):
    segment = Segment.objects.create(organization=org, name="Big spenders", rules={})
    Segment.objects.create(organization=org, name="Not sized yet", rules={})
    latest = timezone.localdate() - datetime.timedelta(days=1)
    for nights_ago, size in ((0, 130), (7, 100), (30, 150), (45, 1)):
        SegmentSize.objects.create(
            organization=org, segment=segment, day=latest - datetime.timedelta(days=nights_ago), size=size
        )

    page = as_user(client, marketer_user).get(reverse("home")).content.decode()
    segments = block(page, "home-segments")

    row = re.search(r"Big spenders</a></td>(.*?)</tr>", segments, re.S).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', row, re.S) == [
        "130",
        '<span class="change-up">+30</span>',
        '<span class="change-down">-20</span>',
    ]
    assert "Not sized yet" in segments
    assert reverse("segmentation:segment-create") in segments
    assert 'id="my-at-risk"' not in page


def test_marketer_home_shows_launched_campaigns_with_counts_uplift_and_winner(client, org, marketer_user, monkeypatch):
    customers = [CustomerFactory(organization=org) for _ in range(8)]
    launched_campaign(org, "Spring win-back", customers=customers)
    Campaign.objects.create(organization=org, name="Still a draft")

    def fake_results(*, campaign):
        uplift = Uplift(treated=12.0, control=2.0, difference=10.0, low=4.5, high=15.5, p_value=0.01, relative=5.0)
        return type("Results", (), {"overall_revenue_uplift": uplift, "winner": "A", "holdout": object()})()

    monkeypatch.setattr(home_module, "campaign_results", fake_results)

    campaigns = block(as_user(client, marketer_user).get(reverse("home")).content.decode(), "home-campaigns")

    row = re.search(r"Spring win-back.*?</tr>", campaigns, re.S).group(0)
    assert "Sent" in row
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["8", "6"]
    assert "+10.00" in row and "[4.50, 15.50]" in row and "<strong>A</strong>" in row
    assert "Still a draft" not in campaigns and "1 draft or scheduled" in campaigns
    assert reverse("campaigns:tier-campaigns-create") in campaigns


def test_marketer_home_computes_uplift_for_the_five_latest_campaigns_once_then_reads_the_cache(
    client, org, marketer_user, monkeypatch
):
    for number in range(7):
        launched_campaign(org, f"Campaign {number}", days_ago=number + 1)
    computed = []

    def counting_results(*, campaign):
        computed.append(campaign.name)
        return type("Results", (), {"overall_revenue_uplift": None, "winner": None, "holdout": None})()

    monkeypatch.setattr(home_module, "campaign_results", counting_results)
    as_user(client, marketer_user)

    first = block(client.get(reverse("home")).content.decode(), "home-campaigns")
    client.get(reverse("home"))

    assert sorted(computed) == [f"Campaign {number}" for number in range(5)]
    assert "Campaign 4" in first and "Campaign 5" not in first
    assert "no hold-out" in first


def test_marketer_home_reads_real_campaign_results(client, org, marketer_user):
    customers = [CustomerFactory(organization=org) for _ in range(8)]
    launched_campaign(org, "Real results", customers=customers)

    campaigns = block(as_user(client, marketer_user).get(reverse("home")).content.decode(), "home-campaigns")

    assert "Real results" in campaigns
    assert "none yet" in campaigns
    assert "not enough data yet" in campaigns  # nobody bought: a 0.00 [0.00, 0.00] interval says nothing


def test_marketer_home_empty_blocks_say_what_to_do(client, marketer_user):
    page = as_user(client, marketer_user).get(reverse("home")).content.decode()

    assert "No segment yet. Build one" in block(page, "home-segments")
    assert "Start with the three tier campaigns" in block(page, "home-campaigns")


# Viewer and admin --------------------------------------------------------------------------------------------


def test_viewer_home_is_a_short_summary_with_alerts_and_the_latest_run(client, org, viewer_user, ops_user):
    today = timezone.localdate()
    KpiSnapshot.objects.create(organization=org, day=today, values={"revenue": 12345.5, "monthly_churn_rate": 0.071})
    JobRun.objects.create(organization=org, as_of=today, status=JobStatus.FAILED, error="Scores: out of memory")
    Alert.objects.create(organization=org, kind=AlertKind.MONTHLY_CHURN, raised_on=today, message="m")
    TaskFactory(customer=CustomerFactory(organization=org), title="An ops task", owner=ops_user)

    page = as_user(client, viewer_user).get(reverse("home")).content.decode()

    assert 'href="/reports/"' in block(page, "home-summary")
    assert "12,345.50" in page and "7.1%" in page
    assert "1 open alert" in page
    assert "Failed" in page and "Scores: out of memory" in page
    for absent in ('id="my-tasks"', 'id="my-at-risk"', 'id="home-jobs"', 'id="home-campaigns"'):
        assert absent not in page


def test_viewer_home_empty_state_says_what_to_do(client, viewer_user):
    page = as_user(client, viewer_user).get(reverse("home")).content.decode()

    assert "No KPI yet" in page
    assert "ask an admin to run the nightly pipeline" in page


def test_admin_home_is_the_ops_view_plus_a_marketing_summary(client, admin_user):
    page = as_user(client, admin_user).get(reverse("home")).content.decode()

    for present in ("my-tasks", "my-at-risk", "home-jobs", "home-alerts", "home-segments", "home-campaigns"):
        assert f'id="{present}"' in page


def test_home_shows_nothing_of_another_organization(client, org, other_org, ops_user, member_factory):
    stranger = member_factory(other_org, Role.OPS)
    score(CustomerFactory(organization=other_org, name="Foreign Customer", owner=stranger))
    ImportJob.objects.create(organization=other_org, kind="orders", original_filename="foreign.csv")
    Segment.objects.create(organization=other_org, name="Foreign segment", rules={})

    page = as_user(client, ops_user).get(reverse("home")).content.decode()

    assert "Foreign" not in page and "foreign.csv" not in page


# Cost --------------------------------------------------------------------------------------------------------


def _home_queries(client) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200
    return len(queries)


def _more_data(org, user, start: int, count: int) -> None:
    today = timezone.localdate()
    for number in range(start, start + count):
        customer = CustomerFactory(organization=org, owner=user)
        score(customer, value=str(100 + number))
        TaskFactory(customer=customer, owner=user, due_date=today - datetime.timedelta(days=number))
        segment = Segment.objects.create(organization=org, name=f"Segment {user.pk}-{number}", rules={})
        SegmentSize.objects.create(organization=org, segment=segment, day=today, size=number)
        ImportJob.objects.create(organization=org, kind="orders", original_filename=f"{number}.csv")
        JobRun.objects.create(organization=org, as_of=today - datetime.timedelta(days=number), status=JobStatus.FAILED)
        Alert.objects.create(
            organization=org,
            kind=AlertKind.CAC_SPIKE,
            subject=f"{user.pk}-{number}",
            raised_on=today,
            message="m",
        )
        launched_campaign(org, f"Campaign {user.pk}-{number}", days_ago=number + 1, customers=[customer])


#: Upper bounds of the home page's queries, session and organization lookups included, with a cold cache. The
#: marketer's is mostly ``campaign_results`` (five queries for each of the five campaigns), cached afterwards.
QUERY_BOUNDS = {Role.OPS: 15, Role.MARKETER: 36, Role.VIEWER: 12, Role.ADMIN: 33}
WARM_QUERY_BOUNDS = {Role.OPS: 11, Role.MARKETER: 11, Role.VIEWER: 8, Role.ADMIN: 16}


@pytest.mark.parametrize("role", [Role.OPS, Role.MARKETER, Role.VIEWER, Role.ADMIN])
def test_home_runs_a_bounded_number_of_queries_whatever_the_amount_of_data(client, org, member_factory, role):
    user = member_factory(org, role)
    as_user(client, user)
    _more_data(org, user, 0, 6)
    few = _home_queries(client)
    _more_data(org, user, 6, 10)
    many = _home_queries(client)

    assert many == few
    assert many <= QUERY_BOUNDS[role]


@pytest.mark.parametrize("role", [Role.OPS, Role.MARKETER, Role.VIEWER, Role.ADMIN])
def test_home_with_a_warm_cache_skips_the_counts_and_the_campaign_results(client, org, member_factory, role):
    user = member_factory(org, role)
    as_user(client, user)
    _more_data(org, user, 0, 6)
    _home_queries(client)
    with CaptureQueriesContext(connection) as warm:
        client.get(reverse("home"))

    assert len(warm) <= WARM_QUERY_BOUNDS[role]
