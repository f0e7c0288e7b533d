"""Production settings pass Django's deployment checks, let the probes through over plain HTTP and log JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
from django.test import Client
for path in ("/health/", "/health/live/", "/health/ready/", "/metrics"):
    response = Client().get(path, HTTP_HOST="custops.example.com", HTTP_AUTHORIZATION="Bearer metrics-test-token")
    print("PROBE", path, response.status_code)
"""

LOGGING_FORMAT = """
import logging
print("FORMATTER", type(logging.getLogger().handlers[0].formatter).__name__)
"""


def _run(args: list[str], **extra_env: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "a-long-random-production-secret-for-the-test-0123456789-abcdefghijkl",
        "DJANGO_ALLOWED_HOSTS": "custops.example.com",
        # The settings are under test here, not the database: a throwaway SQLite file answers the probe.
        "DATABASE_URL": "sqlite:////tmp/custops-deploy-check.sqlite3",
        "CUSTOPS_METRICS_TOKEN": "metrics-test-token",
        **extra_env,
    }
    env.pop("REDIS_URL", None)
    if "LOG_FORMAT" not in extra_env:
        env.pop("LOG_FORMAT", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests for their own process only
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_check_deploy_reports_nothing():
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_probes_and_metrics_are_not_redirected_to_https():
    result = _run([sys.executable, "manage.py", "shell", "-c", PROBE])
    output = result.stdout + result.stderr
    for path in ("/health/", "/health/live/", "/health/ready/", "/metrics"):
        assert f"PROBE {path} 200" in result.stdout, output


def test_production_logs_json_lines_unless_told_plain():
    default = _run([sys.executable, "manage.py", "shell", "-c", LOGGING_FORMAT])
    assert "FORMATTER JsonFormatter" in default.stdout, default.stdout + default.stderr
    plain = _run([sys.executable, "manage.py", "shell", "-c", LOGGING_FORMAT], LOG_FORMAT="plain")
    assert "FORMATTER PlainFormatter" in plain.stdout, plain.stdout + plain.stderr
