"""Real processes for integration tests: a Celery worker, beat and gunicorn against the test database.

These tests need PostgreSQL (the worker must see rows the test committed, which an in-memory SQLite test
database cannot offer) and Redis. Without them they skip with the reason, except under CI=true, where a
missing service is a failure: CI must exercise them.
"""

from __future__ import annotations

import email
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI requires this: {reason}")
    pytest.skip(reason)


@pytest.fixture
def real_services(transactional_db) -> dict[str, str]:
    """Environment for child processes that share this test's PostgreSQL database and Redis."""
    require(connection.vendor == "postgresql", "integration tests need DATABASE_URL=postgres://...")
    require(bool(settings.REDIS_URL), "integration tests need REDIS_URL=redis://...")
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagedProcess:
    """A child process with its output in a log file, stopped (and its log shown on failure) at teardown."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(args, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not print {text!r} within {timeout}s:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture
def start_process(tmp_path) -> Iterator:
    started: list[ManagedProcess] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> ManagedProcess:
        managed = ManagedProcess(name, args, env, tmp_path)
        started.append(managed)
        return managed

    yield start
    for managed in reversed(started):
        managed.stop()


def start_celery_worker(start_process, env: dict[str, str], name: str) -> ManagedProcess:
    """Start a solo-pool worker under ``name`` and wait until it consumes."""
    worker = start_process(
        name,
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{name}-{os.getpid()}@%h",
        ],
        env,
    )
    worker.wait_for_output("ready.", timeout=90)
    return worker


def start_celery_beat(start_process, env: dict[str, str], schedule_dir: Path) -> ManagedProcess:
    """Start beat on the real schedule (its state file in ``schedule_dir``) and wait until it runs."""
    beat = start_process(
        "celery-beat",
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule_dir / "beat-schedule"),
        ],
        env,
    )
    beat.wait_for_output("beat: Starting", timeout=60)
    return beat


@pytest.fixture
def celery_worker(real_services, start_process):
    """A real Celery worker (solo pool) consuming from Redis, with the test database."""
    from config.celery_app import app

    app.control.purge()
    worker = start_celery_worker(start_process, real_services, "celery-worker")
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield worker
    app.conf.task_always_eager = previous


class CollectingHandler:
    """An aiosmtpd handler that keeps every message it accepts, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink(settings):
    """A local SMTP server (aiosmtpd) that Django's SMTP backend sends to; yields its CollectingHandler."""
    from aiosmtpd.controller import Controller

    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    yield handler
    controller.stop()
