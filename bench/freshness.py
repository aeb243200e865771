"""Freshness benchmark: how long after its 201 a response shows in the metrics API.

Creates its own PostgreSQL database and a private Redis, a chain of stores with one kiosk
each (bench/rollups.py's chain), and starts gunicorn, a Celery worker and Celery beat as
production runs them (gunicorn.conf.py; worker --concurrency=2 as in docker-compose.yml;
beat with the settings' sweep interval). Then, for --duration seconds:

  load      POST /api/v1/kiosk/responses/ at a steady --rate (Poisson arrivals, open loop:
            the next request never waits for the last), spread over every kiosk
  reader    GET /api/v1/metrics/scores/?group_by=location&question=nps every --poll seconds
            with a head-office personal API token, recording each store's n

A store's k-th 201 is visible at the first poll, completed after that 201, whose n for the
store is at least k (rollups only grow, so n is monotonic). Freshness is that poll's time
minus the 201's time. Polling goes on after the load until every response is visible (or
--drain seconds pass). Prints p50/p95 against the 5 s target and drops everything it made.

    .venv/bin/python bench/freshness.py [--rate 100] [--duration 60] [--stores 100]
"""

import argparse
import bisect
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import rollups

TARGET_P95_S = 5.0
SINGLE_PATH = "/api/v1/kiosk/responses/"
SCORES_PATH = "/api/v1/metrics/scores/"
NPS_WEIGHTS = [2, 1, 1, 2, 2, 4, 6, 10, 18, 24, 30]


@contextmanager
def celery(env: dict[str, str], role: str, log_path: Path, *extra: str):
    """A Celery worker or beat in its own session, stopped (then killed) on the way out."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(
        [str(c.VENV_BIN / "celery"), "-A", "cxhub", role, "--loglevel=INFO", *extra],
        cwd=c.REPO,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        c.stop_process_group(process)
        log.close()


def wait_for_log(path: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if process.poll() is not None:
            raise c.BenchError(f"celery exited with code {process.returncode}; see {path}")
        if time.monotonic() > deadline:
            raise c.BenchError(f"celery was not ready after {timeout:.0f} s; see {path}")
        time.sleep(0.2)


def requests_for(chain: rollups.Chain, rate: float, duration: float, seed: int = 1) -> list:
    """Enough single-response requests for the run, round-robin over the kiosks."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    count = int(rate * duration * 1.3) + 100
    out = []
    for i in range(count):
        store = chain.stores[i % len(chain.stores)]
        nps = rng.choices(range(11), NPS_WEIGHTS)[0]
        answers = {"nps": nps, "csat": rng.randint(1, 5), "ces": rng.randint(1, 7)}
        if nps <= 6:
            answers["reason"] = rng.sample(rollups.REASONS, rng.randint(1, 2))
        body = {
            "id": str(uuid.uuid4()),
            "submitted_at": now.astimezone(ZoneInfo(store["tz"])).isoformat(
                timespec="milliseconds"
            ),
            "language": store["language"],
            "answers": answers,
        }
        auth = {"Authorization": f"Bearer {store['token']}"}
        raw = c.http_request("POST", SINGLE_PATH, json.dumps(body).encode(), auth)
        out.append((raw, store["code"]))
    return out


class Reader(threading.Thread):
    """Polls the scores of every store until told to stop; keeps (time, {code: n}, backlog)."""

    def __init__(self, port: int, token: str, params: dict, interval: float, broker_port: int):
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        self.broker = redis.Redis(port=broker_port)
        self.params, self.interval = params, interval
        self.polls: list[tuple[float, dict[str, int], int]] = []
        self.latencies: list[float] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                response = self.client.get(SCORES_PATH, params=self.params)
                response.raise_for_status()
                counts = {
                    r["group"]["location"]: r["questions"]["nps"]["n"]
                    for r in response.json()["results"]
                }
            except (httpx.HTTPError, KeyError, ValueError):
                self.errors += 1
                counts = None
            done = time.perf_counter()
            if counts is not None:
                self.latencies.append(done - started)
                self.polls.append((done, counts, self.broker.llen("celery")))
            self.stop.wait(max(0.0, self.interval - (done - started)))
        self.client.close()

    def seen(self) -> dict[str, int]:
        return self.polls[-1][1] if self.polls else {}


def freshness(created: dict[str, list[float]], polls: list) -> tuple[list[float], int]:
    """Per response, seconds from its 201 to the first later poll counting it; and how many
    were never seen."""
    times = [t for t, _, _ in polls]
    delays, unseen = [], 0
    for code, stamps in created.items():
        counts = [p[1].get(code, 0) for p in polls]
        for k, stamp in enumerate(sorted(stamps), start=1):
            i = bisect.bisect_left(times, stamp)
            while i < len(polls) and counts[i] < k:
                i += 1
            if i == len(polls):
                unseen += 1
            else:
                delays.append(times[i] - stamp)
    return delays, unseen


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (a Celery worker and its pool)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: state(0) ppid(1) … utime(11) stime(12), in clock ticks.
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def worker_tasks(log: Path) -> dict:
    """What the worker's log says it did: refresh tasks, their run times, buckets computed."""
    text = log.read_text(errors="replace")
    runs = [
        (float(s), int(n))
        for s, n in re.findall(
            r"metrics\.tasks\.refresh_(?:marked|buckets)_task\[[^\]]+\] succeeded in ([0-9.e-]+)s: (\d+)",
            text,
        )
    ]
    sweeps = re.findall(r"sweep_dirty_buckets_task\[[^\]]+\] succeeded in [0-9.e-]+s: (\d+)", text)
    return {
        "refresh_tasks": len(runs),
        "refresh_buckets": sum(n for _, n in runs),
        "refresh_skipped": sum(1 for _, n in runs if n == 0),
        "refresh_ms": c.latency_summary([s for s, _ in runs]) if runs else {},
        "sweeps": len(sweeps),
        "swept_buckets": sum(int(n) for n in sweeps),
        "retries": text.count("Retry in"),
        "errors": len(re.findall(r"\] raised unexpected|ERROR/", text)),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rate", type=float, default=100, help="responses per second (100)")
    p.add_argument("--duration", type=float, default=60, help="seconds of load (60)")
    p.add_argument("--stores", type=int, default=100, help="stores, one kiosk each (100)")
    p.add_argument("--poll", type=float, default=0.1, help="seconds between polls (0.1)")
    p.add_argument("--drain", type=float, default=60, help="seconds to wait after the load (60)")
    p.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (2)")
    p.add_argument(
        "--sweep-seconds", type=float, help="beat's sweep interval (default: the settings', 15)"
    )
    args = p.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.poll <= 0 or args.drain < 0:
        p.error("--rate, --duration and --poll must be positive, --drain not negative")
    if not 1 <= args.stores <= 1000 or args.worker_concurrency < 1:
        p.error("--stores must be between 1 and 1000, --worker-concurrency at least 1")
    return args


def run(args) -> int:
    c.stop_cleanly_on_signals()
    log_dir = Path(tempfile.mkdtemp(prefix="cxhub-bench-freshness-"))
    with c.throwaway_database("cxhub_bench_fresh") as url, c.redis_server() as broker:
        if broker is None:
            raise c.BenchError("redis-server is not on the PATH: a real worker needs a broker")
        database = url.rsplit("/", 1)[1]
        extra = {"REDIS_URL": f"redis://127.0.0.1:{broker.port}/0", "KIOSK_RATE": "1000000/s"}
        if args.sweep_seconds:
            extra["ROLLUP_SWEEP_SECONDS"] = str(args.sweep_seconds)
        env = c.django_env(url, **extra)
        print(f"database {database}: migrating…", flush=True)
        c.manage("migrate", "--no-input", "-v", "0", env=env)
        rollups.setup_django(env)
        chain = rollups.make_chain(args.stores)
        from django.db import connections

        connections.close_all()
        items = requests_for(chain, args.rate, args.duration)
        today = datetime.now(UTC).date()
        # Local days run ahead of UTC in Asia: ask for a window around today.
        params = {
            "group_by": "location",
            "question": "nps",
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
        }
        worker_log = log_dir / "worker.log"
        with (
            c.gunicorn(env, log_path=log_dir / "gunicorn.log") as web,
            celery(
                env,
                "worker",
                worker_log,
                f"--concurrency={args.worker_concurrency}",
                "-n",
                f"bench-{broker.port}@localhost",
                "--without-gossip",
                "--without-mingle",
            ) as worker,
            celery(env, "beat", log_dir / "beat.log", "--schedule", str(log_dir / "beat-schedule")),
        ):
            wait_for_log(worker_log, " ready.", worker)
            print(f"gunicorn on port {web.port}, worker and beat up (logs: {log_dir})", flush=True)
            created: dict[str, list[float]] = defaultdict(list)

            def on_response(code, status, body):
                if status == 201:
                    created[code].append(time.perf_counter())

            reader = Reader(web.port, chain.token, params, args.poll, broker.port)
            meter = c.CpuMeter(database, web.pid, (broker.pid,))
            reader.start()
            worker_cpu = tree_cpu(worker.pid)
            print(f"load: {args.rate:g} responses/s for {args.duration:g} s…", flush=True)
            load = c.open_loop(
                web.port,
                items,
                rate=args.rate,
                duration=args.duration,
                on_response=on_response,
                meter=meter,
            )
            total = sum(len(v) for v in created.values())
            drained = time.perf_counter()
            while time.perf_counter() - drained < args.drain:
                seen = reader.seen()
                if all(seen.get(code, 0) >= len(v) for code, v in created.items()):
                    break
                time.sleep(0.2)
            drain_s = time.perf_counter() - drained
            # Includes the drain: the work the load caused, finished or not.
            tasks_cpu = tree_cpu(worker.pid) - worker_cpu
            reader.stop.set()
            reader.join(30)
        delays, unseen = freshness(created, reader.polls)
        tasks = worker_tasks(worker_log)
        tasks["cpu_s"] = tasks_cpu
    return report(args, load, total, delays, unseen, drain_s, reader, tasks)


def report(args, load, total, delays, unseen, drain_s, reader, tasks) -> int:
    fresh = c.latency_summary(delays)
    post = c.latency_summary(load.latencies)
    polls = c.latency_summary(reader.latencies)
    backlog = max((b for _, _, b in reader.polls), default=0)
    cpu = load.cpu
    ours = cpu["app"] + cpu["postgres"] + cpu["bench"]
    # The worker's CPU over the load alone is not known; its whole share is taken off.
    worker = min(tasks["cpu_s"], cpu["machine"] - ours)
    others = max(cpu["machine"] - ours - worker, 0) / load.elapsed
    print()
    rows = [
        ["offered / achieved rate", f"{args.rate:g} / {total / load.elapsed:.1f} responses/s"],
        ["201s", f"{total:,} ({dict(load.statuses)}, client errors {dict(load.errors) or 0})"],
        ["POST latency p50 / p95", f"{post['p50']:.1f} / {post['p95']:.1f} ms"],
        ["polls, latency p50 / p95", f"{len(reader.polls):,}, {polls['p50']:.1f} / "
         f"{polls['p95']:.1f} ms, {reader.errors} errors"],
        ["freshness p50 / p95 / p99 / max",
         " / ".join(f"{fresh[k] / 1000:.2f}" for k in ("p50", "p95", "p99", "max")) + " s"],
        ["never seen (after drain)", f"{unseen:,} (drained in {drain_s:.1f} s)"],
        ["largest Celery queue seen", f"{backlog:,} tasks"],
        ["refresh tasks (skipped: not dirty)",
         f"{tasks['refresh_tasks']:,} ({tasks['refresh_skipped']:,}), "
         f"{tasks['refresh_buckets']:,} buckets computed"],
        ["refresh task time p50 / p95",
         " / ".join(f"{tasks['refresh_ms'].get(k, 0):.0f}" for k in ("p50", "p95")) + " ms"],
        ["sweeps (buckets)", f"{tasks['sweeps']} ({tasks['swept_buckets']})"],
        ["task retries / errors", f"{tasks['retries']} / {tasks['errors']}"],
        ["CPU ms per response app / pg / bench",
         "/".join(f"{1000 * cpu[k] / max(total, 1):.2f}" for k in ("app", "postgres", "bench"))],
        ["Celery worker CPU ms per response", f"{1000 * tasks['cpu_s'] / max(total, 1):.2f}"],
        ["others' cores (worker excluded)", f"{others:.2f}"],
    ]  # fmt: skip
    print(c.format_table(["freshness", "measured"], rows))
    print("(app: gunicorn and Redis; pg: every backend of the bench database, the worker's too)")
    met = bool(delays) and not unseen and fresh["p95"] / 1000 < TARGET_P95_S
    print(
        f"\nfreshness p95 {fresh['p95'] / 1000:.2f} s, target < {TARGET_P95_S:g} s: "
        + ("met" if met else "NOT met")
    )
    figures = {
        "rate": args.rate,
        "achieved_rps": round(total / load.elapsed, 1),
        "responses": total,
        "freshness_p50_s": round(fresh["p50"] / 1000, 2),
        "freshness_p95_s": round(fresh["p95"] / 1000, 2),
        "freshness_max_s": round(fresh["max"] / 1000, 2),
        "unseen": unseen,
        "post_p95_ms": round(post["p95"], 1),
        "max_queue": backlog,
        "refresh_tasks": tasks["refresh_tasks"],
        "worker_cpu_ms_per_response": round(1000 * tasks["cpu_s"] / max(total, 1), 2),
        "met": met,
    }
    # Scripts read the figures from the last line.
    print(json.dumps(figures))
    return 0 if met else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(c.main(parse_args, run))
