"""Probes for load balancers, orchestrators and the process-topology test.

* ``/health/`` (kept as it was): database and cache answer; 200 or 503.
* ``/health/live/``: liveness. The process answers; it touches nothing else, so a database outage never makes an
  orchestrator restart healthy web processes (which would not help and would drop requests in flight).
* ``/health/ready/``: readiness. Whether this web process can serve, plus warnings about the background work.

Readiness answers **503** only when the web process itself cannot serve: the database is down. A Redis outage
(cache or broker) is an ``error`` with a 200 "degraded": the web keeps serving through it (the cache misses, rate
limits fail open, work that cannot be queued stays due in the database and beat re-sends it; docs/reliability.md),
and taking every web process out of rotation would turn a degraded site into a dead one. Background work that
lags is reported as **"stale"** with a 200 too, because taking the web out of rotation would not bring a worker
back:

* ``worker``: no Celery worker wrote a heartbeat within ``CUSTOPS_READY_WORKER_MAX_AGE_SECONDS`` (default 120);
* ``nightly``: an organization's last successful nightly run finished more than
  ``CUSTOPS_READY_NIGHTLY_MAX_AGE_HOURS`` ago (default 26: one day plus the run's own time and some slack).

Each check is ``ok``, ``error`` (with the exception's class, never its text: messages can carry host names
and credentials), ``stale`` or ``not configured`` (no ``REDIS_URL``: the demo's local-memory cache and eager
tasks, where there is no broker, shared cache or worker to check). The body's ``status`` is ``ok``,
``degraded`` (a stale warning, still 200) or ``unavailable`` (503).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

OK, ERROR, STALE, NOT_CONFIGURED = "ok", "error", "stale", "not configured"
#: Checks whose error makes readiness answer 503.
CRITICAL_CHECKS = ("database",)


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # a probe reports failures rather than raising them
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        key = "health-probe"
        cache.set(key, time.time(), 10)
        checks["cache"] = "ok" if cache.get(key) is not None else "error: value not read back"
    except Exception as exc:
        checks["cache"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


@require_safe
@never_cache
def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readiness(request: HttpRequest) -> JsonResponse:
    checks = readiness_checks()
    unavailable = any(checks[name]["status"] == ERROR for name in CRITICAL_CHECKS)
    degraded = any(check["status"] in {ERROR, STALE} for check in checks.values())
    status = "unavailable" if unavailable else "degraded" if degraded else "ok"
    return JsonResponse({"status": status, "checks": checks}, status=503 if unavailable else 200)


def readiness_checks() -> dict[str, dict[str, Any]]:
    """Every readiness check by name; each one catches its own errors."""
    return {
        "database": _guarded(_check_database),
        "cache": _guarded(_check_cache),
        "broker": _guarded(_check_broker),
        "worker": _guarded(_check_worker),
        "nightly": _guarded(_check_nightly),
    }


def _guarded(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return check()
    except Exception as exc:  # a probe reports failures rather than raising them
        return {"status": ERROR, "error": exc.__class__.__name__}


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": OK}


def _check_cache() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": NOT_CONFIGURED}
    key = "readiness-probe"
    cache.set(key, "1", 10)
    if cache.get(key) is None:
        return {"status": ERROR, "error": "value not read back"}
    return {"status": OK}


def _check_broker() -> dict[str, Any]:
    from config.observability.heartbeat import broker_client

    client = broker_client()
    if client is None:
        return {"status": NOT_CONFIGURED}
    client.ping()
    return {"status": OK}


def _check_worker() -> dict[str, Any]:
    from config.observability.heartbeat import broker_client, heartbeat_ages

    if broker_client() is None:
        return {"status": NOT_CONFIGURED}
    max_age = settings.CUSTOPS_READY_WORKER_MAX_AGE_SECONDS
    ages = heartbeat_ages()
    fresh = [age for age in ages if age <= max_age]
    return {
        "status": OK if fresh else STALE,
        "age_seconds": round(ages[0], 1) if ages else None,
        "workers": len(fresh),
        "max_age_seconds": max_age,
    }


def _check_nightly() -> dict[str, Any]:
    from reporting.selectors import nightly_last_success_by_org

    max_age = settings.CUSTOPS_READY_NIGHTLY_MAX_AGE_HOURS * 3600
    now = timezone.now()
    last_success = nightly_last_success_by_org()
    ages = [None if at is None else (now - at).total_seconds() for at in last_success.values()]
    stale = [age for age in ages if age is None or age > max_age]
    known = [age for age in ages if age is not None]
    return {
        "status": STALE if stale else OK,
        # The oldest of the organizations' latest successes: the figure the threshold applies to.
        "age_seconds": round(max(known)) if known else None,
        "organizations": len(ages),
        "stale_organizations": len(stale),
        "max_age_seconds": max_age,
    }
