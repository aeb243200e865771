"""Production gunicorn settings, every one overridable from the environment.

docker-compose and bench/ run `gunicorn -c gunicorn.conf.py cxhub.wsgi`. The defaults were
measured with bench/ingest.py on a 2-core machine that also runs PostgreSQL and Redis
(docs/benchmarks.md). They assume a buffering reverse proxy in front (nginx, Caddy): a sync
worker serves one connection at a time, so a slow phone upload must not reach it directly.
Without such a proxy, use GUNICORN_WORKER_CLASS=gthread with GUNICORN_THREADS=4.
"""

import os
import shutil
import tempfile


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError as error:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from error


def _cores() -> int:
    # The cores this process may run on (a container's cpuset), not the host's.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# A kiosk request is CPU-bound in Python (about 12 ms) with short waits on PostgreSQL and
# Redis, so processes, not threads, use the cores; a few more processes than cores cover the
# waits. 3, 4, 5 and 8 workers measured alike on 2 cores, beyond that they only add memory
# and database connections (each worker keeps one open, DB_CONN_MAX_AGE).
workers = _int("GUNICORN_WORKERS", 2 * _cores() + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _int("GUNICORN_THREADS", 1)

# A request that takes this long is stuck: the worker is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Recycle workers now and then so a slow leak cannot grow forever; the jitter keeps them
# from all restarting at the same moment.
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 500)

# Import Django once in the master: workers fork ready to serve, which also makes a recycled
# worker available at once. Nothing opens a database or broker connection at import time.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() not in ("0", "false", "no")

# The heartbeat file lives in memory: a container's overlay disk can stall it into timeouts.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Recent gunicorn opens a control socket (for gunicornc) at one fixed path per user, which
# two servers on a host would fight over: only when asked for. Older versions ignore both.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Django writes one JSON access line per request, with its request id
# (cxhub.observability); gunicorn's own access log would say it twice, so it is off unless
# asked for. gunicorn's error log (worker starts, timeouts, kills) is JSON like the rest.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'
if os.environ.get("LOG_FORMAT", "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "cxhub.logs.RedactingJsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
    if accesslog:
        logconfig_dict["loggers"]["gunicorn.access"] = {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
        }

# Prometheus: each worker process counts its own requests into files in this folder, and
# /metrics adds them up (prometheus_client's multiprocess mode). Set before the app is
# imported, emptied at start so a restart does not count old workers twice.
_own_prometheus_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_prometheus_dir:
    _base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cxhub-prometheus-", dir=_base)
else:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for _name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
        if _name.endswith(".db"):
            os.remove(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], _name))


def child_exit(server, worker):
    # A dead worker's live gauges must not be reported any more; its counters stay summed.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    # A folder this server made for itself goes with it (it lives in memory, in /dev/shm).
    if _own_prometheus_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
