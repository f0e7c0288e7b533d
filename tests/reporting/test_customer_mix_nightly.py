"""The nightly "customer_mix" step stores the night's RFM grid, tiers, value distribution and stage flow.

Uses the hand-computed shop of ``test_nightly_engine`` (as of 2026-03-31, a month-end): A reactivated (came back
on 03-05 after a lapse), B growing (a new contact in March), C churned, D acquired, E growing, F mature; no value
model with five buyers, so customer value = revenue (A 450, B 100, C 100, E 90, F 800).
"""

from __future__ import annotations

import datetime

import pytest

from reporting import nightly
from reporting.models import CustomerMixSnapshot, JobStatus
from tests.reporting.test_nightly_engine import AS_OF, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


def test_customer_mix_runs_after_the_scores_and_before_the_segment_sizes():
    names = [name for name, _ in nightly.NIGHTLY_STEPS]
    assert names.index("scores") < names.index("customer_mix") < names.index("segment_sizes")


def test_a_nightly_run_stores_the_customer_mix_of_the_night(shop):  # noqa: F811
    org, _people = shop

    job = nightly.run_nightly(org=org, as_of=AS_OF)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.row_counts["customer_mix"] == 6  # every contact at the latest month-end
    assert "customer_mix" in job.step_seconds
    snapshot = CustomerMixSnapshot.objects.for_org(org).get(as_of=AS_OF)
    cells = {(c["r"], c["f"]): (c["customers"], c["value"]) for c in snapshot.rfm_grid["cells"] if c["customers"]}
    assert cells == {(3, 3): (1, 450.0), (5, 1): (1, 100.0), (1, 1): (1, 100.0), (4, 3): (1, 90.0), (2, 5): (1, 800.0)}
    assert sum(tier["customers"] for tier in snapshot.tiers) == 5
    assert sum(tier["value"] for tier in snapshot.tiers) == pytest.approx(1540.0)
    assert sum(one["customers"] for one in snapshot.value_bins) == 5

    months = snapshot.stage_flow["months"]
    assert len(months) == 12 and months[-1]["month_end"] == "2026-03-31"
    latest = months[-1]
    assert {stage: n for stage, n in latest["counts"].items() if n} == {
        "acquired": 1,
        "growing": 2,
        "mature": 1,
        "churned": 1,
        "reactivated": 1,
    }
    assert {(m["from"], m["to"]): m["customers"] for m in latest["transitions"]} == {
        ("churned", "reactivated"): 1,  # A came back
        ("", "growing"): 1,  # B, a contact since 03-15
        ("churned", "churned"): 1,
        ("acquired", "acquired"): 1,
        ("growing", "growing"): 1,
        ("mature", "mature"): 1,
    }


def test_re_running_the_night_keeps_one_snapshot_and_a_past_night_gets_its_own(shop):  # noqa: F811
    org, _people = shop
    nightly.run_nightly(org=org, as_of=AS_OF)
    nightly.run_nightly(org=org, as_of=AS_OF)
    nightly.run_nightly(org=org, as_of=datetime.date(2026, 2, 28))

    assert list(CustomerMixSnapshot.objects.for_org(org).values_list("as_of", flat=True)) == [
        AS_OF,
        datetime.date(2026, 2, 28),
    ]
    february = CustomerMixSnapshot.objects.for_org(org).get(as_of=datetime.date(2026, 2, 28))
    assert february.stage_flow["months"][-1]["month_end"] == "2026-02-28"
    assert february.stage_flow["months"][-1]["counts"]["reactivated"] == 0  # A had not come back yet
