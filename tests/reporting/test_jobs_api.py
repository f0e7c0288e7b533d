"""/api/v1/jobs/ lets integrations see whether last night's numbers are in."""

from __future__ import annotations

import datetime

import pytest

from reporting import nightly
from reporting.models import JobRun, JobStatus

pytestmark = pytest.mark.django_db


def test_jobs_api_lists_runs_with_status_timings_and_counts(org, read_api):
    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 1, 31), triggered_by="test")

    body = read_api.get("/api/v1/jobs/").json()

    (listed,) = body["results"]
    assert listed["id"] == job.pk
    assert listed["as_of"] == "2026-01-31"
    assert listed["status"] == "succeeded"
    assert listed["row_counts"] == {"data_inventory": 0}
    assert set(listed["step_seconds"]) == {"data_inventory"}
    assert listed["duration_seconds"] >= 0


def test_jobs_api_filters_by_status(org, read_api):
    JobRun.objects.create(organization=org, as_of=datetime.date(2026, 1, 1), status=JobStatus.FAILED, error="boom")
    JobRun.objects.create(organization=org, as_of=datetime.date(2026, 1, 2), status=JobStatus.SUCCEEDED)

    failed = read_api.get("/api/v1/jobs/", {"status": "failed"}).json()["results"]

    assert [run["as_of"] for run in failed] == ["2026-01-01"]
    assert read_api.get("/api/v1/jobs/", {"status": "nonsense"}).status_code == 400


def test_jobs_api_is_read_only(org, write_api):
    job = JobRun.objects.create(organization=org, as_of=datetime.date(2026, 1, 1))
    assert write_api.post("/api/v1/jobs/", {"as_of": "2026-01-01"}, format="json").status_code == 405
    assert write_api.delete(f"/api/v1/jobs/{job.pk}/").status_code == 405
