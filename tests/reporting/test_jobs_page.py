"""The Jobs page lists the organization's nightly runs, newest first, with failures explained."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from reporting import nightly
from reporting.models import JobRun, JobStatus

pytestmark = pytest.mark.django_db


def _run(org, status, error="", day=1):
    return JobRun.objects.create(organization=org, as_of=datetime.date(2026, 1, day), status=status, error=error)


def test_jobs_page_lists_runs_with_their_errors(client, org, viewer_user):
    _run(org, JobStatus.SUCCEEDED, day=1)
    _run(org, JobStatus.FAILED, error="Traceback: division by zero", day=2)
    client.force_login(viewer_user)

    body = client.get(reverse("reporting:job-list")).content.decode()

    assert "2026-01-01" in body and "2026-01-02" in body
    assert "division by zero" in body


def test_jobs_page_filters_by_status_and_ignores_unknown_status(client, org, ops_user):
    _run(org, JobStatus.SUCCEEDED, day=1)
    _run(org, JobStatus.FAILED, error="boom", day=2)
    client.force_login(ops_user)

    failed_only = client.get(reverse("reporting:job-list"), {"status": "failed"}).content.decode()
    assert "2026-01-02" in failed_only and "2026-01-01" not in failed_only
    everything = client.get(reverse("reporting:job-list"), {"status": "bogus"})
    assert everything.status_code == 200
    assert "2026-01-01" in everything.content.decode()


def test_jobs_page_shows_only_the_current_organizations_runs(client, org, other_org, ops_user):
    _run(other_org, JobStatus.FAILED, error="secret-of-the-other-org")
    client.force_login(ops_user)
    assert "secret-of-the-other-org" not in client.get(reverse("reporting:job-list")).content.decode()


def test_jobs_page_requires_login(client):
    response = client.get(reverse("reporting:job-list"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_jobs_page_shows_a_failed_runs_short_error_not_its_traceback(monkeypatch, client, org, viewer_user):
    def broken_step(run):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(nightly, "NIGHTLY_STEPS", [*nightly.NIGHTLY_STEPS, ("broken", broken_step)])
    nightly.run_nightly(org=org, as_of=datetime.date(2026, 1, 31))
    client.force_login(viewer_user)

    body = client.get(reverse("reporting:job-list")).content.decode()

    assert "RuntimeError: disk on fire" in body
    assert "Traceback" not in body


def test_every_nightly_step_has_a_name_for_readers():
    from reporting.nightly import NIGHTLY_STEPS
    from reporting.views import NIGHTLY_STEP_LABELS

    assert set(NIGHTLY_STEP_LABELS) == {name for name, _step in NIGHTLY_STEPS}
