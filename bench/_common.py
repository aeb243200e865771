"""What every bench needs: a throwaway database, gunicorn on a free port, percentiles.

Benches are bounded and clean up after themselves: the database is dropped and gunicorn is
stopped even when the run fails or is interrupted (Ctrl-C, SIGTERM).
"""

import asyncio
import gc
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
# The server's maintenance database: throwaway databases are created and dropped from it.
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


class BenchError(RuntimeError):
    """A bench could not run: the message says why, no traceback needed."""


# --- interruption -------------------------------------------------------------------------


def stop_cleanly_on_signals() -> None:
    """Make Ctrl-C and SIGTERM raise KeyboardInterrupt so `finally` blocks tear down what we
    started. SIGINT too: a shell starts background jobs with it ignored."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# --- databases ----------------------------------------------------------------------------


def database_url(name: str, admin_url: str = ADMIN_URL) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def connect(url: str):
    try:
        return psycopg2.connect(url)
    except psycopg2.OperationalError as error:
        raise BenchError(f"cannot connect to PostgreSQL at {url}: {error}".strip()) from error


def create_database(name: str, admin_url: str = ADMIN_URL) -> str:
    conn = connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return database_url(name, admin_url)


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    conn = connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # FORCE: a gunicorn worker killed mid-request may leave a session behind.
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


@contextmanager
def throwaway_database(prefix: str = "cxhub_bench") -> Iterator[str]:
    """A fresh empty database named <prefix>_<pid>, dropped on the way out whatever happens."""
    name = f"{prefix}_{os.getpid()}"
    drop_database(name)
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)


# --- the Django project -------------------------------------------------------------------


def django_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment a production process gets: DEBUG off, a real secret, this database.

    REDIS_URL is removed, so Celery tasks run eagerly inside the request.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_DEBUG")}
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_SETTINGS_MODULE="cxhub.settings",
        DJANGO_DEBUG="false",
        # Loopback, plain HTTP: no TLS proxy in front to satisfy the HTTPS redirect.
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [PYTHON, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout


# --- gunicorn -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_http(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"GET /api/v1/kiosk/config/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


@contextmanager
def gunicorn(
    env: dict[str, str],
    *,
    workers: int | None = None,
    worker_class: str | None = None,
    threads: int | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 30,
    config: Path | None = None,
) -> Iterator["Server"]:
    """Run the app under gunicorn with the repository's gunicorn.conf.py (or `config`, e.g. a
    file that runs it and adds hooks) on a free port.

    Yields the Server once a worker answers HTTP. The server runs in its own session so a
    Ctrl-C reaches only us, and we stop it in order: SIGTERM, then SIGKILL to its group.
    """
    port = free_port()
    server_env = dict(env, GUNICORN_BIND=f"127.0.0.1:{port}")
    for name, value in (
        ("GUNICORN_WORKERS", workers),
        ("GUNICORN_WORKER_CLASS", worker_class),
        ("GUNICORN_THREADS", threads),
    ):
        if value is not None:
            server_env[name] = str(value)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", str(config or REPO / "gunicorn.conf.py"), "cxhub.wsgi"],
        cwd=REPO,
        env=server_env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + ready_timeout
        while not _answers_http("127.0.0.1", port):
            if process.poll() is not None:
                raise BenchError(
                    f"gunicorn exited with code {process.returncode} before answering"
                    + (f"; see {log_path}" if log_path else "")
                )
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn did not answer on port {port} in {ready_timeout:.0f} s")
            time.sleep(0.1)
        yield Server(port=port, pid=process.pid)
    finally:
        stop_process_group(process)
        if log is not subprocess.DEVNULL:
            log.close()


def stop_process_group(process: subprocess.Popen, grace: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # The master is gone; make sure no worker of its session outlives it.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def redis_server(ready_timeout: float = 10) -> Iterator[Server | None]:
    """A private, memory-only Redis on a free port, or None where redis-server is missing.

    Private so the tasks the bench enqueues (and never runs) vanish with it, and nobody
    else's queue or cache is touched."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + ready_timeout
        while not _answers_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield Server(port=port, pid=process.pid)
    finally:
        stop_process_group(process)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(7) == b"+PONG\r\n"
    except OSError:
        return False


# --- figures ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of already sorted values, by linear interpolation."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds, from latencies in seconds."""
    ordered = sorted(latencies)
    summary = {f"p{q}": percentile(ordered, q) * 1000 for q in (50, 95, 99)}
    summary["max"] = (ordered[-1] * 1000) if ordered else math.nan
    return summary


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table that reads in a terminal and pastes into Markdown."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


# --- where the CPU went -------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    name = text[text.index("(") + 1 : text.rindex(")")]
    return [name, *text[text.rindex(")") + 2 :].split()]


def _cpu_of(fields: list[str], children: bool = False) -> float:
    # After the name: state ppid … utime(12) stime(13) cutime(14) cstime(15), in ticks.
    ticks = int(fields[12]) + int(fields[13])
    if children:
        ticks += int(fields[14]) + int(fields[15])
    return ticks / _TICK


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass(frozen=True)
class CpuMeter:
    """Counts CPU seconds by who spent them, so a shared machine cannot blur the figures.

    app: the gunicorn master, its workers (including any it recycled) and extra_app_pids
    (our Redis); postgres: the backends connected to `database` and the server's own
    processes (WAL writer, checkpointer…), not other databases' backends; bench: this
    process; machine: everything, so machine - app - postgres - bench is what other tenants
    of the machine took. A backend that exits during a phase takes its share with it (a
    small undercount), which is why snapshots are kept per process.
    """

    database: str
    app_pid: int | None = None
    extra_app_pids: tuple[int, ...] = ()  # services the app needs, e.g. our private Redis

    def snapshot(self) -> dict:
        app: dict = {}
        postgres: dict = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            fields = _proc_stat(pid)
            if fields is None:
                continue
            if pid == self.app_pid:
                app[pid] = _cpu_of(fields)
                app["reaped"] = _cpu_of(fields, children=True) - app[pid]
            elif pid in self.extra_app_pids or int(fields[2]) == self.app_pid:
                app[pid] = _cpu_of(fields)
            elif fields[0] == "postgres" and self._ours(pid):
                postgres[pid] = _cpu_of(fields)
        own = os.times()
        with open("/proc/stat") as f:
            user, nice, system, _idle, iowait, irq, softirq, steal = map(
                int, f.readline().split()[1:9]
            )
        return {
            "app": app,
            "postgres": postgres,
            "bench": own.user + own.system,
            "machine": (user + nice + system + irq + softirq + steal) / _TICK,
            "iowait": iowait / _TICK,
        }

    def _ours(self, pid: int) -> bool:
        # A client backend's title reads "postgres: 15/main: USER DATABASE HOST(PORT) STATE",
        # an autovacuum worker's "… autovacuum worker DATABASE".
        title = _cmdline(pid)
        if "(" in title or "autovacuum worker" in title:
            return f" {self.database} " in f"{title} "
        return True


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per group between two snapshots."""
    used = {name: after[name] - before[name] for name in ("bench", "machine", "iowait")}
    for name in ("app", "postgres"):
        b, a = before[name], after[name]
        used[name] = sum(v - b.get(pid, 0.0) for pid, v in a.items())
    # A worker recycled meanwhile shows up whole in the master's reaped time: take off the
    # part it had used before the phase.
    used["app"] -= sum(v for pid, v in before["app"].items() if pid not in after["app"])
    return used


# --- load over HTTP -----------------------------------------------------------------------
# A deliberately small HTTP/1.1 client on asyncio streams: the load generator shares the
# machine with the server, so every microsecond it spends is one the server does not get.


def http_request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    """The bytes of one request, built once before the timer starts."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpConnection:
    """One client connection, kept open while the server allows (gthread) and reopened per
    request when it does not (gunicorn's sync workers always close)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        if not reused:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            self.close()
            if not reused:
                raise
            # A kept-alive connection the server had just closed: nothing was read, so send
            # again on a new one (our API is idempotent by response id anyway).
            return await self.request(raw)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    """What a load phase saw: latency per completed request, statuses, client-side errors."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    exhausted: int = 0  # workers that ran out of pre-built requests before the deadline
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds spent during the run

    @property
    def completed(self) -> int:
        return len(self.latencies)


# on_response(item, status, body) -> None: the bench tallies what the server said.
ResponseHook = Callable[[object, int, bytes], None]


async def _send(conn, raw, item, started, result, on_response, timeout) -> None:
    try:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation, and
        # with it the Ctrl-C that asked the bench to stop.
        async with asyncio.timeout(timeout):
            status, body = await conn.request(raw)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
        conn.close()
        result.errors[type(error).__name__] += 1
        return
    result.latencies.append(time.perf_counter() - started)
    result.statuses[status] += 1
    on_response(item, status, body)


def closed_loop(
    port: int,
    queues: Sequence[Sequence[tuple[bytes, object]]],
    *,
    duration: float,
    on_response: ResponseHook,
    timeout: float = 30,
    meter: CpuMeter | None = None,
) -> LoadResult:
    """One simulated client per queue, each sending its next request as soon as the last one
    is answered, until `duration` has passed or its queue is used up."""

    async def client(queue, deadline, result):
        conn = HttpConnection("127.0.0.1", port)
        for raw, item in queue:
            if time.perf_counter() >= deadline:
                break
            await _send(conn, raw, item, time.perf_counter(), result, on_response, timeout)
        else:
            result.exhausted += 1
        conn.close()

    async def run():
        result = LoadResult()
        start = time.perf_counter()
        deadline = start + duration
        await asyncio.gather(*(client(q, deadline, result) for q in queues))
        result.elapsed = time.perf_counter() - start
        return result

    return _quietly(run, meter)


def open_loop(
    port: int,
    items: Sequence[tuple[bytes, object]],
    *,
    rate: float,
    duration: float,
    on_response: ResponseHook,
    timeout: float = 30,
    seed: int = 1,
    meter: CpuMeter | None = None,
) -> LoadResult:
    """Requests arrive at a fixed mean rate (Poisson), whether or not earlier ones were
    answered; latency counts from the moment a request was due, so a stalled server cannot
    hide its queue (no coordinated omission)."""
    rng = random.Random(seed)

    async def run():
        result = LoadResult()
        idle: list[HttpConnection] = []
        tasks = set()

        async def one(raw, item, due):
            conn = idle.pop() if idle else HttpConnection("127.0.0.1", port)
            await _send(conn, raw, item, due, result, on_response, timeout)
            idle.append(conn)

        start = time.perf_counter()
        due = start
        for raw, item in items:
            due += rng.expovariate(rate)
            if due - start >= duration:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(raw, item, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        else:
            result.exhausted = 1
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for conn in idle:
            conn.close()
        result.elapsed = time.perf_counter() - start
        return result

    return _quietly(run, meter)


def _quietly(coroutine_function, meter: CpuMeter | None) -> LoadResult:
    # Keep the collector out of the measurement: everything built so far is long-lived.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        before = meter.snapshot() if meter else None
        result = asyncio.run(coroutine_function())
        if meter:
            result.cpu = cpu_used(before, meter.snapshot())
        return result
    finally:
        gc.enable()
        gc.unfreeze()


def thread_loop(
    count: int,
    work: Callable[[int, float, list[float]], object],
    *,
    duration: float,
    meter: CpuMeter | None = None,
) -> tuple[list, LoadResult]:
    """Run work(i, deadline, latencies) in `count` threads released together.

    Each thread loops until the deadline, appending one latency per unit of work; the
    outcomes of work() come back in thread order with the merged LoadResult.
    """
    outcomes: list = [None] * count
    latencies: list[list[float]] = [[] for _ in range(count)]
    errors: list[BaseException] = []
    ready = threading.Barrier(count + 1)
    deadline = [0.0]

    def run(i):
        try:
            ready.wait()
            outcomes[i] = work(i, deadline[0], latencies[i])
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the calling thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    before = meter.snapshot() if meter else None
    start = time.perf_counter()
    deadline[0] = start + duration
    ready.wait()
    for t in threads:
        t.join()
    result = LoadResult(elapsed=time.perf_counter() - start)
    if meter:
        result.cpu = cpu_used(before, meter.snapshot())
    if errors:
        raise BenchError(f"a worker thread failed: {errors[0]!r}")
    result.latencies = [x for per_thread in latencies for x in per_thread]
    return outcomes, result


def main(parse_args, run) -> int:
    """A bench's entry point: its exit status, 2 when the bench itself failed, 130 when
    interrupted (its database is dropped and its servers stopped on the way out)."""
    args = parse_args()
    try:
        return run(args)
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the bench database was dropped and servers stopped", file=sys.stderr)
        return 130
