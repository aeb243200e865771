"""Celery adapters: each task is one service call. Task arguments are ids and ISO strings."""

from datetime import date

from celery import shared_task
from django.db import DatabaseError

from . import digests, services

# Every task here recomputes from raw rows, so a retry or a second delivery is harmless.
RETRYING = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


@shared_task(**RETRYING)
def refresh_marked_task() -> int:
    services.release_queued()
    return services.refresh_marked()


# What earlier versions queued, one task per commit; kept so that an upgrade drains the
# tasks they left queued.
@shared_task(**RETRYING)
def refresh_buckets_task(keys: list[list]) -> int:
    return services.refresh_buckets([(loc, date.fromisoformat(d), hour) for loc, d, hour in keys])


@shared_task(**RETRYING)
def sweep_dirty_buckets_task() -> int:
    return services.sweep_dirty_buckets()


@shared_task(**RETRYING)
def reconcile_recent_task() -> int:
    return services.reconcile_recent()


@shared_task(**RETRYING)
def send_digests_task(frequency: str) -> int:
    return digests.send(frequency)
