"""The Celery app shared by web, worker and beat; settings come from Django's ``CELERY_*`` names."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("custops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
