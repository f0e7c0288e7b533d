"""What workers report about themselves: task outcome metrics, heartbeats, logging and a metrics port.

Connected when the Celery app is imported (config/celery_app.py), so web processes running tasks eagerly
record their outcomes too. Every receiver swallows and logs its own errors: observing must never fail a task.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from celery import signals

from config.observability import metrics

logger = logging.getLogger(__name__)

#: perf_counter() at task_prerun, by task id; popped at task_postrun.
_started: dict[str, float] = {}
_last_heartbeat_write = 0.0
_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry", "REVOKED": "revoked"}


@signals.setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Keep Django's LOGGING (JSON lines in production) instead of Celery's own root handler and format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    started = _started.pop(task_id, None) if task_id else None
    try:
        metrics.task_observe(
            task=getattr(task, "name", "unknown"),
            outcome=_outcome(state),
            seconds=None if started is None else time.perf_counter() - started,
        )
    except Exception:
        logger.exception("could not record the outcome of task %s", task_id)


def _outcome(state: str | None) -> str:
    """The outcome label of a task's final state.

    An eager task that propagates its exception (tests, the demo) reaches task_postrun with no state, from the
    ``finally`` its exception is passing through: that exception tells a retry from a failure.
    """
    if state is None:
        from celery.exceptions import Retry

        in_flight = sys.exc_info()[1]
        if in_flight is None:
            return "ignored"
        return "retry" if isinstance(in_flight, Retry) else "failure"
    return _OUTCOMES.get(state, "ignored")


@signals.task_revoked.connect
def task_revoked(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    task_id = getattr(request, "id", None)
    if task_id:
        _started.pop(task_id, None)
    try:
        metrics.task_observe(task=getattr(sender, "name", "unknown"), outcome="revoked", seconds=None)
    except Exception:
        logger.exception("could not record that task %s was revoked", task_id)


@signals.worker_init.connect
def worker_metrics_dir_reset(**kwargs: Any) -> None:
    """The worker's multiprocess directory starts empty (before the pool forks its children)."""
    metrics.multiprocess_dir_reset(metrics.multiprocess_dir())


@signals.worker_ready.connect
def worker_ready(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", "") or "worker"
    _heartbeat(hostname, force=True)
    _metrics_server_start()


@signals.heartbeat_sent.connect
def worker_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    eventer = getattr(sender, "eventer", None)
    _heartbeat(getattr(eventer, "hostname", "") or "worker", force=False)


@signals.worker_shutdown.connect
def worker_stopped(sender: Any = None, **kwargs: Any) -> None:
    from config.observability.heartbeat import heartbeat_forget

    try:
        heartbeat_forget(worker=getattr(sender, "hostname", "") or "worker")
    except Exception:
        logger.warning("could not remove this worker's heartbeat", exc_info=True)


def _heartbeat(hostname: str, *, force: bool) -> None:
    """Write the heartbeat, at most once per CUSTOPS_WORKER_HEARTBEAT_WRITE_SECONDS unless forced."""
    global _last_heartbeat_write
    from django.conf import settings

    from config.observability.heartbeat import heartbeat_record

    now = time.monotonic()
    if not force and now - _last_heartbeat_write < settings.CUSTOPS_WORKER_HEARTBEAT_WRITE_SECONDS:
        return
    try:
        heartbeat_record(worker=hostname)
        _last_heartbeat_write = now
    except Exception:
        logger.warning("could not record the worker heartbeat", exc_info=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log; failures show in Prometheus instead."""


def metrics_wsgi_app(token: str):
    """The worker's metrics endpoint: the exposition for ``Authorization: Bearer <token>``, 403 otherwise."""

    def app(environ: dict, start_response):
        if environ.get("PATH_INFO", "/") not in {"/", "/metrics"}:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not metrics.bearer_token_matches(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"forbidden\n"]
        body = metrics.exposition()
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _metrics_server_start() -> None:
    """Serve the worker's metrics on CUSTOPS_WORKER_METRICS_PORT (main process, a daemon thread), if set."""
    from django.conf import settings

    port = settings.CUSTOPS_WORKER_METRICS_PORT
    if not port:
        return
    if not settings.CUSTOPS_METRICS_TOKEN:
        logger.warning("CUSTOPS_WORKER_METRICS_PORT is set but CUSTOPS_METRICS_TOKEN is not; metrics not served")
        return
    try:
        server = make_server(
            settings.CUSTOPS_WORKER_METRICS_ADDRESS,
            port,
            metrics_wsgi_app(settings.CUSTOPS_METRICS_TOKEN),
            handler_class=_QuietHandler,
        )
    except OSError:
        logger.exception("could not serve worker metrics on port %s", port)
        return
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    logger.info("worker metrics served on port %s", port)
