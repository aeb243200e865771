"""Health for load balancers and monitors, and /metrics for Prometheus.

/healthz says the process answers (liveness) and touches nothing else. /readyz checks what
serving depends on. Only PostgreSQL decides readiness: without it nothing can be stored,
while without Redis or a worker responses are still stored and rollups and alerts catch up
later (README, "How the figures stay exact and fresh"), so taking every web process out of
the load balancer then would lose answers instead of saving them. The other checks are
reported, and `?strict=1` turns any of them into a 503 for a monitor that pages someone.
"""

import contextlib
import hmac
import ipaddress
import time

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection
from django.db.models import Min
from django.http import HttpResponse, JsonResponse
from django.urls import resolve
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError

from . import observability, worker_state
from .clients import client_address

REDIS_DOWN = (RedisError, OSError)

# A worker writes its heartbeat every HEARTBEAT_SECONDS (cxhub.worker_state).
WORKER_STALE_SECONDS = 3 * worker_state.HEARTBEAT_SECONDS
# The sweep runs every ROLLUP_SWEEP_SECONDS (15 s); a mark older than a few sweeps is lag.
ROLLUP_LAG_WARN_SECONDS = 120
QUEUE_DEPTH_WARN = 10_000


@require_GET
@never_cache
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@require_GET
@never_cache
def readyz(request):
    checks = {
        "database": _check_database(),
        "redis": _check_redis(),
        "worker": _check_worker(),
        "rollup_lag": _check_rollup_lag(),
        "queue_depth": _check_queue_depth(),
    }
    strict = request.GET.get("strict") in ("1", "true", "yes")
    failing = [name for name, check in checks.items() if check["status"] == "down"]
    degraded = [name for name, check in checks.items() if check["status"] != "ok"]
    ready = "database" not in failing and not (strict and degraded)
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return {"status": "down", "error": type(error).__name__}
    return {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"status": "ok", "detail": "not configured: tasks run in-process"}
    try:
        worker_state.redis().ping()
    except REDIS_DOWN as error:
        return {"status": "down", "error": type(error).__name__}
    return {"status": "ok"}


def _check_worker() -> dict:
    if not settings.REDIS_URL:
        return {"status": "ok", "detail": "not configured: tasks run in-process"}
    try:
        age = worker_state.heartbeat_age()
    except REDIS_DOWN as error:
        return {"status": "down", "error": type(error).__name__}
    if age is None:
        return {"status": "down", "detail": "no worker has reported"}
    status = "ok" if age <= WORKER_STALE_SECONDS else "down"
    return {"status": status, "last_heartbeat_seconds": round(age, 1)}


def oldest_dirty_age() -> float:
    from metrics.models import DirtyBucket

    oldest = DirtyBucket.objects.aggregate(oldest=Min("marked_at"))["oldest"]
    return max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0


def _check_rollup_lag() -> dict:
    try:
        age = oldest_dirty_age()
    except DatabaseError as error:
        return {"status": "down", "error": type(error).__name__}
    status = "ok" if age <= ROLLUP_LAG_WARN_SECONDS else "degraded"
    return {"status": status, "oldest_dirty_bucket_seconds": round(age, 1)}


def _check_queue_depth() -> dict:
    if not settings.REDIS_URL:
        return {"status": "ok", "detail": "not configured: tasks run in-process"}
    try:
        depths = worker_state.queue_depths()
    except REDIS_DOWN as error:
        return {"status": "down", "error": type(error).__name__}
    status = "ok" if sum(depths.values()) <= QUEUE_DEPTH_WARN else "degraded"
    return {"status": status, "queues": depths}


class StateCollector:
    """Figures read when Prometheus scrapes: they live in PostgreSQL and Redis, not in any
    one process, so every web process reports the same values."""

    def collect(self):
        lag = GaugeMetricFamily(
            "cxhub_rollup_lag_seconds", "Age of the oldest rollup bucket waiting to be refreshed"
        )
        # A scrape must not fail because PostgreSQL or Redis is away: readyz says so.
        with contextlib.suppress(DatabaseError):
            lag.add_metric([], oldest_dirty_age())
        yield lag
        if not settings.REDIS_URL:
            return
        depth = GaugeMetricFamily(
            "cxhub_celery_queue_depth", "Tasks waiting in a Celery queue", labels=["queue"]
        )
        failures = CounterMetricFamily(
            "cxhub_task_failures", "Celery tasks that failed for good", labels=["task"]
        )
        worker_age = GaugeMetricFamily(
            "cxhub_worker_heartbeat_age_seconds", "Seconds since a Celery worker last reported"
        )
        with contextlib.suppress(*REDIS_DOWN):
            for queue, count in worker_state.queue_depths().items():
                depth.add_metric([queue], count)
            for task, count in worker_state.task_failures().items():
                failures.add_metric([task], count)
            age = worker_state.heartbeat_age()
            if age is not None:
                worker_age.add_metric([], age)
        yield depth
        yield failures
        yield worker_age


def _may_scrape(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        offered = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(offered.encode(), token.encode())
    # Without a token, only a scraper inside the private network, reaching this process
    # directly: a request that came through the public proxy carries X-Forwarded-For.
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return address.is_private or address.is_loopback


@require_GET
@never_cache
def metrics(request):
    if not _may_scrape(request):
        return HttpResponse("Forbidden: set METRICS_TOKEN to scrape.", status=403)
    registry = CollectorRegistry()
    multiprocess_dir = observability.prometheus_multiprocess_dir()
    if multiprocess_dir:
        MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry = PROCESS_REGISTRY
    output = generate_latest(registry) + generate_latest(_state_registry())
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def _state_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector())
    return registry


class ProbeMiddleware:
    """Answers the probes before anything checks the Host header: load balancers and
    Prometheus reach a web process by its address (Host: 10.0.3.7:8000), which
    ALLOWED_HOSTS rightly refuses everywhere else. Early, too, so that a probe costs no
    session, CSRF or language work."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.probes = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}

    def __call__(self, request):
        view = self.probes.get(request.path_info)
        if view is None:
            return self.get_response(request)
        request.resolver_match = resolve(request.path_info)
        return view(request)
