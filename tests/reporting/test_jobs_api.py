"""/api/v1/jobs/ lets integrations see whether last night's numbers are in."""

from __future__ import annotations

import datetime
import io

import pytest
import yaml
from django.core.management import call_command

from reporting import nightly
from reporting.models import JobRun, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs_schema() -> dict:
    """The schema as ``manage.py spectacular --validate --fail-on-warn`` writes it."""
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def test_jobs_api_lists_runs_with_status_timings_and_counts(org, read_api):
    job = nightly.run_nightly(org=org, as_of=datetime.date(2026, 1, 31), triggered_by="test")

    body = read_api.get("/api/v1/jobs/").json()

    (listed,) = body["results"]
    assert listed["id"] == job.pk
    assert listed["as_of"] == "2026-01-31"
    assert listed["status"] == "succeeded"
    assert listed["row_counts"]["read"] == 0
    assert set(listed["step_seconds"]) == {name for name, _step in nightly.NIGHTLY_STEPS}
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


def test_jobs_api_shows_a_failed_runs_short_error_not_its_traceback(monkeypatch, org, read_api):
    def broken_step(run):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nightly, "NIGHTLY_STEPS", [*nightly.NIGHTLY_STEPS, ("broken", broken_step)])
    nightly.run_nightly(org=org, as_of=datetime.date(2026, 1, 31))

    (listed,) = read_api.get("/api/v1/jobs/").json()["results"]

    assert listed["status"] == "failed"
    assert listed["error"] == "RuntimeError: disk on fire"


def test_jobs_api_hides_other_organizations_runs(org, other_org, read_api):
    other_job = JobRun.objects.create(organization=other_org, as_of=datetime.date(2026, 1, 1))

    assert read_api.get("/api/v1/jobs/").json()["results"] == []
    assert read_api.get(f"/api/v1/jobs/{other_job.pk}/").status_code == 404


def test_jobs_api_schema_documents_the_shared_error_responses(jobs_schema):
    paths = jobs_schema["paths"]
    assert set(paths["/api/v1/jobs/"]) == {"get"}
    # 304 (If-None-Match), 429 (throttling) and, on retrieve, 400 (a bad ?fields=) since the consistency pass.
    assert set(paths["/api/v1/jobs/"]["get"]["responses"]) == {"200", "304", "400", "401", "403", "429"}
    assert set(paths["/api/v1/jobs/{id}/"]["get"]["responses"]) == {"200", "304", "400", "401", "403", "404", "429"}
