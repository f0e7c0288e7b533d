"""The scores page reads its summaries and counts from the night's snapshot, and they equal a live count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from reporting import nightly, selectors
from segmentation import selectors as score_selectors
from tests.reporting.test_nightly_engine import AS_OF, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_shop(shop):  # noqa: F811
    org, _people = shop
    job = nightly.run_nightly(org=org, as_of=AS_OF)
    assert job.status == "succeeded", job.error
    return org


def _plain(rows, field):
    return sorted((row[field], row["customers"], round(float(row["value"] or 0), 2)) for row in rows)


def test_the_nights_breakdown_equals_a_live_group_by(scored_shop):
    breakdown = selectors.score_breakdown_of_night(org=scored_shop, as_of=AS_OF)

    for field in ("tier", "stage"):
        live = score_selectors.score_breakdown(org=scored_shop, field=field)
        assert _plain(breakdown[field], field) == _plain(live, field)


def test_counts_come_from_the_breakdown_when_the_filters_allow(scored_shop):
    breakdown = selectors.score_breakdown_of_night(org=scored_shop, as_of=AS_OF)
    live = score_selectors.scores_list

    assert (
        selectors.known_score_count(breakdown, tier="", stage="", other_filters=False) == live(org=scored_shop).count()
    )
    assert (
        selectors.known_score_count(breakdown, tier="high", stage="", other_filters=False)
        == live(org=scored_shop, tier="high").count()
    )
    assert (
        selectors.known_score_count(breakdown, tier="", stage="churned", other_filters=False)
        == live(org=scored_shop, stage="churned").count()
    )
    assert selectors.known_score_count(breakdown, tier="high", stage="churned", other_filters=False) is None
    assert selectors.known_score_count(breakdown, tier="", stage="", other_filters=True) is None
    assert selectors.known_score_count(None, tier="", stage="", other_filters=False) is None


def test_the_page_groups_no_score_rows_when_the_snapshot_exists(client, member_factory, scored_shop):
    client.force_login(member_factory(scored_shop, Role.VIEWER))

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/reports/scores/")

    assert response.status_code == 200
    score_sql = [q["sql"] for q in queries.captured_queries if "segmentation_customerscore" in q["sql"]]
    assert not any("GROUP BY" in sql or "COUNT(" in sql.upper() for sql in score_sql), score_sql
    total = score_selectors.scores_list(org=scored_shop).count()
    assert response.context["page"].paginator.count == total


def test_without_a_snapshot_for_the_scores_night_the_page_counts_live(client, member_factory, scored_shop):
    from reporting.models import CustomerMixSnapshot

    CustomerMixSnapshot.objects.for_org(scored_shop).delete()
    client.force_login(member_factory(scored_shop, Role.VIEWER))

    response = client.get("/reports/scores/?tier=high")

    assert response.status_code == 200
    assert response.context["page"].paginator.count == score_selectors.scores_list(org=scored_shop, tier="high").count()
    assert _plain(response.context["by_tier"], "tier") == _plain(
        score_selectors.score_breakdown(org=scored_shop, field="tier"), "tier"
    )


def test_the_at_risk_list_counts_from_the_snapshot_like_a_live_count(client, member_factory):
    import datetime

    from django.utils import timezone

    from crm.demo import demo_organization_seed
    from crm.demo_data import simulate_demo
    from reporting.at_risk import at_risk_customers

    today = timezone.localdate()
    org = demo_organization_seed(slug="demo", data=simulate_demo(customers=400, seed=7, today=today)).org
    as_of = today - datetime.timedelta(days=1)
    assert nightly.run_nightly(org=org, as_of=as_of).status == "succeeded"
    breakdown = selectors.score_breakdown_of_night(org=org, as_of=as_of)
    assert sum(row["customers"] for row in breakdown["at_risk"]) > 0
    client.force_login(member_factory(org, Role.OPS))

    for tier in ("", "high", "mid", "potential"):
        live = at_risk_customers(org=org, tier=tier).count()
        assert selectors.known_at_risk_count(breakdown, tier=tier, min_value=None, owner="") == live
        response = client.get("/reports/at-risk/", {"tier": tier} if tier else {})
        assert response.context["page"].paginator.count == live
    assert selectors.known_at_risk_count(breakdown, tier="", min_value=100, owner="") is None
    assert selectors.known_at_risk_count(breakdown, tier="", min_value=None, owner="me") is None
