"""The rollups as one set-based SQL pass over the raw rows: the benches' reference, not the
app's code. `sql_fill` fills every tier that way (the starting state of a bench, and a
measure of what a set-based rebuild costs); `check_rollups` fails a run whose rollups differ
from it by a single row."""

import time

import _common as c

BINS = ", ".join(
    f"count(*) FILTER (WHERE a.score - CASE a.kind WHEN 'nps' THEN 0 ELSE 1 END = {i})"
    for i in range(11)
)
B_COLS = ", ".join(f"b{i}" for i in range(11))
H_COLS = (
    f"organization_id, location_id, touchpoint_id, staff_id, question, kind, day, hour, n, {B_COLS}"
)
D_COLS = f"organization_id, location_id, touchpoint_id, question, kind, day, n, {B_COLS}"
C_COLS = (
    "organization_id, location_id, touchpoint_id, staff_id, question, choice, day, hour, "
    "promoters, passives, detractors, unrated"
)
HOURLY_SELECT = f"""
SELECT r.organization_id, r.location_id, r.touchpoint_id, r.staff_id, a.question, a.kind,
       r.local_day, r.local_hour, count(*), {BINS}
FROM surveys_answer a JOIN surveys_surveyresponse r ON r.id = a.response_id
WHERE a.kind IN ('nps', 'csat', 'ces') AND a.score IS NOT NULL {{where}}
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ORDER BY 2, 7, 8
"""
DAILY_SELECT = f"""
SELECT organization_id, location_id, touchpoint_id, question, kind, day, sum(n),
       {", ".join(f"sum(b{i})" for i in range(11))}
FROM metrics_hourlyrollup WHERE true {{where}} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 2, 6
"""
# The NPS group of a choice's response is that of its first NPS question by key.
CHOICE_SELECT = """
SELECT r.organization_id, r.location_id, r.touchpoint_id, r.staff_id, a.question, pick.choice,
       r.local_day, r.local_hour, count(*) FILTER (WHERE nps.score >= 9),
       count(*) FILTER (WHERE nps.score BETWEEN 7 AND 8), count(*) FILTER (WHERE nps.score <= 6),
       count(*) FILTER (WHERE nps.score IS NULL)
FROM surveys_answer a JOIN surveys_surveyresponse r ON r.id = a.response_id
CROSS JOIN LATERAL jsonb_array_elements_text(a.choices) AS pick(choice)
LEFT JOIN LATERAL (
    SELECT n.score FROM surveys_answer n
    WHERE n.response_id = a.response_id AND n.kind = 'nps' AND n.score IS NOT NULL
    ORDER BY n.question LIMIT 1
) AS nps ON true
WHERE a.kind = 'choice' AND jsonb_typeof(a.choices) = 'array' {where}
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ORDER BY 2, 7, 8
"""
STORE = "organization_id, location_id, touchpoint_id, question, kind"
SUMS = ", ".join(f"sum(b{i})" for i in range(11))
STORE_HOUR_SELECT = f"""
SELECT {STORE}, day, hour, sum(n), {SUMS} FROM metrics_hourlyrollup WHERE true {{where}}
GROUP BY {STORE}, day, hour ORDER BY location_id, day, hour
"""
STAFF_DAY_SELECT = f"""
SELECT {STORE}, staff_id, day, sum(n), {SUMS} FROM metrics_hourlyrollup WHERE true {{where}}
GROUP BY {STORE}, staff_id, day ORDER BY location_id, day
"""
MONTH_HOUR_SELECT = f"""
SELECT {STORE}, date_trunc('month', day)::date, hour, sum(n), {SUMS} FROM metrics_hourlyrollup
WHERE true {{where}} GROUP BY {STORE}, 6, hour ORDER BY location_id, 6, hour
"""
WEEK_HOUR_SELECT = f"""
SELECT {STORE}, date_trunc('week', day)::date, hour, sum(n), {SUMS} FROM metrics_hourlyrollup
WHERE true {{where}} GROUP BY {STORE}, 6, hour ORDER BY location_id, 6, hour
"""
CHOICE_DAY = "organization_id, location_id, touchpoint_id, question, choice, day"
CHOICE_COUNTS = "promoters, passives, detractors, unrated"
CHOICE_DAY_SELECT = f"""
SELECT {CHOICE_DAY}, sum(promoters), sum(passives), sum(detractors), sum(unrated)
FROM metrics_choicerollup WHERE true {{where}} GROUP BY {CHOICE_DAY} ORDER BY location_id, day
"""
# Rows go in by location and time, the order rebuild_rollups writes them in: reads then
# find a store's rows on few pages, as they would after `manage.py rebuild_rollups`.
# The coarser tiers come last: they sum the hourly table.
ROLLUPS = (
    ("metrics_hourlyrollup", H_COLS, HOURLY_SELECT, "r."),
    ("metrics_choicerollup", C_COLS, CHOICE_SELECT, "r."),
    ("metrics_dailyrollup", D_COLS, DAILY_SELECT, ""),
    ("metrics_storehourrollup", f"{STORE}, day, hour, n, {B_COLS}", STORE_HOUR_SELECT, ""),
    ("metrics_staffdailyrollup", f"{STORE}, staff_id, day, n, {B_COLS}", STAFF_DAY_SELECT, ""),
    ("metrics_monthhourrollup", f"{STORE}, month, hour, n, {B_COLS}", MONTH_HOUR_SELECT, ""),
    ("metrics_weekhourrollup", f"{STORE}, week, hour, n, {B_COLS}", WEEK_HOUR_SELECT, ""),
    ("metrics_choicedailyrollup", f"{CHOICE_DAY}, {CHOICE_COUNTS}", CHOICE_DAY_SELECT, ""),
)


def sql_fill(url: str) -> float:
    """Replace every rollup with what one GROUP BY over the raw rows gives; returns seconds.
    Foreign-key triggers are off, as for the load: every id comes from the raw rows."""
    conn = c.connect(url)
    started = time.perf_counter()
    try:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            cur.execute(f"TRUNCATE {', '.join(table for table, *_ in ROLLUPS)}")
            for table, cols, select, _ in ROLLUPS:
                cur.execute(f"INSERT INTO {table} ({cols}) {select.format(where='')}")
        conn.commit()
    finally:
        conn.close()
    return time.perf_counter() - started


def check_rollups(url: str, location_ids: list[int] | None = None) -> None:
    """The app's rollups must hold exactly the rows a GROUP BY over raw rows gives."""
    conn = c.connect(url)
    try:
        with conn.cursor() as cur:
            for table, cols, select, prefix in ROLLUPS:
                where = f"AND {prefix}location_id = ANY(%(ids)s)" if location_ids else ""
                mine = select.format(where=where)
                theirs = f"SELECT {cols} FROM {table} WHERE true {where.replace(prefix, '')}"
                cur.execute(
                    f"SELECT (SELECT count(*) FROM (({mine}) EXCEPT ALL ({theirs})) x), "
                    f"(SELECT count(*) FROM (({theirs}) EXCEPT ALL ({mine})) y)",
                    {"ids": location_ids},
                )
                missing, extra = cur.fetchone()
                if missing or extra:
                    raise c.BenchError(
                        f"{table}: {missing} rows missing and {extra} unexpected, against a "
                        "GROUP BY over raw rows"
                    )
    finally:
        conn.close()
