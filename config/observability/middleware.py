"""One layer around every request: its id, its latency metric and its log line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config.observability import metrics
from config.observability.logs import request_id_var

logger = logging.getLogger("custops.request")

#: An incoming X-Request-ID is kept when it looks like an id (a load balancer's or a client's), else replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: Routes polled every few seconds log at DEBUG, so they do not drown the requests people make.
_QUIET_ROUTES = frozenset({"health", "health-live", "health-ready", "metrics"})


def request_id_from(header: str | None) -> str:
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def route_name(request: HttpRequest) -> str:
    """The resolved URL name (``api:customer-detail``); bounded and free of ids, unlike the path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return metrics.UNMATCHED_ROUTE
    return match.view_name or match.route or metrics.UNMATCHED_ROUTE


def _request_ids(request: HttpRequest) -> dict[str, int | None]:
    """Organization, user and API key ids of the request (ids only: never a name or an address)."""
    user = getattr(request, "user", None)
    organization = getattr(request, "organization", None) or getattr(user, "organization", None)
    api_key = getattr(user, "api_key", None)
    return {
        "organization_id": getattr(organization, "pk", None),
        "user_id": getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None,
        "api_key_id": getattr(api_key, "pk", None),
    }


class RequestObservabilityMiddleware:
    """Sets ``request.request_id`` (echoed as ``X-Request-ID``), times the request and logs one line for it.

    The log line carries the route name, method, status, duration in milliseconds and the organization, user and
    API key ids; never the path or query string, which can hold search terms such as an e-mail address.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_from(request.headers.get("X-Request-ID"))
        context = request_id_var.set(request.request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            route = route_name(request)
            try:
                metrics.request_observe(
                    route=route, method=request.method or "", status_code=response.status_code, seconds=seconds
                )
            except Exception:  # observing never fails the request (say, PROMETHEUS_MULTIPROC_DIR is missing)
                logger.warning("could not record the request metric", exc_info=True)
            response["X-Request-ID"] = request.request_id
            logger.log(
                logging.DEBUG if route in _QUIET_ROUTES else logging.INFO,
                "%s %s %s %.1f ms",
                metrics.method_label(request.method),
                route,
                response.status_code,
                seconds * 1000,
                extra={
                    "route": route,
                    "method": metrics.method_label(request.method),
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                    **_request_ids(request),
                },
            )
            return response
        finally:
            request_id_var.reset(context)
