"""The client's address, as sign-in lockout and rate limits see it.

Behind TRUSTED_PROXY_COUNT proxies, each proxy appends the address it received from to
X-Forwarded-For, so the client is that many entries from the right; anything further left
was written by the client and proves nothing. With no proxy, REMOTE_ADDR is the client.
"""

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from django.conf import settings


def client_address(request) -> str:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


class AuditlogMiddleware(_AuditlogMiddleware):
    """django-auditlog's middleware, recording the client address as cxhub sees it: the
    original trusts the left-most X-Forwarded-For entry, which any client can write."""

    @staticmethod
    def _get_remote_addr(request):
        return client_address(request) or None
