"""Error responses outside a view: JSON in the API's error shape under ``/api/``, the HTML pages elsewhere.

DRF's exception handler (``config.api.errors``) only runs inside an API view. A path under ``/api/`` that
matches no route, or an exception that escapes a view, reaches Django's handlers instead; an integration that
parses JSON must not get an HTML page there (DESIGN.md §7: JSON everywhere, ``{"detail", "errors"}``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """The last route under ``/api/``: any path no resource matched (``/api/v1/scores/abc/``).

    CSRF-exempt like DRF's views: it changes nothing, and a POST with a stale cookie must get the JSON 404, not
    Django's HTML CSRF page."""
    return JsonResponse(
        {"detail": _("No such resource or action: check the path and its ids."), "errors": {}}, status=404
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {
                "detail": _("Something went wrong on our side; the error has been logged. Try again later."),
                "errors": {},
            },
            status=500,
        )
    return defaults.server_error(request)
