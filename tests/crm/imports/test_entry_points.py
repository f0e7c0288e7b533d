"""The three ways in (command, API, upload page) share one pipeline and its rules."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import AuditLog
from crm.models import Customer, ImportJob, ImportStatus
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ORDERS = "external_id,customer_external_id,ordered_at,amount\nO1,C1,2025-05-01,10\nO2,NOPE,2025-05-01,10\n"


def _upload(content: str, name: str = "orders.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode("utf-8"), content_type="text/csv")


def test_command_imports_reports_counts_and_writes_the_rejections_file(org, tmp_path, capsys):
    CustomerFactory(organization=org, external_id="C1")
    source = tmp_path / "orders.csv"
    source.write_text(ORDERS)

    call_command("import_csv", str(source), "--org", org.slug, "--kind", "orders")

    out = capsys.readouterr().out
    assert "2 rows read, 1 created, 0 updated, 0 unchanged, 1 rejected" in out
    with (tmp_path / "orders.rejects.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][:2] == ["O2", "NOPE"] and rows[1][-3] == "3"


def test_command_fails_clearly_on_unknown_org_missing_file_and_unreadable_file(org, tmp_path):
    present = tmp_path / "orders.csv"
    present.write_text(ORDERS)
    with pytest.raises(CommandError, match="No organization"):
        call_command("import_csv", str(present), "--org", "nope", "--kind", "orders")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_csv", str(tmp_path / "missing.csv"), "--org", org.slug, "--kind", "orders")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="Import failed"):
        call_command("import_csv", str(empty), "--org", org.slug, "--kind", "orders")


def test_api_upload_runs_the_job_and_lists_its_rejections(org, write_api, django_capture_on_commit_callbacks):
    CustomerFactory(organization=org, external_id="C1")
    with django_capture_on_commit_callbacks(execute=True):
        response = write_api.post("/api/v1/imports/", {"kind": "orders", "file": _upload(ORDERS)}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]

    job = write_api.get(f"/api/v1/imports/{job_id}/").json()
    assert (job["status"], job["rows_created"], job["rows_rejected"]) == ("succeeded", 1, 1)
    rejected = write_api.get(f"/api/v1/imports/{job_id}/rejections/").json()["results"]
    assert [(r["line"], r["column"]) for r in rejected] == [(3, "customer_external_id")]


def test_api_upload_needs_a_write_key_and_a_valid_kind(org, read_api, write_api):
    assert (
        read_api.post("/api/v1/imports/", {"kind": "orders", "file": _upload(ORDERS)}, format="multipart").status_code
        == 403
    )
    bad = write_api.post("/api/v1/imports/", {"kind": "planets", "file": _upload(ORDERS)}, format="multipart")
    assert bad.status_code == 400 and "kind" in bad.json()["errors"]
    missing = write_api.post("/api/v1/imports/", {"kind": "orders"}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["errors"]


def test_upload_page_previews_then_imports_on_confirmation(client, org, ops_user, django_capture_on_commit_callbacks):
    client.force_login(ops_user)
    response = client.post(
        reverse("crm:import-upload"), {"kind": "customers", "file": _upload("external_id,name,extra\nC9,Zhao Lei,x\n")}
    )
    job = ImportJob.objects.for_org(org).get()
    assert response.status_code == 302
    preview = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert "Zhao Lei" in preview and "extra" in preview
    assert not Customer.objects.for_org(org).exists()  # nothing is written before confirmation

    with django_capture_on_commit_callbacks(execute=True):  # queued once the confirmation commits
        client.post(reverse("crm:import-start", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED
    assert Customer.objects.for_org(org).get().name == "Zhao Lei"
    summary = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert "import-summary" in summary
    assert AuditLog.objects.for_org(org).filter(action="import.finish", actor_user=ops_user).exists()


def test_confirming_twice_runs_the_import_once(client, org, ops_user, django_capture_on_commit_callbacks):
    client.force_login(ops_user)
    client.post(reverse("crm:import-upload"), {"kind": "customers", "file": _upload("external_id\nC1\n")})
    job = ImportJob.objects.for_org(org).get()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        client.post(reverse("crm:import-start", args=[job.pk]))
        client.post(reverse("crm:import-start", args=[job.pk]))
    assert len(queued) == 1
    assert AuditLog.objects.for_org(org).filter(action="import.finish").count() == 1


def test_rejected_rows_download_as_csv_with_a_bom(client, org, ops_user, write_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        write_api.post("/api/v1/imports/", {"kind": "orders", "file": _upload(ORDERS)}, format="multipart")
    job = ImportJob.objects.for_org(org).get()
    client.force_login(ops_user)
    response = client.get(reverse("crm:import-rejections-csv", args=[job.pk]))
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    header = next(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert header[-1] == "reason"


def test_viewers_see_the_history_but_cannot_upload_or_start(client, org, viewer_user):
    client.force_login(viewer_user)
    assert client.get(reverse("crm:import-list")).status_code == 200
    assert (
        client.post(
            reverse("crm:import-upload"), {"kind": "customers", "file": _upload("external_id\nC1\n")}
        ).status_code
        == 403
    )
    assert not ImportJob.objects.exists()


def test_another_organizations_import_is_404(client, other_org, org, ops_user, api_key_client):
    api_key_client(other_org).post(
        "/api/v1/imports/", {"kind": "customers", "file": _upload("external_id\nX1\n")}, format="multipart"
    )
    theirs = ImportJob.objects.for_org(other_org).get()
    client.force_login(ops_user)
    for name in ("crm:import-detail", "crm:import-rejections-csv"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert client.post(reverse("crm:import-start", args=[theirs.pk])).status_code == 404


def test_an_upload_can_be_discarded_before_import_and_its_file_is_deleted(client, org, ops_user):
    from pathlib import Path

    client.force_login(ops_user)
    client.post(reverse("crm:import-upload"), {"kind": "customers", "file": _upload("external_id\nC1\n")})
    job = ImportJob.objects.for_org(org).get()

    client.post(reverse("crm:import-discard", args=[job.pk]))

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "Discarded" in job.error
    assert not Path(job.stored_path).exists()
    client.post(reverse("crm:import-start", args=[job.pk]))
    assert not Customer.objects.for_org(org).exists()


def test_uploads_never_confirmed_are_discarded_after_a_day(org, tmp_path):
    import datetime

    from django.utils import timezone

    from accounts.services import Actor
    from crm.imports.pipeline import import_job_create, import_jobs_discard_unconfirmed

    path = tmp_path / "c.csv"
    path.write_text("external_id\nC1\n")
    old = import_job_create(org=org, actor=Actor(label="t"), kind="customers", source=path, original_filename="old.csv")
    fresh = import_job_create(
        org=org, actor=Actor(label="t"), kind="customers", source=path, original_filename="new.csv"
    )
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=2))

    assert import_jobs_discard_unconfirmed(older_than=datetime.timedelta(days=1)) == 1
    assert ImportJob.objects.get(pk=old.pk).status == ImportStatus.FAILED
    assert ImportJob.objects.get(pk=fresh.pk).status == ImportStatus.QUEUED
