"""The API docs page: Swagger UI from drf-spectacular's sidecar, under the site's Content-Security-Policy."""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served from this URL (``?script=``) rather than inline.

    drf-spectacular's split view exists for strict policies: the page loads the sidecar's bundle and this
    script as same-origin files, and its stylesheet replaces the inline ``<style>`` of the stock template.
    """

    template_name = "api/swagger_ui.html"
