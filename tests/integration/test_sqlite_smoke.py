"""The embedded default: with no DATABASE_URL or REDIS_URL, custops runs on SQLite with eager tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

SMOKE_SCRIPT = textwrap.dedent(
    """
    from django.conf import settings
    from django.test import Client
    from accounts.models import Role, User
    from accounts.services import api_key_create, membership_set, organization_create, user_create
    from config.celery_app import app
    from crm.models import Customer

    assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"), settings.DATABASES
    assert app.conf.task_always_eager, "tasks must run eagerly without a broker"
    org = organization_create(slug="smoke", name="Smoke Test")
    user = user_create(email="ops@smoke.test", password="smoke-test-password")
    membership_set(org=org, user=user, role=Role.OPS)
    client = Client()
    assert client.post("/accounts/login/", {"username": "ops@smoke.test", "password": "smoke-test-password"}).status_code == 302
    assert client.get("/customers/").status_code == 200
    _, key = api_key_create(org=org, name="smoke", scopes=["read", "write"])
    api = Client(HTTP_AUTHORIZATION="Bearer " + key)
    created = api.post("/api/v1/customers/", {"external_id": "S1", "name": "Smoke"}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert api.get("/api/v1/customers/").json()["results"][0]["external_id"] == "S1"
    from reporting.tasks import nightly_for_org
    job_id = nightly_for_org.delay(org.pk, "2026-01-31", "smoke").get()
    print("SMOKE OK", Customer.objects.count(), job_id)
    """
)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_embedded_default_runs_on_sqlite_with_eager_tasks(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'smoke.sqlite3'}"

    migrate = _run([sys.executable, "manage.py", "migrate", "--noinput"], env)
    assert migrate.returncode == 0, migrate.stderr
    smoke = _run([sys.executable, "manage.py", "shell", "-c", SMOKE_SCRIPT], env)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "SMOKE OK 1" in smoke.stdout
