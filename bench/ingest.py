"""Ingest benchmark: kiosk submissions through gunicorn against the physical limit.

Creates its own PostgreSQL database, migrates it, sets up a chain with kiosks through the
services, starts gunicorn with the production gunicorn.conf.py and sends bounded load:

  raw tx      plain psycopg2, one transaction per response (+ its answers), N threads
  single      POST /api/v1/kiosk/responses/, N kiosks in a closed loop
  open loop   the same endpoint at a fixed offered rate, for latency below saturation
  COPY        COPY of responses + answers, one transaction per batch, M threads
  batch       POST /api/v1/kiosk/responses/batch/, M kiosks in a closed loop

then checks that the database holds exactly what the API said it created, prints a table
and the ratios against the targets, and drops everything it made.

    .venv/bin/python bench/ingest.py [--duration 20] [--concurrency 32] [--profile]
"""

import argparse
import contextlib
import io
import json
import os
import platform
import random
import runpy
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

SINGLE_PATH = "/api/v1/kiosk/responses/"
BATCH_PATH = "/api/v1/kiosk/responses/batch/"
TARGET_SINGLE_SHARE, TARGET_P95_MS, TARGET_BATCH_SHARE = 0.20, 50.0, 0.25
# Upper bounds used to size the pre-built request pools (a run stops early past them).
MAX_SINGLE_RATE, MAX_BATCH_RATE = 3000, 8000

ZONES = ["Asia/Ho_Chi_Minh", "Asia/Bangkok"]
REASONS = ["wait_time", "staff", "product", "cleanliness", "price"]
COMMENTS = [
    "Nhân viên rất nhiệt tình",
    "พนักงานบริการดีมาก ขอบคุณครับ",
    "Phải xếp hàng lâu quá",
    "ห้องน้ำไม่ค่อยสะอาด",
    "Quick checkout, friendly staff.",
]
# Promoters outnumber detractors in most chains; detractors still answer `reason`.
NPS_WEIGHTS = [2, 1, 1, 2, 2, 4, 6, 10, 18, 24, 30]
RESPONSE_COLUMNS = (
    "id, organization_id, location_id, touchpoint_id, kiosk_id, survey_version_id, staff_id, "
    "submitted_at, received_at, local_day, local_hour, language, clock_untrusted, is_complete, "
    "body_digest"
)
ANSWER_COLUMNS = "response_id, question, kind, score, choices, text"
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Place:
    """One kiosk and what a row from it needs."""

    token: str
    kiosk_id: int
    organization_id: int
    location_id: int
    touchpoint_id: int
    version_id: int
    zone: str
    staff: tuple[tuple[int, str], ...]


@dataclass
class Tally:
    """What the API answered, item by item: the database must end up holding exactly this."""

    created: int = 0
    answers: int = 0
    other: dict = field(default_factory=dict)

    def note(self, status: str, n_answers: int) -> None:
        if status == "created":
            self.created += 1
            self.answers += n_answers
        else:
            self.other[status] = self.other.get(status, 0) + 1


# --- set-up ---------------------------------------------------------------------------------


def make_chain(env: dict[str, str], roles: dict[str, int]) -> dict[str, list[Place]]:
    """A chain of 8 stores in two time zones with staff, and kiosks for each role."""
    os.environ.update(env)
    sys.path.insert(0, str(c.REPO))
    import django

    django.setup()
    from django.db import connections

    from locations.models import Location, StaffMember
    from locations.services import create_kiosk, create_organization

    org = create_organization(name="Bench Chain", slug="bench-chain", default_language="vi")
    version_id = org.default_survey.current_version_id
    stores = []
    for i in range(8):
        store = Location.objects.create(
            organization=org, code=f"BN-{i:02d}", name=f"Bench store {i}", timezone=ZONES[i % 2]
        )
        staff = [
            StaffMember.objects.create(
                organization=org, location=store, code=f"NV-{i}{j:02d}", display_name=f"Staff {j}"
            )
            for j in range(6)
        ]
        stores.append((store, tuple((s.pk, s.code) for s in staff)))
    places: dict[str, list[Place]] = {}
    for role, count in roles.items():
        places[role] = []
        for i in range(count):
            store, staff = stores[i % len(stores)]
            issued = create_kiosk(location=store, name=f"{role}-{i}")
            places[role].append(
                Place(
                    issued.token,
                    issued.kiosk.pk,
                    org.pk,
                    store.pk,
                    issued.kiosk.touchpoint_id,
                    version_id,
                    store.timezone,
                    staff,
                )
            )
    connections.close_all()
    return places


# --- bodies and rows ------------------------------------------------------------------------


def a_body(rng: random.Random, place: Place, now: datetime) -> tuple[dict, list[tuple]]:
    """A valid body for the default survey, and the answer rows it becomes."""
    nps = rng.choices(range(11), NPS_WEIGHTS)[0]
    answers = {"nps": nps, "csat": rng.randint(1, 5), "ces": rng.randint(1, 7)}
    rows = [("nps", "nps", nps, None, ""), ("csat", "csat", answers["csat"], None, "")]
    rows.append(("ces", "ces", answers["ces"], None, ""))
    if nps <= 6:
        answers["reason"] = rng.sample(REASONS, rng.randint(1, 2))
        rows.append(("reason", "choice", None, json.dumps(answers["reason"]), ""))
    if rng.random() < 0.3:
        answers["comment"] = rng.choice(COMMENTS)
        rows.append(("comment", "text", None, None, answers["comment"]))
    # Customers answer a little before the kiosk sends (queued, or a slow network).
    submitted = (now - timedelta(seconds=rng.uniform(0, 600))).astimezone(ZoneInfo(place.zone))
    body = {
        "id": str(uuid.uuid4()),
        "submitted_at": submitted.isoformat(timespec="milliseconds"),
        "language": "vi" if place.zone == "Asia/Ho_Chi_Minh" else rng.choice(["th", "th", "en"]),
        "answers": answers,
    }
    if rng.random() < 0.5:
        body["staff"] = rng.choice(place.staff)[1]
    return body, rows


def single_requests(rng, place: Place, count: int) -> list[tuple[bytes, int]]:
    auth = {"Authorization": f"Bearer {place.token}"}
    now = datetime.now(UTC)
    out = []
    for _ in range(count):
        body, rows = a_body(rng, place, now)
        out.append(
            (c.http_request("POST", SINGLE_PATH, json.dumps(body).encode(), auth), len(rows))
        )
    return out


def batch_requests(rng, place: Place, count: int, size: int) -> list[tuple[bytes, list[int]]]:
    auth = {"Authorization": f"Bearer {place.token}"}
    now = datetime.now(UTC)
    out = []
    for _ in range(count):
        bodies = [a_body(rng, place, now) for _ in range(size)]
        raw = json.dumps({"responses": [b for b, _ in bodies]}).encode()
        out.append((c.http_request("POST", BATCH_PATH, raw, auth), [len(r) for _, r in bodies]))
    return out


def row_shapes(rng, place: Place, count: int) -> list[tuple[tuple, list[tuple]]]:
    """(response row, answer rows) with PLACEHOLDER for the id, as the service would store."""
    now = datetime.now(UTC)
    shapes = []
    for _ in range(count):
        body, answers = a_body(rng, place, now)
        submitted = datetime.fromisoformat(body["submitted_at"])
        staff = next((pk for pk, code in place.staff if code == body.get("staff")), None)
        response = (
            PLACEHOLDER,
            place.organization_id,
            place.location_id,
            place.touchpoint_id,
            place.kiosk_id,
            place.version_id,
            staff,
            submitted,
            now,
            submitted.date(),
            submitted.hour,
            body["language"],
            False,
            True,
            uuid.uuid4().hex * 2,
        )
        shapes.append((response, [(PLACEHOLDER, *a) for a in answers]))
    return shapes


# --- the physical limit ---------------------------------------------------------------------


def raw_transactions(url, places, duration, meter) -> tuple[c.LoadResult, int, int]:
    """Plain psycopg2, one transaction per response: its row, then its answers, commit.

    The SQL is rendered before the timer; only a fresh id is put in per transaction.
    """
    conns = [c.connect(url) for _ in places]
    templates = []
    for conn, place in zip(conns, places, strict=True):
        with conn.cursor() as cur:
            rendered = []
            for response, answers in row_shapes(random.Random(place.kiosk_id), place, 200):
                insert_response = (
                    f"INSERT INTO surveys_surveyresponse ({RESPONSE_COLUMNS}) VALUES %s"
                )
                insert_answers = (
                    f"INSERT INTO surveys_answer ({ANSWER_COLUMNS}) VALUES "
                    + ",".join(["%s"] * len(answers))
                )
                rendered.append(
                    (
                        cur.mogrify(insert_response, (response,)).decode(),
                        cur.mogrify(insert_answers, answers).decode(),
                        len(answers),
                    )
                )
            templates.append(rendered)

    def work(i, deadline, latencies):
        conn, shapes, done, answers = conns[i], templates[i], 0, 0
        with conn.cursor() as cur:
            while (started := time.perf_counter()) < deadline:
                response_sql, answers_sql, n = shapes[done % len(shapes)]
                rid = str(uuid.uuid4())
                cur.execute(response_sql.replace(PLACEHOLDER, rid))
                cur.execute(answers_sql.replace(PLACEHOLDER, rid))
                conn.commit()
                latencies.append(time.perf_counter() - started)
                done, answers = done + 1, answers + n
        return done, answers

    try:
        outcomes, result = c.thread_loop(len(places), work, duration=duration, meter=meter)
    finally:
        for conn in conns:
            conn.close()
    return result, sum(o[0] for o in outcomes), sum(o[1] for o in outcomes)


def _csv(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return '"' + text.replace('"', '""') + '"'


def copy_rate(url, places, size, duration, meter) -> tuple[c.LoadResult, int, int]:
    """COPY of responses and then their answers, one transaction per batch of `size`."""
    conns = [c.connect(url) for _ in places]
    templates = [
        [
            (
                ",".join(map(_csv, response)) + "\n",
                "".join(",".join(map(_csv, a)) + "\n" for a in answers),
                len(answers),
            )
            for response, answers in row_shapes(random.Random(place.kiosk_id), place, 500)
        ]
        for place in places
    ]
    copy_responses = f"COPY surveys_surveyresponse ({RESPONSE_COLUMNS}) FROM STDIN (FORMAT csv)"
    copy_answers = f"COPY surveys_answer ({ANSWER_COLUMNS}) FROM STDIN (FORMAT csv)"

    def work(i, deadline, latencies):
        conn, shapes, done, answers = conns[i], templates[i], 0, 0
        with conn.cursor() as cur:
            while (started := time.perf_counter()) < deadline:
                responses, rows = [], []
                for k in range(size):
                    response_csv, answers_csv, n = shapes[(done + k) % len(shapes)]
                    rid = str(uuid.uuid4())
                    responses.append(response_csv.replace(PLACEHOLDER, rid))
                    rows.append(answers_csv.replace(PLACEHOLDER, rid))
                    answers += n
                cur.copy_expert(copy_responses, io.StringIO("".join(responses)))
                cur.copy_expert(copy_answers, io.StringIO("".join(rows)))
                conn.commit()
                latencies.append(time.perf_counter() - started)
                done += size
        return done, answers

    try:
        outcomes, result = c.thread_loop(len(places), work, duration=duration, meter=meter)
    finally:
        for conn in conns:
            conn.close()
    return result, sum(o[0] for o in outcomes), sum(o[1] for o in outcomes)


# --- through the API ------------------------------------------------------------------------


def _interleave(queues: list[list]) -> list:
    return [item for row in zip(*queues, strict=False) for item in row]


def api_single(port, places, duration, tally: Tally, meter, *, rate=None) -> c.LoadResult:
    """Single responses: a closed loop of one client per kiosk, or an open loop at `rate`."""
    rng = random.Random(tally.created + int(duration * 1000))
    expected = (rate * 1.3 + 50) if rate else MAX_SINGLE_RATE
    per_kiosk = int(duration * expected / len(places)) + 5
    queues = [single_requests(rng, place, per_kiosk) for place in places]

    def on_response(n_answers, status, body):
        tally.note("created" if status == 201 else f"HTTP {status}", n_answers)

    if rate:
        return c.open_loop(
            port,
            _interleave(queues),
            rate=rate,
            duration=duration,
            on_response=on_response,
            meter=meter,
        )
    return c.closed_loop(port, queues, duration=duration, on_response=on_response, meter=meter)


def api_batch(port, places, duration, size, tally: Tally, meter) -> c.LoadResult:
    rng = random.Random(size)
    per_kiosk = int(duration * MAX_BATCH_RATE / size / len(places)) + 2
    queues = [batch_requests(rng, place, per_kiosk, size) for place in places]

    def on_response(n_answers, status, body):
        if status != 200:
            for n in n_answers:
                tally.note(f"HTTP {status}", n)
            return
        for result, n in zip(json.loads(body)["results"], n_answers, strict=True):
            tally.note(result["status"], n)

    return c.closed_loop(port, queues, duration=duration, on_response=on_response, meter=meter)


@dataclass
class Phase:
    name: str
    concurrency: str
    responses: int
    result: c.LoadResult
    note: str = ""

    @property
    def rate(self) -> float:
        return self.responses / self.result.elapsed if self.result.elapsed else 0.0

    @property
    def latency(self) -> dict:
        return c.latency_summary(self.result.latencies)


def api_phase(name, concurrency, tally: Tally, run) -> Phase:
    before = tally.created
    result = run()
    phase = Phase(name, concurrency, tally.created - before, result)
    if result.exhausted:
        phase.note = f"{result.exhausted} clients ran out of pre-built requests before the end"
    print(f"  {name}: {phase.rate:,.0f} responses/s", flush=True)
    return phase


def baseline_phase(name, concurrency, run) -> Phase:
    result, responses, _answers = run()
    phase = Phase(name, concurrency, responses, result)
    print(f"  {name}: {phase.rate:,.0f} responses/s", flush=True)
    return phase


# --- checking and reporting -----------------------------------------------------------------


def stored_counts(url: str, places: dict[str, list[Place]]) -> dict[str, tuple[int, int]]:
    role_of = {p.kiosk_id: role for role, ps in places.items() for p in ps}
    counts = {role: [0, 0] for role in places}
    conn = c.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT kiosk_id, count(*) FROM surveys_surveyresponse GROUP BY kiosk_id")
            for kiosk_id, n in cur.fetchall():
                counts[role_of[kiosk_id]][0] += n
            cur.execute(
                "SELECT r.kiosk_id, count(*) FROM surveys_answer a "
                "JOIN surveys_surveyresponse r ON r.id = a.response_id GROUP BY r.kiosk_id"
            )
            for kiosk_id, n in cur.fetchall():
                counts[role_of[kiosk_id]][1] += n
    finally:
        conn.close()
    return {role: (n[0], n[1]) for role, n in counts.items()}


def machine_facts(url: str, gunicorn_settings: dict) -> dict[str, str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    conn = c.connect(url)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        pg += f", synchronous_commit={cur.fetchone()[0]}"
    conn.close()
    g = gunicorn_settings
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{len(os.sched_getaffinity(0))} cores, {model}",
        "python": platform.python_version(),
        "postgresql": pg,
        "gunicorn": f"{g['worker_class']}, {g['workers']} workers x {g['threads']} threads, "
        f"preload={g['preload_app']}",
    }


def cpu_columns(p: Phase) -> list[str]:
    cpu, n = p.result.cpu, max(p.responses, 1)
    ours = cpu["app"] + cpu["postgres"] + cpu["bench"]
    others = max(cpu["machine"] - ours, 0) / p.result.elapsed
    return [
        "/".join(f"{1000 * cpu[k] / n:.2f}" for k in ("app", "postgres", "bench")),
        f"{n / ours:,.0f}" if ours else "-",
        f"{others:.2f}",
    ]


def report(phases: dict[str, Phase], facts: dict, integrity: list[str]) -> dict:
    for name, value in facts.items():
        print(f"{name:>10}: {value}")
    rows = []
    for p in phases.values():
        lat = p.latency
        rows.append(
            [p.name, p.concurrency, p.responses, f"{p.rate:,.0f}"]
            + [f"{lat[k]:.1f}" for k in ("p50", "p95", "p99", "max")]
            + [sum(p.result.errors.values())]
            + cpu_columns(p)
        )
    print()
    print(
        c.format_table(
            [
                "phase",
                "conc.",
                "responses",
                "resp/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "errors",
                "CPU ms/resp app/pg/bench",
                "resp per CPU-s",
                "others' cores",
            ],
            rows,
        )
    )
    print("(latency is per request for the API, per transaction for the baselines)")
    single, raw, batch, copy = (phases[k] for k in ("single", "raw", "batch", "copy"))

    def efficiency(p):
        cpu = p.result.cpu
        return p.responses / (cpu["app"] + cpu["postgres"] + cpu["bench"])

    figures = {
        "single_rps": round(single.rate, 1),
        "single_p95_ms": round(single.latency["p95"], 1),
        "open_loop": [
            {"rps": round(p.rate, 1), "p95_ms": round(p.latency["p95"], 1)}
            for key, p in phases.items()
            if key.startswith("open")
        ],
        "raw_tx_per_s": round(raw.rate, 1),
        "batch_rps": round(batch.rate, 1),
        "copy_rps": round(copy.rate, 1),
        "single_share_of_raw": round(single.rate / raw.rate, 3),
        "batch_share_of_copy": round(batch.rate / copy.rate, 3),
        "single_cpu_share_of_raw": round(efficiency(single) / efficiency(raw), 3),
        "batch_cpu_share_of_copy": round(efficiency(batch) / efficiency(copy), 3),
        "integrity": "ok" if not integrity else "FAILED",
    }
    checks = [
        ("single API / raw tx (responses/s)", figures["single_share_of_raw"], TARGET_SINGLE_SHARE),
        (
            "single API / raw tx (per CPU-second)",
            figures["single_cpu_share_of_raw"],
            TARGET_SINGLE_SHARE,
        ),
        (
            f"single p95 ms, closed loop, {single.concurrency}",
            figures["single_p95_ms"],
            -TARGET_P95_MS,
        ),
    ]
    checks += [
        (
            f"single p95 ms, {p.name.removeprefix('API single, ')}",
            round(p.latency["p95"], 1),
            -TARGET_P95_MS,
        )
        for key, p in phases.items()
        if key.startswith("open")
    ]
    checks += [
        ("batch API / COPY (responses/s)", figures["batch_share_of_copy"], TARGET_BATCH_SHARE),
        (
            "batch API / COPY (per CPU-second)",
            figures["batch_cpu_share_of_copy"],
            TARGET_BATCH_SHARE,
        ),
    ]
    print()
    print(
        c.format_table(
            ["ratio", "measured", "target", "met"],
            [
                [
                    name,
                    value,
                    f"< {-target:g}" if target < 0 else f">= {target:g}",
                    "yes" if (value < -target if target < 0 else value >= target) else "NO",
                ]
                for name, value, target in checks
            ],
        )
    )
    print()
    print(
        "integrity: every 201/created is in the database, exactly once:",
        "yes" if not integrity else "NO\n  " + "\n  ".join(integrity),
    )
    for p in phases.values():
        if p.note:
            print(f"note: {p.name}: {p.note}")
    return figures


def check_integrity(url, places, tallies: dict[str, Tally], phases: dict[str, Phase]) -> list[str]:
    """Nothing lost, nothing doubled: the rows in the database are exactly what was reported."""
    stored = stored_counts(url, places)
    problems = []
    for role, tally in tallies.items():
        if tally.other:
            problems.append(f"{role}: the API did not create everything: {tally.other}")
        if stored[role] != (tally.created, tally.answers):
            problems.append(
                f"{role}: API created {tally.created} responses / {tally.answers} answers, "
                f"the database holds {stored[role][0]} / {stored[role][1]}"
            )
    for role in ("raw", "copy"):
        if stored[role][0] != phases[role].responses:
            problems.append(
                f"{role}: wrote {phases[role].responses}, the database holds {stored[role][0]}"
            )
    return problems


# --- where the server's time goes -----------------------------------------------------------


def profile_server_path(place: Place, size: int, singles: int = 400, batches: int = 6) -> None:
    """cProfile the whole Django path (middleware, auth, throttle, service, serializer) in
    this process, without gunicorn or sockets, and count the queries of one request."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {place.token}")
    rng, now = random.Random(7), datetime.now(UTC)

    def post(path, payload):
        return client.post(path, json.dumps(payload), content_type="application/json")

    for label, path, payloads in (
        ("single", SINGLE_PATH, [a_body(rng, place, now)[0] for _ in range(singles)]),
        (
            "batch",
            BATCH_PATH,
            [
                {"responses": [a_body(rng, place, now)[0] for _ in range(size)]}
                for _ in range(batches)
            ],
        ),
    ):
        post(path, payloads.pop())  # warm caches and the connection
        with CaptureQueriesContext(connection) as queries:
            post(path, payloads.pop())
        print(f"\n--- {label}: {len(queries)} queries in one request")
        for q in queries.captured_queries:
            print(f"  {q['time']}s  {q['sql'][:150]}")
        # CPU time, not wall time: on a shared machine, waiting for a core is not a hotspot.
        profiler = cProfile.Profile(time.process_time)
        wall, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        for payload in payloads:
            post(path, payload)
        profiler.disable()
        wall = (time.perf_counter() - wall) / len(payloads)
        cpu = (time.process_time() - cpu) / len(payloads)
        print(
            f"--- {label}: {1000 * cpu:.2f} ms CPU, {1000 * wall:.2f} ms wall per request (profiled)"
        )
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(r"(surveys|locations|cxhub|rest_framework)/", 25)


def component_costs(place: Place, database: str, size: int, calls: int = 300) -> None:
    """CPU per call of each step of the single-response path, in this process (Django) and
    in its PostgreSQL backend, without a profiler's overhead."""
    from django.test import Client

    from locations.selectors import kiosk_for_token
    from surveys import serializers
    from surveys.models import SurveyResponse
    from surveys.services import record_batch, record_response

    meter = c.CpuMeter(database)
    rng, now = random.Random(11), datetime.now(UTC)
    kiosk = kiosk_for_token(place.token)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {place.token}")
    stored: list = []

    def full_request(i):
        client.post(SINGLE_PATH, json.dumps(a_body(rng, place, now)[0]), "application/json")

    def store(i):
        stored.append(record_response(kiosk=kiosk, body=a_body(rng, place, now)[0]).response.pk)

    def answer_201(i):
        response = (
            SurveyResponse.objects.select_related("location", "touchpoint", "staff")
            .prefetch_related("answers")
            .get(pk=stored[i % len(stored)])
        )
        return serializers.ResponseOut(response).data

    def batch(i):
        record_batch(kiosk=kiosk, items=[a_body(rng, place, now)[0] for _ in range(size)])

    steps = [
        ("whole request (test client)", full_request, calls, 1),
        ("auth: kiosk_for_token", lambda i: kiosk_for_token(place.token), calls, 1),
        ("record_response, new id (with on-commit)", store, calls, 1),
        ("201 body: re-read + ResponseOut", answer_201, calls, 1),
        (f"record_batch of {size}, per response", batch, max(2, calls // 100), size),
    ]
    from metrics.services import mark_dirty, request_refresh

    bucket = [(place.location_id, now.date(), now.hour)]
    steps.insert(
        3, ("  of which: mark dirty (in the transaction)", lambda i: mark_dirty(bucket), calls, 1)
    )
    steps.insert(
        4,
        ("  of which on-commit: enqueue the refresh", lambda i: request_refresh(), calls, 1),
    )
    rows = []
    for label, step, n, per in steps:
        step(0)  # warm up
        before, cpu, wall = meter.snapshot(), time.process_time(), time.perf_counter()
        for i in range(n):
            step(i)
        pg = c.cpu_used(before, meter.snapshot())["postgres"]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        k = n * per
        rows.append(
            [label, f"{1000 * cpu / k:.2f}", f"{1000 * pg / k:.2f}", f"{1000 * wall / k:.2f}"]
        )
    print("\nCPU per call, in-process (body building included, ~0.03 ms):")
    print(c.format_table(["step", "Django ms", "PostgreSQL ms", "wall ms"], rows))


# --- the run --------------------------------------------------------------------------------


def open_rate(text: str) -> tuple[float, bool]:
    """ "25" is 25 responses/s, "50%" half the closed-loop rate: (value, relative)."""
    try:
        value = float(text.removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a rate nor a percentage") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a rate cannot be negative")
    return value, text.endswith("%")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=20, help="seconds per API phase (20)")
    p.add_argument("--baseline-duration", type=float, default=10, help="seconds per baseline (10)")
    p.add_argument(
        "--concurrency", type=int, default=32, help="single-response kiosks, raw threads (32)"
    )
    p.add_argument(
        "--batch-concurrency", type=int, default=4, help="batch kiosks, COPY threads (4)"
    )
    p.add_argument(
        "--batch-size", type=int, default=500, help="responses per batch and per COPY (500)"
    )
    p.add_argument(
        "--open-rate",
        action="append",
        type=open_rate,
        help="offered rate of an open-loop phase: responses/s, or N%% of the closed-loop rate; "
        "repeat for several phases, 0 for none (default: 50%% and 10)",
    )
    p.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py)")
    p.add_argument("--worker-class", help="gunicorn worker class (default: gunicorn.conf.py)")
    p.add_argument(
        "--threads", type=int, help="gunicorn threads per worker (default: gunicorn.conf.py)"
    )
    p.add_argument(
        "--eager",
        action="store_true",
        help="no Redis: Celery tasks (rollup refreshes) run inside each request",
    )
    p.add_argument(
        "--profile", action="store_true", help="also cProfile the server path in-process"
    )
    args = p.parse_args(argv)
    if not 1 <= args.batch_size <= 500:
        p.error("--batch-size must be between 1 and 500 (the API's limit)")
    if min(args.concurrency, args.batch_concurrency) < 1:
        p.error("concurrency must be at least 1")
    if min(args.duration, args.baseline_duration) <= 0:
        p.error("durations must be positive")
    return args


def gunicorn_settings(env: dict[str, str]) -> dict:
    """What gunicorn.conf.py resolves to in this environment."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return runpy.run_path(str(c.REPO / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def server_env(args, url: str, redis: c.Server | None) -> dict[str, str]:
    # A one-second throttle window keeps DRF's per-kiosk history as short as a real kiosk's
    # (a few timestamps) while never refusing the bench.
    extra = {"KIOSK_RATE": "1000000/s"}
    if redis is not None:
        extra["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
    for name, value in (
        ("GUNICORN_WORKERS", args.workers),
        ("GUNICORN_WORKER_CLASS", args.worker_class),
        ("GUNICORN_THREADS", args.threads),
    ):
        if value is not None:
            extra[name] = str(value)
    return c.django_env(url, **extra)


def load_phases(args, url, port, places, tallies, meter) -> dict[str, Phase]:
    n, m, size = args.concurrency, args.batch_concurrency, args.batch_size
    single, batch = tallies["single"], tallies["batch"]
    api_phase("warm-up", "", single, lambda: api_single(port, places["single"], 3, single, meter))
    phases = {}
    phases["raw"] = baseline_phase(
        "raw psycopg2, 1 tx/response",
        f"{n} threads",
        lambda: raw_transactions(url, places["raw"], args.baseline_duration, meter),
    )
    phases["single"] = api_phase(
        "API single, closed loop",
        f"{n} kiosks",
        single,
        lambda: api_single(port, places["single"], args.duration, single, meter),
    )
    for i, (value, relative) in enumerate(args.open_rate or [(50, True), (10, False)]):
        rate = round(phases["single"].rate * value / 100, 1) if relative else value
        if rate > 0:
            phases[f"open{i}"] = api_phase(
                f"API single, open loop at {rate:g}/s" + (f" ({value:g}%)" if relative else ""),
                f"{n} kiosks",
                single,
                lambda rate=rate: api_single(
                    port, places["single"], args.duration, single, meter, rate=rate
                ),
            )
    phases["copy"] = baseline_phase(
        f"COPY, {size} per tx",
        f"{m} threads",
        lambda: copy_rate(url, places["copy"], size, args.baseline_duration, meter),
    )
    phases["batch"] = api_phase(
        f"API batch of {size}, closed loop",
        f"{m} kiosks",
        batch,
        lambda: api_batch(port, places["batch"], args.duration, size, batch, meter),
    )
    return phases


def run(args) -> int:
    c.stop_cleanly_on_signals()
    log_dir = Path(tempfile.mkdtemp(prefix="cxhub-bench-"))
    redis_or_none = contextlib.nullcontext(None) if args.eager else c.redis_server()
    with c.throwaway_database() as url, redis_or_none as redis:
        database = url.rsplit("/", 1)[1]
        env = server_env(args, url, redis)
        print(f"database {database}: migrating…", flush=True)
        c.manage("migrate", "--no-input", "-v", "0", env=env)
        n, m = args.concurrency, args.batch_concurrency
        places = make_chain(env, {"single": n, "batch": m, "raw": n, "copy": m, "profile": 1})
        facts = machine_facts(url, gunicorn_settings(env))
        facts["tasks"] = (
            "enqueued to a private Redis, not run (no Celery worker); Redis CPU counts as app"
            if redis
            else "eager: rollup refreshes run inside each request (no REDIS_URL)"
        )
        tallies = {"single": Tally(), "batch": Tally()}
        with c.gunicorn(env, log_path=log_dir / "gunicorn.log") as server:
            print(f"gunicorn on port {server.port}: {facts['gunicorn']} (log: {log_dir})")
            print(f"tasks: {facts['tasks']}", flush=True)
            meter = c.CpuMeter(database, server.pid, (redis.pid,) if redis else ())
            phases = load_phases(args, url, server.port, places, tallies, meter)
        if args.profile:
            component_costs(places["profile"][0], database, args.batch_size)
            profile_server_path(places["profile"][0], args.batch_size)
        integrity = check_integrity(url, places, tallies, phases)
        print()
        figures = report(phases, facts, integrity)
    if integrity:
        print(f"gunicorn's log is kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    # Scripts read the figures from the last line.
    print(json.dumps(figures))
    return 1 if integrity else 0


if __name__ == "__main__":
    sys.exit(c.main(parse_args, run))
