"""Keeping rollups equal to what the raw responses say.

Recording a response marks its bucket (location × local day × local hour) dirty and asks a
worker to refresh it. A refresh recomputes the bucket from raw rows inside one transaction
and replaces what was there, so running it twice, retrying it or killing it half-way can
never leave a wrong count: the next run simply computes the same rows again.
"""

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from locations.models import Location
from surveys.models import SurveyResponse

from . import rollup_sql
from .models import DirtyBucket, HourlyRollup

log = logging.getLogger(__name__)

BucketKey = tuple[int, date, int]  # location id, local day, local hour


# --- marking -----------------------------------------------------------------------------


def mark_dirty(keys: Iterable[BucketKey]) -> None:
    """Mark buckets dirty, bumping the generation of those already marked.

    Keys are written in sorted order so two transactions marking overlapping buckets lock
    them in the same order and cannot deadlock."""
    keys = sorted(set(keys))
    if not keys:
        return
    table = DirtyBucket._meta.db_table
    now = timezone.now()
    values = ", ".join(["(%s, %s, %s, 1, %s)"] * len(keys))
    params = [p for location_id, day, hour in keys for p in (location_id, day, hour, now)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (location_id, day, hour, generation, marked_at) VALUES {values} "
            f"ON CONFLICT (location_id, day, hour) DO UPDATE SET "
            f"generation = {table}.generation + 1, marked_at = excluded.marked_at",
            params,
        )


# A bucket with a refresh already queued needs no second one: the refresh recomputes the
# whole bucket, whatever marked it. Without this guard a busy minute queues one task per
# response and the queue outgrows what the workers can do (docs/benchmarks.md, freshness).
# The guard expires, and marks stay the source of truth: a lost task is caught by the sweep
# once its guard is gone. It outlives a long backlog, so that a busy worker is not handed a
# second refresh of every bucket still waiting for its first.
PENDING_SECONDS = 300
SWEEP_LOCK = "rollup-sweep-running"


def _pending_key(key: BucketKey) -> str:
    location_id, day, hour = key
    return f"rollup-refresh:{location_id}:{day.isoformat()}:{hour}"


def request_refresh(keys: Iterable[BucketKey]) -> None:
    """Ask a worker to refresh marked buckets that have no refresh queued yet; called once
    the marking transaction commits.

    If the broker is down the marks stay in the database and the periodic sweep refreshes
    the buckets once workers can be reached again: no figure is lost, only delayed."""
    from .tasks import refresh_buckets_task

    keys = sorted(set(keys))
    try:
        keys = [key for key in keys if cache.add(_pending_key(key), 1, PENDING_SECONDS)]
    except Exception:  # the cache is the broker's Redis; if it fails, enqueue regardless
        log.warning("could not check for queued rollup refreshes", exc_info=True)
    if not keys:
        return
    try:
        # A short delay lets one refresh cover the responses that arrive meanwhile in the
        # same bucket (the guard above holds until the task starts): at a response a second
        # per store, refreshing at once would cost a refresh per response.
        refresh_buckets_task.apply_async(
            [[[loc, day.isoformat(), hour] for loc, day, hour in keys]],
            countdown=settings.ROLLUP_REFRESH_DELAY_SECONDS,
        )
    except Exception:  # any broker failure: the sweep catches up
        log.warning("could not enqueue a rollup refresh; the sweep will do it", exc_info=True)
        release_pending(keys)


def release_pending(keys: Iterable[BucketKey]) -> None:
    """Let the next commit in these buckets queue a refresh again. A refresh calls this
    before it recomputes, so a response committed while it runs is not left waiting."""
    try:
        cache.delete_many([_pending_key(key) for key in keys])
    except Exception:  # expiry releases them anyway
        log.warning("could not release queued rollup refreshes", exc_info=True)


# --- refreshing --------------------------------------------------------------------------


def refresh_buckets(keys: Iterable[BucketKey]) -> int:
    """Refresh the given buckets that are still dirty; returns how many it recomputed.
    Buckets no longer dirty were refreshed by someone else in the meantime: skipped.

    A single bucket is recomputed alone; a run of consecutive days at one location (a
    kiosk flushing its offline queue) is recomputed in one pass."""
    by_location: dict[int, dict[date, set[int]]] = defaultdict(lambda: defaultdict(set))
    for location_id, day, hour in keys:
        by_location[location_id][day].add(hour)
    done = 0
    for location_id, days in sorted(by_location.items()):
        for first, last in _runs(sorted(days)):
            hours = days[first] if first == last else None
            done += recompute(location_id, first, last, hours, only_dirty=True)
    return done


def _runs(days: list[date]) -> list[tuple[date, date]]:
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def recompute(
    location_id: int,
    date_from: date,
    date_to: date,
    hours: set[int] | None = None,
    *,
    only_dirty: bool = False,
) -> int:
    """Replace one location's rollups for local days date_from..date_to (only `hours` of a
    single day, when given) with what its raw answers say. With only_dirty, do nothing
    unless one of those buckets is still marked. Returns the number of rows written to the
    finest tier (histograms per staff member and hour)."""
    with transaction.atomic():
        # One recompute per location at a time: two workers on the same bucket would
        # otherwise both delete and both insert. NO KEY UPDATE, so that kiosks inserting
        # responses (whose foreign key takes KEY SHARE on this row) are never held up.
        locked = Location.objects.select_for_update(no_key=True).filter(pk=location_id)
        if not locked.values_list("pk", flat=True):
            return 0
        marks = DirtyBucket.objects.filter(
            location_id=location_id, day__gte=date_from, day__lte=date_to
        )
        if hours is not None:
            marks = marks.filter(hour__in=hours)
        generations = list(marks.values_list("day", "hour", "generation"))
        if only_dirty and not generations:
            return 0

        span = rollup_sql.Span(
            location_id, date_from, date_to, tuple(sorted(hours)) if hours is not None else None
        )
        written = rollup_sql.fill_all(span)

        for day, hour, generation in generations:
            DirtyBucket.objects.filter(
                location_id=location_id, day=day, hour=hour, generation=generation
            ).delete()
    return written


# --- sweeping, reconciling, rebuilding --------------------------------------------------


def sweep_dirty_buckets(*, older_than: timedelta = timedelta(seconds=10), limit: int = 2000) -> int:
    """Refresh buckets whose refresh never ran (broker down, task lost). Younger marks, and
    marks whose refresh is still queued, are left to that refresh; one sweep at a time, so
    that a worker behind its queue is not also handed a pile of sweeps by beat."""
    try:
        if not cache.add(SWEEP_LOCK, 1, settings.CELERY_TASK_TIME_LIMIT):
            return 0
    except Exception:  # no cache: sweep regardless, as when the broker is down
        log.warning("could not take the sweep lock; sweeping anyway", exc_info=True)
    try:
        cutoff = timezone.now() - older_than
        keys = list(
            DirtyBucket.objects.filter(marked_at__lte=cutoff)
            .order_by("marked_at")
            .values_list("location_id", "day", "hour")[:limit]
        )
        return refresh_buckets(_without_queued_refresh(keys))
    finally:
        with contextlib.suppress(Exception):
            cache.delete(SWEEP_LOCK)


def _without_queued_refresh(keys: list[BucketKey]) -> list[BucketKey]:
    try:
        queued = cache.get_many([_pending_key(key) for key in keys])
    except Exception:  # the cache is away (so is the broker): every mark is the sweep's
        log.warning("could not read the queued-refresh guards", exc_info=True)
        return keys
    return [key for key in keys if _pending_key(key) not in queued]


def reconcile_recent(*, since: timedelta = timedelta(hours=26)) -> int:
    """Recompute every location-day that received a response recently: heals a mark lost
    between a commit and its on-commit hook (a process killed at that instant)."""
    pairs = (
        SurveyResponse.objects.filter(received_at__gte=timezone.now() - since)
        .values_list("location_id", "local_day")
        .distinct()
        .order_by()
    )
    return sum(recompute(location_id, day, day) for location_id, day in sorted(set(pairs)))


def rebuild_rollups(
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    location_ids: Iterable[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every rollup in the range from raw rows, including days whose responses
    were all deleted. Returns the number of rows written to the finest tier.

    Every location at once is one set of GROUP BYs over the whole range in one transaction:
    a sequential pass over the answers, the fastest way through millions of rows (each
    location's rows are scattered over the table, so going store by store reads them by
    index, page by page). Given locations go a location and a calendar month at a time, each
    in its own transaction."""
    responses = SurveyResponse.objects.all()
    rolled = HourlyRollup.objects.all()
    if location_ids is not None:
        ids = list(location_ids)
        responses, rolled = (
            responses.filter(location_id__in=ids),
            rolled.filter(location_id__in=ids),
        )
    if location_ids is None:
        first, last = _extent(
            responses.aggregate(a=Min("local_day"), b=Max("local_day")),
            rolled.aggregate(a=Min("day"), b=Max("day")),
        )
        if first is None:
            return 0
        return _rebuild_every_location(
            max(first, date_from or first), min(last, date_to or last), progress
        )

    extent: dict[int, tuple[date, date]] = {}
    spans = responses.values("location_id").annotate(first=Min("local_day"), last=Max("local_day"))
    days = rolled.values("location_id").annotate(first=Min("day"), last=Max("day"))
    for row in [*spans.order_by(), *days.order_by()]:
        a, b = extent.get(row["location_id"], (row["first"], row["last"]))
        extent[row["location_id"]] = (min(a, row["first"]), max(b, row["last"]))
    chunks = []
    for location_id, (first, last) in sorted(extent.items()):
        first, last = max(first, date_from or first), min(last, date_to or last)
        # Calendar months, so that each chunk completes the month tier it touches.
        for month in rollup_sql.months_between(first, last):
            chunks.append((location_id, max(first, month), min(rollup_sql.month_end(month), last)))
    rows = 0
    for done, (location_id, first, last) in enumerate(chunks, start=1):
        rows += recompute(location_id, first, last)
        if progress:
            progress(done, len(chunks))
    return rows


def _extent(*ranges: dict) -> tuple[date | None, date | None]:
    firsts = [r["a"] for r in ranges if r["a"] is not None]
    lasts = [r["b"] for r in ranges if r["b"] is not None]
    return (min(firsts), max(lasts)) if firsts else (None, None)


def _rebuild_every_location(date_from: date, date_to: date, progress) -> int:
    if date_from > date_to:
        return 0
    with transaction.atomic():
        # Every location, in id order as each refresh takes its own: no deadlock, and no
        # refresh writes while the rebuild replaces its rows.
        list(Location.objects.select_for_update(no_key=True).order_by("pk").values_list("pk"))
        marks = DirtyBucket.objects.filter(day__gte=date_from, day__lte=date_to)
        generations = list(marks.values_list("location_id", "day", "hour", "generation"))
        written = rollup_sql.fill_all(rollup_sql.Span(None, date_from, date_to), progress)
        for location_id, day, hour, generation in generations:
            DirtyBucket.objects.filter(
                location_id=location_id, day=day, hour=hour, generation=generation
            ).delete()
    return written
