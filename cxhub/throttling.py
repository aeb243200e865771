"""Rate limits that read their rate from settings at call time and fail open.

Throttle state lives in the cache (Redis in production). If Redis is down we would rather
accept a kiosk's response than refuse it, so a cache error lets the request through.
"""

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


class _SettingsRateThrottle(SimpleRateThrottle):
    setting_name = ""

    def get_rate(self):
        return getattr(settings, self.setting_name)

    def allow_request(self, request, view):
        # DRF reads the rate once per instance; read it per request so settings can change.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:
            log.warning("throttle cache unavailable; allowing request", exc_info=True)
            return True


class KioskRateThrottle(_SettingsRateThrottle):
    """Per kiosk: a runaway tablet cannot flood the server."""

    scope = "kiosk"
    setting_name = "CXHUB_KIOSK_RATE"

    def get_cache_key(self, request, view):
        kiosk = request.auth
        return self.cache_format % {"scope": self.scope, "ident": getattr(kiosk, "pk", "none")}


class PairingRateThrottle(_SettingsRateThrottle):
    """Per address: pairing codes are short, so guessing them must be slow."""

    scope = "pairing"
    setting_name = "CXHUB_PAIRING_RATE"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
