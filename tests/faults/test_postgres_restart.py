"""PostgreSQL restarted while kiosks are sending: they get 503 while it is away and keep
their queue, and once it is back every answer is stored exactly once and counted once.

Everything runs on a private PostgreSQL cluster, Redis, gunicorn and Celery worker on free
ports of 127.0.0.1, so stopping the database touches none of the machine's services."""

import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.kiosk import STORED, Kiosk, nps_figures
from tests.stack import Chain, Postgres, Redis, Stack, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

KIOSKS = 4
ANSWERS_PER_KIOSK = 120
SECONDS_BETWEEN_ANSWERS = 0.1  # 4 kiosks x 120 answers: a steady load over about 12 s
OUTAGE_SECONDS = 4.0


@pytest.fixture
def system(tmp_path):
    """A chain set up by an operator's commands on a private cluster, served by gunicorn
    with a Celery worker and beat (which sweeps refreshes lost while the database was away)."""
    postgres = Postgres()
    redis = Redis(tmp_path)
    stack = None
    try:
        postgres.start()
        postgres.createdb("cxhub")
        redis.start()
        chain = Chain(postgres.url("cxhub"), tmp_path, kiosks=KIOSKS, redis_url=redis.url)
        stack = Stack(postgres.url("cxhub"), redis, tmp_path)
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        yield postgres, chain, stack
    finally:
        if stack:
            stack.stop()
        redis.stop()
        postgres.destroy()


def stored_ids(postgres: Postgres) -> tuple[int, set[str]]:
    rows = postgres.psql("SELECT id FROM surveys_surveyresponse").split()
    return len(rows), set(rows)


def test_a_postgres_restart_under_load_loses_nothing_and_doubles_nothing(system):
    postgres, chain, stack = system
    workers = stack.booted_web_workers()
    kiosks = [
        Kiosk(stack.url, token, batch=n % 2 == 1) for n, token in enumerate(chain.kiosk_tokens)
    ]
    total = KIOSKS * ANSWERS_PER_KIOSK

    def stored_so_far():
        return sum(len(k.sent) - len(k.queue) for k in kiosks)

    with ThreadPoolExecutor(len(kiosks)) as pool:
        give_up_at = time.monotonic() + 60
        runs = [
            pool.submit(k.run, ANSWERS_PER_KIOSK, SECONDS_BETWEEN_ANSWERS, give_up_at)
            for k in kiosks
        ]
        # Half-way through the load (by answers stored, however busy the machine is).
        wait_for(lambda: stored_so_far() >= total // 2, 40, 0.05, "half of the answers")
        postgres.stop("fast")  # ends every open session at once, as a restart does
        down = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        up = time.monotonic()
        postgres.start()
        for run in runs:
            run.result()
    logs = f"{stack.logs()}\n{postgres.logs()}"

    # While the database was away the kiosks were told "not now, retry later" and nothing
    # else: no 500, no hung or dropped connection. (A request that began just before it came
    # back may have reached it in time and been stored.)
    began_during = [a for k in kiosks for a in k.attempts if down <= a.started < up]
    outcomes = Counter(a.outcome for a in began_during)
    assert set(outcomes) <= {503, 201, 200}, f"during the outage: {outcomes}\n{logs}"
    answered_during = [a for a in began_during if a.ended <= up]
    assert answered_during, "no request was answered during the outage"
    outcomes = Counter(a.outcome for a in answered_during)
    assert set(outcomes) == {503}, f"during the outage: {outcomes}\n{logs}"
    assert all(a.retry_after for a in answered_during), "a 503 came without Retry-After"
    # Before and after it: "stored" (201), and "stored before" or a batch's answer (200).
    # (A timeout outside the outage means a busy machine, not a fault: the kiosk resends.)
    outcomes = sum((k.outcomes() for k in kiosks), Counter())
    statuses = {o for o in outcomes if isinstance(o, int)}
    assert statuses <= {200, 201, 503}, f"in all: {outcomes}\n{logs}"
    assert set(sum((k.item_statuses for k in kiosks), Counter())) <= STORED
    # No gunicorn worker died, or hung long enough to be replaced.
    assert stack.web_workers() == workers, f"workers were {workers}\n{logs}"

    # Every queue drained, and the database holds each answer once.
    assert [len(k.queue) for k in kiosks] == [0] * len(kiosks)
    sent = {id_: nps for k in kiosks for id_, nps in k.sent.items()}
    assert len(sent) == total
    assert stored_ids(postgres) == (len(sent), set(sent))

    # Once the worker has caught up, the figures count every answer exactly once.
    figures = wait_for(
        lambda: (f := nps_figures(stack, chain.api_token))["n"] == len(sent) and f,
        timeout=30,
        message=f"the figures to count {len(sent)} answers\n{stack.logs()}",
    )
    expected = Counter(
        "promoters" if n >= 9 else "passives" if n >= 7 else "detractors" for n in sent.values()
    )
    assert {k: figures[k] for k in expected} == expected
