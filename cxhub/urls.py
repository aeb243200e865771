from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from locations import api as locations_api
from metrics import api as metrics_api
from surveys import api as surveys_api

admin.site.site_header = "CXHub"
admin.site.site_title = "CXHub"
admin.site.index_title = "Set up your chain"

kiosk_api = [
    path("responses/", surveys_api.ResponseCreateApi.as_view(), name="response-create"),
    path("responses/batch/", surveys_api.ResponseBatchApi.as_view(), name="response-batch"),
    path("config/", surveys_api.KioskConfigApi.as_view(), name="config"),
    path("heartbeat/", locations_api.KioskHeartbeatApi.as_view(), name="heartbeat"),
    path("pair/", locations_api.KioskPairApi.as_view(), name="pair"),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("api/v1/kiosk/", include((kiosk_api, "kiosk"))),
    path("kiosk/", include("surveys.kiosk_urls")),
    path("api/v1/metrics/scores/", metrics_api.ScoresApi.as_view(), name="metrics-scores"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
