"""Production settings pass Django's deployment checks and let the health probe through over plain HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
from django.test import Client
response = Client().get("/health/", HTTP_HOST="custops.example.com")
print("HEALTH", response.status_code)
"""


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "a-long-random-production-secret-for-the-test-0123456789-abcdefghijkl",
        "DJANGO_ALLOWED_HOSTS": "custops.example.com",
        # The settings are under test here, not the database: a throwaway SQLite file answers the probe.
        "DATABASE_URL": "sqlite:////tmp/custops-deploy-check.sqlite3",
    }
    env.pop("REDIS_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests for their own process only
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_check_deploy_reports_nothing():
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_health_probe_is_not_redirected_to_https():
    result = _run([sys.executable, "manage.py", "shell", "-c", PROBE])
    assert "HEALTH 200" in result.stdout, result.stdout + result.stderr
