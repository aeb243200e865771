from django.conf import settings
from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cxhub import health
from locations import api as locations_api
from locations import views as locations_views
from metrics import api as metrics_api
from surveys import api as surveys_api

admin.site.site_header = "CXHub"
admin.site.site_title = "CXHub"
admin.site.index_title = "Set up your chain"


def favicon(request):
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    return redirect(static("kiosk/icons/icon.svg"))


kiosk_api = [
    path("responses/", surveys_api.ResponseCreateApi.as_view(), name="response-create"),
    path("responses/batch/", surveys_api.ResponseBatchApi.as_view(), name="response-batch"),
    path("config/", surveys_api.KioskConfigApi.as_view(), name="config"),
    path("heartbeat/", locations_api.KioskHeartbeatApi.as_view(), name="heartbeat"),
    path("pair/", locations_api.KioskPairApi.as_view(), name="pair"),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="prometheus-metrics"),
    path("api/v1/kiosk/", include((kiosk_api, "kiosk"))),
    path("kiosk/", include("surveys.kiosk_urls")),
    path("dashboard/", include("metrics.urls")),
    path("cases/", include("surveys.case_urls")),
    path("api/v1/metrics/scores/", metrics_api.ScoresApi.as_view(), name="metrics-scores"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP allows no inline one.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # Where django.conf.urls.i18n puts set_language, wrapped to save a signed-in person's choice.
    path("i18n/setlang/", locations_views.set_language, name="set_language"),
    path("account/preferences/", locations_views.preferences, name="preferences"),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
