"""Prometheus metrics of the web and worker processes, and their exposition behind a bearer token.

prometheus_client is used directly rather than django-prometheus: that package times requests by view and
method but has no route × method × status-class histogram, and it adds database, cache and model metrics
(through wrapped backends) that custops does not need. A few metrics of our own keep the label sets bounded:

* ``custops_http_request_duration_seconds{route, method, status_class}``: ``route`` is the resolved URL name
  (``api:customer-detail``), never the raw path, so no id or personal data becomes a label;
* ``custops_celery_tasks_total{task, outcome}`` and ``custops_celery_task_duration_seconds{task, outcome}``:
  outcome is ``success``, ``failure``, ``retry``, ``revoked`` or ``ignored``, recorded where the task runs
  (Celery signals, ``config/observability/celery_signals.py``).

Gunicorn runs several processes and the worker's prefork pool others: with ``PROMETHEUS_MULTIPROC_DIR`` set
(a directory per service, emptied when the service starts) every process writes its samples there and an
exposition aggregates them; without it each process reports its own.
"""

from __future__ import annotations

import hmac
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request that matched no URL pattern (404s, APPEND_SLASH redirects).
UNMATCHED_ROUTE = "unmatched"

REQUEST_DURATION = Histogram(
    "custops_http_request_duration_seconds",
    "Time to answer an HTTP request, by resolved route name, method and status class.",
    ["route", "method", "status_class"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TASK_OUTCOMES = Counter(
    "custops_celery_tasks",
    "Celery task executions by task name and outcome (success, failure, retry, revoked, ignored).",
    ["task", "outcome"],
)
TASK_DURATION = Histogram(
    "custops_celery_task_duration_seconds",
    "Run time of Celery task executions by task name and outcome.",
    ["task", "outcome"],
    buckets=(0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)


def method_label(method: str | None) -> str:
    """The request method, or ``other`` for anything unusual (a client can send any token there)."""
    method = (method or "").upper()
    return method if method in HTTP_METHODS else "other"


def status_class(status_code: int) -> str:
    return f"{status_code // 100}xx"


def request_observe(*, route: str, method: str, status_code: int, seconds: float) -> None:
    REQUEST_DURATION.labels(route=route, method=method_label(method), status_class=status_class(status_code)).observe(
        seconds
    )


def task_observe(*, task: str, outcome: str, seconds: float | None) -> None:
    TASK_OUTCOMES.labels(task=task, outcome=outcome).inc()
    if seconds is not None:
        TASK_DURATION.labels(task=task, outcome=outcome).observe(seconds)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    """The text exposition: every process's samples aggregated in multiprocess mode, this process's otherwise."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def bearer_token_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (compared in constant time)."""
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def multiprocess_dir_reset(path: str) -> None:
    """Empty a service's multiprocess directory before its processes start (samples of dead pids would add up)."""
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
