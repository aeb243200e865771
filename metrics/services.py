"""Keeping rollups equal to what the raw responses say.

Recording a response marks its bucket (location × local day × local hour) dirty and asks a
worker to refresh it. A refresh recomputes the bucket from raw rows inside one transaction
and replaces what was there, so running it twice, retrying it or killing it half-way can
never leave a wrong count: the next run simply computes the same rows again.
"""

import contextlib
import logging
import time
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


# One refresh queued at a time, for every marked bucket: a refresh recomputes all the marked
# buckets in the same few statements, so a busy minute costs the worker a refresh every few
# seconds rather than one per response (docs/benchmarks.md, freshness). The guard is
# released as the refresh starts, so a commit during it queues the next one. It expires, and
# marks stay the source of truth: a lost task is caught by the sweep.
QUEUED_KEY = "rollup-refresh-queued"
QUEUED_SECONDS = 60
SWEEP_LOCK = "rollup-sweep-running"
# Buckets per transaction: large enough that a refresh is a few statements whatever the
# load, small enough that a transaction holds its locations' locks for well under a second.
BATCH = 250
# A refresh hands over to the next task after this long, so one backlog cannot hold a
# worker process past the task time limit.
BUDGET_SECONDS = 30


def request_refresh() -> None:
    """Ask a worker to refresh the marked buckets, unless a refresh is queued already;
    called once a marking transaction commits.

    If the broker is down the marks stay in the database and the periodic sweep refreshes
    the buckets once workers can be reached again: no figure is lost, only delayed."""
    from .tasks import refresh_marked_task

    try:
        if not cache.add(QUEUED_KEY, 1, QUEUED_SECONDS):
            return
    except Exception:  # the cache is the broker's Redis; if it fails, enqueue regardless
        log.warning("could not check for a queued rollup refresh", exc_info=True)
    try:
        # A short delay lets one refresh cover the responses that arrive meanwhile (the
        # guard above holds until the task starts).
        refresh_marked_task.apply_async(countdown=settings.ROLLUP_REFRESH_DELAY_SECONDS)
    except Exception:  # any broker failure: the sweep catches up
        log.warning("could not enqueue a rollup refresh; the sweep will do it", exc_info=True)
        release_queued()


def release_queued() -> None:
    """Let the next commit queue a refresh again. A refresh calls this before it reads the
    marks, so a response committed while it runs is not left waiting."""
    try:
        cache.delete(QUEUED_KEY)
    except Exception:  # expiry releases it anyway
        log.warning("could not release the queued rollup refresh", exc_info=True)


# --- refreshing --------------------------------------------------------------------------


def refresh_marked(*, older_than: timedelta | None = None, limit: int | None = None) -> int:
    """Refresh marked buckets, oldest mark first (only marks older than `older_than`, and at
    most `limit`, when given); returns how many buckets it recomputed. Goes on while there
    are marks, up to BUDGET_SECONDS, then queues the next refresh for the rest."""
    deadline = time.monotonic() + BUDGET_SECONDS
    done = seen = 0
    while limit is None or seen < limit:
        marks = DirtyBucket.objects.order_by("marked_at")
        if older_than is not None:
            marks = marks.filter(marked_at__lte=timezone.now() - older_than)
        size = BATCH if limit is None else min(BATCH, limit - seen)
        keys = list(marks.values_list("location_id", "day", "hour")[:size])
        seen += len(keys)
        done += refresh_buckets(keys)
        if len(keys) < size:
            break
        if time.monotonic() > deadline:
            request_refresh()
            break
    return done


def refresh_buckets(keys: Iterable[BucketKey]) -> int:
    """Refresh the given buckets that are still marked; returns how many it recomputed.
    Buckets no longer marked were refreshed by someone else in the meantime: skipped."""
    keys = sorted(set(keys))
    return sum(_refresh(keys[i : i + BATCH]) for i in range(0, len(keys), BATCH))


def _refresh(keys: list[BucketKey]) -> int:
    with transaction.atomic():
        # One recompute per location at a time, taken in id order (no deadlock): two
        # workers on the same bucket would otherwise both delete and both insert. NO KEY
        # UPDATE, so that kiosks inserting responses (whose foreign key takes KEY SHARE on
        # this row) are never held up.
        locked = set(
            Location.objects.select_for_update(no_key=True)
            .filter(pk__in={location_id for location_id, _, _ in keys})
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        generations = _generations([key for key in keys if key[0] in locked])
        if not generations:
            return 0
        rollup_sql.fill_all(rollup_sql.Buckets(tuple(sorted(generations))))
        _unmark(generations)
    return len(generations)


def _generations(keys: list[BucketKey]) -> dict[BucketKey, int]:
    """The generation of each of these buckets that is still marked, read under the locks."""
    if not keys:
        return {}
    where, params = rollup_sql.Buckets(tuple(keys)).where()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT location_id, day, hour, generation FROM {DirtyBucket._meta.db_table} "
            f"WHERE {where}",
            params,
        )
        rows = cursor.fetchall()
    return {
        # SQLite (the demo) hands dates back as text.
        (location_id, date.fromisoformat(day) if isinstance(day, str) else day, hour): generation
        for location_id, day, hour, generation in rows
    }


def _unmark(generations: dict[BucketKey, int]) -> None:
    """Remove the marks refreshed, unless something marked them again meanwhile."""
    where, params = rollup_sql.any_of(
        ("location_id", "day", "hour", "generation"),
        [(*key, generation) for key, generation in sorted(generations.items())],
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DirtyBucket._meta.db_table} WHERE {where}", params)


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
    """Refresh buckets whose refresh never ran (broker down, task lost); younger marks are
    left to the refresh queued for them. One sweep at a time, so that a worker behind its
    queue is not also handed a pile of sweeps by beat."""
    try:
        if not cache.add(SWEEP_LOCK, 1, settings.CELERY_TASK_TIME_LIMIT):
            return 0
    except Exception:  # no cache: sweep regardless, as when the broker is down
        log.warning("could not take the sweep lock; sweeping anyway", exc_info=True)
    try:
        return refresh_marked(older_than=older_than, limit=limit)
    finally:
        with contextlib.suppress(Exception):
            cache.delete(SWEEP_LOCK)


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
        written = _rebuild_every_location(
            max(first, date_from or first), min(last, date_to or last), progress
        )
        vacuum_rollups()
        return written

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


def vacuum_rollups() -> None:
    """After a rebuild of every location most rollup rows are new. VACUUM reclaims the old
    ones and marks the pages all-visible, so that reads are answered from the covering
    indexes alone (metrics.models.SUMMED) at once rather than once autovacuum comes round;
    ANALYZE gives the planner the new tables' statistics. PostgreSQL only, and not inside a
    transaction (VACUUM cannot run in one)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    tables = ", ".join(model._meta.db_table for model in rollup_sql.ROLLUP_MODELS)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


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
