"""The Celery app shared by web, worker and beat; settings come from Django's ``CELERY_*`` names."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("custops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task outcome metrics, worker heartbeats, Django's logging in workers and beat (connects Celery signals).
import config.observability.celery_signals  # noqa: E402, F401
