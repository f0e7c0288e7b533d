"""Gunicorn settings for production: ``gunicorn -c python:config.gunicorn_conf config.wsgi:application``.

Logs in the Django processes' format (JSON lines under production settings unless ``LOG_FORMAT=plain``), no
access log (it prints raw paths and query strings; the request log line names the route instead), and
Prometheus multiprocess mode: the directory in ``PROMETHEUS_MULTIPROC_DIR`` is emptied when gunicorn starts and
a worker's live samples are dropped when it exits. Command-line flags still override these values.
"""

from __future__ import annotations

import os

from config.observability.logs import gunicorn_logging_config
from config.observability.metrics import multiprocess_dir, multiprocess_dir_reset

_production = os.environ.get("DJANGO_SETTINGS_MODULE", "") == "config.settings.production"

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = None
logconfig_dict = gunicorn_logging_config(
    log_format=os.environ.get("LOG_FORMAT", "json" if _production else "plain"),
    level=os.environ.get("DJANGO_LOG_LEVEL", "INFO"),
)


def on_starting(server) -> None:
    multiprocess_dir_reset(multiprocess_dir())


def child_exit(server, worker) -> None:
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
