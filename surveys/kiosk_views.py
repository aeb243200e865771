"""The kiosk web app: its page, its service worker and its web manifest.

The app itself is static (static/kiosk/). These views put the right URLs in place and one
version string that changes whenever any kiosk file changes, so a tablet's service worker
knows what to cache and when to fetch a new copy.

Assets are referred to by their plain (unhashed) static URLs everywhere — in the page, in
the modules' relative imports and in the service worker's cache — so all three always agree;
the service worker, not the file name, decides when a tablet gets new code.
"""

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import JsonResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

APP_VERSION = "1.0.0"
PREFIX = "kiosk/"
CACHED_SUFFIXES = (".js", ".css", ".woff2", ".png", ".svg")
TEMPLATES = ("kiosk/shell.html", "kiosk/sw.js")
THEME = "#0b6e63"
BACKGROUND = "#fbf6ef"


@dataclass(frozen=True)
class Build:
    version: str  # APP_VERSION+<digest of every kiosk file>: what a heartbeat reports
    assets: dict[str, str]  # static path -> URL


def _kiosk_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for finder in finders.get_finders():
        for path, storage in finder.list(ignore_patterns=None):
            if path.startswith(PREFIX) and path.endswith(CACHED_SUFFIXES) and path not in found:
                found[path] = Path(storage.path(path))
    return dict(sorted(found.items()))


def _build() -> Build:
    files = _kiosk_files()
    digest = hashlib.sha256()
    for path, file in files.items():
        digest.update(path.encode())
        digest.update(file.read_bytes())
    for name in TEMPLATES:
        digest.update(Path(get_template(name).origin.name).read_bytes())
    static_url = settings.STATIC_URL
    return Build(
        version=f"{APP_VERSION}+{digest.hexdigest()[:10]}",
        assets={path: f"{static_url}{path}" for path in files},
    )


@lru_cache(maxsize=1)
def _cached_build() -> Build:
    return _build()


def current_build() -> Build:
    # In development the files change under a running server; in production they do not.
    return _build() if settings.DEBUG else _cached_build()


def _no_cache(response):
    patch_cache_control(response, no_cache=True)
    return response


@require_safe
def shell(request):
    build = current_build()
    urls = {
        "pair": reverse("kiosk:pair"),
        "config": reverse("kiosk:config"),
        "batch": reverse("kiosk:response-batch"),
        "heartbeat": reverse("kiosk:heartbeat"),
        "sw": reverse("kiosk_app:service-worker"),
        "scope": reverse("kiosk_app:shell"),
    }
    context = {
        "version": build.version,
        "urls_json": json.dumps(urls),
        "css": build.assets["kiosk/kiosk.css"],
        "app": build.assets["kiosk/app.js"],
        "icon": build.assets["kiosk/icons/icon.svg"],
        "theme": THEME,
    }
    return _no_cache(render(request, "kiosk/shell.html", context))


@require_safe
def service_worker(request):
    build = current_build()
    shell_url = reverse("kiosk_app:shell")
    setup = {
        "version": build.version,
        "shell": shell_url,
        "config": reverse("kiosk:config"),
        "media": settings.MEDIA_URL,
        "precache": [shell_url, reverse("kiosk_app:manifest"), *build.assets.values()],
    }
    response = render(
        request,
        "kiosk/sw.js",
        {"setup": json.dumps(setup, indent=1)},
        content_type="text/javascript; charset=utf-8",
    )
    # The widest scope this worker may take: the kiosk app, nothing else on the site.
    response["Service-Worker-Allowed"] = shell_url
    # The browser looks for a new worker on every visit: no cache may hand it a stale one.
    return _no_cache(response)


@require_safe
def manifest(request):
    build = current_build()
    shell_url = reverse("kiosk_app:shell")
    icons = [
        {"src": build.assets["kiosk/icons/icon-192.png"], "sizes": "192x192", "type": "image/png"},
        {"src": build.assets["kiosk/icons/icon-512.png"], "sizes": "512x512", "type": "image/png"},
        {
            "src": build.assets["kiosk/icons/icon-maskable-512.png"],
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    data = {
        "name": "CXHub Kiosk",
        "short_name": "Kiosk",
        "id": shell_url,
        "start_url": shell_url,
        "scope": shell_url,
        "display": "fullscreen",
        "orientation": "any",
        "background_color": BACKGROUND,
        "theme_color": THEME,
        "icons": icons,
    }
    response = JsonResponse(data, content_type="application/manifest+json")
    return _no_cache(response)
