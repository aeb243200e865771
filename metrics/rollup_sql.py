"""The SQL that fills each rollup tier: one INSERT … SELECT … GROUP BY per tier and range.

Rollups are computed where the rows are. Building them in Python cost a model instance per
row and a round of parameter preparation per field (843 s for 5 M responses against 122 s
for the same GROUP BYs in the database, docs/benchmarks.md). The statements run on
PostgreSQL and on SQLite (the demo): only the expansion of a choice answer's JSON list
differs.

Every statement takes what it replaces — a location's day range (every location's, for a
rebuild), or a set of buckets from anywhere (a refresh) — and replaces exactly those rows, so
running it twice changes nothing. A refresh of many buckets is the same handful of
statements as a refresh of one: the worker's cost goes with the statements, not the buckets.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection

from .models import (
    ChoiceDailyRollup,
    ChoiceRollup,
    DailyRollup,
    HourlyRollup,
    MonthHourRollup,
    StaffDailyRollup,
    StoreHourRollup,
    WeekHourRollup,
)

BINS = tuple(f"b{i}" for i in range(11))
_BIN_LIST = ", ".join(BINS)
_SUM_BINS = ", ".join(f"sum({b})" for b in BINS)
# Bin i counts the score (scale low + i): NPS starts at 0, CSAT and CES at 1.
_COUNT_BINS = ", ".join(
    f"count(*) FILTER (WHERE a.score - CASE a.kind WHEN 'nps' THEN 0 ELSE 1 END = {i})"
    for i in range(11)
)
# The NPS group of a choice answer is that of its response's first NPS question by key.
_NPS_OF_RESPONSE = (
    "(SELECT n.score FROM surveys_answer n WHERE n.response_id = a.response_id "
    "AND n.kind = 'nps' AND n.score IS NOT NULL ORDER BY n.question LIMIT 1)"
)
_EXPAND_CHOICES = {
    "postgresql": "CROSS JOIN LATERAL jsonb_array_elements_text(a.choices) AS pick(value)",
    "sqlite": "CROSS JOIN json_each(a.choices) AS pick",
}
_IS_LIST = {
    "postgresql": "jsonb_typeof(a.choices) = 'array'",
    "sqlite": "json_type(a.choices) = 'array'",
}


@dataclass(frozen=True)
class Span:
    """The rows one statement replaces: a location's days (every location's, with
    location_id None), optionally only some hours."""

    location_id: int | None
    date_from: date
    date_to: date
    hours: tuple[int, ...] | None = None

    def where(self, day: str = "day", hour: str | None = "hour", prefix: str = "") -> tuple:
        sql = f"{prefix}{day} BETWEEN %s AND %s"
        params: list = [self.date_from, self.date_to]
        if self.location_id is not None:
            sql = f"{prefix}location_id = %s AND {sql}"
            params.insert(0, self.location_id)
        if self.hours is not None and hour is not None:
            sql += f" AND {prefix}{hour} IN ({', '.join(['%s'] * len(self.hours))})"
            params += list(self.hours)
        return sql, params

    def period_parts(self, period: "Period") -> list[tuple[date, tuple, tuple]]:
        """Per period (month, week) touched: (its first day, the WHERE of its StoreHourRollup
        rows, the WHERE of its rows in the period's tier)."""
        return [
            (
                start,
                Span(self.location_id, start, period.end(start), self.hours).where(),
                Span(self.location_id, start, start, self.hours).where(day=period.column),
            )
            for start in period.starts_between(self.date_from, self.date_to)
        ]


@dataclass(frozen=True)
class Buckets:
    """Location × local day × local hour buckets from anywhere: what a refresh replaces.
    Offers the same WHERE clauses as Span, as ORs of index conditions (any_of)."""

    keys: tuple[tuple[int, date, int], ...]

    def where(self, day: str = "day", hour: str | None = "hour", prefix: str = "") -> tuple:
        if hour is None:
            pairs = sorted({(location_id, d) for location_id, d, _ in self.keys})
            return any_of((f"{prefix}location_id", f"{prefix}{day}"), pairs)
        return any_of((f"{prefix}location_id", f"{prefix}{day}", f"{prefix}{hour}"), self.keys)

    def period_parts(self, period: "Period") -> list[tuple[date, tuple, tuple]]:
        by_start: dict[date, set[tuple[int, int]]] = {}
        for location_id, day, hour in self.keys:
            by_start.setdefault(period.start(day), set()).add((location_id, hour))
        parts = []
        for start, pairs in sorted(by_start.items()):
            sql, params = any_of(("location_id", "hour"), sorted(pairs))
            parts.append(
                (
                    start,
                    (f"{sql} AND day BETWEEN %s AND %s", [*params, start, period.end(start)]),
                    (f"{sql} AND {period.column} = %s", [*params, start]),
                )
            )
        return parts


def any_of(columns: tuple[str, ...], rows) -> tuple[str, list]:
    """`columns` equal to one of `rows`, as an OR of conditions on the leading columns with
    the last one IN a list: each arm is one index look-up, estimated on its own. (A row-value
    IN (VALUES …) list reads the same, but PostgreSQL misjudges how many rows it matches and
    scans a table of millions instead: 3 s for 100 buckets at 5 M answers.)"""
    *leading, last = columns
    grouped: dict[tuple, list] = {}
    for row in rows:
        grouped.setdefault(tuple(row[:-1]), []).append(row[-1])
    arms, params = [], []
    for key, lasts in grouped.items():
        conditions = [f"{column} = %s" for column in leading]
        conditions.append(f"{last} IN ({', '.join(['%s'] * len(lasts))})")
        arms.append("(" + " AND ".join(conditions) + ")")
        params += [*key, *lasts]
    return "(" + " OR ".join(arms) + ")", params


def _replace(cursor, table: str, where: tuple, columns: str, select: str, params: list) -> int:
    cursor.execute(f"DELETE FROM {table} WHERE {where[0]}", where[1])
    cursor.execute(f"INSERT INTO {table} ({columns}) {select}", params)
    return cursor.rowcount


def _table(model) -> str:
    return model._meta.db_table


def fill_from_answers(span: Span | Buckets) -> int:
    """The finest tiers (per staff member and hour) from raw answers; returns the number
    of histogram rows written."""
    vendor = connection.vendor
    raw_where, raw_params = span.where("local_day", "local_hour", prefix="r.")
    with connection.cursor() as cursor:
        written = _replace(
            cursor,
            _table(HourlyRollup),
            span.where(),
            f"organization_id, location_id, touchpoint_id, staff_id, question, kind, day, "
            f"hour, n, {_BIN_LIST}",
            f"SELECT r.organization_id, r.location_id, r.touchpoint_id, r.staff_id, "
            f"a.question, a.kind, r.local_day, r.local_hour, count(*), {_COUNT_BINS} "
            f"FROM surveys_answer a JOIN surveys_surveyresponse r ON r.id = a.response_id "
            f"WHERE {raw_where} AND a.kind IN ('nps', 'csat', 'ces') AND a.score IS NOT NULL "
            f"GROUP BY r.organization_id, r.location_id, r.touchpoint_id, r.staff_id, "
            f"a.question, a.kind, r.local_day, r.local_hour",
            raw_params,
        )
        _replace(
            cursor,
            _table(ChoiceRollup),
            span.where(),
            "organization_id, location_id, touchpoint_id, staff_id, question, choice, day, "
            "hour, promoters, passives, detractors, unrated",
            f"SELECT organization_id, location_id, touchpoint_id, staff_id, question, choice, "
            f"local_day, local_hour, count(*) FILTER (WHERE nps >= 9), "
            f"count(*) FILTER (WHERE nps BETWEEN 7 AND 8), count(*) FILTER (WHERE nps <= 6), "
            f"count(*) FILTER (WHERE nps IS NULL) FROM ("
            f"SELECT r.organization_id, r.location_id, r.touchpoint_id, r.staff_id, "
            f"a.question, pick.value AS choice, r.local_day, r.local_hour, "
            f"{_NPS_OF_RESPONSE} AS nps "
            f"FROM surveys_answer a JOIN surveys_surveyresponse r ON r.id = a.response_id "
            f"{_EXPAND_CHOICES[vendor]} "
            f"WHERE {raw_where} AND a.kind = 'choice' AND {_IS_LIST[vendor]}) picks "
            f"GROUP BY organization_id, location_id, touchpoint_id, staff_id, question, "
            f"choice, local_day, local_hour",
            raw_params,
        )
    return written


def fill_store_hours(span: Span | Buckets) -> None:
    """StoreHourRollup: the hourly tier without staff."""
    where, params = span.where()
    with connection.cursor() as cursor:
        _replace(
            cursor,
            _table(StoreHourRollup),
            (where, params),
            f"organization_id, location_id, touchpoint_id, question, kind, day, hour, n, {_BIN_LIST}",
            f"SELECT organization_id, location_id, touchpoint_id, question, kind, day, hour, "
            f"sum(n), {_SUM_BINS} FROM {_table(HourlyRollup)} WHERE {where} "
            f"GROUP BY organization_id, location_id, touchpoint_id, question, kind, day, hour",
            params,
        )


def fill_days(span: Span | Buckets) -> None:
    """DailyRollup, StaffDailyRollup and ChoiceDailyRollup for the whole days the span
    touches (after their hours are filled)."""
    where, params = span.where(hour=None)
    with connection.cursor() as cursor:
        _replace(
            cursor,
            _table(DailyRollup),
            (where, params),
            f"organization_id, location_id, touchpoint_id, question, kind, day, n, {_BIN_LIST}",
            f"SELECT organization_id, location_id, touchpoint_id, question, kind, day, "
            f"sum(n), {_SUM_BINS} FROM {_table(StoreHourRollup)} WHERE {where} "
            f"GROUP BY organization_id, location_id, touchpoint_id, question, kind, day",
            params,
        )
        choices = "organization_id, location_id, touchpoint_id, question, choice, day"
        counts = "promoters, passives, detractors, unrated"
        _replace(
            cursor,
            _table(ChoiceDailyRollup),
            (where, params),
            f"{choices}, {counts}",
            f"SELECT {choices}, sum(promoters), sum(passives), sum(detractors), sum(unrated) "
            f"FROM {_table(ChoiceRollup)} WHERE {where} GROUP BY {choices}",
            params,
        )
        _replace(
            cursor,
            _table(StaffDailyRollup),
            (where, params),
            f"organization_id, location_id, touchpoint_id, staff_id, question, kind, day, n, "
            f"{_BIN_LIST}",
            f"SELECT organization_id, location_id, touchpoint_id, staff_id, question, kind, "
            f"day, sum(n), {_SUM_BINS} FROM {_table(HourlyRollup)} "
            f"WHERE {where} "
            f"GROUP BY organization_id, location_id, touchpoint_id, staff_id, question, kind, day",
            params,
        )


@dataclass(frozen=True)
class Period:
    """A calendar period that an hour-of-day tier sums a location's hours over."""

    model: type
    column: str
    start: Callable[[date], date]  # the first day of the period holding a day
    end: Callable[[date], date]  # the last day of the period starting on a day

    def starts_between(self, first: date, last: date) -> list[date]:
        starts, start = [], self.start(first)
        while start <= last:
            starts.append(start)
            start = self.end(start) + timedelta(days=1)
        return starts


def fill_period_hours(period: Period, start: date, hour_rows: tuple, period_rows: tuple) -> None:
    """An hour-of-day tier for one period (its first day): the rows period_rows selects,
    summed from the StoreHourRollup rows hour_rows selects (Span.period_parts)."""
    where, params = hour_rows
    period_where, period_params = period_rows
    with connection.cursor() as cursor:
        _replace(
            cursor,
            _table(period.model),
            (period_where, period_params),
            f"organization_id, location_id, touchpoint_id, question, kind, {period.column}, "
            f"hour, n, {_BIN_LIST}",
            f"SELECT organization_id, location_id, touchpoint_id, question, kind, %s, hour, "
            f"sum(n), {_SUM_BINS} FROM {_table(StoreHourRollup)} WHERE {where} "
            f"GROUP BY organization_id, location_id, touchpoint_id, question, kind, hour",
            [start, *params],
        )


def fill_all(span: Span | Buckets, progress=None) -> int:
    """Every tier of the span, finest first; returns the number of histogram rows written
    to the finest tier. `progress(done, total)` is called after each step."""
    coarser = [
        lambda: fill_store_hours(span),
        lambda: fill_days(span),
        *(
            lambda period=period, part=part: fill_period_hours(period, *part)
            for period in PERIODS
            for part in span.period_parts(period)
        ),
    ]
    total = 1 + len(coarser)
    written = fill_from_answers(span)
    if progress:
        progress(1, total)
    for done, step in enumerate(coarser, start=2):
        step()
        if progress:
            progress(done, total)
    return written


def months_between(first: date, last: date) -> list[date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_end(month: date) -> date:
    return date.fromordinal(next_month(month).toordinal() - 1)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


MONTH = Period(MonthHourRollup, "month", lambda day: day.replace(day=1), month_end)
WEEK = Period(WeekHourRollup, "week", week_start, lambda monday: monday + timedelta(days=6))
PERIODS = (MONTH, WEEK)

# Every tier, for maintenance (services.vacuum_rollups).
ROLLUP_MODELS = (
    HourlyRollup,
    ChoiceRollup,
    StoreHourRollup,
    DailyRollup,
    ChoiceDailyRollup,
    StaffDailyRollup,
    MonthHourRollup,
    WeekHourRollup,
)
