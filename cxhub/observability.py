"""What an operator sees of each request: its id, an access log line, and Prometheus
counters for requests and ingest.

The request id comes from the proxy's X-Request-ID when it sends a sane one (so one id
follows a request through proxy, web and the tasks it queues), else a new one; it goes back
in the response header and travels to Celery tasks in their headers (cxhub.celery).
"""

import logging
import os
import re
import time

from django.core.signals import request_finished
from django.dispatch import receiver
from prometheus_client import Counter, Histogram

from .logs import new_request_id, request_id_var

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

access_log = logging.getLogger("cxhub.access")

# Label by the URL pattern's name, never the raw path: paths carry store codes and ids, and
# one series per id would swamp Prometheus.
HTTP_REQUESTS = Counter(
    "cxhub_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "cxhub_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES_INGESTED = Counter(
    "cxhub_responses_ingested_total",
    "Kiosk responses received, by what became of them",
    ["outcome"],
)


def count_ingested(outcomes) -> None:
    for outcome in outcomes:
        RESPONSES_INGESTED.labels(str(outcome.status)).inc()


class RequestObservabilityMiddleware:
    """First in the chain: every later log line of the request carries its id, and the
    request is counted and timed whatever answers it (a 413, a redirect, a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_ID.match(incoming) else new_request_id()
        # Cleared when the request finishes (below), not here: Django logs a 4xx/5xx answer
        # after the middleware returns, and that line needs the id too.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match else "") or "unmatched"
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_DURATION.labels(request.method, route).observe(elapsed)
        response["X-Request-ID"] = request_id
        access_log.info(
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={
                "request_id": request_id,
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        return response


def prometheus_multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@receiver(request_finished)
def forget_request_id(**kwargs):
    request_id_var.set("")
