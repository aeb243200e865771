"""Dashboard pages benchmark: server time of the head-office and store pages at two database
sizes, beside the rollup reads each page is built on (issue #6).

Creates its own PostgreSQL database, a chain of 200 stores in two regions with 5 staff each
(bench/rollups.py's make_chain), a head-office user and the store manager of one store,
both with a password; then for each size (default 100 k and 5 M responses over one year,
loaded inside PostgreSQL and rolled up with one GROUP BY per rollup table, as rollups.py
does):

  pages   over HTTP on gunicorn (the repository's gunicorn.conf.py), each user signed in
          through /accounts/login/ with a session cookie:
              head office    GET /dashboard/<org>/?range=30d and ?range=quarter
              store manager  GET /dashboard/<org>/stores/<code>/?range=30d and ?range=quarter
          server time = the request's wall time at the client on the same machine (the app
          sends no Server-Timing header); the same page rendered in-process (django test
          Client) for the view's own time, and its number of SQL queries
  reads   in the same run, in-process and as the same user, the reads each page is made of:
              head office    selectors.ranking by location (nps), selectors.scores_by_group
                             by the page's trend grain (day for 30 days, week for a quarter),
                             dashboards.score_cards
              store          the same trend and score_cards for the store, then
                             dashboards.heatmap_frame, staff_table and latest_comments

Each series is timed after one untimed warm-up, up to --repeat runs or --budget seconds
(at least 10 runs). It prints p50/p95 per page and per read, the ratio of a page's p95 to
the sum of its reads' p95, the large/small ratio, "p95 < 300 ms" per page at the largest
size, and drops everything it made.

gunicorn runs with DEBUG off, as in production, with two settings changed for a plain-HTTP
bench: SECURE_COOKIES=false (the session and CSRF cookies travel over http://127.0.0.1) and
WHITENOISE_USE_FINDERS=true ({% static %} without a collectstatic manifest).

    .venv/bin/python bench/dashboards.py [--quick] [--sizes 100000,5000000] [--repeat 30]
        [--budget 30] [--profile]

--profile adds, after the largest size, a cProfile of one warm in-process render of each
30-day page: the view's time split by what it calls directly, and the top 25 functions by
cumulative time (our code, plotly, templates, ORM); then the page's slowest SQL queries and
the plan of the slowest.
"""

import argparse
import contextlib
import cProfile
import functools
import inspect
import io
import json
import pstats
import re
import secrets
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import rollup_reference
import rollups

TARGET_P95_MS = 300.0
STORES, STAFF = 200, 5
PRESETS = ("30d", "quarter")
MIN_RUNS = 10
# Requests before timing a page: every gunicorn worker (5 on 2 cores) answers its first one
# slowly (URLconf, templates, plotly), and a sync worker takes whichever request comes.
WARM_UP = 10
HEAD_OFFICE_EMAIL, MANAGER_EMAIL = "ho@bench.test", "manager@bench.test"  # make_chain's HO


@dataclass(frozen=True)
class People:
    slug: str
    code: str  # the managed store
    head_office: object
    manager: object
    password: str


def make_people(chain: rollups.Chain) -> People:
    """Passwords for make_chain's head-office user and a new manager of the first store."""
    from locations.models import Organization, Role
    from locations.services import invite_user

    org = Organization.objects.get(pk=chain.organization_id)
    code = chain.stores[0]["code"]
    with contextlib.redirect_stdout(io.StringIO()):  # the invitation e-mail
        manager = invite_user(
            email=MANAGER_EMAIL, organization=org, role=Role.STORE_MANAGER, location=code
        ).user
    password = secrets.token_urlsafe(16)
    for user in (chain.user, manager):
        user.set_password(password)
        user.save(update_fields=["password"])
    return People(org.slug, code, chain.user, manager, password)


# --- what is measured ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    store: bool  # the store manager's store page, else the head-office overview
    preset: str

    def path(self, people: People) -> str:
        if self.store:
            return f"/dashboard/{people.slug}/stores/{people.code}/?range={self.preset}"
        return f"/dashboard/{people.slug}/?range={self.preset}"

    def user(self, people: People):
        return people.manager if self.store else people.head_office

    def must_show(self, chain: rollups.Chain) -> str:
        """Text a complete page holds: the last store of the ranking, a staff row."""
        return 'data-staff="' if self.store else chain.stores[-1]["code"]


PAGES = [
    Page(f"{'store' if store else 'head office'}, {preset}", store, preset)
    for store in (False, True)
    for preset in PRESETS
]


def page_period(page: Page, people: People):
    """The period the view computes: the preset ending today where the page's zone is."""
    from locations.models import Location
    from locations.selectors import visible_locations
    from metrics.periods import preset_period, today_in

    if page.store:
        zone = Location.objects.get(code=people.code).timezone
    else:
        locations = visible_locations(people.head_office).order_by("code")
        zone = locations.values_list("timezone", flat=True).first()
    return preset_period(page.preset, today_in(zone))


def page_reads(page: Page, people: People) -> dict[str, Callable[[], object]]:
    """The reads the page is built on, as its user, for the page's period."""
    from metrics import dashboards, selectors
    from metrics.dashboards import Scope

    user, period = page.user(people), page_period(page, people)
    scope = Scope(people.slug, locations=(people.code,)) if page.store else Scope(people.slug)
    grain = period.trend_grain
    trend = scope.query(period, grain, questions=("nps",))
    reads = {}
    if not page.store:
        ranking = scope.query(period, "location")
        reads["ranking (selectors.ranking by location)"] = lambda: selectors.ranking(
            user, ranking, "nps"
        )
    reads[f"trend (scores_by_group by {grain})"] = lambda: selectors.scores_by_group(user, trend)
    reads["score_cards"] = lambda: dashboards.score_cards(user, scope, period)
    if page.store:
        reads["heatmap_frame"] = lambda: dashboards.heatmap_frame(user, scope, period, "nps")
        reads["staff_table"] = lambda: dashboards.staff_table(user, scope, period, "nps")
        reads["latest_comments"] = lambda: dashboards.latest_comments(user, scope, period)
    return reads


def sign_in(port: int, email: str, password: str) -> httpx.Client:
    """A client holding a session, signed in through the login form as a browser would."""
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    form = client.get("/accounts/login/")
    token = client.cookies.get("csrftoken")
    if form.status_code != 200 or not token:
        raise c.BenchError(f"GET /accounts/login/: HTTP {form.status_code}, csrftoken {token!r}")
    answer = client.post(
        "/accounts/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": token},
    )
    if answer.status_code != 302 or "sessionid" not in client.cookies:
        raise c.BenchError(f"signing in as {email}: HTTP {answer.status_code}, no session")
    return client


def in_process_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def fetch(client, path: str, must_show: str) -> bytes:
    response = client.get(path)
    body = response.content
    if response.status_code != 200 or must_show.encode() not in body:
        raise c.BenchError(f"GET {path}: HTTP {response.status_code}, {len(body):,} bytes")
    return body


def count_queries(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


PHASES = ("dashboards", "charts", "template")


class PhaseClock:
    """Splits an in-process render into the view's reads (metrics.dashboards), its figures
    (metrics.charts: pandas and plotly), the template and the rest (middleware, session,
    user, the view resolving its scope), by wrapping the module attributes the view calls
    for as long as the clock is installed. Only the outermost wrapped call counts."""

    def __init__(self):
        self.laps: list[dict[str, float]] = []
        self._current: dict[str, float] = {}
        self._depth = 0
        self._patched: list[tuple] = []

    def __enter__(self):
        from metrics import charts, dashboards, views

        for module, phase in ((dashboards, "dashboards"), (charts, "charts")):
            for name, fn in vars(module).copy().items():
                ours = inspect.isfunction(fn) and fn.__module__ == module.__name__
                if ours and not name.startswith("_"):
                    self._wrap(module, name, phase)
        self._wrap(views, "render", "template")
        return self

    def __exit__(self, *exc):
        for module, name, fn in reversed(self._patched):
            setattr(module, name, fn)
        self._patched.clear()

    def _wrap(self, module, name: str, phase: str) -> None:
        fn = getattr(module, name)

        @functools.wraps(fn)
        def clocked(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                spent = time.perf_counter() - started
                self._current[phase] = self._current.get(phase, 0.0) + spent

        setattr(module, name, clocked)
        self._patched.append((module, name, fn))

    def lap(self, fn) -> None:
        """Run fn() and keep the split of its time."""
        self._current = {}
        started = time.perf_counter()
        fn()
        lap = {phase: self._current.get(phase, 0.0) for phase in PHASES}
        lap["total"] = time.perf_counter() - started
        lap["other"] = lap["total"] - sum(lap[phase] for phase in PHASES)
        self.laps.append(lap)


def measure(chain, people: People, clients: dict, args, meter: c.CpuMeter) -> tuple[dict, float]:
    """Every page over HTTP and in-process, then each of its reads, as the page's user."""
    series = {"repeat": args.repeat, "budget": args.budget, "minimum": MIN_RUNS}
    before, started = meter.snapshot(), time.perf_counter()
    results = {}
    for page in PAGES:
        path, marker = page.path(people), page.must_show(chain)
        http = clients[page.store]
        local = in_process_client(page.user(people))
        for _ in range(WARM_UP):
            body = fetch(http, path, marker)
        row = {"kib": len(body) / 1024}
        row["queries"] = count_queries(lambda cl=local, p_=path, m=marker: fetch(cl, p_, m))
        row["http"] = rollups.timed(lambda cl=http, p_=path, m=marker: fetch(cl, p_, m), **series)
        with PhaseClock() as clock:
            row["in-process"] = rollups.timed(
                lambda cl=local, p_=path, m=marker: clock.lap(lambda: fetch(cl, p_, m)), **series
            )
        row["phases"] = clock.laps[1:]  # not timed()'s warm-up
        row["reads"] = {
            name: rollups.timed(read, **series) for name, read in page_reads(page, people).items()
        }
        row["reads_p95_sum"] = sum(rollups.p(t, 95) for t in row["reads"].values())
        results[page.name] = row
        print(
            f"    {page.name}: HTTP p95 {rollups.p(row['http'], 95):.0f} ms, in-process "
            f"{rollups.p(row['in-process'], 95):.0f} ms, reads Σp95 {row['reads_p95_sum']:.0f} "
            f"ms, {row['queries']} queries, {row['kib']:.0f} KiB",
            flush=True,
        )
    return results, rollups.others_cores(meter, before, time.perf_counter() - started)


# Where a page's time goes: our code, plotly, templates and the ORM; not the middleware and
# handler frames above the view, which hold everything and say nothing.
PROFILED = (
    re.escape(str(c.REPO)) + r"/(metrics|cxhub|locations|surveys)/|plotly/|django/(template|db)/"
)


def profile_page(chain, people: People, page: Page) -> str:
    """cProfile of one warm in-process render: the view's time by what it calls directly,
    then the top 25 functions by cumulative time."""
    client = in_process_client(page.user(people))
    fetch(client, page.path(people), page.must_show(chain))
    profiler = cProfile.Profile()
    profiler.enable()
    fetch(client, page.path(people), page.must_show(chain))
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.calc_callees()
    view = max(
        (k for k in stats.stats if k[0].endswith("metrics/views.py") and k[2] == "get"),
        key=lambda k: stats.stats[k][3],
    )
    total = stats.stats[view][3]
    rows = [
        [f"{Path(file).parent.name}/{Path(file).name}:{func}", timing[1], f"{timing[3] * 1000:.1f}",
         f"{100 * timing[3] / total:.0f} %"]
        for (file, _, func), timing in sorted(
            stats.all_callees[view].items(), key=lambda kv: -kv[1][3]
        )
        if timing[3] >= 0.0005
    ]  # fmt: skip
    out.write(f"{page.name}: the view took {total * 1000:.0f} ms, by what it calls directly:\n")
    out.write(c.format_table(["callee", "calls", "ms", "share"], rows) + "\n\n")
    stats.sort_stats("cumulative").print_stats(PROFILED, 25)
    return out.getvalue()


OUR_MODULES = ("metrics", "locations", "surveys")


def slowest_queries(chain, people: People, page: Page, shown: int = 6) -> str:
    """The page's slowest SQL queries in one warm in-process render, each with the calls in
    our code that issued it, and the plan of the slowest (EXPLAIN ANALYZE, BUFFERS)."""
    from django.db import connection

    client = in_process_client(page.user(people))
    fetch(client, page.path(people), page.must_show(chain))
    queries = []

    def clock(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - started
            ours = [
                f"{Path(f.filename).parent.name}.{Path(f.filename).stem}.{f.name}"
                for f in traceback.extract_stack()
                if Path(f.filename).parent.name in OUR_MODULES
                and Path(f.filename).parent.parent == c.REPO
            ]
            issuer = " › ".join(ours[1:]) or "(around the view: session, user, language)"
            queries.append((spent, sql, params, issuer))

    with connection.execute_wrapper(clock):
        fetch(client, page.path(people), page.must_show(chain))
    queries.sort(key=lambda q: -q[0])
    rows = []
    for spent, sql, _, issuer in queries[:shown]:
        tables = dict.fromkeys(re.findall(r'(?:FROM|JOIN) "(\w+)"', sql))
        rows.append([f"{spent * 1000:.1f}", issuer, ", ".join(tables)])
    # The plan of the slowest query a read of the view issued.
    spent, sql, params, issuer = next(q for q in queries if not q[3].startswith("("))
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(line for (line,) in cur.fetchall())
    return (
        f"{page.name}: {len(queries)} queries, {sum(q[0] for q in queries) * 1000:.0f} ms of SQL "
        "(at the client, rows fetched) in all; the slowest:\n"
        + c.format_table(["ms", "issued by (below the view)", "tables"], rows)
        + f"\n\nEXPLAIN (ANALYZE, BUFFERS) of the slowest issued by the view ({spent * 1000:.1f}"
        f" ms, from {issuer}):\n{plan}\n"
    )


# --- the run ------------------------------------------------------------------------------


def one_size(url, chain, people, size, loaded, window, clients, meter, args) -> dict:
    first, last = window
    print(f"\n{size:,} responses over {first} … {last}", flush=True)
    out = rollups.load(url, chain, first, (last - first).days + 1, size - loaded)
    print(f"  load {out['load_s']:.1f} s, vacuum {out['vacuum_s']:.1f} s", flush=True)
    out["fill_s"] = rollup_reference.sql_fill(url)
    analyze_rollups(url)
    out["tables"] = rollups.table_facts(url)
    facts = ", ".join(f"{t} {rows:,}" for t, (rows, _) in out["tables"].items())
    print(f"  SQL fill of the rollups {out['fill_s']:.1f} s; rows: {facts}", flush=True)
    out["pages"], out["others"] = measure(chain, people, clients, args, meter)
    return out


def analyze_rollups(url: str) -> None:
    """What autovacuum would have done after the fill, before anyone reads."""
    conn = c.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"VACUUM (ANALYZE) {', '.join(t for t, *_ in rollup_reference.ROLLUPS)}")
    finally:
        conn.close()


def report(sizes: list[int], runs: dict[int, dict]) -> dict:
    p = rollups.p
    labels = [rollups.label(z) for z in sizes]
    head = ["page / read"]
    for name in labels:
        head += [f"{name} p50", f"{name} p95"]
    if len(sizes) > 1:
        head.append(f"p95 {labels[-1]}/{labels[0]}")

    def line(title: str, pick) -> list:
        cells = [title]
        for size in sizes:
            times = pick(runs[size])
            cells += [f"{p(times, 50):.1f}", f"{p(times, 95):.1f}"]
        if len(sizes) > 1:
            a, b = pick(runs[sizes[0]]), pick(runs[sizes[-1]])
            cells.append(f"{p(b, 95) / p(a, 95):.2f}")
        return cells

    def figure(title: str, value, fmt: str) -> list:
        cells = [title]
        for size in sizes:
            cells += ["", format(value(runs[size]), fmt)]
        if len(sizes) > 1:
            cells.append("")
        return cells

    rows = []
    figures: dict = {"sizes": sizes, "pages": {}}
    for page in PAGES:
        name = page.name
        rows.append(line(f"**{name}**, HTTP", lambda r, n=name: r["pages"][n]["http"]))
        rows.append(line("  in-process render", lambda r, n=name: r["pages"][n]["in-process"]))
        for read in runs[sizes[-1]]["pages"][name]["reads"]:
            rows.append(
                line(f"  read: {read}", lambda r, n=name, x=read: r["pages"][n]["reads"][x])
            )
        rows.append(
            figure("  Σ reads' p95", lambda r, n=name: r["pages"][n]["reads_p95_sum"], ".1f")
        )
        rows.append(
            figure(
                "  page p95 / Σ reads' p95",
                lambda r, n=name: p(r["pages"][n]["http"], 95) / r["pages"][n]["reads_p95_sum"],
                ".2f",
            )
        )
        rows.append(
            figure("  SQL queries (in-process)", lambda r, n=name: r["pages"][n]["queries"], "d")
        )
        rows.append(figure("  HTML KiB", lambda r, n=name: r["pages"][n]["kib"], ".0f"))
        big = runs[sizes[-1]]["pages"][name]
        figures["pages"][name] = {
            "http_p95_ms": round(p(big["http"], 95), 1),
            "in_process_p95_ms": round(p(big["in-process"], 95), 1),
            "reads_p95_ms": {k: round(p(v, 95), 1) for k, v in big["reads"].items()},
            "page_over_reads": round(p(big["http"], 95) / big["reads_p95_sum"], 2),
            "queries": big["queries"],
            "render_split_p50_ms": {
                k: round(p([lap[k] for lap in big["phases"]], 50), 1)
                for k in ("total", *PHASES, "other")
            },
        }
        if len(sizes) > 1:
            small = runs[sizes[0]]["pages"][name]
            figures["pages"][name]["scale_ratio"] = round(
                p(big["http"], 95) / p(small["http"], 95), 2
            )
    split = []
    for page in PAGES:
        for size in sizes:
            laps = runs[size]["pages"][page.name]["phases"]
            split.append(
                [page.name, rollups.label(size)]
                + [f"{p([lap[k] for lap in laps], 50):.1f}" for k in ("total", *PHASES, "other")]
            )
    others = ", ".join(f"{n} {runs[z]['others']:.2f}" for n, z in zip(labels, sizes, strict=True))
    print(f"\nPages over HTTP and the reads they are built on, ms ({STORES} stores):\n")
    print(c.format_table(head, rows))
    print(
        "\nIn-process render, where the time goes (median ms per render; dashboards: the "
        "metrics.dashboards reads\nthe view calls, charts: metrics.charts figures, template: "
        "render(), other: middleware, session, scope):\n"
    )
    print(
        c.format_table(
            ["page", "size", "render", "dashboards", "charts", "template", "other"], split
        )
    )
    print(f"\n(others' cores during the measurements: {others})")
    at = labels[-1]
    note = "" if sizes[-1] >= 5_000_000 else f" (at {at}, not 5 M: indicative only)"
    print()
    for page in PAGES:
        value = figures["pages"][page.name]["http_p95_ms"]
        met = "met" if value < TARGET_P95_MS else "not met"
        print(f"{page.name}: p95 {value:.0f} ms at {at}; target: p95 < 300 ms at 5 M: {met}{note}")
    return figures


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 k and 500 k responses")
    parser.add_argument("--sizes", help="responses, comma-separated, ascending (100000,5000000)")
    parser.add_argument(
        "--repeat", type=int, default=30, help="timed runs per series, at most (30)"
    )
    parser.add_argument(
        "--budget", type=float, default=30, help=f"seconds per series after {MIN_RUNS} runs (30)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one render of each 30-day page at the end"
    )
    args = parser.parse_args(argv)
    text = args.sizes or ("20000,500000" if args.quick else "100000,5000000")
    try:
        args.sizes = [int(s.replace("_", "")) for s in text.split(",")]
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, not {text!r}")
    if args.sizes != sorted(set(args.sizes)) or args.sizes[0] < 1000:
        parser.error("--sizes needs ascending sizes of at least 1000")
    if args.repeat < MIN_RUNS:
        parser.error(f"--repeat must be at least {MIN_RUNS}")
    return args


def run(args) -> int:
    c.stop_cleanly_on_signals()
    # WhiteNoise looks for STATIC_ROOT, which a bench without collectstatic does not have.
    warnings.filterwarnings("ignore", message="No directory at")
    began = time.perf_counter()
    log_dir = Path(tempfile.mkdtemp(prefix="cxhub-bench-dashboards-"))
    with c.throwaway_database("cxhub_bench_dashboards") as url:
        database = url.rsplit("/", 1)[1]
        env = c.django_env(url, SECURE_COOKIES="false", WHITENOISE_USE_FINDERS="true")
        print(f"database {database}: migrating…", flush=True)
        c.manage("migrate", "--no-input", "-v", "0", env=env)
        rollups.setup_django(env)
        chain = rollups.make_chain(stores=STORES, staff=STAFF)
        people = make_people(chain)
        from metrics.periods import today_in

        # A year up to yesterday where the stores are (both regions are UTC+7).
        last = today_in(chain.stores[0]["tz"]) - timedelta(days=1)
        window = (last - timedelta(days=364), last)
        runs: dict[int, dict] = {}
        with c.gunicorn(env, log_path=log_dir / "gunicorn.log") as web:
            print(f"gunicorn on port {web.port} (log: {log_dir})", flush=True)
            meter = c.CpuMeter(database, web.pid)
            clients = {
                False: sign_in(web.port, HEAD_OFFICE_EMAIL, people.password),
                True: sign_in(web.port, MANAGER_EMAIL, people.password),
            }
            try:
                loaded = 0
                for size in args.sizes:
                    runs[size] = one_size(
                        url, chain, people, size, loaded, window, clients, meter, args
                    )
                    loaded = size
            finally:
                for client in clients.values():
                    client.close()
        figures = report(args.sizes, runs)
        if args.profile:
            print(f"\ncProfile of one in-process render at {rollups.label(loaded)}, warm:")
            for page in PAGES:
                if page.preset == "30d":
                    print("\n" + profile_page(chain, people, page))
                    print(slowest_queries(chain, people, page))
        from django.db import connections

        connections.close_all()
    figures["total_s"] = round(time.perf_counter() - began)
    print(f"\ntotal {figures['total_s']} s")
    # Scripts read the figures from the last line.
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(c.main(parse_args, run))
