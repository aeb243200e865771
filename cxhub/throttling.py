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

from .clients import client_address

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
            return count_in_window(key, period + 1) <= limit
        except Exception:  # any cache failure: let the request through
            log.warning("throttle cache unavailable; allowing request", exc_info=True)
            return True

    def wait(self):
        return self.retry_after


def count_in_window(key: str, ttl: int) -> int:
    """Add one to a window's counter and return it: one round trip to Redis (INCR and
    EXPIRE pipelined), where add-then-incr through the cache API would take two."""
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None:  # not Redis: the in-memory cache of the demo and some tests
        cache.add(key, 0, timeout=ttl)
        return cache.incr(key)
    full_key = cache.make_and_validate_key(key)
    with client_of(full_key, write=True).pipeline(transaction=False) as pipe:
        pipe.incr(full_key)
        pipe.expire(full_key, ttl)
        count, _ = pipe.execute()
    return count


class KioskRateThrottle(_WindowThrottle):
    """Per kiosk: a runaway tablet cannot flood the server."""

    scope = "kiosk"
    setting_name = "CXHUB_KIOSK_RATE"

    def ident_for(self, request) -> str:
        return str(getattr(request.auth, "pk", "none"))


class KioskAddressRateThrottle(_WindowThrottle):
    """Per address, across kiosks: a stolen token copied to many devices, or a flood from
    one place, is held back even where each token stays under its own rate."""

    scope = "kiosk-address"
    setting_name = "CXHUB_KIOSK_ADDRESS_RATE"

    def ident_for(self, request) -> str:
        return client_address(request)


class PairingRateThrottle(_WindowThrottle):
    """Per address: pairing codes are short, so guessing them must be slow."""

    scope = "pairing"
    setting_name = "CXHUB_PAIRING_RATE"

    def ident_for(self, request) -> str:
        return client_address(request)
