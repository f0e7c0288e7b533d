"""``/metrics``: the Prometheus exposition of the web processes, for a scraper holding the token."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.observability import metrics as metric_registry


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """404 while ``CUSTOPS_METRICS_TOKEN`` is unset (metrics are off), 403 without ``Bearer <token>``."""
    token = settings.CUSTOPS_METRICS_TOKEN
    if not token:
        raise Http404
    if not metric_registry.bearer_token_matches(request.headers.get("Authorization", ""), token):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metric_registry.exposition(), content_type=metric_registry.CONTENT_TYPE)
