"""The load bench's traffic: the chain (stores, kiosks, staff, managers, sign-ins), what kiosks
send (responses, batches, heartbeats, with the kiosk's backoff), and Phase / Traffic, which
drive one phase of kiosks and readers against the server. Used by bench/load.py.
"""

import asyncio
import contextlib
import io
import json
import math
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import rollups

SINGLE_PATH = "/api/v1/kiosk/responses/"
BATCH_PATH = "/api/v1/kiosk/responses/batch/"
HEARTBEAT_PATH = "/api/v1/kiosk/heartbeat/"
CONFIG_PATH = "/api/v1/kiosk/config/"
SCORES_PATH = "/api/v1/metrics/scores/"

# static/kiosk/sync.js: 20 s per request, backoff 2 s doubling up to 5 min, full jitter,
# never sooner than Retry-After (plus up to 1 s), at least 250 ms.
KIOSK_TIMEOUT_S, BACKOFF_BASE_S, BACKOFF_CAP_S, MIN_WAIT_S = 20.0, 2.0, 300.0, 0.25
RETRYABLE = {429, 500, 502, 503, 504}
BATCH_SIZES = (20, 50)
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
