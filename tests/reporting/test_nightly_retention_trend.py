"""The nightly step "retention_trend": one RetentionTrend per night, equal to the maths on the night's inputs and,
where the definitions coincide, to the night's KPI snapshot.

Uses the shop of ``test_results_api`` (nightly runs on 2026-10-01, 10-30 and 10-31).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from accounts.timekeeping import day_number
from reporting import nightly
from reporting.models import NIGHTLY, JobRun, JobStatus, KpiSnapshot
from retention import selectors as retention_selectors
from retention.models import RetentionTrend
from retention.retention_trend import compute_retention_trend
from tests.reporting.test_results_api import AS_OF, RUN_DAYS, Shop, open_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker) -> Iterator[Shop]:
    yield from open_shop(django_db_blocker)


def _month(trend: RetentionTrend, key: str, month: str) -> dict:
    return next(row for row in getattr(trend, key) if row["month"] == month)


def test_the_step_runs_after_the_cohorts_and_is_timed(shop):
    names = [name for name, _ in nightly.NIGHTLY_STEPS]
    assert names.index("retention_trend") == names.index("cohorts") + 1
    for job in JobRun.objects.for_org(shop.org).filter(kind=NIGHTLY, status=JobStatus.SUCCEEDED):
        assert "retention_trend" in job.step_seconds
        trend = RetentionTrend.objects.for_org(shop.org).get(as_of=job.as_of)
        assert job.row_counts["retention_trend"] == len(trend.churn) + len(trend.first_event_retention)


def test_one_trend_per_night_with_the_month_to_date_only_when_the_month_is_not_over(shop):
    trends = {trend.as_of: trend for trend in RetentionTrend.objects.for_org(shop.org)}
    assert set(trends) == set(RUN_DAYS)
    october_first = trends[datetime.date(2026, 10, 1)]
    assert len(october_first.churn) == 13
    assert october_first.churn[-1]["complete"] is False and october_first.churn[-1]["end"] == "2026-10-01"
    assert len(trends[AS_OF].churn) == 12 and trends[AS_OF].churn[-1]["end"] == "2026-10-31"
    assert all(len(trend.first_event_retention) == 12 for trend in trends.values())
    assert trends[AS_OF].churn_window_days == shop.org.churn_window_days


def test_the_stored_trend_is_the_maths_on_the_nights_inputs(shop):
    stored = RetentionTrend.objects.for_org(shop.org).get(as_of=AS_OF)
    purchase_days = retention_selectors.purchase_days_frame(org=shop.org, as_of=AS_OF)
    event_days = retention_selectors.event_days_frame(org=shop.org, as_of=AS_OF)
    expected = compute_retention_trend(
        as_of=day_number(AS_OF),
        purchase_days=purchase_days,
        event_days=event_days,
        churn_window_days=shop.org.churn_window_days,
    )
    assert stored.churn == expected["churn"]
    assert stored.first_event_retention == expected["first_event_retention"]


@pytest.mark.parametrize(
    ("as_of", "code", "k"),
    [(datetime.date(2026, 10, 1), "d1_retention", 1), (datetime.date(2026, 10, 30), "d30_retention", 30)],
)
def test_september_equals_the_snapshot_where_the_definitions_coincide(shop, as_of, code, k):
    # September has 30 days: the KPI's cohort as of Sep 30 + k is exactly the customers first seen in September.
    trend = RetentionTrend.objects.for_org(shop.org).get(as_of=as_of)
    snapshot = KpiSnapshot.objects.for_org(shop.org).get(day=as_of).values
    assert _month(trend, "first_event_retention", "2026-09-01")[f"d{k}"] == pytest.approx(snapshot[code], abs=1e-6)


def test_replaying_a_night_replaces_its_trend(shop):
    before = RetentionTrend.objects.for_org(shop.org).get(as_of=AS_OF)
    job = nightly.run_nightly(org=shop.org, as_of=AS_OF, triggered_by="test")
    assert job.status == JobStatus.SUCCEEDED, job.error
    after = RetentionTrend.objects.for_org(shop.org).filter(as_of=AS_OF)
    assert after.count() == 1
    assert (after.get().churn, after.get().first_event_retention) == (before.churn, before.first_event_retention)
