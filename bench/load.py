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
import bisect
import contextlib
import io
import json
import math
import os
import pstats
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import freshness
import ingest
import rollups

SINGLE_PATH = "/api/v1/kiosk/responses/"
BATCH_PATH = "/api/v1/kiosk/responses/batch/"
HEARTBEAT_PATH = "/api/v1/kiosk/heartbeat/"
CONFIG_PATH = "/api/v1/kiosk/config/"
SCORES_PATH = "/api/v1/metrics/scores/"

# static/kiosk/sync.js: 20 s per request, backoff 2 s doubling up to 5 min, full jitter,
# never sooner than Retry-After (plus up to 1 s), at least 250 ms.
KIOSK_TIMEOUT_S, BACKOFF_BASE_S, BACKOFF_CAP_S, MIN_WAIT_S = 20.0, 2.0, 300.0, 0.25
READ_TIMEOUT_S = 60.0
RETRYABLE = {429, 500, 502, 503, 504}
BATCH_SIZES = (20, 50)
TARGET_SHARE = 0.95  # stored during the load / arrived during it
OFFERED_SHARE = 0.90  # arrived / --rate: Poisson (and the batches) wander on short runs
STABLE_GROWTH = 0.10  # RSS growth over the second half of the load, per component
STAFF, MANAGERS = 5, 5
TOUCHPOINTS = ("checkout", "entrance")

# Promoters outnumber detractors in most chains (bench/ingest.py's mix).
NPS_WEIGHTS = [2, 1, 1, 2, 2, 4, 6, 10, 18, 24, 30]
REASONS = ["wait_time", "staff", "product", "cleanliness", "price"]
COMMENTS = {
    "vi": {
        True: [
            "Cà phê ngon, nhân viên rất nhiệt tình",
            "Thanh toán nhanh gọn, sẽ quay lại",
            "Không gian thoáng mát, nhạc nhẹ nhàng dễ chịu",
        ],
        False: [
            "Phải xếp hàng lâu quá, chỉ có một quầy thu ngân",
            "Bàn còn bẩn, chưa ai lau",
            "Giá hơi cao so với chất lượng",
        ],
    },
    "th": {
        True: [
            "พนักงานบริการดีมาก ขอบคุณครับ",
            "กาแฟอร่อย จะมาอีกแน่นอนค่ะ",
            "ร้านสะอาด บรรยากาศดี",
        ],
        False: ["รอนานเกินไป คนเยอะมาก", "ห้องน้ำไม่ค่อยสะอาด", "ราคาแพงไปหน่อยค่ะ"],
    },
    "en": {
        True: ["Quick checkout, friendly staff.", "Great coffee, lovely place."],
        False: ["Too long a queue at lunch time.", "Tables were not cleaned."],
    },
}
READ_MIX = (("store page", 0.4), ("head-office page", 0.2), ("scores API", 0.4))
RANGES = ("today", "7d", "30d", "30d")


# --- the chain ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kiosk:
    index: int
    token: str
    store: str  # the location's code
    address: str  # the store's public address, as the reverse proxy reports it
    zone: ZoneInfo
    language: str
    staff: tuple[str, ...]


@dataclass(frozen=True)
class Chain:
    slug: str
    stores: list[str]
    regions: list[str]
    kiosks: list[Kiosk]
    api_token: str  # head office's personal token
    managers: list[tuple[str, str]]  # (e-mail, their store's code)
    sessions: dict[str, dict[str, str]]  # "head office" or a manager's e-mail -> cookies


def make_chain(stores: int, per_store: int) -> Chain:
    """Stores split between the two regions, staff, kiosks at two touchpoints, head office
    with a personal token, and store managers for the first stores; through the services."""
    from django.db import connections

    from locations.models import Location, Region, Role, StaffMember
    from locations.services import create_api_token, create_kiosk, create_organization, invite_user

    org = create_organization(name="Load Chain", slug="load-chain", default_language="vi")
    regions = {name: Region.objects.create(organization=org, name=name) for name in rollups.REGIONS}
    codes, kiosks = [], []
    for i in range(stores):
        region = list(rollups.REGIONS)[i % len(rollups.REGIONS)]
        tz, language, prefix = rollups.REGIONS[region]
        store = Location.objects.create(
            organization=org,
            region=regions[region],
            code=f"{prefix}-{i:03d}",
            name=f"Store {i}",
            timezone=tz,
            default_language=language,
        )
        staff = StaffMember.objects.bulk_create(
            StaffMember(
                organization=org, location=store, code=f"NV-{i:03d}-{j}", display_name=f"Staff {j}"
            )
            for j in range(STAFF)
        )
        codes.append(store.code)
        for k in range(per_store):
            issued = create_kiosk(
                location=store, touchpoint=TOUCHPOINTS[k % len(TOUCHPOINTS)], name=f"kiosk {k}"
            )
            kiosks.append(
                Kiosk(
                    len(kiosks),
                    issued.token,
                    store.code,
                    store_address(i),
                    ZoneInfo(tz),
                    language,
                    tuple(s.code for s in staff),
                )
            )
    with contextlib.redirect_stdout(io.StringIO()):  # the invitation e-mails
        head_office = invite_user(email="ho@load.test", organization=org, role=Role.HEAD_OFFICE)
        sessions = {"head office": signed_in(head_office.user)}
        managers = []
        for code in codes[:MANAGERS]:
            email = f"manager-{code.lower()}@load.test"
            user = invite_user(
                email=email, organization=org, role=Role.STORE_MANAGER, location=code
            )
            sessions[email] = signed_in(user.user)
            managers.append((email, code))
    token = create_api_token(user=head_office.user, name="load bench")
    connections.close_all()
    return Chain(org.slug, codes, list(regions), kiosks, token, managers, sessions)


def store_address(i: int) -> str:
    """A store's public address, from 198.18.0.0/15 (set aside for benchmarks): the two
    kiosks of a store share it, as they share the store's NAT."""
    return f"198.18.{i // 250}.{i % 250 + 1}"


def signed_in(user) -> dict[str, str]:
    """The cookie of a session signed in as `user`, made as django.test.Client.force_login
    makes it. Signing in is not what this bench measures, so it does not go through the
    sign-in form (and its lockout counting); the pages read the session as any other."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {settings.SESSION_COOKIE_NAME: session.session_key}


# --- what kiosks send -----------------------------------------------------------------------


@dataclass
class Item:
    """One customer's response: the kiosk keeps it until the server stored it."""

    id: str
    body: dict | None  # dropped once stored
    answers: int
    due: float  # when it arrived at the kiosk (perf_counter)
    accepted_at: float | None = None
    created: int = 0  # times the server answered "created" for it: must end as 1
    duplicates: int = 0
    rejected: str = ""  # a status the kiosk cannot retry (400, 409, invalid, conflict)


def a_response(rng: random.Random, kiosk: Kiosk, submitted: datetime) -> tuple[dict, int]:
    """A valid body for the default survey, and the number of answer rows it becomes."""
    nps = rng.choices(range(11), NPS_WEIGHTS)[0]
    answers: dict = {"nps": nps}
    # The other scores follow the NPS loosely; a few customers skip them.
    if rng.random() < 0.95:
        answers["csat"] = min(5, max(1, round(1 + nps * 0.4 + rng.gauss(0, 0.7))))
    if rng.random() < 0.9:
        answers["ces"] = min(7, max(1, round(1 + nps * 0.6 + rng.gauss(0, 1))))
    happy = nps >= 7
    if not happy and rng.random() < 0.85:
        answers["reason"] = rng.sample(REASONS, rng.choice((1, 1, 2)))
    language = kiosk.language if rng.random() < 0.85 else "en"
    if rng.random() < (0.15 if happy else 0.35):
        answers["comment"] = rng.choice(COMMENTS[language][happy])
    body = {
        "id": str(uuid.uuid4()),
        "submitted_at": submitted.astimezone(kiosk.zone).isoformat(timespec="milliseconds"),
        "language": language,
        "answers": answers,
    }
    if rng.random() < 0.4:
        body["staff"] = rng.choice(kiosk.staff)
    return body, len(answers)


def encode(method: str, path: str, kiosk: Kiosk, payload=None) -> bytes:
    """A kiosk's request as the reverse proxy passes it on: with the store's address."""
    body = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
    headers = {
        "Authorization": f"Bearer {kiosk.token}",
        "X-Forwarded-For": kiosk.address,
        # As nginx stamps it (`t=${msec}`): the server sheds requests that waited too long.
        "X-Request-Start": f"t={time.time():.3f}",
        "Connection": "close",
    }
    return c.http_request(method, path, body, headers)


async def exchange(port: int, raw: bytes, timeout: float) -> tuple[int, dict, bytes]:
    """One request on a new connection (gunicorn's sync workers close after each)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
        finally:
            writer.close()
    return int(status_line.split(" ", 2)[1]), headers, body


def backoff(rng: random.Random, failures: int, retry_after: str | None) -> float:
    try:
        asked = max(0.0, float(retry_after)) if retry_after else 0.0
    except ValueError:
        asked = 0.0
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (failures - 1))
    return max(asked + rng.random() if asked else 0.0, rng.random() * ceiling, MIN_WAIT_S)


# --- one phase of traffic ---------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    rate: float
    read_rate: float
    seconds: float
    start: float = 0.0
    end: float = 0.0  # no new arrivals after this
    drained: float = 0.0  # every kiosk's queue empty (or given up)
    offered: int = 0  # responses that arrived at kiosks
    accepted: int = 0  # of which stored (created or duplicate)
    accepted_in_window: int = 0  # stored before `end`
    created: int = 0
    duplicates: int = 0
    backlog_at_end: int = 0  # arrived but not stored when the load stopped
    latency: dict = field(default_factory=lambda: defaultdict(list))  # kind -> seconds
    statuses: dict = field(default_factory=lambda: defaultdict(Counter))  # kind -> Counter
    retries: Counter = field(default_factory=Counter)  # why a kiosk sent again
    to_stored: list = field(default_factory=list)  # arrival -> stored, seconds
    lag: list = field(default_factory=list)  # how late the generator woke, seconds
    queue_max: int = 0  # largest Celery queue seen (celery + alerts)
    queue_at_end: int = 0
    rows_at_start: int = 0
    rows_at_end: int = 0  # the server's rows, heard of or not
    rows_at_drained: int = 0
    in_flight_max: int = 0
    cpu: dict = field(default_factory=dict)
    worker_cpu: float = 0.0
    tables_before: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # bench bugs, unexpected bodies

    @property
    def elapsed(self) -> float:
        return self.end - self.start


class Traffic:
    """The chain's kiosks and readers, and everything they saw, over every phase."""

    def __init__(self, args, chain: Chain, port: int, readers: dict, broker: redis.Redis, url):
        self.args, self.chain, self.port, self.broker = args, chain, port, broker
        self.db = c.connect(url)
        self.db.autocommit = True
        self.readers = readers  # "api", "head office" or a manager's e-mail -> AsyncClient
        self.items: dict[str, Item] = {}
        self.queued = [0] * len(chain.kiosks)  # per kiosk, for its heartbeat
        self.rng = random.Random(args.seed)
        self.in_flight = 0
        self.waiting = 0
        self.give_up_at = math.inf
        self.tasks: set[asyncio.Task] = set()
        self.crashed: list[BaseException] = []

    # -- plumbing

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.crashed.append(task.exception())

    async def sleep_until(self, due: float, phase: Phase | None = None) -> None:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if phase is not None:
            phase.lag.append(time.perf_counter() - due)

    def note(self, phase: Phase, kind: str, due: float, outcome) -> None:
        """An answer (a status) or a client error; its latency either way: a request that
        timed out took 20 s from the kiosk's point of view, and leaving it out would flatter
        the percentiles exactly when the server is worst."""
        phase.statuses[kind][outcome] += 1
        phase.latency[kind].append(time.perf_counter() - due)

    # -- kiosks

    def new_items(self, phase: Phase, kiosk: Kiosk, due: float, count: int) -> list[Item]:
        now = datetime.now(UTC)
        if count == 1:  # a customer just finished the survey
            stamps = [now - timedelta(seconds=self.rng.uniform(2, 25))]
        else:  # answered while the kiosk was offline
            offline = self.rng.uniform(5, 45) * 60
            stamps = sorted(
                now - timedelta(seconds=self.rng.uniform(5, offline)) for _ in range(count)
            )
        items = []
        for stamp in stamps:
            body, answers = a_response(self.rng, kiosk, stamp)
            item = Item(body["id"], body, answers, due)
            self.items[item.id] = item
            items.append(item)
        phase.offered += count
        self.queued[kiosk.index] += count
        return items

    async def deliver(self, phase: Phase, kiosk: Kiosk, items: list[Item], due: float) -> None:
        """Send until the server stored every item (or said it never will), like a kiosk."""
        kind = "single" if len(items) == 1 else "batch"
        rng = random.Random(items[0].id)
        failures = 0
        pending = items
        try:
            while pending:
                if kind == "single":
                    raw = encode("POST", SINGLE_PATH, kiosk, pending[0].body)
                else:
                    raw = encode(
                        "POST", BATCH_PATH, kiosk, {"responses": [i.body for i in pending]}
                    )
                self.in_flight += 1
                phase.in_flight_max = max(phase.in_flight_max, self.in_flight)
                try:
                    status, headers, body = await exchange(self.port, raw, KIOSK_TIMEOUT_S)
                except TimeoutError:
                    status, headers, body = "timeout", {}, b""
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                    status, headers, body = type(error).__name__, {}, b""
                finally:
                    self.in_flight -= 1
                self.note(phase, kind, due, status)
                if status in (200, 201):
                    pending = self.settle(phase, kind, pending, status, body)
                    if not pending:
                        return
                    reason = "no verdict for some items"
                elif isinstance(status, int) and status not in RETRYABLE:
                    for item in pending:  # 400, 401, 409, 413…: the kiosk sets them aside
                        item.rejected = f"HTTP {status}"
                    phase.problems.append(f"{kind}: HTTP {status}: {body[:300]!r}")
                    return
                else:
                    reason = f"HTTP {status}" if isinstance(status, int) else status
                if time.perf_counter() > self.give_up_at:
                    return  # the run is over: these stay "never stored"
                failures += 1
                phase.retries[reason] += 1
                due = time.perf_counter() + backoff(rng, failures, headers.get("retry-after"))
                if due > self.give_up_at:
                    return  # a kiosk would try again later; the run ends before that
                self.waiting += 1
                try:
                    await self.sleep_until(due)
                finally:
                    self.waiting -= 1
        finally:
            self.queued[kiosk.index] -= len(items)

    def settle(self, phase: Phase, kind: str, items: list[Item], status, body) -> list[Item]:
        """Apply the server's verdicts; return the items still to send."""
        try:
            answer = json.loads(body)
        except ValueError:
            phase.problems.append(f"{kind}: HTTP {status} with a body that is not JSON")
            return items
        if kind == "single":
            verdicts = [("created" if status == 201 else "duplicate", answer.get("id"))]
        else:
            verdicts = [(r.get("status"), r.get("id")) for r in answer.get("results", [])]
        left = []
        for position, item in enumerate(items):
            verdict, echoed = verdicts[position] if position < len(verdicts) else (None, None)
            if echoed != item.id:
                left.append(item)
                continue
            if verdict in ("created", "duplicate"):
                self.accept(phase, item, verdict == "created")
            else:
                item.rejected = str(verdict)
                phase.problems.append(f"{kind}: {verdict} for {item.id}: {answer!r:.300}")
        return left

    def accept(self, phase: Phase, item: Item, created: bool) -> None:
        now = time.perf_counter()
        if created:
            item.created += 1
            phase.created += 1
        else:
            item.duplicates += 1
            phase.duplicates += 1
        item.body = None  # sent for good: only its id is needed from now on
        if item.accepted_at is None:
            item.accepted_at = now
            phase.accepted += 1
            if now <= phase.end:
                phase.accepted_in_window += 1
            phase.to_stored.append(now - item.due)

    async def heartbeat(self, phase: Phase, kiosk: Kiosk, due: float) -> None:
        payload = {
            "app_version": "load-bench/1",
            "queue_length": self.queued[kiosk.index],
            "invalid_count": 0,
            "battery": self.rng.randint(20, 100),
        }
        raw = encode("POST", HEARTBEAT_PATH, kiosk, payload)
        try:
            status, _, body = await exchange(self.port, raw, KIOSK_TIMEOUT_S)
        except TimeoutError:
            status = "timeout"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            status = type(error).__name__
        self.note(phase, "heartbeat", due, status)
        if isinstance(status, int) and status != 200 and status not in RETRYABLE:
            phase.problems.append(f"heartbeat: HTTP {status}: {body[:300]!r}")
        # No retry: the next beat is a minute away. (A 5xx is counted with every other.)

    # -- readers

    def a_read(self) -> tuple[str, str, str, dict]:
        """(kind, reader, path, params) of one dashboard or API read."""
        kind = self.rng.choices([k for k, _ in READ_MIX], [w for _, w in READ_MIX])[0]
        period = self.rng.choice(RANGES)
        if kind == "store page":
            email, code = self.rng.choice(self.chain.managers)
            return kind, email, f"/dashboard/{self.chain.slug}/stores/{code}/", {"range": period}
        if kind == "head-office page":
            return kind, "head office", f"/dashboard/{self.chain.slug}/", {"range": period}
        today = datetime.now(UTC).date()
        days = {"today": 0, "7d": 6, "30d": 29}[period]
        params = {"from": (today - timedelta(days=days)).isoformat(), "to": today.isoformat()}
        group = self.rng.choice(("location", "day", "hour", "staff", "touchpoint"))
        params["group_by"] = group
        if group == "hour":
            params["region"] = self.rng.choice(self.chain.regions)
        if group == "staff":
            params["location"] = self.rng.choice(self.chain.stores)
        return kind, "api", SCORES_PATH, params

    async def read(self, phase: Phase, due: float) -> None:
        kind, reader, path, params = self.a_read()
        try:
            response = await self.readers[reader].get(path, params=params)
            status = response.status_code
        except httpx.TimeoutException:
            status = "timeout"
        except httpx.HTTPError as error:
            status = type(error).__name__
        self.note(phase, f"read: {kind}", due, status)
        if isinstance(status, int) and status != 200:
            phase.problems.append(f"read {path}: HTTP {status}")

    # -- arrivals

    async def singles(self, phase: Phase, kiosk: Kiosk, rate: float) -> None:
        rng = random.Random(f"{self.args.seed}-{phase.name}-{kiosk.index}")
        due = phase.start + rng.expovariate(rate)
        while due < phase.end:
            await self.sleep_until(due, phase)
            self.spawn(self.deliver(phase, kiosk, self.new_items(phase, kiosk, due, 1), due))
            due += rng.expovariate(rate)

    async def batches(self, phase: Phase, rate: float) -> None:
        rng = random.Random(f"{self.args.seed}-{phase.name}-batches")
        due = phase.start + rng.expovariate(rate)
        while due < phase.end:
            await self.sleep_until(due, phase)
            kiosk = rng.choice(self.chain.kiosks)
            items = self.new_items(phase, kiosk, due, rng.randint(*BATCH_SIZES))
            self.spawn(self.deliver(phase, kiosk, items, due))
            due += rng.expovariate(rate)

    async def heartbeats(self, phase: Phase, kiosk: Kiosk) -> None:
        period = self.args.heartbeat
        due = phase.start + random.Random(kiosk.token).uniform(0, period)
        while due < phase.end:
            await self.sleep_until(due)
            self.spawn(self.heartbeat(phase, kiosk, due))
            due += period

    async def reads(self, phase: Phase) -> None:
        rng = random.Random(f"{self.args.seed}-{phase.name}-reads")
        due = phase.start + rng.expovariate(phase.read_rate)
        while due < phase.end:
            await self.sleep_until(due)
            self.spawn(self.read(phase, due))
            due += rng.expovariate(phase.read_rate)

    async def progress(self, phase: Phase) -> None:
        every = self.args.progress
        last_offered = last_accepted = 0
        last_t, last_rows = phase.start, phase.rows_at_start
        seen = 0
        while True:
            await asyncio.sleep(max(0.0, last_t + every - time.perf_counter()))
            rows = await asyncio.to_thread(self.rows)
            now = time.perf_counter()
            queue = self.celery_queue()
            phase.queue_max = max(phase.queue_max, queue)
            recent = phase.latency["single"][seen:]
            seen += len(recent)
            p95 = c.percentile(sorted(recent), 95) * 1000 if recent else math.nan
            errors = sum(
                n for s in phase.statuses.values() for k, n in s.items() if k not in (200, 201)
            )
            print(
                f"  {phase.name} t={now - phase.start:5.0f} s  "
                f"arrived {(phase.offered - last_offered) / (now - last_t):6.1f}/s  "
                f"stored {(phase.accepted - last_accepted) / (now - last_t):6.1f}/s "
                f"(rows {(rows - last_rows) / (now - last_t):6.1f}/s)  "
                f"in flight {self.in_flight:5d}  retry-wait {self.waiting:5d}  "
                f"single p95 {p95:8.1f} ms  errors so far {errors}  Celery queue {queue}",
                flush=True,
            )
            last_offered, last_accepted, last_t = phase.offered, phase.accepted, now
            last_rows = rows

    def rows(self) -> int:
        """Responses in the database: what the server stored, whether or not the kiosk
        heard the answer (a kiosk that timed out does not)."""
        with self.db.cursor() as cur:
            cur.execute("SELECT count(*) FROM surveys_surveyresponse")
            return cur.fetchone()[0]

    def celery_queue(self) -> int:
        try:
            return int(self.broker.llen("celery")) + int(self.broker.llen("alerts"))
        except redis.RedisError:
            return -1

    # -- a phase

    async def run_phase(self, phase: Phase, at_end=None) -> Phase:
        args = self.args
        kiosks = self.chain.kiosks
        batch_rate = phase.rate * args.batch_share / (sum(BATCH_SIZES) / 2)
        single_rate = phase.rate * (1 - args.batch_share) / len(kiosks)
        phase.rows_at_start = await asyncio.to_thread(self.rows)
        phase.start = time.perf_counter() + 0.1
        phase.end = phase.start + phase.seconds
        self.give_up_at = phase.end + args.drain
        generators = [asyncio.create_task(self.heartbeats(phase, k)) for k in kiosks]
        if single_rate > 0:
            generators += [asyncio.create_task(self.singles(phase, k, single_rate)) for k in kiosks]
        if batch_rate > 0:
            generators.append(asyncio.create_task(self.batches(phase, batch_rate)))
        if phase.read_rate > 0:
            generators.append(asyncio.create_task(self.reads(phase)))
        reporter = asyncio.create_task(self.progress(phase))
        try:
            await asyncio.gather(*generators)
            phase.backlog_at_end = phase.offered - phase.accepted
            phase.queue_at_end = self.celery_queue()
            phase.rows_at_end = await asyncio.to_thread(self.rows)
            if at_end is not None:
                await asyncio.to_thread(at_end)
            print(
                f"  {phase.name}: load stopped; {phase.backlog_at_end:,} responses not stored "
                f"yet ({self.in_flight} requests in flight, {self.waiting} waiting to retry)",
                flush=True,
            )
            while self.tasks:
                await asyncio.wait(set(self.tasks), timeout=1)
                if self.crashed:
                    raise self.crashed[0]
            phase.drained = time.perf_counter()
            phase.rows_at_drained = await asyncio.to_thread(self.rows)
        finally:
            reporter.cancel()
            for task in generators:
                task.cancel()
        if self.crashed:
            raise self.crashed[0]
        return phase

    async def warm_up(self) -> None:
        """Every kiosk reads its configuration (as a tablet does when it starts); every
        reader reads once. Failures here mean the set-up is wrong: the bench stops."""
        gate = asyncio.Semaphore(8)

        async def config(kiosk):
            async with gate:
                status, _, body = await exchange(self.port, encode("GET", CONFIG_PATH, kiosk), 60)
            if status != 200:
                raise c.BenchError(f"GET {CONFIG_PATH}: HTTP {status}: {body[:300]!r}")

        await asyncio.gather(*(config(k) for k in self.chain.kiosks))
        for _ in range(2):
            for kind, reader, path, params in self._every_read():
                response = await self.readers[reader].get(path, params=params)
                if response.status_code != 200:
                    raise c.BenchError(f"{kind} {path}: HTTP {response.status_code}")

    def _every_read(self):
        slug = self.chain.slug
        for email, code in self.chain.managers:
            yield "store page", email, f"/dashboard/{slug}/stores/{code}/", {"range": "30d"}
        yield "head-office page", "head office", f"/dashboard/{slug}/", {"range": "30d"}
        today = datetime.now(UTC).date().isoformat()
        yield "scores API", "api", SCORES_PATH, {"from": today, "to": today, "group_by": "location"}


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


# --- profiling one gunicorn worker ----------------------------------------------------------

PROFILE_CONFIG = """\"\"\"Generated by bench/load.py --profile: the repository's gunicorn.conf.py,
plus a CPU profile (cProfile, process time) of the first worker's requests, one per kind of
request, skipping its first {skip} (imports, caches); written when the worker exits.\"\"\"
import cProfile as _cProfile
import time as _time

_conf = {conf!r}
exec(compile(open(_conf).read(), _conf, "exec"))
_HOOKS = ("post_fork", "pre_request", "post_request", "worker_exit")
_chained = {{name: globals().get(name) for name in _HOOKS}}
_KINDS = (
    ("/api/v1/kiosk/responses/batch/", "batch"),
    ("/api/v1/kiosk/responses/", "single"),
    ("/api/v1/kiosk/heartbeat/", "heartbeat"),
    ("/api/v1/kiosk/config/", "config"),
    ("/api/v1/metrics/", "scores-api"),
    ("/dashboard/", "dashboard"),
)


def post_fork(server, worker):
    if _chained["post_fork"]:
        _chained["post_fork"](server, worker)
    worker._bench = {{"profiles": {{}}, "seen": 0, "current": None}} if worker.age == 1 else None


def pre_request(worker, req):
    if _chained["pre_request"]:
        _chained["pre_request"](worker, req)
    bench = getattr(worker, "_bench", None)
    if bench is None:
        return
    bench["seen"] += 1
    if bench["seen"] <= {skip}:
        return
    kind = next((k for prefix, k in _KINDS if req.path.startswith(prefix)), "other")
    entry = bench["profiles"].setdefault(kind, [_cProfile.Profile(_time.process_time), 0])
    entry[1] += 1
    bench["current"] = entry[0]
    entry[0].enable()


def post_request(worker, req, environ, resp):
    bench = getattr(worker, "_bench", None)
    if bench is not None and bench["current"] is not None:
        bench["current"].disable()
        bench["current"] = None
    if _chained["post_request"]:
        _chained["post_request"](worker, req, environ, resp)


def worker_exit(server, worker):
    bench = getattr(worker, "_bench", None)
    for kind, (profile, count) in (bench or {{}}).get("profiles", {{}}).items():
        profile.dump_stats("%s/profile.%s.%d.%d.prof" % ({out!r}, kind, count, worker.pid))
    if _chained["worker_exit"]:
        _chained["worker_exit"](server, worker)
"""
PROFILE_SKIP = 50
PROFILED_PACKAGES = r"(surveys|locations|metrics|cxhub|rest_framework|django/core/handlers)/"


def profile_report(directory: Path) -> str:
    """CPU per request by kind, then where a single submission's CPU goes."""
    out = io.StringIO()
    by_kind: dict[str, list] = defaultdict(list)
    for path in sorted(directory.glob("profile.*.prof")):
        _, kind, count, _pid, _ = path.name.split(".")
        by_kind[kind].append((path, int(count)))
    if not by_kind:
        return "no profile was written (the profiled worker did not exit cleanly)"
    print(
        f"one gunicorn worker, its first {PROFILE_SKIP} requests skipped; CPU per request "
        "under cProfile (which roughly doubles it):",
        file=out,
    )
    for kind, files in sorted(by_kind.items()):
        stats = pstats.Stats(*(str(f) for f, _ in files), stream=io.StringIO())
        count = sum(n for _, n in files)
        print(
            f"  {kind:<11} {count:6,} requests  {1000 * stats.total_tt / max(count, 1):7.2f} ms",
            file=out,
        )
    for kind in ("single", "batch"):
        if kind not in by_kind:
            continue
        stats = pstats.Stats(*(str(f) for f, _ in by_kind[kind]), stream=out)
        print(f"\n--- {kind}: by own time", file=out)
        stats.sort_stats("tottime").print_stats(25)
        print(f"--- {kind}: by cumulative time, our code, DRF and Django's handler", file=out)
        stats.sort_stats("cumulative").print_stats(PROFILED_PACKAGES, 40)
    return out.getvalue()


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
            "worker: refresh tasks (finest-tier rows written) / sweeps / retries / errors",
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
