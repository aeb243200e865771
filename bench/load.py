"""Load benchmark: a chain's kiosks and its managers against production-like CXHub, bounded.

    .venv/bin/python bench/load.py          # the full run: 200 responses/s for 10 min; 13 min
                                            # in all, up to --drain (5 min) more if it falls behind
    .venv/bin/python bench/load.py --minutes 0.5 --rate 50           # a quick look, about 2 min
    .venv/bin/python bench/load.py --minutes 1 --rate 20 --profile   # + cProfile of one worker

Creates its own PostgreSQL database (cxhub_load_bench_<pid>) and a private memory-only Redis
on a free port, a chain of --stores stores (two regions, Vietnam and Thailand, each in its
own time zone) with staff, --kiosks kiosks per store, a head-office user with a personal API
token and a few store managers; then starts gunicorn with the repository's gunicorn.conf.py,
a Celery worker (--concurrency=2, as docker-compose.yml) and Celery beat, and sends:

  kiosks     each kiosk an independent open-loop sender (Poisson arrivals, never slowed
             down by a slow server): mostly single POST /api/v1/kiosk/responses/ with
             realistic answers (NPS, CSAT, CES, reasons when unhappy, comments in Vietnamese,
             Thai or English, a staff code now and then); a share of the responses
             (--batch-share) come as batch flushes of 20-50 queued while a kiosk was offline;
             a heartbeat per kiosk every --heartbeat seconds. Like the real kiosk
             (static/kiosk/sync.js), a kiosk keeps a response until the server said created
             or duplicate and resends it, same id and body, on 429 / 5xx / a connection error
             / no answer within 20 s, with exponential backoff and full jitter (2 s base, 5 min
             cap), never sooner than Retry-After.
  readers    --read-rate reads per second (Poisson): store dashboard pages (store managers,
             signed in), the head-office page and GET /api/v1/metrics/scores/ (personal token).

Phases: warm-up (every kiosk reads its configuration), a baseline of the same mix at
--baseline-rate (10/s) for --baseline-seconds (30), then the load at --rate for --minutes.
Latency always counts from the moment a request was due (its arrival, or its retry time),
not from when it was sent, so a stalled server cannot hide its queue (no coordinated
omission); "to stored" counts from a response's arrival to the answer that stored it,
retries included. After the load the kiosks empty their queues (at most --drain s), then
the bench polls the metrics API until its figures catch up (at most --catch-up s).

It reports the achieved rate and the backlog, latency p50/p95/p99 per kind of request,
statuses and client errors, retries; that the database holds exactly the responses (and
answers) the API accepted, each once, and that the metrics API's n per store over the window
equals the stored count; how long the figures took to catch up; the RSS of the gunicorn
workers, the Celery worker, beat and Redis sampled every --sample-seconds (start / mid / end,
growth); the growth of PostgreSQL's tables; CPU per response; and the ratios against the
baseline measured in the same run (p95 at full rate / p95 at the baseline rate,
achieved / target rate). The figures as JSON on the last line.

The bench stands where the reverse proxy would: each store's requests carry its own
X-Forwarded-For address (198.18.0.0/15, set aside for benchmarks) and the server runs with
TRUSTED_PROXY_COUNT=1, so per-address rate limits see stores, not 127.0.0.1.

Exit status: 0 all held and the targets were met; 1 a response was lost (accepted but not
in the database), doubled (answered "created" twice, or a row no kiosk sent), refused (a 4xx
other than 429, "invalid" or "conflict"), a 5xx other than 503 was answered (503 is the
contract's "keep it and retry", sent when the database is away or a request waited past
QUEUE_TIMEOUT_SECONDS: it counts as an error against the target), or the metrics API's n per
store differs from the stored count; 3 none of that, but a target was missed (stored during
the load below 95 % of what arrived, or arrivals below 90 % of --rate; any error or 429; a
response not stored before the end of --drain; memory not stable); 2 the bench could not
run; 130 interrupted. Everything it started is stopped and its database dropped in every
case. GUNICORN_*, KIOSK_RATE, KIOSK_ADDRESS_RATE and TRUSTED_PROXY_COUNT in the environment
reach the server (gunicorn.conf.py, settings).
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import freshness
import ingest
import rollups
from load_checks import (
    STABLE_GROWTH,
    MemorySampler,
    catch_up,
    check,
    cpu_row,
    errors_of,
    fmt_ms,
    memory_rows,
    ms,
    ratio,
    reads_of,
    stored_rows,
    table_rows,
    table_sizes,
    traffic_rows,
)
from load_profile import PROFILE_CONFIG, PROFILE_SKIP, profile_report
from load_traffic import BATCH_SIZES, Chain, Phase, Traffic, make_chain

READ_TIMEOUT_S = 60.0
TARGET_SHARE = 0.95  # stored during the load / arrived during it
OFFERED_SHARE = 0.90  # arrived / --rate: Poisson (and the batches) wander on short runs


# --- the run --------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rate", type=float, default=200, help="responses per second (200)")
    p.add_argument("--minutes", type=float, default=10, help="minutes of load (10)")
    p.add_argument("--stores", type=int, default=200, help="stores (200)")
    p.add_argument("--kiosks", type=int, default=2, help="kiosks per store (2)")
    p.add_argument(
        "--read-rate", type=float, default=2, help="dashboard and API reads per second (2)"
    )
    p.add_argument(
        "--batch-share",
        type=float,
        default=0.1,
        help="share of the responses that come in offline flushes of 20-50 (0.1)",
    )
    p.add_argument("--heartbeat", type=float, default=60, help="seconds between heartbeats (60)")
    p.add_argument("--baseline-rate", type=float, default=10, help="the baseline's rate (10)")
    p.add_argument(
        "--baseline-seconds", type=float, default=30, help="the baseline's duration (30)"
    )
    p.add_argument(
        "--drain", type=float, default=300, help="seconds for kiosks to empty queues after (300)"
    )
    p.add_argument(
        "--catch-up", type=float, default=120, help="seconds for the figures to catch up (120)"
    )
    p.add_argument(
        "--sample-seconds", type=float, default=30, help="seconds between memory samples (30)"
    )
    p.add_argument("--progress", type=float, default=10, help="seconds between progress lines")
    p.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    p.add_argument(
        "--no-recycle",
        action="store_true",
        help="gunicorn workers never recycle (GUNICORN_MAX_REQUESTS=0): a leak shows whole",
    )
    p.add_argument(
        "--profile", action="store_true", help="cProfile one gunicorn worker (slows it down)"
    )
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if min(args.rate, args.minutes, args.baseline_rate, args.baseline_seconds) <= 0:
        p.error("rates and durations must be positive")
    if args.read_rate < 0 or not 0 <= args.batch_share <= 1 or args.heartbeat <= 0:
        p.error("--read-rate must not be negative, --batch-share is between 0 and 1")
    if not 1 <= args.stores <= 2000 or not 1 <= args.kiosks <= 20:
        p.error("--stores between 1 and 2000, --kiosks between 1 and 20")
    if min(args.drain, args.catch_up, args.sample_seconds, args.progress) <= 0:
        p.error("--drain, --catch-up, --sample-seconds and --progress must be positive")
    return args


def raise_file_limit() -> None:
    # An overloaded server leaves thousands of requests open at once.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def readers(port: int, chain: Chain) -> dict:
    """Signed-in sessions (head office, each store manager) and the personal token's client."""
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    office = {"X-Forwarded-For": "198.19.0.1"}  # head office's and managers' side
    out = {
        "api": httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {chain.api_token}", **office},
            timeout=READ_TIMEOUT_S,
            limits=limits,
        )
    }
    for name, cookies in chain.sessions.items():
        out[name] = httpx.AsyncClient(
            base_url=base, cookies=cookies, headers=office, timeout=READ_TIMEOUT_S, limits=limits
        )
    return out


def run(args) -> int:
    c.stop_cleanly_on_signals()
    raise_file_limit()
    warnings.filterwarnings("ignore", message="No directory at")
    began = time.perf_counter()
    log_dir = Path(tempfile.mkdtemp(prefix="cxhub-bench-load-"))
    with c.throwaway_database("cxhub_load_bench") as url, c.redis_server() as broker:
        if broker is None:
            raise c.BenchError("redis-server is not on the PATH: a real worker needs a broker")
        database = url.rsplit("/", 1)[1]
        extra = {
            "REDIS_URL": f"redis://127.0.0.1:{broker.port}/0",
            # Signed-in pages over plain HTTP on 127.0.0.1, static files without collectstatic.
            "SECURE_COOKIES": "false",
            "WHITENOISE_USE_FINDERS": "true",
            # The bench stands where the reverse proxy would (gunicorn.conf.py assumes one):
            # requests carry X-Forwarded-For, each store its own address, so per-address
            # limits see stores, not 127.0.0.1.
            "TRUSTED_PROXY_COUNT": os.environ.get("TRUSTED_PROXY_COUNT", "1"),
            # gunicorn.conf.py's multi-process metrics: in our folder, removed with it.
            "PROMETHEUS_MULTIPROC_DIR": str(log_dir / "prometheus"),
        }
        if args.no_recycle:
            extra["GUNICORN_MAX_REQUESTS"] = "0"
        env = c.django_env(url, **extra)
        print(f"database {database}: migrating…", flush=True)
        c.manage("migrate", "--no-input", "-v", "0", env=env)
        rollups.setup_django(env)
        chain = make_chain(args.stores, args.kiosks)
        settings = ingest.gunicorn_settings(env)
        facts = {
            "gunicorn": f"{settings['worker_class']}, {settings['workers']} workers, "
            f"max_requests {settings['max_requests']}",
            "limits": f"KIOSK_RATE {env.get('KIOSK_RATE', '(default)')}, KIOSK_ADDRESS_RATE "
            f"{env.get('KIOSK_ADDRESS_RATE', '(default)')}, TRUSTED_PROXY_COUNT "
            f"{env['TRUSTED_PROXY_COUNT']}",
        }
        print(
            f"chain: {args.stores} stores, {len(chain.kiosks)} kiosks, {len(chain.managers)} "
            f"store managers; gunicorn {facts['gunicorn']}; {facts['limits']}",
            flush=True,
        )
        config = None
        if args.profile:
            config = log_dir / "gunicorn-profile.conf.py"
            config.write_text(
                PROFILE_CONFIG.format(
                    conf=str(c.REPO / "gunicorn.conf.py"), out=str(log_dir), skip=PROFILE_SKIP
                )
            )
        worker_log = log_dir / "worker.log"
        with (
            c.gunicorn(env, log_path=log_dir / "gunicorn.log", config=config) as web,
            freshness.celery(
                env,
                "worker",
                worker_log,
                f"--concurrency={args.worker_concurrency}",
                "-n",
                f"load-{broker.port}@localhost",
                "--without-gossip",
                "--without-mingle",
            ) as worker,
            freshness.celery(
                env, "beat", log_dir / "beat.log", "--schedule", str(log_dir / "beat-schedule")
            ) as beat,
        ):
            freshness.wait_for_log(worker_log, " ready.", worker)
            print(f"gunicorn on port {web.port}, worker and beat up (logs: {log_dir})", flush=True)
            outcome = drive(args, chain, url, database, (web, worker, beat, broker), worker_log)
        if args.profile:
            outcome["profile"] = profile_report(log_dir)
    code = report(args, facts, outcome)
    print(f"total {time.perf_counter() - began:.0f} s")
    print(json.dumps(outcome["figures"]))
    if code == 0:
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        print(f"logs kept in {log_dir}", file=sys.stderr)
    return code


def drive(args, chain, url, database, processes, worker_log: Path) -> dict:
    """Warm-up, baseline, load, drain, catch-up; what was seen, for the report."""
    web, worker, beat, broker = processes
    meter = c.CpuMeter(database, web.pid, (broker.pid,))
    sampler = MemorySampler(
        args.sample_seconds,
        {
            "gunicorn workers": web.pid,
            "gunicorn master": web.pid,
            "celery worker": worker.pid,
            "celery beat": beat.pid,
            "redis-server": broker.pid,
        },
        database,
    )
    clients = readers(web.port, chain)
    queue = redis.Redis(port=broker.port)
    traffic = Traffic(args, chain, web.port, clients, queue, url)
    today = datetime.now(UTC).date()
    # Local days run ahead of UTC in Asia, offline flushes reach back: a window around today.
    window = ((today - timedelta(days=2)).isoformat(), (today + timedelta(days=2)).isoformat())

    async def phases():
        try:
            print("warm-up: every kiosk reads its configuration…", flush=True)
            await traffic.warm_up()
            out = []
            for name, rate, seconds in (
                ("baseline", args.baseline_rate, args.baseline_seconds),
                ("load", args.rate, args.minutes * 60),
            ):
                phase = Phase(name, rate, args.read_rate, seconds)
                print(
                    f"{name}: {rate:g} responses/s and {args.read_rate:g} reads/s "
                    f"for {seconds:g} s…",
                    flush=True,
                )
                if name == "load":
                    phase.tables_before = table_sizes(url)
                    sampler.start()
                before, worker_cpu = meter.snapshot(), tree_cpus(worker.pid, beat.pid)
                await traffic.run_phase(phase, sampler.take if name == "load" else None)
                phase.cpu = c.cpu_used(before, meter.snapshot())
                phase.worker_cpu = tree_cpus(worker.pid, beat.pid) - worker_cpu
                out.append(phase)
            return out
        finally:
            for client in clients.values():
                await client.aclose()
            traffic.db.close()

    try:
        baseline, load = asyncio.run(phases())
        print(
            f"load: kiosks' queues empty {load.drained - load.end:.1f} s after the load stopped; "
            "waiting for the figures…",
            flush=True,
        )
        deadline = time.perf_counter() + args.catch_up
        stored, answers, per_store = stored_rows(url)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{web.port}",
            headers={"Authorization": f"Bearer {chain.api_token}"},
            timeout=READ_TIMEOUT_S,
        ) as client:
            while True:
                caught_up, counted = catch_up(client, window, per_store, deadline)
                # A request a kiosk gave up on may still have been stored meanwhile.
                latest = stored_rows(url)
                if latest[2] == per_store or time.perf_counter() > deadline:
                    break
                stored, answers, per_store = latest
        stored, answers, per_store = latest
        sampler.take()
        after = time.perf_counter()
        tables_after = table_sizes(url)
    finally:
        sampler.stop.set()
        queue.close()
    problems, integrity = check(traffic.items, stored, answers)
    if counted != per_store:
        missing = {k: (v, counted.get(k)) for k, v in per_store.items() if counted.get(k) != v}
        problems.append(
            f"the metrics API's n differs from the stored count for {len(missing)} stores "
            f"after {args.catch_up:g} s, e.g. {dict(list(missing.items())[:3])}"
        )
    return {
        "baseline": baseline,
        "load": load,
        "sampler": sampler,
        "after": after,
        "caught_up": caught_up,
        "tables": (load.tables_before, tables_after),
        "problems": problems,
        "integrity": integrity,
        "counted": sum(v for k, v in counted.items() if k != "error"),
        "window": window,
        "worker": freshness.worker_tasks(worker_log),
        "last_stored": max(
            (i.accepted_at for i in traffic.items.values() if i.accepted_at), default=math.nan
        ),
    }


def tree_cpus(*pids: int) -> float:
    return sum(freshness.tree_cpu(pid) for pid in pids)


def report(args, facts, outcome) -> int:
    baseline, load = outcome["baseline"], outcome["load"]
    problems = list(outcome["problems"])
    for phase in (baseline, load):
        # 503 is the contract's "keep it and retry" (a database away, or load shed): an
        # error against the target, not a fault; any other 5xx is a fault.
        server_errors = sum(
            n
            for s in phase.statuses.values()
            for k, n in s.items()
            if isinstance(k, int) and k >= 500 and k != 503
        )
        if server_errors:
            problems.append(f"{phase.name}: {server_errors:,} answers with a 5xx status")
        if phase.problems:
            problems.append(
                f"{phase.name}: {len(phase.problems):,} unexpected answers, e.g. "
                + "; ".join(phase.problems[:3])
            )

    print()
    print(
        f"Set-up: {args.stores} stores × {args.kiosks} kiosks, {args.batch_share:.0%} of the "
        f"responses in offline flushes of {BATCH_SIZES[0]}-{BATCH_SIZES[1]}, a heartbeat per "
        f"kiosk every {args.heartbeat:g} s, {args.read_rate:g} reads/s; gunicorn "
        f"{facts['gunicorn']}; Celery worker --concurrency={args.worker_concurrency} and beat; "
        f"{facts['limits']}."
    )
    print()
    print(
        "Traffic — latency in ms from when each request was due (arrival or retry time) until "
        "its answer, or until the client gave up (timeouts count as 20 s, reads' as 60 s):"
    )
    print(
        c.format_table(
            ["phase", "kind", "requests", "statuses / client errors", "p50", "p95", "p99", "max"],
            traffic_rows(baseline) + traffic_rows(load),
        )
    )

    def responses(phase: Phase) -> list:
        stored = ms(phase.to_stored)
        achieved = phase.accepted_in_window / phase.elapsed
        return [
            f"{phase.rate:g}/s for {phase.seconds:g} s",
            f"{phase.offered / phase.elapsed:.1f}/s ({phase.offered:,})",
            f"{achieved:.1f}/s ({phase.accepted_in_window:,}); server's rows "
            f"{(phase.rows_at_end - phase.rows_at_start) / phase.elapsed:.1f}/s",
            f"{achieved / phase.rate:.3f} "
            f"(of arrived: {phase.accepted_in_window / max(phase.offered, 1):.3f})",
            f"{phase.backlog_at_end:,} responses, Celery queue {phase.queue_at_end:,}",
            f"{phase.drained - phase.end:.1f} s",
            f"{phase.created:,} / {phase.duplicates:,}",
            ", ".join(f"{k}: {n:,}" for k, n in phase.retries.most_common()) or "0",
            " / ".join(fmt_ms(stored[q]) for q in ("p50", "p95", "p99", "max")),
            f"{phase.in_flight_max:,}",
            f"{phase.queue_max:,}",
            f"{c.percentile(sorted(phase.lag), 99) * 1000:.1f} ms" if phase.lag else "–",
        ]

    labels = [
        "target",
        "arrived at kiosks",
        "stored during the load (achieved)",
        "achieved / target",
        "backlog when the load stopped",
        "kiosk queues empty after the stop",
        "created / duplicate answers",
        "retries (why)",
        "arrival to stored p50/p95/p99/max ms",
        "requests in flight, most",
        "Celery queue, most seen",
        "generator wake-up lag p99",
    ]
    print()
    print("Responses:")
    rows = zip(labels, responses(baseline), responses(load), strict=True)
    print(c.format_table(["", "baseline", "load"], [list(r) for r in rows]))

    integrity = outcome["integrity"]
    caught = outcome["caught_up"]
    print()
    print("Every response stored once and counted (all phases, warm-up excluded: it sends none):")
    rows = [
        ["responses that arrived at kiosks", f"{integrity['arrived']:,}"],
        ["unique ids the API accepted (created or duplicate)", f"{integrity['accepted']:,}"],
        ["rows in surveys_surveyresponse", f"{integrity['rows']:,}"],
        ["rows in surveys_answer (= answers sent)", f"{integrity['answers']:,}"],
        ["metrics API: sum of n (NPS) per store over the window", f"{outcome['counted']:,}"],
        ["lost / doubled / never stored / refused",
         f"{integrity['lost']} / {integrity['doubled']} / {integrity['unresolved']} / "
         f"{integrity['rejected']}"],
        ["figures caught up, after the load stopped",
         f"{caught - load.end:.1f} s" if not math.isnan(caught) else "NOT within --catch-up"],
        ["figures caught up, after the last response was stored",
         f"{caught - outcome['last_stored']:.1f} s" if not math.isnan(caught) else "–"],
    ]  # fmt: skip
    tasks = outcome["worker"]
    rows.append(
        [
            "worker: refresh tasks (buckets refreshed) / sweeps / retries / errors",
            f"{tasks['refresh_tasks']:,} ({tasks['refresh_buckets']:,}) / {tasks['sweeps']} / "
            f"{tasks['retries']} / {tasks['errors']}",
        ]
    )
    print(c.format_table(["check", "value"], rows))

    sampler = outcome["sampler"]
    memory, stable = memory_rows(sampler, load, outcome["after"])
    workers_seen = len(sampler.worker_pids)
    print()
    print(
        f"Memory (RSS, MiB, from /proc every {args.sample_seconds:g} s; start/mid/end of the "
        f"load, then after the drain and catch-up; {workers_seen} gunicorn worker processes "
        "seen, recycled after max_requests):"
    )
    print(
        c.format_table(
            ["process", "count", "start", "mid", "end", "after", "growth start→end", "mid→end"],
            memory,
        )
    )

    before, after = outcome["tables"]
    rows_stored = load.rows_at_drained - load.rows_at_start
    print()
    print(
        f"PostgreSQL growth from the start of the load to the end of the catch-up ({rows_stored:,} "
        "responses stored; live and dead rows as pg_stat_user_tables last saw them):"
    )
    print(
        c.format_table(
            ["table", "before MiB", "after MiB", "bytes per response", "live rows", "dead rows"],
            table_rows(before, after, rows_stored),
        )
    )

    cpu_b, cpu_l = cpu_row(baseline), cpu_row(load)
    print()
    print(
        "CPU per response stored, ms, from the phase's start until the kiosks' queues were empty "
        "(all traffic: heartbeats, reads, duplicates included):"
    )
    print(
        c.format_table(
            ["phase", "gunicorn+Redis", "PostgreSQL", "Celery", "bench", "total", "busy cores",
             "others' cores"],
            [
                [p.name, *(f"{r[k]:.2f}" for k in ("app", "postgres", "worker", "bench", "total")),
                 f"{r['busy']:.2f}", f"{r['others']:.2f}"]
                for p, r in ((baseline, cpu_b), (load, cpu_l))
            ],
        )
    )  # fmt: skip
    cores = os.cpu_count() or 1
    capacity = 1000 * cores / cpu_l["total"] if cpu_l["total"] else math.nan
    print(
        f"at this cost, {cores} cores serve at most ~{capacity:.0f} responses/s "
        f"(the target, {args.rate:g}/s, needs {args.rate * cpu_l['total'] / 1000:.2f} cores)"
    )

    single = {p.name: ms(p.latency["single"]) for p in (baseline, load)}
    stored = {p.name: ms(p.to_stored) for p in (baseline, load)}
    read = {p.name: ms(reads_of(p)) for p in (baseline, load)}
    achieved = load.accepted_in_window / load.elapsed
    offered = load.offered / load.elapsed
    ratios = [
        ["single POST p95, load / baseline", single["load"]["p95"], single["baseline"]["p95"]],
        [
            "arrival to stored p95, load / baseline",
            stored["load"]["p95"],
            stored["baseline"]["p95"],
        ],
        ["reads p95, load / baseline", read["load"]["p95"], read["baseline"]["p95"]],
    ]
    print()
    print(
        f"Against the baseline measured first in this run ({args.baseline_rate:g} responses/s, "
        "same kiosks, batches, heartbeats and reads):"
    )
    print(
        c.format_table(
            ["ratio", "load", "baseline", "ratio"],
            [[n, fmt_ms(a), fmt_ms(b), f"{ratio(a, b):.2f}"] for n, a, b in ratios]
            + [["achieved / target rate", f"{achieved:.1f}/s", f"{args.rate:g}/s",
                f"{achieved / args.rate:.3f}"]],
        )
    )  # fmt: skip

    errors = errors_of(baseline) + errors_of(load)
    targets = [
        [f"stored during the load >= {TARGET_SHARE:.0%} of arrivals, arrivals >= "
         f"{OFFERED_SHARE:.0%} of {args.rate:g}/s",
         f"{achieved:.1f}/s of {offered:.1f}/s arrived",
         achieved >= TARGET_SHARE * offered and offered >= OFFERED_SHARE * args.rate],
        ["0 errors (non-2xx answers, timeouts, connection errors)",
         ", ".join(f"{k}: {n:,}" for k, n in errors.most_common(6)) or "0", not errors],
        ["nothing lost, doubled, refused or uncounted; no 5xx but 503", "yes" if not problems else "NO",
         not problems],
        ["every response stored within --drain after the load (kiosks still hold the rest)",
         f"{integrity['unresolved']:,} not stored"
         + (f" ({integrity['unresolved_stored']:,} in the database, unconfirmed)"
            if integrity["unresolved_stored"] else ""),
         not integrity["unresolved"]],
        [f"memory stable (each of our processes <= +{STABLE_GROWTH:.0%} over the second half)",
         {True: "yes", False: "NO", None: "not judged: under 4 samples"}[stable],
         stable is not False],
    ]  # fmt: skip
    print()
    print(
        c.format_table(
            ["target", "measured", "met"], [[t, m, "yes" if ok else "NO"] for t, m, ok in targets]
        )
    )
    if problems:
        print("\nPROBLEMS:\n  " + "\n  ".join(problems))
    if "profile" in outcome:
        print("\nCPU profile of one gunicorn worker (cProfile, process time):")
        print(outcome["profile"])

    start, end = sampler.at(load.start), sampler.at(load.end)
    outcome["figures"] = {
        "rate": args.rate,
        "minutes": args.minutes,
        "kiosks": args.stores * args.kiosks,
        "achieved_rps": round(achieved, 1),
        "achieved_share": round(achieved / args.rate, 3),
        "backlog_at_end": load.backlog_at_end,
        "drain_s": round(load.drained - load.end, 1),
        "catch_up_s": None if math.isnan(caught) else round(caught - load.end, 1),
        "single_p50_ms": round(single["load"]["p50"], 1),
        "single_p95_ms": round(single["load"]["p95"], 1),
        "single_p99_ms": round(single["load"]["p99"], 1),
        "stored_p95_ms": round(stored["load"]["p95"], 1),
        "reads_p95_ms": round(read["load"]["p95"], 1),
        "baseline_single_p95_ms": round(single["baseline"]["p95"], 1),
        "single_p95_ratio": round(ratio(single["load"]["p95"], single["baseline"]["p95"]), 2),
        "reads_p95_ratio": round(ratio(read["load"]["p95"], read["baseline"]["p95"]), 2),
        "errors": dict(errors),
        "retries": dict(load.retries),
        **{k: integrity[k] for k in ("accepted", "rows", "lost", "doubled", "unresolved")},
        "counted": outcome["counted"],
        "rss_growth_mib": {
            name: round((end[name][0] - start[name][0]) / 1024, 1) for name in start
        },
        "db_bytes_per_response": round(
            (after["(whole database)"][0] - before["(whole database)"][0]) / max(rows_stored, 1)
        ),
        "cpu_ms_per_response": round(cpu_l["total"], 2),
        "others_cores": round(cpu_l["others"], 2),
        "memory_stable": stable,
        "problems": len(problems),
        "met": all(ok for _, _, ok in targets),
    }
    if problems:
        return 1
    return 0 if outcome["figures"]["met"] else 3


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(c.main(parse_args, run))
