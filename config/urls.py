from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from config.api.urls import api_v1_patterns
from config.api_docs import ApiDocsView
from config.error_views import api_not_found
from config.favicon import favicon
from config.health import health, liveness, readiness
from config.observability.views import metrics
from reporting.home import home

urlpatterns = [
    path("", home, name="home"),
    path("", include("crm.urls")),
    path("accounts/", include("accounts.urls")),
    path("reports/", include("reporting.urls")),
    path("segments/", include("segmentation.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("health/live/", liveness, name="health-live"),
    path("health/ready/", readiness, name="health-ready"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/", include((api_v1_patterns, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Last of the API: a path under /api/ that no resource matched is a JSON 404, not the HTML page. Only paths
    # ending in "/" match here, so APPEND_SLASH still redirects "/api/v1/customers" to its resource.
    re_path(r"^api/(?:.*/)?$", api_not_found, name="api-not-found"),
]

# Outside a view (no route, an exception escaping one): JSON under /api/, the HTML pages elsewhere.
handler404 = "config.error_views.page_not_found"
handler500 = "config.error_views.server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)
