"""What the Celery workers leave in Redis for the web processes to report: a heartbeat,
the failures per task, and the depth of each queue.

Kept in Redis rather than in a process's memory because workers and web processes may run
on different machines; every web process then reports the same figures.
"""

import time
from functools import cache

from django.conf import settings

HEARTBEAT_SECONDS = 15
HEARTBEAT_KEY = "cxhub:worker-heartbeat"
FAILURES_KEY = "cxhub:task-failures"
# kombu's Redis transport keeps a queue's tasks of priority p in "<queue>\x06\x16<p>"; the
# default priority uses the bare name (kombu.transport.redis.PRIORITY_STEPS).
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


@cache
def redis():
    import redis as redis_py

    return redis_py.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def beat(hostname: str) -> None:
    # One key for all workers: readiness asks "is any worker alive?", and the value says who.
    redis().set(HEARTBEAT_KEY, f"{time.time()} {hostname}", ex=HEARTBEAT_SECONDS * 20)


def heartbeat_age() -> float | None:
    value = redis().get(HEARTBEAT_KEY)
    if not value:
        return None
    return max(0.0, time.time() - float(value.split()[0]))


def record_failure(task_name: str) -> None:
    redis().hincrby(FAILURES_KEY, task_name, 1)


def task_failures() -> dict[str, int]:
    return {k.decode(): int(v) for k, v in redis().hgetall(FAILURES_KEY).items()}


def queue_depths() -> dict[str, int]:
    client = redis()
    depths = {}
    with client.pipeline(transaction=False) as pipe:
        names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        for name in names:
            pipe.llen(name)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{name}{_PRIORITY_SEP}{step}")
        counts = pipe.execute()
    per_queue = 1 + len(_PRIORITY_STEPS)
    for index, name in enumerate(names):
        depths[name] = sum(counts[index * per_queue : (index + 1) * per_queue])
    return depths
