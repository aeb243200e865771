"""Keeping rollups equal to what the raw responses say.

Recording a response marks its bucket (location × local day × local hour) dirty and asks a
worker to refresh it. A refresh recomputes the bucket from raw rows inside one transaction
and replaces what was there, so running it twice, retrying it or killing it half-way can
never leave a wrong count: the next run simply computes the same rows again.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Max, Min, Sum
from django.utils import timezone

from locations.models import Location
from surveys.models import SCALES, Answer, SurveyResponse

from .models import ChoiceRollup, DailyRollup, DirtyBucket, HourlyRollup

log = logging.getLogger(__name__)

BucketKey = tuple[int, date, int]  # location id, local day, local hour
BIN_FIELDS = HourlyRollup.BIN_FIELDS
LOW = {kind: low for kind, (low, _high) in SCALES.items()}


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


def request_refresh(keys: Iterable[BucketKey]) -> None:
    """Ask a worker to refresh marked buckets; called once the marking transaction commits.

    If the broker is down the marks stay in the database and the periodic sweep refreshes
    the buckets once workers can be reached again: no figure is lost, only delayed."""
    from .tasks import refresh_buckets_task

    keys = sorted(set(keys))
    try:
        refresh_buckets_task.delay([[loc, day.isoformat(), hour] for loc, day, hour in keys])
    except Exception:  # any broker failure: the sweep catches up
        log.warning("could not enqueue a rollup refresh; the sweep will do it", exc_info=True)


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
    unless one of those buckets is still marked. Returns the number of buckets computed."""
    with transaction.atomic():
        # One recompute per location at a time: two workers on the same bucket would
        # otherwise both delete and both insert. NO KEY UPDATE, so that kiosks inserting
        # responses (whose foreign key takes KEY SHARE on this row) are never held up.
        location = Location.objects.select_for_update(no_key=True).filter(pk=location_id).first()
        if location is None:
            return 0
        days = {"day__gte": date_from, "day__lte": date_to}
        marks = DirtyBucket.objects.filter(location_id=location_id, **days)
        if hours is not None:
            marks = marks.filter(hour__in=hours)
        generations = list(marks.values_list("day", "hour", "generation"))
        if only_dirty and not generations:
            return 0

        answers = Answer.objects.filter(
            response__location_id=location_id,
            response__local_day__gte=date_from,
            response__local_day__lte=date_to,
        )
        stale = [
            model.objects.filter(location_id=location_id, **days)
            for model in (HourlyRollup, ChoiceRollup)
        ]
        if hours is not None:
            answers = answers.filter(response__local_hour__in=hours)
            stale = [rows.filter(hour__in=hours) for rows in stale]
        hourly, choice = compute_rollups(
            location.organization_id, location_id, _answer_rows(answers)
        )
        for rows in stale:
            rows.delete()
        HourlyRollup.objects.bulk_create(hourly, batch_size=5000)
        ChoiceRollup.objects.bulk_create(choice, batch_size=5000)
        if hours is None:
            DailyRollup.objects.filter(location_id=location_id, **days).delete()
            DailyRollup.objects.bulk_create(_daily_from(hourly), batch_size=5000)
        else:
            _refresh_daily_from_table(location, date_from)

        for day, hour, generation in generations:
            DirtyBucket.objects.filter(
                location_id=location_id, day=day, hour=hour, generation=generation
            ).delete()
    return len({(r.day, r.hour) for r in hourly}) or len(generations)


def _answer_rows(answers):
    return answers.values_list(
        "response_id",
        "response__local_day",
        "response__local_hour",
        "response__touchpoint_id",
        "response__staff_id",
        "question",
        "kind",
        "score",
        "choices",
    ).order_by()


def compute_rollups(organization_id, location_id, rows) -> tuple[list, list]:
    """Hourly histograms and choice counts from raw answer rows (pure: no queries).

    rows: (response id, day, hour, touchpoint id, staff id, question, kind, score, choices)."""
    hist: dict[tuple, list[int]] = {}
    nps_of: dict = {}
    picks = []
    for response_id, day, hour, touchpoint_id, staff_id, question, kind, score, choices in rows:
        if kind in LOW and score is not None:
            bins = hist.setdefault((day, hour, touchpoint_id, staff_id, question, kind), [0] * 11)
            bins[score - LOW[kind]] += 1
            # The first NPS question (by key) is "the NPS of the same response".
            if kind == "nps" and (response_id not in nps_of or question < nps_of[response_id][0]):
                nps_of[response_id] = (question, score)
        elif kind == "choice" and choices:
            picks.append((response_id, day, hour, touchpoint_id, staff_id, question, choices))

    hourly = [
        HourlyRollup(
            organization_id=organization_id,
            location_id=location_id,
            day=day,
            hour=hour,
            touchpoint_id=touchpoint_id,
            staff_id=staff_id,
            question=question,
            kind=kind,
            n=sum(bins),
            **dict(zip(BIN_FIELDS, bins, strict=True)),
        )
        for (day, hour, touchpoint_id, staff_id, question, kind), bins in hist.items()
    ]

    counts: dict[tuple, dict[str, int]] = {}
    for response_id, day, hour, touchpoint_id, staff_id, question, choices in picks:
        group = _nps_group(nps_of.get(response_id))
        for choice in choices:
            key = (day, hour, touchpoint_id, staff_id, question, choice)
            tally = counts.setdefault(
                key, dict.fromkeys(("promoters", "passives", "detractors", "unrated"), 0)
            )
            tally[group] += 1
    choice_rows = [
        ChoiceRollup(
            organization_id=organization_id,
            location_id=location_id,
            day=day,
            hour=hour,
            touchpoint_id=touchpoint_id,
            staff_id=staff_id,
            question=question,
            choice=choice,
            **tally,
        )
        for (day, hour, touchpoint_id, staff_id, question, choice), tally in counts.items()
    ]
    return hourly, choice_rows


def _nps_group(nps: tuple[str, int] | None) -> str:
    if nps is None:
        return "unrated"
    score = nps[1]
    return "promoters" if score >= 9 else "passives" if score >= 7 else "detractors"


def _daily_from(hourly: list[HourlyRollup]) -> list[DailyRollup]:
    sums: dict[tuple, list[int]] = {}
    first: dict[tuple, HourlyRollup] = {}
    for row in hourly:
        key = (row.day, row.touchpoint_id, row.question, row.kind)
        bins = sums.setdefault(key, [0] * 11)
        first.setdefault(key, row)
        for i, name in enumerate(BIN_FIELDS):
            bins[i] += getattr(row, name)
    return [
        DailyRollup(
            organization_id=first[key].organization_id,
            location_id=first[key].location_id,
            day=key[0],
            touchpoint_id=key[1],
            question=key[2],
            kind=key[3],
            n=sum(bins),
            **dict(zip(BIN_FIELDS, bins, strict=True)),
        )
        for key, bins in sums.items()
    ]


def _refresh_daily_from_table(location: Location, day: date) -> None:
    totals = (
        HourlyRollup.objects.filter(location=location, day=day)
        .values("touchpoint_id", "question", "kind")
        .annotate(total=Sum("n"), **{f"s{f}": Sum(f) for f in BIN_FIELDS})
        .order_by()
    )
    DailyRollup.objects.filter(location=location, day=day).delete()
    DailyRollup.objects.bulk_create(
        DailyRollup(
            organization_id=location.organization_id,
            location=location,
            day=day,
            touchpoint_id=row["touchpoint_id"],
            question=row["question"],
            kind=row["kind"],
            n=row["total"],
            **{f: row[f"s{f}"] for f in BIN_FIELDS},
        )
        for row in totals
    )


# --- sweeping, reconciling, rebuilding --------------------------------------------------


def sweep_dirty_buckets(*, older_than: timedelta = timedelta(seconds=10), limit: int = 2000) -> int:
    """Refresh buckets whose refresh never ran (broker down, task lost). Younger marks are
    left to the task their own commit enqueued."""
    cutoff = timezone.now() - older_than
    keys = list(
        DirtyBucket.objects.filter(marked_at__lte=cutoff)
        .order_by("marked_at")
        .values_list("location_id", "day", "hour")[:limit]
    )
    return refresh_buckets(keys)


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


REBUILD_CHUNK_DAYS = 31


def rebuild_rollups(
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    location_ids: Iterable[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every rollup in the range from raw rows, a location and a month at a time
    (each in its own transaction, so memory stays bounded), including days whose responses
    were all deleted. Returns the number of buckets computed."""
    spans = SurveyResponse.objects.values("location_id").annotate(
        first=Min("local_day"), last=Max("local_day")
    )
    rolled = HourlyRollup.objects.values("location_id").annotate(first=Min("day"), last=Max("day"))
    if location_ids is not None:
        ids = list(location_ids)
        spans, rolled = spans.filter(location_id__in=ids), rolled.filter(location_id__in=ids)
    extent: dict[int, tuple[date, date]] = {}
    for row in [*spans.order_by(), *rolled.order_by()]:
        a, b = extent.get(row["location_id"], (row["first"], row["last"]))
        extent[row["location_id"]] = (min(a, row["first"]), max(b, row["last"]))
    chunks = []
    for location_id, (first, last) in sorted(extent.items()):
        first, last = max(first, date_from or first), min(last, date_to or last)
        while first <= last:
            end = min(first + timedelta(days=REBUILD_CHUNK_DAYS - 1), last)
            chunks.append((location_id, first, end))
            first = end + timedelta(days=1)
    buckets = 0
    for done, (location_id, first, last) in enumerate(chunks, start=1):
        buckets += recompute(location_id, first, last)
        DirtyBucket.objects.filter(location_id=location_id, day__gte=first, day__lte=last).delete()
        if progress:
            progress(done, len(chunks))
    return buckets
