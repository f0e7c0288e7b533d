from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api.urls import api_v1_patterns
from config.health import health
from reporting.home import home

urlpatterns = [
    path("", home, name="home"),
    path("", include("crm.urls")),
    path("accounts/", include("accounts.urls")),
    path("reports/", include("reporting.urls")),
    path("segments/", include("segmentation.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/v1/", include((api_v1_patterns, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.STATIC_URL, document_root=settings.STATIC_ROOT)
