"""A liveness/readiness probe for load balancers and the process-topology test: database and cache answer."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


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
