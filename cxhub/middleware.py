import time

from django.conf import settings
from django.http import JsonResponse
from django.utils import translation

from cxhub.api import RETRY_AFTER_SECONDS
from locations.selectors import saved_language


class BodySizeLimitMiddleware:
    """Answer 413 from the declared length, before a large body is read at all.

    CXHUB_MAX_BODY_BYTES maps path prefixes to limits; the longest matching prefix wins.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limits = sorted(settings.CXHUB_MAX_BODY_BYTES.items(), key=lambda kv: -len(kv[0]))

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
        for prefix, limit in self.limits:
            if request.path.startswith(prefix):
                if length > limit:
                    return JsonResponse(
                        {"detail": f"The request body is too large (at most {limit} bytes)."},
                        status=413,
                    )
                break
        return self.get_response(request)


class ShedStaleRequestsMiddleware:
    """Under overload, answer 503 at once to a request that waited too long in the queue
    before any worker took it, instead of doing its work for a client that has given up.

    The proxy stamps when it received the request (nginx: `proxy_set_header
    X-Request-Start "t=${msec}";`). Without shedding, an overloaded server spends itself on
    requests whose kiosks timed out and resent them, and answers nobody in time; with it,
    the kiosks keep their responses and retry later (API.md: 503), and the requests that
    did not wait are served in time.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.CXHUB_QUEUE_TIMEOUT_SECONDS

    def __call__(self, request):
        waited = queue_seconds(request.META.get("HTTP_X_REQUEST_START", ""))
        if self.limit and waited is not None and waited > self.limit:
            return JsonResponse(
                {"detail": "The server is overloaded; keep it and retry."},
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return self.get_response(request)


def queue_seconds(stamp: str) -> float | None:
    """Seconds since `t=<unix time>` (seconds with a fraction, or milli- or microseconds, as
    proxies write it); None for a missing or unreadable stamp."""
    try:
        value = float(stamp.removeprefix("t="))
    except ValueError:
        return None
    now = time.time()
    for scale in (1, 1e3, 1e6):  # the unit that lands within a day of now
        if abs(value / scale - now) < 86400:
            return now - value / scale
    return None


class RefuseNulMiddleware:
    """Answer 400 to a NUL character in a page's address: no URL of ours has one, and
    PostgreSQL cannot compare text holding it, so a store code or filter carrying one would
    otherwise fail deep in a query. The API checks its own parameters and names the field;
    bodies are checked where they are read (forms refuse NUL)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        in_query = not request.path.startswith("/api/") and ("%00" in query or "\x00" in query)
        if "\x00" in request.path or in_query:
            return JsonResponse({"detail": "The address holds a NUL character."}, status=400)
        return self.get_response(request)


class UserLanguageMiddleware:
    """Speak a signed-in person's saved language, whatever the browser or cookie says.

    LocaleMiddleware (earlier) has already chosen from the cookie and Accept-Language; this
    overrides that choice for people who saved one. A blank preference follows the browser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = saved_language(request.user) if request.user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
