"""The load bench's measurements and end checks: memory, table sizes and CPU sampling; the
stored rows, the metrics API's counts and their catch-up, the integrity check; the report's
table helpers. Used by bench/load.py.
"""

import bisect
import math
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
from load_traffic import READ_MIX, SCORES_PATH, Item, Phase

STABLE_GROWTH = 0.10  # RSS growth over the second half of the load, per component


# --- memory, tables, CPU --------------------------------------------------------------------


def rss_kib(pid: int, field: str = "VmRSS:", where: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{where}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: pages shared with the master (preload) counted once overall."""
    return rss_kib(pid, "Pss:", "smaps_rollup")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = c._proc_stat(int(entry))
            if fields is not None and int(fields[2]) == pid:
                out.append(int(entry))
    return out


class MemorySampler(threading.Thread):
    """RSS of each component every `interval` seconds, from /proc, until stopped."""

    def __init__(self, interval: float, components: dict[str, int], database: str):
        super().__init__(daemon=True)
        self.interval, self.components, self.database = interval, components, database
        self.samples: list[tuple[float, dict[str, tuple[int, int]]]] = []
        self.worker_pids: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def take(self) -> None:
        sample = {}
        for name, pid in self.components.items():
            if name == "gunicorn workers":
                pids = children(pid)
                self.worker_pids.update(pids)
            elif name == "celery worker":
                pids = [pid, *children(pid)]
            else:
                pids = [pid]
            sample[name] = (sum(rss_kib(p) for p in pids), len(pids))
            if name == "gunicorn workers":
                sample["gunicorn workers (PSS)"] = (sum(pss_kib(p) for p in pids), len(pids))
        backends = [
            int(e)
            for e in os.listdir("/proc")
            if e.isdigit() and f" {self.database} " in f"{c._cmdline(int(e))} "
        ]
        sample["PostgreSQL backends"] = (sum(rss_kib(p) for p in backends), len(backends))
        with self.lock:
            self.samples.append((time.perf_counter(), sample))

    def run(self) -> None:
        while not self.stop.is_set():
            self.take()
            self.stop.wait(self.interval)

    def at(self, moment: float) -> dict:
        """The sample nearest `moment`."""
        with self.lock:
            times = [t for t, _ in self.samples]
            i = bisect.bisect_left(times, moment)
            near = min(
                (j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - moment)
            )
            return self.samples[near][1]


def table_sizes(url: str) -> dict:
    conn = c.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup "
                "FROM pg_stat_user_tables"
            )
            tables = {name: (size, live, dead) for name, size, live, dead in cur.fetchall()}
            cur.execute("SELECT pg_database_size(current_database())")
            tables["(whole database)"] = (cur.fetchone()[0], 0, 0)
    finally:
        conn.close()
    return tables


# --- the end: was everything stored once, and counted? --------------------------------------


def stored_rows(url: str) -> tuple[set[str], int, dict[str, int]]:
    conn = c.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id::text FROM surveys_surveyresponse")
            ids = {row[0] for row in cur.fetchall()}
            cur.execute("SELECT count(*) FROM surveys_answer")
            answers = cur.fetchone()[0]
            cur.execute(
                "SELECT l.code, count(*) FROM surveys_surveyresponse r "
                "JOIN locations_location l ON l.id = r.location_id GROUP BY l.code"
            )
            per_store = dict(cur.fetchall())
    finally:
        conn.close()
    return ids, answers, per_store


def metrics_counts(client: httpx.Client, window: tuple[str, str]) -> dict[str, int]:
    response = client.get(
        SCORES_PATH,
        params={"group_by": "location", "question": "nps", "from": window[0], "to": window[1]},
    )
    response.raise_for_status()
    return {r["group"]["location"]: r["questions"]["nps"]["n"] for r in response.json()["results"]}


def catch_up(client, window, expected: dict[str, int], deadline: float) -> tuple[float, dict]:
    """Poll the metrics API until its n per store equals `expected`; the time it happened."""
    seen: dict = {}
    while True:
        try:
            seen = metrics_counts(client, window)
        except (httpx.HTTPError, KeyError, ValueError) as error:
            seen = {"error": repr(error)}
        done = time.perf_counter()
        if seen == expected:
            return done, seen
        if done > deadline:
            return math.nan, seen
        time.sleep(0.5)


def check(items: dict[str, Item], stored: set[str], answers: int) -> tuple[list[str], dict]:
    accepted = {i for i, item in items.items() if item.accepted_at is not None}
    unresolved = {i for i, item in items.items() if item.accepted_at is None and not item.rejected}
    rejected = {i for i, item in items.items() if item.rejected}
    doubled = [i for i, item in items.items() if item.created > 1]
    lost = accepted - stored
    unknown = stored - set(items)
    expected_answers = sum(items[i].answers for i in stored & set(items))
    problems = []
    if lost:
        problems.append(f"{len(lost):,} responses the API accepted are not in the database")
    if doubled:
        problems.append(f"{len(doubled):,} responses were answered 'created' more than once")
    if unknown:
        problems.append(f"{len(unknown):,} rows in the database that no kiosk sent")
    if rejected:
        problems.append(f"{len(rejected):,} responses were refused (400/409/invalid/conflict)")
    if answers != expected_answers:
        problems.append(f"the database holds {answers:,} answers, expected {expected_answers:,}")
    facts = {
        "arrived": len(items),
        "accepted": len(accepted),
        "rows": len(stored),
        "answers": answers,
        "lost": len(lost),
        "doubled": len(doubled),
        "unresolved": len(unresolved),
        # Stored by the server, but the kiosk never heard so (it would send them again).
        "unresolved_stored": len(unresolved & stored),
        "rejected": len(rejected),
    }
    return problems, facts


# --- the report -----------------------------------------------------------------------------


def ms(values: list[float]) -> dict[str, float]:
    return c.latency_summary(values)


def fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def traffic_rows(phase: Phase) -> list[list]:
    rows = []
    order = ["single", "batch", "heartbeat"] + [f"read: {k}" for k, _ in READ_MIX]
    for kind in order:
        statuses = phase.statuses.get(kind)
        if not statuses:
            continue
        lat = ms(phase.latency[kind])
        shown = ", ".join(
            f"{k}: {n:,}" for k, n in sorted(statuses.items(), key=lambda kv: str(kv[0]))
        )
        rows.append(
            [
                phase.name,
                kind,
                f"{sum(statuses.values()):,}",
                shown,
                *(fmt_ms(lat[q]) for q in ("p50", "p95", "p99", "max")),
            ]
        )
    return rows


def reads_of(phase: Phase) -> list[float]:
    return [x for kind, v in phase.latency.items() if kind.startswith("read") for x in v]


def errors_of(phase: Phase) -> Counter:
    """Every answer that was not a success, by kind and status; client errors included."""
    out = Counter()
    for kind, statuses in phase.statuses.items():
        for status, n in statuses.items():
            if status not in (200, 201):
                out[f"{kind} {status}"] += n
    return out


def cpu_row(phase: Phase) -> dict:
    # Per row the server stored (from the phase's start until the kiosks' queues were empty):
    # work for answers a kiosk gave up waiting for is work all the same.
    cpu, n = phase.cpu, max(phase.rows_at_drained - phase.rows_at_start, 1)
    ours = cpu["app"] + cpu["postgres"] + cpu["bench"] + phase.worker_cpu
    window = phase.drained - phase.start
    return {
        "app": 1000 * cpu["app"] / n,
        "postgres": 1000 * cpu["postgres"] / n,
        "worker": 1000 * phase.worker_cpu / n,
        "bench": 1000 * cpu["bench"] / n,
        "total": 1000 * ours / n,
        "others": max(cpu["machine"] - ours, 0) / window,
        "busy": cpu["machine"] / window,
    }


def mib(kib: int) -> str:
    return f"{kib / 1024:,.1f}"


# Reported, not judged: Redis holds whatever backlog the load leaves, and a backend's RSS
# grows as it touches more of PostgreSQL's shared buffers.
NOT_JUDGED = ("redis-server", "PostgreSQL backends")


def memory_rows(sampler: MemorySampler, phase: Phase, after: float) -> tuple[list, bool | None]:
    """Rows for the memory table, and whether every judged process stayed within
    STABLE_GROWTH over the second half of the load (None: too few samples to say)."""
    start, mid = sampler.at(phase.start), sampler.at(phase.start + phase.elapsed / 2)
    end, later = sampler.at(phase.end), sampler.at(after)
    judged = phase.elapsed >= 4 * sampler.interval
    rows, stable = [], True
    for name in start:
        s, m, e, a = (x[name][0] for x in (start, mid, end, later))
        second_half = (e - m) / m if m else 0.0
        steady = second_half <= STABLE_GROWTH or name in NOT_JUDGED or not judged
        stable &= steady
        rows.append(
            [
                name,
                f"{start[name][1]}/{end[name][1]}",
                mib(s),
                mib(m),
                mib(e),
                mib(a),
                f"{(e - s) / 1024:+,.1f} ({100 * (e - s) / max(s, 1):+.0f} %)",
                f"{100 * second_half:+.1f} %" + ("" if steady else " (!)"),
            ]
        )
    return rows, stable if judged else None


def table_rows(before: dict, after: dict, responses: int) -> list[list]:
    rows = []
    grown = sorted(
        (name for name in after if name != "(whole database)"),
        key=lambda n: after[n][0] - before.get(n, (0, 0, 0))[0],
        reverse=True,
    )[:8]
    for name in [*grown, "(whole database)"]:
        b, a = before.get(name, (0, 0, 0)), after[name]
        rows.append(
            [
                name,
                f"{b[0] / 2**20:,.1f}",
                f"{a[0] / 2**20:,.1f}",
                f"{(a[0] - b[0]) / max(responses, 1):,.0f}",
                f"{a[1]:,}" if name != "(whole database)" else "",
                f"{a[2]:,}" if name != "(whole database)" else "",
            ]
        )
    return rows


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan
