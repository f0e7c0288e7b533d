"""The nightly engine end to end on the real database: every stored figure of a small hand-computed organization,
re-runs that change nothing, replays of past nights, a failed run that leaves the last results, and the
model fallbacks. The maths modules have their own tests (tests/retention, tests/segmentation, tests/reporting);
here the point is that the right data reaches them and their results are stored as they came out.

The hand-computed organization (time zone Asia/Shanghai, churn window 90 days, as of 2026-03-31, so the KPI
period is 2026-03-02 .. 2026-03-31 and its start S is 2026-03-01):

====  ============================================================  ===========================================
 id    purchase days (amount)                                         expected
====  ============================================================  ===========================================
 A     2025-01-10 (100 + 50, two orders), 2025-06-01 (200),          F=3, revenue 450, x=2, t_x=419, T=445,
       2026-03-05 (100)                                              recency 26; came back after 277 days →
                                                                     reactivated; R3 F3 M4 → loyal; mid tier
 B     2026-03-20 (80), 2026-03-31 23:30 local (20); an order at     F=2, revenue 100, x=1, t_x=11, T=11,
       2026-04-01 00:00 local is after the as-of day                 recency 0 → growing; R5 F1 M2 →
                                                                     potential loyalist; channel "ads"
 C     2025-10-01 (60), 2025-11-15 (40)                              recency 136 > 90 → churned; R1 F1 M2 →
                                                                     hibernating
 D     no order                                                      acquired, no tier, no RFM
 E     2025-12-01, 2026-02-01, 2026-03-30 (30 each); a refunded     F=3, revenue 90, tenure 120 → growing;
       order on 2026-03-15 is no purchase                            R4 F3 M1 → potential loyalist
 F     the 1st of every other month, 2025-01 .. 2026-03 (100 each)   F=8, revenue 800, tenure 454 → mature;
                                                                     R2 F5 M5 → can't lose them; high tier
====  ============================================================  ===========================================

Five buyers are too few to fit BG/NBD (at least 20), so no value is predicted: customer value = revenue.
"""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import numpy as np
import pytest
from django.core import mail

from accounts.models import Role
from reporting import nightly
from reporting import services as reporting_services
from reporting.models import Alert, AlertKind, AlertRule, ChannelMetric, CohortCell, JobStatus, KpiSnapshot
from retention import bgnbd
from retention.fitting import FitResult
from retention.models import ClvModelReport, FitStatus
from segmentation.models import CustomerScore, ScoreChange
from tests.factories import (
    ChannelFactory,
    ChannelSpendFactory,
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    OrderFactory,
    OrganizationFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
AS_OF = datetime.date(2026, 3, 31)


def local(day: str, hour: int = 12, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour, minute), tzinfo=SHANGHAI)


def buy(customer, day: str, amount: str, *, hour: int = 12, minute: int = 0, status: str = "completed"):
    return OrderFactory(customer=customer, ordered_at=local(day, hour, minute), amount=Decimal(amount), status=status)


@pytest.fixture
def shop(member_factory):
    org = OrganizationFactory(slug="shop", time_zone="Asia/Shanghai", churn_window_days=90)
    member_factory(org, Role.ADMIN, email="boss@shop.example")
    ads = ChannelFactory(organization=org, code="ads", name="Ads")
    ChannelSpendFactory(channel=ads, date=datetime.date(2026, 3, 10), amount=Decimal("300"))
    people = {
        "A": CustomerFactory(organization=org, external_id="A", created_at=local("2025-01-01")),
        "B": CustomerFactory(organization=org, external_id="B", created_at=local("2026-03-15"), channel=ads),
        "C": CustomerFactory(organization=org, external_id="C", created_at=local("2025-09-01")),
        "D": CustomerFactory(organization=org, external_id="D", created_at=local("2026-01-01")),
        "E": CustomerFactory(organization=org, external_id="E", created_at=local("2025-11-01")),
        "F": CustomerFactory(organization=org, external_id="F", created_at=local("2024-12-01")),
    }
    buy(people["A"], "2025-01-10", "100")
    buy(people["A"], "2025-01-10", "50", hour=18)
    buy(people["A"], "2025-06-01", "200")
    buy(people["A"], "2026-03-05", "100")
    buy(people["B"], "2026-03-20", "80")
    buy(people["B"], "2026-03-31", "20", hour=23, minute=30)
    buy(people["B"], "2026-04-01", "999", hour=0)
    buy(people["C"], "2025-10-01", "60")
    buy(people["C"], "2025-11-15", "40")
    for day in ("2025-12-01", "2026-02-01", "2026-03-30"):
        buy(people["E"], day, "30")
    buy(people["E"], "2026-03-15", "500", status="refunded")
    for month in ("2025-01", "2025-03", "2025-05", "2025-07", "2025-09", "2025-11", "2026-01", "2026-03"):
        buy(people["F"], f"{month}-01", "100")
    for score, day in ((10, "2026-03-05"), (9, "2026-03-06"), (6, "2026-03-07"), (8, "2026-03-08"), (0, "2026-02-01")):
        FeedbackFactory(customer=people["F"], kind="nps", score=score, scale_max=10, answered_at=local(day))
    FeedbackFactory(customer=people["A"], kind="csat", score=4, scale_max=5, answered_at=local("2026-03-09"))
    EventFactory(customer=people["B"], occurred_at=local("2026-03-10"))
    EventFactory(customer=people["B"], occurred_at=local("2026-03-11"))
    return org, people


def scores_by_external_id(org) -> dict[str, CustomerScore]:
    return {s.customer.external_id: s for s in CustomerScore.objects.for_org(org).select_related("customer")}


def test_every_customers_score_is_stored_as_computed_by_hand(shop):
    org, _people = shop
    job = nightly.run_nightly(org=org, as_of=AS_OF)
    assert job.status == JobStatus.SUCCEEDED, job.error

    scores = scores_by_external_id(org)
    assert set(scores) == set("ABCDEF")
    expected = {
        # purchase days, revenue, x, t_x, T, recency, stage, churned, tier, (R, F, M), RFM segment
        "A": (3, "450.00", 2, 419, 445, 26, "reactivated", False, "mid", (3, 3, 4), "loyal"),
        "B": (2, "100.00", 1, 11, 11, 0, "growing", False, "potential", (5, 1, 2), "potential_loyalist"),
        "C": (2, "100.00", 1, 45, 181, 136, "churned", True, "potential", (1, 1, 2), "hibernating"),
        "E": (3, "90.00", 2, 119, 120, 1, "growing", False, "potential", (4, 3, 1), "potential_loyalist"),
        "F": (8, "800.00", 7, 424, 454, 30, "mature", False, "high", (2, 5, 5), "cant_lose"),
    }
    for external_id, (days, revenue, x, t_x, age, recency, stage, churned, tier, rfm, segment) in expected.items():
        score = scores[external_id]
        assert (score.purchase_days, score.revenue, score.frequency, score.recency_t_x, score.age_t) == (
            days,
            Decimal(revenue),
            x,
            t_x,
            age,
        ), external_id
        assert (score.recency_days, score.stage, score.churned, score.tier) == (recency, stage, churned, tier), (
            external_id
        )
        assert ((score.r_score, score.f_score, score.m_score), score.rfm_segment) == (rfm, segment), external_id
        assert score.customer_value == score.revenue  # too few buyers for a model: nothing predicted
        assert score.predicted_value is None and score.p_alive is None and not score.at_risk
        assert score.as_of == AS_OF
    assert scores["A"].mean_repeat_value == Decimal("150.00")  # (200 + 100) / 2 repeat purchase days
    assert scores["B"].first_purchase_on == datetime.date(2026, 3, 20)
    assert scores["B"].last_purchase_on == datetime.date(2026, 3, 31)  # 23:30 in Shanghai is still the 31st
    d = scores["D"]
    assert (d.stage, d.tier, d.rfm_segment, d.purchase_days, d.r_score, d.recency_days) == (
        "acquired",
        "",
        "",
        0,
        None,
        None,
    )

    report = ClvModelReport.objects.for_org(org).get()
    assert (report.status, report.customers, report.repeaters, report.bgnbd_r) == (
        FitStatus.INSUFFICIENT_DATA,
        5,
        5,
        None,
    )


def test_the_kpi_snapshot_matches_the_hand_computed_figures(shop):
    org, _people = shop
    nightly.run_nightly(org=org, as_of=AS_OF)
    values = KpiSnapshot.objects.for_org(org).get(day=AS_OF).values
    assert values["revenue"] == pytest.approx(230.0)  # A 100 + B 80 + 20 + E 30 in Mar 2 .. Mar 31
    assert values["new_customers"] == 1  # B
    assert values["active_customers"] == 3  # A, B, E
    assert values["arpu"] == pytest.approx(230 / 3)
    assert values["repeat_purchase_rate"] == pytest.approx(1.0)  # A and E bought before; B twice in the period
    assert values["monthly_churn_rate"] == pytest.approx(0.0)  # E and F not churned on Mar 1; neither churned since
    assert values["high_value_retention"] is None  # no tier history yet
    assert values["cac"] == pytest.approx(300.0)  # 300 of spend in the period / 1 new customer
    assert values["ltv_cac"] == pytest.approx((800 + 450 + 100 + 100 + 90) / 5 / 300)
    assert values["nps"] == pytest.approx(25.0)  # in the period: 10, 9 promoters; 6 detractor; 8 passive
    assert values["csat"] == pytest.approx(0.8)
    assert values["buying_customers"] == 5
    assert values["churned_customers"] == 1
    assert values["d1_retention"] == pytest.approx(1.0)  # B's first event Mar 10, another on Mar 11
    assert values["d7_retention"] == pytest.approx(0.0)
    assert values["d30_retention"] is None
    assert values["at_risk_customers"] == 0


def test_channel_metrics_and_cohorts_are_stored(shop):
    org, _people = shop
    nightly.run_nightly(org=org, as_of=AS_OF)
    trailing = ChannelMetric.objects.for_org(org).get(channel__code="ads", period="trailing_90d")
    assert (trailing.period_start, trailing.period_end) == (datetime.date(2026, 1, 1), AS_OF)
    assert (trailing.spend, trailing.new_customers, trailing.cac) == (Decimal("300.00"), 1, Decimal("300.00"))
    assert (trailing.contacts, trailing.converted_contacts, trailing.conversion) == (1, 1, 1.0)
    assert trailing.mean_customer_value == Decimal("100.00")
    assert trailing.ltv_cac == pytest.approx(100 / 300)
    assert trailing.roi == pytest.approx((0.3 * 100 - 300) / 300)
    assert trailing.payback_months == pytest.approx(300 / (0.3 * 100))  # tenure under a month counts as one
    march = ChannelMetric.objects.for_org(org).get(channel__code="ads", period="month", period_start="2026-03-01")
    assert (march.spend, march.new_customers) == (Decimal("300.00"), 1)

    cohort = {
        cell.months_since: cell
        for cell in CohortCell.objects.for_org(org).filter(channel__isnull=True, cohort_month="2025-01-01")
    }
    assert cohort[0].cohort_size == 2  # A and F first bought in January 2025
    assert cohort[0].retention == 1.0
    assert (cohort[2].active_customers, cohort[2].retention) == (1, 0.5)  # F on 2025-03-01
    assert cohort[2].cumulative_revenue_per_customer == Decimal("175.00")  # (150 + 100 + 100) / 2
    assert max(cohort) == 14  # through March 2026, nothing after the as-of day
    by_channel = CohortCell.objects.for_org(org).filter(channel__code="ads")
    assert {cell.cohort_month for cell in by_channel} == {datetime.date(2026, 3, 1)}


def test_rerunning_a_night_gives_identical_results_and_no_duplicate_history(shop):
    org, _people = shop
    nightly.run_nightly(org=org, as_of=AS_OF)
    first = {key: _comparable(score) for key, score in scores_by_external_id(org).items()}
    first_kpis = KpiSnapshot.objects.for_org(org).get().values
    changes = ScoreChange.objects.for_org(org).count()

    nightly.run_nightly(org=org, as_of=AS_OF)

    assert {key: _comparable(score) for key, score in scores_by_external_id(org).items()} == first
    assert KpiSnapshot.objects.for_org(org).get().values == first_kpis
    assert ScoreChange.objects.for_org(org).count() == changes
    assert ClvModelReport.objects.for_org(org).count() == 1


def _comparable(score: CustomerScore) -> tuple:
    fields = [f.attname for f in CustomerScore._meta.concrete_fields if f.attname not in ("id", "computed_at")]
    return tuple(getattr(score, name) for name in fields)


def test_a_past_night_replayed_after_a_later_one_recomputes_its_day_and_keeps_the_current_scores(shop):
    """Run Feb 28, then Mar 31, then Feb 28 again: Feb 28's snapshot and model report come out as before, while
    the scores, their history, channel metrics and cohorts stay those of Mar 31 (the latest night)."""
    org, _people = shop
    february = datetime.date(2026, 2, 28)
    nightly.run_nightly(org=org, as_of=february)
    february_kpis = KpiSnapshot.objects.for_org(org).get(day=february).values
    february_report = ClvModelReport.objects.for_org(org).values().get(as_of=february)

    nightly.run_nightly(org=org, as_of=AS_OF)
    current = {key: _comparable(score) for key, score in scores_by_external_id(org).items()}
    history = sorted(ScoreChange.objects.for_org(org).values_list("customer_id", "kind", "changed_on", "to_value"))
    metrics = sorted(ChannelMetric.objects.for_org(org).values_list("channel_id", "period", "period_start", "as_of"))
    cohorts = CohortCell.objects.for_org(org).count()

    job = nightly.run_nightly(org=org, as_of=february)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.row_counts["channel_metrics"], job.row_counts["cohorts"]) == (0, 0)
    assert KpiSnapshot.objects.for_org(org).get(day=february).values == february_kpis
    replayed = ClvModelReport.objects.for_org(org).values().get(as_of=february)
    assert {k: v for k, v in replayed.items() if k not in ("created_at", "fit_seconds")} == {
        k: v for k, v in february_report.items() if k not in ("created_at", "fit_seconds")
    }
    assert {key: _comparable(score) for key, score in scores_by_external_id(org).items()} == current
    assert (
        sorted(ScoreChange.objects.for_org(org).values_list("customer_id", "kind", "changed_on", "to_value")) == history
    )
    assert (
        sorted(ChannelMetric.objects.for_org(org).values_list("channel_id", "period", "period_start", "as_of"))
        == metrics
    )
    assert CohortCell.objects.for_org(org).count() == cohorts


def test_re_running_the_latest_night_after_new_data_updates_the_current_scores(shop):
    org, people = shop
    nightly.run_nightly(org=org, as_of=AS_OF)
    buy(people["D"], "2026-03-31", "70", hour=9)  # D's first order arrives late, dated on the scored day
    nightly.run_nightly(org=org, as_of=AS_OF)
    d = scores_by_external_id(org)["D"]
    assert (d.stage, d.purchase_days, d.revenue) == ("activated", 1, Decimal("70.00"))
    changes = ScoreChange.objects.for_org(org).filter(customer=people["D"], kind="stage").values_list("to_value")
    assert list(changes) == [("activated",)]  # the same night's earlier "acquired" change was replaced


def test_stage_and_tier_changes_are_recorded_between_nights(shop):
    org, people = shop
    nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))
    nightly.run_nightly(org=org, as_of=AS_OF)
    a_changes = list(
        ScoreChange.objects.for_org(org)
        .filter(customer=people["A"], kind="stage")
        .order_by("changed_on")
        .values_list("changed_on", "from_value", "to_value")
    )
    # On Mar 1 A had last bought on 2025-06-01 (churned); on Mar 5 A came back.
    assert a_changes == [(datetime.date(2026, 3, 1), "", "churned"), (AS_OF, "churned", "reactivated")]
    b_first = ScoreChange.objects.for_org(org).filter(customer=people["B"], kind="stage").get()
    assert (b_first.changed_on, b_first.from_value, b_first.to_value) == (AS_OF, "", "growing")


def test_a_failing_step_leaves_the_previous_nights_results_in_place(shop, monkeypatch):
    org, _people = shop
    nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))
    before = {key: _comparable(score) for key, score in scores_by_external_id(org).items()}

    def broken(run):
        raise RuntimeError("disk full")

    monkeypatch.setattr(nightly, "NIGHTLY_STEPS", [*nightly.NIGHTLY_STEPS, ("broken", broken)])
    job = nightly.run_nightly(org=org, as_of=AS_OF)

    assert job.status == JobStatus.FAILED
    assert {key: _comparable(score) for key, score in scores_by_external_id(org).items()} == before
    assert not KpiSnapshot.objects.for_org(org).filter(day=AS_OF).exists()
    assert not ClvModelReport.objects.for_org(org).filter(as_of=AS_OF).exists()
    alert = Alert.objects.for_org(org).get(kind=AlertKind.NIGHTLY_FAILED)
    assert "disk full" in alert.message
    assert mail.outbox and "boss@shop.example" in mail.outbox[-1].to


def test_monthly_churn_above_the_threshold_raises_one_alert_per_day_and_emails_the_admins(shop):
    org, _people = shop
    reporting_services.alert_rules_for(org)
    AlertRule.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN).update(threshold=Decimal("-1"))
    nightly.run_nightly(org=org, as_of=AS_OF)
    nightly.run_nightly(org=org, as_of=AS_OF)

    alert = Alert.objects.for_org(org).get(kind=AlertKind.MONTHLY_CHURN)
    assert alert.raised_on == AS_OF and alert.value == 0.0
    subjects = [message.subject for message in mail.outbox]
    assert sum("Monthly churn" in subject for subject in subjects) == 1  # the re-run does not e-mail it again
    assert mail.outbox[-1].to == ["boss@shop.example"]


def test_an_alert_raised_by_an_english_run_reads_in_each_readers_language(shop):
    from django.utils import translation

    org, _people = shop
    reporting_services.alert_rules_for(org)
    AlertRule.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN).update(threshold=Decimal("-1"))
    with translation.override("en"):
        nightly.run_nightly(org=org, as_of=AS_OF)

    alert = Alert.objects.for_org(org).get(kind=AlertKind.MONTHLY_CHURN)
    assert alert.message == "Monthly churn is 0.0%, above the alert threshold of -100.0%."
    assert alert.params == {"churn": "0.0%", "target": "-100.0%"}
    with translation.override("zh-hans"):
        assert alert.localized_message == "月流失率为 0.0%，高于预警阈值 -100.0%。"
    alert.params = {}
    assert alert.localized_message == alert.message  # alerts from before the figures were kept


def test_an_acknowledged_alert_survives_a_replay_of_its_night(shop, member_factory):
    org, _people = shop
    reporting_services.alert_rules_for(org)
    AlertRule.objects.for_org(org).filter(kind=AlertKind.MONTHLY_CHURN).update(threshold=Decimal("-1"))
    nightly.run_nightly(org=org, as_of=AS_OF)
    alert = Alert.objects.for_org(org).get(kind=AlertKind.MONTHLY_CHURN)
    ops = member_factory(org, Role.OPS)
    from accounts.services import Actor

    reporting_services.alert_acknowledge(alert=alert, actor=Actor(user=ops))
    nightly.run_nightly(org=org, as_of=AS_OF)
    kept = Alert.objects.for_org(org).get(kind=AlertKind.MONTHLY_CHURN)
    assert kept.pk == alert.pk and kept.acknowledged_by == ops


# Models: fitted, kept from an earlier night, or missing ------------------------------------------------------------

TRUE_PARAMS = bgnbd.BgNbdParams(r=0.9, alpha=40.0, a=0.6, b=2.5)


@pytest.fixture
def simulated(member_factory):
    """300 customers buying by the BG/NBD process over up to two years, with gamma-distributed spend."""
    org = OrganizationFactory(slug="sim", time_zone="UTC")
    rng = np.random.default_rng(5)
    as_of = datetime.date(2026, 3, 31)
    for number in range(300):
        age = int(rng.integers(120, 730))
        first = as_of - datetime.timedelta(days=age)
        customer = CustomerFactory(
            organization=org,
            external_id=f"S{number}",
            created_at=datetime.datetime.combine(first, datetime.time(9), tzinfo=datetime.UTC),
        )
        rate = rng.gamma(TRUE_PARAMS.r, 1 / TRUE_PARAMS.alpha)
        dropout = rng.beta(TRUE_PARAMS.a, TRUE_PARAMS.b)
        day, days = 0.0, [0]
        while True:
            day += rng.exponential(1 / rate)
            if day > age:
                break
            days.append(int(day))
            if rng.random() < dropout:
                break
        spend_scale = rng.gamma(6.0, 1 / 0.05)
        for offset in sorted(set(days)):
            OrderFactory(
                customer=customer,
                ordered_at=datetime.datetime.combine(
                    first + datetime.timedelta(days=offset), datetime.time(10), tzinfo=datetime.UTC
                ),
                amount=Decimal(str(round(float(rng.gamma(6.0, spend_scale / 6.0)) + 1, 2))),
            )
    return org, as_of


def test_a_fitted_model_predicts_values_and_reports_its_fit(simulated):
    org, as_of = simulated
    job = nightly.run_nightly(org=org, as_of=as_of)
    assert job.status == JobStatus.SUCCEEDED, job.error
    report = ClvModelReport.objects.for_org(org).get()
    assert report.status == FitStatus.FITTED, report.message
    assert report.bgnbd_converged and report.gg_converged
    assert report.customers == 300
    assert report.bgnbd_log_likelihood < 0
    assert report.calibration["holdout_days"] == 90
    assert sum(bucket["customers"] for bucket in report.calibration["buckets"]) > 200
    assert report.churn_evaluation["baseline_auc"] is not None

    scores = list(CustomerScore.objects.for_org(org))
    assert all(0 <= s.p_alive <= 1 for s in scores)
    assert all(s.expected_purchases_30 <= s.expected_purchases_90 <= s.expected_purchases_365 for s in scores)
    assert all(s.customer_value == s.revenue + s.predicted_value for s in scores)
    assert {s.tier for s in scores} == {"high", "mid", "potential"}
    assert sum(s.tier == "high" for s in scores) == 30  # 10% of 300 buyers
    active = [s for s in scores if not s.churned]
    assert all(s.churn_probability is not None and 0 <= s.churn_probability <= 1 for s in active)
    assert all(s.churn_probability is None for s in scores if s.churned)
    threshold = float(org.at_risk_threshold)
    assert all(s.at_risk == (s.churn_probability >= threshold) for s in active)


def _not_converged(result: FitResult) -> FitResult:
    return FitResult(
        params=result.params,
        log_likelihood=result.log_likelihood,
        converged=False,
        message="flat likelihood",
        iterations=result.iterations,
        customers=result.customers,
        rows=result.rows,
        seconds=result.seconds,
    )


def test_a_fit_that_does_not_converge_falls_back_on_the_last_converged_one(simulated, monkeypatch):
    org, as_of = simulated
    earlier = as_of - datetime.timedelta(days=1)
    nightly.run_nightly(org=org, as_of=earlier)
    previous = ClvModelReport.objects.for_org(org).get(as_of=earlier)

    real_fit = bgnbd.fit
    monkeypatch.setattr(bgnbd, "fit", lambda *args, **kwargs: _not_converged(real_fit(*args, **kwargs)))
    nightly.run_nightly(org=org, as_of=as_of)

    report = ClvModelReport.objects.for_org(org).get(as_of=as_of)
    assert report.status == FitStatus.KEPT_PREVIOUS
    assert "did not converge" in report.message and earlier.isoformat() in report.message
    assert not report.bgnbd_converged
    score = CustomerScore.objects.for_org(org).exclude(p_alive=None).first()
    expected = bgnbd.probability_alive(
        bgnbd.BgNbdParams(previous.bgnbd_r, previous.bgnbd_alpha, previous.bgnbd_a, previous.bgnbd_b),
        score.frequency,
        score.recency_t_x,
        score.age_t,
    )
    assert score.p_alive == pytest.approx(float(expected))


def test_without_any_converged_fit_no_value_is_predicted_and_the_report_says_so(simulated, monkeypatch):
    org, as_of = simulated
    real_fit = bgnbd.fit
    monkeypatch.setattr(bgnbd, "fit", lambda *args, **kwargs: _not_converged(real_fit(*args, **kwargs)))
    job = nightly.run_nightly(org=org, as_of=as_of)
    assert job.status == JobStatus.SUCCEEDED
    report = ClvModelReport.objects.for_org(org).get()
    assert report.status == FitStatus.NOT_CONVERGED
    assert not CustomerScore.objects.for_org(org).exclude(predicted_value=None).exists()
    assert all(s.customer_value == s.revenue for s in CustomerScore.objects.for_org(org))


def test_high_value_retention_reads_the_tier_history_of_the_period_start(shop):
    """On Mar 1 (the period start of Mar 31) F was the high tier; F is not churned on Mar 31: retention 100%."""
    org, people = shop
    nightly.run_nightly(org=org, as_of=datetime.date(2026, 3, 1))
    nightly.run_nightly(org=org, as_of=AS_OF)
    assert reporting_services.high_tier_at(org, datetime.date(2026, 3, 1)).tolist() == [people["F"].pk]
    assert reporting_services.high_tier_at(org, datetime.date(2026, 2, 28)) is None  # no run covers that day
    assert KpiSnapshot.objects.for_org(org).get(day=AS_OF).values["high_value_retention"] == pytest.approx(1.0)
