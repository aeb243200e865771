"""The kiosk web app, mounted at /kiosk/ (its API lives under /api/v1/kiosk/)."""

from django.urls import path

from . import kiosk_views

app_name = "kiosk_app"

urlpatterns = [
    path("", kiosk_views.shell, name="shell"),
    # Served from /kiosk/ so the worker's scope covers the app (a worker under /static/
    # could not control /kiosk/).
    path("sw.js", kiosk_views.service_worker, name="service-worker"),
    path("manifest.webmanifest", kiosk_views.manifest, name="manifest"),
]
