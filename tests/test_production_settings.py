"""Production settings pass Django's deployment checks, let the health probe through over plain HTTP, and keep
the security settings the README promises (cookies, trusted origins, headers, lockout, password rules)."""

from __future__ import annotations

import json
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


SETTINGS_DUMP = """
import json
from django.conf import settings
from django.test import Client
names = [
    "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_AGE",
    "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY", "CSRF_TRUSTED_ORIGINS", "SECURE_HSTS_SECONDS",
    "SECURE_SSL_REDIRECT", "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY", "X_FRAME_OPTIONS",
    "AXES_ENABLED", "AXES_FAILURE_LIMIT", "AXES_LOCKOUT_PARAMETERS", "AXES_RESET_ON_SUCCESS", "AXES_HANDLER",
    "CUSTOPS_TRUSTED_PROXY_COUNT",
]
dump = {name: getattr(settings, name) for name in names}
dump["AXES_COOLOFF_MINUTES"] = settings.AXES_COOLOFF_TIME.total_seconds() / 60
dump["MIN_PASSWORD_LENGTH"] = settings.AUTH_PASSWORD_VALIDATORS[1]["OPTIONS"]["min_length"]
response = Client().get("/health/", HTTP_HOST="custops.example.com", secure=True)
dump["headers"] = {name: response.get(name) for name in (
    "Content-Security-Policy", "Permissions-Policy", "Referrer-Policy", "Cross-Origin-Opener-Policy",
    "Strict-Transport-Security", "X-Frame-Options",
)}
print("SETTINGS", json.dumps(dump))
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


def _production_settings(**extra_env: str) -> dict:
    result = _run([sys.executable, "manage.py", "shell", "-c", SETTINGS_DUMP], **extra_env)
    line = next((line for line in result.stdout.splitlines() if line.startswith("SETTINGS ")), None)
    assert line, result.stdout + result.stderr
    return json.loads(line.removeprefix("SETTINGS "))


def test_production_cookies_headers_lockout_and_passwords():
    found = _production_settings()

    assert found["SESSION_COOKIE_SECURE"] and found["SESSION_COOKIE_HTTPONLY"]
    assert found["SESSION_COOKIE_SAMESITE"] == "Lax" and found["SESSION_COOKIE_AGE"] == 12 * 60 * 60
    assert found["CSRF_COOKIE_SECURE"] and found["CSRF_COOKIE_HTTPONLY"]
    assert found["SECURE_SSL_REDIRECT"] and found["SECURE_HSTS_SECONDS"] >= 365 * 24 * 60 * 60
    assert found["SECURE_REFERRER_POLICY"] == "same-origin"
    assert found["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin" and found["X_FRAME_OPTIONS"] == "DENY"
    assert found["AXES_ENABLED"] and found["AXES_RESET_ON_SUCCESS"]
    assert found["AXES_FAILURE_LIMIT"] == 5 and found["AXES_COOLOFF_MINUTES"] == 15
    assert found["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"]]
    assert found["AXES_HANDLER"] == "axes.handlers.database.AxesDatabaseHandler"
    assert found["MIN_PASSWORD_LENGTH"] == 12
    headers = found["headers"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["Referrer-Policy"] == "same-origin" and headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000") and headers["X-Frame-Options"] == "DENY"


def test_production_reads_trusted_origins_session_length_lockout_and_proxies_from_the_environment():
    found = _production_settings(
        DJANGO_CSRF_TRUSTED_ORIGINS="https://custops.example.com,https://ops.example.com",
        CUSTOPS_SESSION_HOURS="4",
        CUSTOPS_LOGIN_FAILURE_LIMIT="3",
        CUSTOPS_LOGIN_COOLOFF_MINUTES="60",
        CUSTOPS_TRUSTED_PROXY_COUNT="1",
    )

    assert found["CSRF_TRUSTED_ORIGINS"] == ["https://custops.example.com", "https://ops.example.com"]
    assert found["SESSION_COOKIE_AGE"] == 4 * 60 * 60
    assert found["AXES_FAILURE_LIMIT"] == 3 and found["AXES_COOLOFF_MINUTES"] == 60
    assert found["CUSTOPS_TRUSTED_PROXY_COUNT"] == 1
