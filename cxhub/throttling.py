"""Rate limits: a fixed-window counter per client in the cache, failing open.

DRF's SimpleRateThrottle keeps a list of every request's timestamp and rewrites it on each
request; at hundreds of requests a minute per kiosk that list is the cost. A counter per
window is one atomic increment. Throttle state lives in the cache (Redis in production): if
Redis is down we would rather accept a kiosk's response than refuse it, so a cache error
lets the request through.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" → (600, 60)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


class _WindowThrottle(BaseThrottle):
    scope = ""
    setting_name = ""

    def ident_for(self, request) -> str:
        raise NotImplementedError

    def allow_request(self, request, view):
        limit, period = parse_rate(getattr(settings, self.setting_name))
        now = time.time()
        window = int(now // period)
        self.retry_after = math.ceil((window + 1) * period - now)
        key = f"throttle:{self.scope}:{self.ident_for(request)}:{window}"
        try:
            # add() is a no-op when the key exists; incr() is atomic in Redis.
            cache.add(key, 0, timeout=period + 1)
            return cache.incr(key) <= limit
        except Exception:  # any cache failure: let the request through
            log.warning("throttle cache unavailable; allowing request", exc_info=True)
            return True

    def wait(self):
        return self.retry_after


class KioskRateThrottle(_WindowThrottle):
    """Per kiosk: a runaway tablet cannot flood the server."""

    scope = "kiosk"
    setting_name = "CXHUB_KIOSK_RATE"

    def ident_for(self, request) -> str:
        return str(getattr(request.auth, "pk", "none"))


class PairingRateThrottle(_WindowThrottle):
    """Per address: pairing codes are short, so guessing them must be slow."""

    scope = "pairing"
    setting_name = "CXHUB_PAIRING_RATE"

    def ident_for(self, request) -> str:
        return self.get_ident(request)
