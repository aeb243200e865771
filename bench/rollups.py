"""Rollups benchmark: dashboard reads at two database sizes, and a full rebuild.

Creates its own PostgreSQL database, a chain of 100 stores in two regions (Vietnam and
Thailand, each in its own time zone) with 5 staff each, then for each size (default 100 k
and 5 M responses over one year):

  load      responses and their answers generated inside PostgreSQL (INSERT … SELECT), not
            through the API: valid rows (local day and hour in the store's zone, real ids)
  SQL fill  every rollup from one GROUP BY per table: the set-based reference, and the
            starting state
  rebuild   metrics.services.rebuild_rollups over every store (up to --full-rebuild-up-to
            responses) or over --rebuild-stores of them, extrapolated; its rows must equal
            the GROUP BY's; against one sequential scan of surveys_answer in the same run
  reads     the dashboard's reads, through metrics.selectors.scores_by_group as head office
            and through GET /api/v1/metrics/scores/ on gunicorn with a personal token,
            against the same figures computed from raw rows (GROUP BY on answers ⨝ responses),
            which must come out identical

then prints p95 against the 150 ms target, the large/small ratio against 1.5, the
rollup/raw ratio and the rebuild/scan ratio, and drops everything it made.

    .venv/bin/python bench/rollups.py [--quick] [--sizes 100000,5000000] [--repeat 30]
        [--full-rebuild-up-to 0] [--rebuild-stores 10] [--no-http] [--profile]
"""

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
from rollup_reference import check_rollups, sql_fill

TARGET_P95_MS, TARGET_SCALE_RATIO = 150.0, 1.5
REGIONS = {"Vietnam": ("Asia/Ho_Chi_Minh", "vi", "HCM"), "Thailand": ("Asia/Bangkok", "th", "BKK")}
REASONS = ["wait_time", "staff", "product", "cleanliness", "price"]
COMMENTS = ["Nhân viên rất nhiệt tình", "ห้องน้ำไม่ค่อยสะอาด", "Quick checkout, friendly staff."]
LOAD_CHUNK = 500_000
STORES = 100
SCORED = ("nps", "csat", "ces")
LOW = {"nps": 0, "csat": 1, "ces": 1}


@dataclass(frozen=True)
class Chain:
    organization_id: int
    version_id: int
    user: object  # head office: sees all 100 stores
    token: str  # the same user's personal API token
    stores: list[dict]  # location_id, code, region, kiosk_id, token, touchpoint_id, tz, staff


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(c.REPO))
    import django

    django.setup()


def make_chain(stores: int = 100, staff: int = 5) -> Chain:
    """Stores split evenly between the regions, staff and one kiosk each, a head-office user."""
    from locations.models import Location, Region, StaffMember
    from locations.services import create_api_token, create_kiosk, create_organization, invite_user

    org = create_organization(name="Bench Chain", slug="bench-chain", default_language="vi")
    regions = {name: Region.objects.create(organization=org, name=name) for name in REGIONS}
    out = []
    for i in range(stores):
        name = list(REGIONS)[i % len(REGIONS)]
        tz, language, prefix = REGIONS[name]
        store = Location.objects.create(
            organization=org,
            region=regions[name],
            code=f"{prefix}-{i:03d}",
            name=f"Store {i}",
            timezone=tz,
            default_language=language,
        )
        members = [
            StaffMember.objects.create(
                organization=org, location=store, code=f"NV-{i:03d}-{j}", display_name=f"Staff {j}"
            ).pk
            for j in range(staff)
        ]
        issued = create_kiosk(location=store, name=f"kiosk {i}")
        out.append(
            {
                "location_id": store.pk,
                "code": store.code,
                "region": name,
                "kiosk_id": issued.kiosk.pk,
                "token": issued.token,
                "touchpoint_id": issued.kiosk.touchpoint_id,
                "tz": tz,
                "language": language,
                "staff": members,
            }
        )
    with contextlib.redirect_stdout(io.StringIO()):  # the invitation e-mail
        user = invite_user(email="ho@bench.test", organization=org, role="head_office").user
    token = create_api_token(user=user, name="bench")
    return Chain(org.pk, org.default_survey.current_version_id, user, token, out)


# --- loading ------------------------------------------------------------------------------

GENERATE = """
INSERT INTO bench_gen
SELECT gen_random_uuid(), s.location_id, s.kiosk_id, s.touchpoint_id, s.tz, s.language,
       CASE WHEN random() < 0.5
            THEN s.staff[1 + floor(random() * cardinality(s.staff))::int] END,
       x.day + make_interval(hours => x.hour) + random() * interval '3599 seconds',
       x.nps, 1 + floor(random() * 5)::int, 1 + floor(random() * 7)::int,
       CASE WHEN x.nps <= 6 THEN
            CASE WHEN random() < 0.6 THEN jsonb_build_array(x.r1)
                 ELSE jsonb_build_array(x.r1, (%(reasons)s::text[])[1 + (x.r0 + 2) %% 5]) END
       END,
       CASE WHEN random() < 0.3 THEN (%(comments)s::text[])[1 + x.g %% 3] END
FROM (
    SELECT g, %(first)s::date + (g * %(days)s / %(total)s)::int AS day,
           -- most answers come between 07:00 and 21:59, busiest mid-afternoon
           7 + floor(15 * (random() + random()) / 2)::int AS hour,
           width_bucket(random() * 100, ARRAY[2, 3, 4, 6, 8, 12, 18, 28, 46, 70]::float8[]) AS nps,
           r0, (%(reasons)s::text[])[1 + r0] AS r1
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g,
         LATERAL (SELECT floor(random() * 5)::int + g * 0 AS r0) AS pick
) AS x
JOIN bench_store s ON s.idx = x.g %% %(stores)s
"""
INSERT_RESPONSES = """
INSERT INTO surveys_surveyresponse (id, organization_id, location_id, touchpoint_id, kiosk_id,
    survey_version_id, staff_id, submitted_at, received_at, local_day, local_hour, language,
    clock_untrusted, is_complete, body_digest)
SELECT id, %(org)s, location_id, touchpoint_id, kiosk_id, %(version)s, staff_id,
       local_at AT TIME ZONE tz, (local_at AT TIME ZONE tz) + interval '3 seconds',
       local_at::date, extract(hour FROM local_at)::int, language, false, true,
       md5(id::text) || md5(id::text || '.')
FROM bench_gen
"""
INSERT_ANSWERS = """
INSERT INTO surveys_answer (response_id, question, kind, score, choices, text)
SELECT g.id, a.question, a.kind, a.score, a.choices, a.text
FROM bench_gen g, LATERAL (VALUES
    ('nps', 'nps', g.nps, NULL::jsonb, ''), ('csat', 'csat', g.csat, NULL, ''),
    ('ces', 'ces', g.ces, NULL, ''), ('reason', 'choice', NULL, g.reason, ''),
    ('comment', 'text', NULL, NULL, g.comment)
) AS a(question, kind, score, choices, text)
WHERE a.kind IN ('nps', 'csat', 'ces') OR a.choices IS NOT NULL OR a.text IS NOT NULL
"""


def load(url: str, chain: Chain, first: date, days: int, count: int) -> dict:
    """Add `count` responses spread evenly over the days, in time order (as they would have
    arrived), with their answers. Foreign-key triggers are off for the load only
    (session_replication_role): every id comes from the tables themselves. The database
    ends up with exactly the schema the migrations made."""
    conn = c.connect(url)
    started = time.perf_counter()
    try:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            cur.execute(
                "CREATE UNLOGGED TABLE IF NOT EXISTS bench_store (idx int PRIMARY KEY, "
                "location_id bigint, kiosk_id bigint, touchpoint_id bigint, tz text, "
                "language text, staff bigint[])"
            )
            cur.execute("TRUNCATE bench_store")
            for i, s in enumerate(chain.stores):
                cur.execute(
                    "INSERT INTO bench_store VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (i, s["location_id"], s["kiosk_id"], s["touchpoint_id"], s["tz"],
                     s["language"], s["staff"]),
                )  # fmt: skip
            cur.execute(
                "CREATE UNLOGGED TABLE IF NOT EXISTS bench_gen (id uuid, location_id bigint, "
                "kiosk_id bigint, touchpoint_id bigint, tz text, language text, staff_id bigint, "
                "local_at timestamp, nps int, csat int, ces int, reason jsonb, comment text)"
            )
            conn.commit()
            # Plain indexes are rebuilt once at the end (same definitions): much faster than
            # maintaining seven of them row by row. Keys and unique constraints stay.
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename IN "
                "('surveys_surveyresponse', 'surveys_answer') AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
            )
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            params = {
                "first": first,
                "days": days,
                "total": count,
                "stores": len(chain.stores),
                "reasons": REASONS,
                "comments": COMMENTS,
                "org": chain.organization_id,
                "version": chain.version_id,
            }
            for start in range(0, count, LOAD_CHUNK):
                stop = min(start + LOAD_CHUNK, count) - 1
                cur.execute("TRUNCATE bench_gen")
                cur.execute(GENERATE, {**params, "start": start, "stop": stop})
                cur.execute(INSERT_RESPONSES, params)
                cur.execute(INSERT_ANSWERS)
                conn.commit()
                print(f"    loaded {stop + 1:,}/{count:,}", end="\r", flush=True)
            cur.execute("DROP TABLE bench_gen")
            cur.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in indexes:
                cur.execute(definition)
            conn.commit()
        loaded = time.perf_counter() - started
        conn.autocommit = True
        with conn.cursor() as cur:
            # What autovacuum would have done by the time anyone reads: statistics, hint bits
            # and the visibility map.
            cur.execute("VACUUM (ANALYZE) surveys_surveyresponse, surveys_answer")
    finally:
        conn.close()
    return {"load_s": loaded, "vacuum_s": time.perf_counter() - started - loaded}


def table_facts(url: str) -> dict:
    conn = c.connect(url)
    try:
        with conn.cursor() as cur:
            out = {}
            for table in (
                "surveys_surveyresponse",
                "surveys_answer",
                "metrics_hourlyrollup",
                "metrics_dailyrollup",
                "metrics_choicerollup",
            ):
                cur.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
                rows, size = cur.fetchone()
                out[table] = (rows, size)
        return out
    finally:
        conn.close()


# --- rebuild against a sequential scan -------------------------------------------------------


def sequential_scan(url: str, repeat: int = 3) -> float:
    """Median time of one plain (non-parallel) sequential scan of surveys_answer, warm."""
    conn = c.connect(url)
    times = []
    try:
        with conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 0")
            for _ in range(repeat):
                started = time.perf_counter()
                cur.execute("SELECT count(*), sum(score) FROM surveys_answer")
                cur.fetchone()
                times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return sorted(times)[len(times) // 2]


def rebuild(url: str, stores: int | None, meter: c.CpuMeter) -> dict:
    """metrics.services.rebuild_rollups over every store, or over the first `stores` of them
    (the rest already filled by sql_fill), then checked against raw rows."""
    from django.db import connection

    from locations.models import Location
    from metrics.services import rebuild_rollups

    ids = None
    if stores:
        ids = list(Location.objects.order_by("pk").values_list("pk", flat=True)[:stores])
    shown = [0]

    def progress(done, total):
        if done * 10 // total > shown[0]:
            shown[0] = done * 10 // total
            print(f"    rebuild {done}/{total} chunks", end="\r", flush=True)

    before, started = meter.snapshot(), time.perf_counter()
    buckets = rebuild_rollups(location_ids=ids, progress=progress)
    elapsed = time.perf_counter() - started
    out = {"rebuild_s": elapsed, "buckets": buckets, "rebuild_stores": len(ids or [])}
    out["rebuild_others"] = others_cores(meter, before, elapsed)
    check_rollups(url, ids)
    with connection.cursor() as cur:
        cur.execute(
            "VACUUM (ANALYZE) metrics_hourlyrollup, metrics_dailyrollup, metrics_choicerollup"
        )
    return out


def others_cores(meter: c.CpuMeter, before: dict, elapsed: float) -> float:
    """Cores other tenants of the machine kept busy meanwhile (0 on a quiet machine)."""
    used = c.cpu_used(before, meter.snapshot())
    ours = used["app"] + used["postgres"] + used["bench"]
    return max(used["machine"] - ours, 0) / elapsed if elapsed else 0.0


def profile_rebuild() -> str:
    """cProfile of rebuilding three stores (over existing rollups, as `manage.py rebuild_rollups`)."""
    from locations.models import Location
    from metrics.services import rebuild_rollups

    ids = list(Location.objects.order_by("pk").values_list("pk", flat=True)[:3])
    profiler = cProfile.Profile()
    profiler.enable()
    rebuild_rollups(location_ids=ids)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
    return out.getvalue()


# --- reads --------------------------------------------------------------------------------

RAW_GROUP = {
    "day": "r.local_day",
    "location": "l.code",
    "staff": "st.code",
    "hour": "r.local_hour",
    "weekday": "extract(isodow FROM r.local_day)::int",
}
RAW_SQL = """
SELECT {group} AS g0, a.question, a.kind, a.score, count(*)
FROM surveys_answer a
JOIN surveys_surveyresponse r ON r.id = a.response_id
JOIN locations_location l ON l.id = r.location_id
LEFT JOIN locations_staffmember st ON st.id = r.staff_id
WHERE r.location_id = ANY(%s) AND r.local_day BETWEEN %s AND %s
  AND a.kind IN ('nps', 'csat', 'ces')
GROUP BY 1, 2, 3, 4
"""


@dataclass(frozen=True)
class Read:
    name: str
    group_by: str
    days: int
    region: str | None = None
    location: str | None = None

    def query(self, last: date):
        from metrics.selectors import ScoreQuery

        return ScoreQuery(
            date_from=last - timedelta(days=self.days - 1),
            date_to=last,
            group_by=self.group_by,
            region=self.region,
            locations=(self.location,) if self.location else (),
        )

    def params(self, last: date) -> dict:
        out = {
            "from": (last - timedelta(days=self.days - 1)).isoformat(),
            "to": last.isoformat(),
            "group_by": self.group_by,
        }
        if self.region:
            out["region"] = self.region
        if self.location:
            out["location"] = self.location
        return out


def dashboard_reads(store_code: str) -> list[Read]:
    return [
        Read("year of days, 100 stores", "day", 365),
        Read("year by store, 100 stores", "location", 365),
        Read("one store's month by staff", "staff", 30, location=store_code),
        Read("region quarter by hour", "hour", 91, region="Vietnam"),
        Read("region quarter by weekday", "weekday", 91, region="Vietnam"),
        Read("region year by hour", "hour", 365, region="Vietnam"),
        Read("region year by weekday", "weekday", 365, region="Vietnam"),
    ]


def from_raw(user, query) -> list[dict]:
    """The figures scores_by_group gives, computed from raw answers instead of rollups."""
    from django.db import connection

    from metrics import scores
    from metrics.selectors import _sort_key, scoped_locations, thresholds_for

    locations = scoped_locations(user, query)
    ids = list(locations.values_list("pk", flat=True))
    thresholds = thresholds_for(locations)
    bins: dict = defaultdict(lambda: [0] * 11)
    with connection.cursor() as cur:
        cur.execute(
            RAW_SQL.format(group=RAW_GROUP[query.group_by]), [ids, query.date_from, query.date_to]
        )
        for g0, question, kind, score, n in cur.fetchall():
            bins[(g0.isoformat() if isinstance(g0, date) else g0, question, kind)][
                score - LOW[kind]
            ] += n
    grouped: dict = defaultdict(dict)
    for (group, question, kind), histogram in bins.items():
        figures = scores.summarize(kind, histogram[: scores.BINS[kind]], thresholds)
        one_person = query.about_staff and not (query.group_by == "staff" and group is None)
        if one_person and figures["n"] < thresholds.privacy:
            figures = scores.redact_for_privacy(figures)
        grouped[group][question] = figures
    return [
        {"group": {query.group_by: group}, "questions": grouped[group]}
        for group in sorted(grouped, key=_sort_key)
    ]


def timed(fn, repeat: int, budget: float, minimum: int, warm_up: int = 1) -> list[float]:
    """Up to `repeat` timings of fn() after `warm_up` untimed runs, stopping early (after at
    least `minimum`) once `budget` seconds have been spent."""
    for _ in range(warm_up):
        fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < repeat and (len(times) < minimum or spent < budget):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
        spent += times[-1]
    return times


def measure_reads(chain: Chain, last: date, port: int | None, args, meter) -> tuple[dict, float]:
    from metrics.selectors import scores_by_group

    client = None
    if port:
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {chain.token}"},
            timeout=120,
        )
        # Every gunicorn worker answers its first request slowly (lazy imports, connection).
        for _ in range(20):
            client.get("/api/v1/metrics/scores/", params={"location": chain.stores[0]["code"]})
    results = {}
    before, started = meter.snapshot(), time.perf_counter()
    try:
        for read in dashboard_reads(chain.stores[0]["code"]):
            query = read.query(last)
            rolled, raw = scores_by_group(chain.user, query), from_raw(chain.user, query)
            if json.dumps(rolled, sort_keys=True) != json.dumps(raw, sort_keys=True):
                raise c.BenchError(f"{read.name}: rollups and raw answers disagree")
            n = sum(q["n"] for r in rolled for q in r["questions"].values())
            row = {"groups": len(rolled), "answers": n}
            row["selector"] = timed(
                lambda q=query: scores_by_group(chain.user, q), args.repeat, 30, 5
            )
            if client:
                params = read.params(last)
                # Each gunicorn worker answers its first request of a kind slowly: warm
                # them all (two requests per worker) before timing.
                row["http"] = timed(
                    lambda p_=params, name=read.name: get(client, p_, name),
                    args.repeat,
                    30,
                    5,
                    warm_up=2 * (2 * (os.cpu_count() or 1) + 1),  # gunicorn.conf.py default
                )
            row["raw"] = timed(
                lambda q=query: from_raw(chain.user, q), args.raw_repeat, args.raw_budget, 2
            )
            results[read.name] = row
            print(f"    {read.name}: {summary_line(row)}", flush=True)
    finally:
        if client:
            client.close()
    return results, others_cores(meter, before, time.perf_counter() - started)


def get(client: httpx.Client, params: dict, name: str) -> None:
    response = client.get("/api/v1/metrics/scores/", params=params)
    if response.status_code != 200:
        raise c.BenchError(f"{name}: HTTP {response.status_code}")


def p(times: list[float], q: float) -> float:
    return c.percentile(sorted(times), q) * 1000


def summary_line(row: dict) -> str:
    parts = [f"{k} p95 {p(row[k], 95):.1f} ms" for k in ("selector", "http") if k in row]
    return ", ".join([*parts, f"raw p50 {p(row['raw'], 50):.0f} ms"])


def explain_slowest(chain: Chain, last: date, reads: dict[str, dict]) -> str:
    """EXPLAIN ANALYZE of the rollup query behind the slowest read."""
    from metrics.selectors import _GROUP_EXPRESSIONS, _rollup_rows

    name = max(reads, key=lambda k: p(reads[k]["selector"], 95))
    read = next(r for r in dashboard_reads(chain.stores[0]["code"]) if r.name == name)
    query = read.query(last)
    rows, _ = _rollup_rows(chain.user, query, _GROUP_EXPRESSIONS[query.group_by])
    return f"{name}:\n" + rows.explain(analyze=True, buffers=True)


SUMS = "sum(n) AS n, " + ", ".join(f"sum(b{i}) AS b{i}" for i in range(11))
WHAT_IF = {
    "hourly, as now (with staff)": (None, "metrics_hourlyrollup", "day"),
    "hourly without staff": (
        "SELECT location_id, touchpoint_id, question, kind, day, hour, {sums} "
        "FROM metrics_hourlyrollup GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 5, 6",
        "bench_hourly_nostaff",
        "day",
    ),
    "monthly hour-of-day, no staff": (
        "SELECT location_id, touchpoint_id, question, kind, date_trunc('month', day)::date "
        "AS month, hour, {sums} FROM metrics_hourlyrollup GROUP BY 1, 2, 3, 4, 5, 6 "
        "ORDER BY 1, 5, 6",
        "bench_month_hour",
        "month",
    ),
}


def what_if(url: str, chain: Chain, last: date, repeat: int = 10) -> list[list]:
    """The SQL of "region, year, by hour" over other rollup shapes: rows read and time."""
    region = [s["location_id"] for s in chain.stores if s["region"] == "Vietnam"]
    # Whole months for the monthly tier: the same year, give or take the edge months.
    first = (last - timedelta(days=364)).replace(day=1)
    conn = c.connect(url)
    rows = []
    try:
        with conn.cursor() as cur:
            for label, (build, table, day) in WHAT_IF.items():
                if build:
                    cur.execute(f"CREATE TEMP TABLE {table} AS {build.format(sums=SUMS)}")
                    cur.execute(f"CREATE INDEX ON {table} (location_id, {day})")
                    cur.execute(f"ANALYZE {table}")
                cur.execute(f"SELECT count(*) FROM {table}")
                total = cur.fetchone()[0]
                query = (
                    f"SELECT question, kind, hour, {SUMS} FROM {table} "
                    f"WHERE location_id = ANY(%s) AND {day} BETWEEN %s AND %s GROUP BY 1, 2, 3"
                )
                params = (region, first if day == "month" else last - timedelta(days=364), last)
                times = timed(lambda q=query, a=params: cur.execute(q, a), repeat, 20, 3)
                cur.execute(f"SELECT count(*) FROM {table} WHERE location_id = ANY(%s) "
                            f"AND {day} BETWEEN %s AND %s", params)  # fmt: skip
                read = cur.fetchone()[0]
                rows.append([label, f"{total:,}", f"{read:,}", f"{p(times, 50):.1f}"])
    finally:
        conn.close()
    return rows


# --- the run ------------------------------------------------------------------------------


def label(size: int) -> str:
    return f"{size / 1e6:g}M" if size >= 1e6 else f"{size / 1e3:g}k"


def report(sizes: list[int], runs: dict[int, dict], stores: int) -> dict:
    small, large = sizes[0], sizes[-1]
    print("\nData and rebuild:")
    rows = []
    for size in sizes:
        r = runs[size]
        full = r["rebuild_stores"] == 0
        whole = r["rebuild_s"] if full else r["rebuild_s"] * stores / r["rebuild_stores"]
        r["rebuild_all_s"] = whole
        rows.append(
            [
                f"{size:,}",
                f"{r['tables']['surveys_answer'][0]:,}",
                f"{r['tables']['metrics_hourlyrollup'][0]:,}",
                f"{r['tables']['metrics_dailyrollup'][0]:,}",
                f"{r['load_s']:.0f}",
                f"{r['fill_s']:.1f}",
                f"{r['rebuild_s']:.1f}"
                + ("" if full else f" ({r['rebuild_stores']} stores) → {whole:.0f} extrapolated"),
                f"{r['scan_s']:.2f}",
                f"{whole / r['scan_s']:.0f}",
                f"{r['rebuild_others']:.2f}",
            ]
        )
    print(
        c.format_table(
            ["responses", "answers", "hourly rows", "daily rows", "load s", "SQL fill s",
             "rebuild_rollups s", "seq scan s", "rebuild/scan", "others' cores"],
            rows,
        )
    )  # fmt: skip
    print(
        "(SQL fill: the bench's one-pass INSERT … SELECT … GROUP BY of all three rollup tables, "
        "for reference;\n seq scan: SELECT count(*), sum(score) FROM surveys_answer, "
        "not parallel, warm)"
    )
    names = list(runs[large]["reads"])
    head = ["read", "groups"]
    for size in sizes:
        head += [f"{label(size)} selector p95", f"{label(size)} HTTP p95", f"{label(size)} raw p50"]
    rows = []
    for name in names:
        row = [name, runs[large]["reads"][name]["groups"]]
        for size in sizes:
            r = runs[size]["reads"][name]
            row += [f"{p(r['selector'], 95):.1f}"]
            row += [f"{p(r['http'], 95):.1f}" if "http" in r else "-"]
            row += [f"{p(r['raw'], 50):.0f}"]
        rows.append(row)
    others = ", ".join(f"{label(z)} {runs[z]['reads_others']:.2f}" for z in sizes)
    print("\nReads, ms (rollups: p95 of up to --repeat runs; raw SQL: median of a few runs):")
    print(c.format_table(head, rows))
    print(f"(others' cores during the reads: {others})")

    checks = []
    figures: dict = {"sizes": sizes, "reads": {}}
    for name in names:
        a, b = runs[small]["reads"][name], runs[large]["reads"][name]
        path = "http" if "http" in b else "selector"
        entry = {
            "p95_ms": round(p(b[path], 95), 1),
            "selector_p95_ms": round(p(b["selector"], 95), 1),
            "scale_ratio": round(p(b[path], 95) / p(a[path], 95), 2),
            "scale_ratio_p50": round(p(b[path], 50) / p(a[path], 50), 2),
            "rollup_over_raw": round(p(b["selector"], 50) / p(b["raw"], 50), 4),
        }
        figures["reads"][name] = entry
        checks.append((f"{name}: p95 ms, {label(large)}, {path}", entry["p95_ms"], "< 150"))
        checks.append(
            (
                f"{name}: p95 {label(large)}/{label(small)} (p50 in brackets)",
                entry["scale_ratio"],
                "≤ 1.5",
                f"{entry['scale_ratio']} ({entry['scale_ratio_p50']})",
            )
        )
        checks.append((f"{name}: rollup/raw, {label(large)}", entry["rollup_over_raw"], "-"))
    big = runs[large]
    figures["rebuild_s"] = round(big["rebuild_all_s"], 1)
    figures["rebuild_extrapolated"] = big["rebuild_stores"] != 0
    figures["sql_fill_s"] = round(big["fill_s"], 1)
    figures["scan_s"] = round(big["scan_s"], 2)
    figures["rebuild_over_scan"] = round(big["rebuild_all_s"] / big["scan_s"], 1)
    checks.append(
        (f"rebuild_rollups / seq scan, {label(large)}", figures["rebuild_over_scan"], "-")
    )
    checks.append(
        (f"SQL fill / seq scan, {label(large)}", round(big["fill_s"] / big["scan_s"], 1), "-")
    )
    print()
    print(
        c.format_table(
            ["ratio", "measured", "target", "met"],
            [
                [check[0], check[3] if len(check) > 3 else check[1], check[2], _met(*check[1:3])]
                for check in checks
            ],
        )
    )
    return figures


def _met(value, target: str) -> str:
    if target == "-":
        return ""
    limit = float(target.split()[1])
    return "yes" if (value < limit if target.startswith("<") else value <= limit) else "NO"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 k and 500 k responses")
    parser.add_argument("--sizes", help="responses, comma-separated, ascending (100000,5000000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per rollup read (30)")
    parser.add_argument("--raw-repeat", type=int, default=5, help="timed raw SQL runs, at most (5)")
    parser.add_argument(
        "--raw-budget", type=float, default=20, help="seconds per raw read, after 2 runs (20)"
    )
    parser.add_argument(
        "--full-rebuild-up-to",
        type=int,
        default=0,
        help="above this size, time rebuild_rollups on --rebuild-stores stores and extrapolate "
        "(0, the default: always the full rebuild)",
    )
    parser.add_argument(
        "--rebuild-stores", type=int, default=10, help="stores rebuilt above that size (10)"
    )
    parser.add_argument("--no-http", action="store_true", help="selector only, no gunicorn")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile a rebuild, EXPLAIN the slowest read, time other rollup shapes",
    )
    args = parser.parse_args(argv)
    text = args.sizes or ("20000,500000" if args.quick else "100000,5000000")
    try:
        args.sizes = [int(s.replace("_", "")) for s in text.split(",")]
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, not {text!r}")
    if len(args.sizes) < 2 or args.sizes != sorted(set(args.sizes)) or args.sizes[0] < 1000:
        parser.error("--sizes needs two or more ascending sizes of at least 1000")
    if args.repeat < 5 or args.raw_repeat < 2:
        parser.error("--repeat must be at least 5 and --raw-repeat at least 2")
    if not 1 <= args.rebuild_stores <= STORES:
        parser.error(f"--rebuild-stores must be between 1 and {STORES}")
    return args


def one_size(url, chain, size, loaded, window, web, meter, args) -> dict:
    first, last = window
    print(f"\n{size:,} responses over {first} … {last}", flush=True)
    out = load(url, chain, first, (last - first).days + 1, size - loaded)
    print(f"  load {out['load_s']:.1f} s, vacuum {out['vacuum_s']:.1f} s", flush=True)
    out["fill_s"] = sql_fill(url)
    print(f"  SQL fill of the rollups {out['fill_s']:.1f} s", flush=True)
    sample = args.full_rebuild_up_to and size > args.full_rebuild_up_to
    out.update(rebuild(url, args.rebuild_stores if sample else None, meter))
    out["scan_s"] = sequential_scan(url)
    out["tables"] = table_facts(url)
    print(
        f"  rebuild_rollups {out['rebuild_s']:.1f} s "
        f"({out['rebuild_stores'] or 'all'} stores, {out['buckets']:,} buckets, matches raw); "
        f"sequential scan of answers {out['scan_s']:.2f} s"
    )
    for table, (rows, size_b) in out["tables"].items():
        print(f"    {table}: {rows:,} rows, {size_b / 2**20:,.0f} MiB")
    out["reads"], out["reads_others"] = measure_reads(
        chain, last, web.port if web else None, args, meter
    )
    return out


def run(args) -> int:
    c.stop_cleanly_on_signals()
    began = time.perf_counter()
    log_dir = Path(tempfile.mkdtemp(prefix="cxhub-bench-rollups-"))
    last = datetime.now(UTC).date() - timedelta(days=1)
    window = (last - timedelta(days=364), last)
    with c.throwaway_database("cxhub_bench_rollups") as url:
        database = url.rsplit("/", 1)[1]
        env = c.django_env(url)
        print(f"database {database}: migrating…", flush=True)
        c.manage("migrate", "--no-input", "-v", "0", env=env)
        setup_django(env)
        chain = make_chain(STORES)
        server = contextlib.nullcontext(None)
        if not args.no_http:
            server = c.gunicorn(env, log_path=log_dir / "gunicorn.log")
        runs: dict[int, dict] = {}
        with server as web:
            if web:
                print(f"gunicorn on port {web.port} (log: {log_dir})")
            meter = c.CpuMeter(database, web.pid if web else None)
            loaded = 0
            for size in args.sizes:
                runs[size] = one_size(url, chain, size, loaded, window, web, meter, args)
                loaded = size
        figures = report(args.sizes, runs, STORES)
        if args.profile:
            print("\ncProfile of rebuild_rollups over 3 stores:\n" + profile_rebuild())
            slowest = explain_slowest(chain, last, runs[args.sizes[-1]]["reads"])
            print("EXPLAIN ANALYZE of the slowest read:\n" + slowest)
            print("\nregion × year × hour over other rollup shapes (SQL only, median ms):")
            table = what_if(url, chain, last)
            print(c.format_table(["rollup shape", "rows", "rows read", "ms"], table))
        from django.db import connections

        connections.close_all()
    figures["total_s"] = round(time.perf_counter() - began)
    print(f"\ntotal {figures['total_s']} s")
    # Scripts read the figures from the last line.
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(c.main(parse_args, run))
