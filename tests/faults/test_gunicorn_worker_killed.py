"""A gunicorn worker SIGKILLed while it serves a batch, with other kiosks sending: the cut
request is sent again with the same ids, the master replaces the worker and keeps
answering, and every answer is stored exactly once and counted once."""

import json
import os
import shutil
import signal
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from locations import services as location_services
from locations.models import Role
from surveys.models import SurveyResponse
from tests.factories import LocationFactory, MembershipFactory, make_kiosk
from tests.faults.kiosk import STORED, Kiosk, new_response, nps_figures
from tests.stack import Stack, stack_on_test_database, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

KIOSKS = 3
ANSWERS_PER_KIOSK = 50
SECONDS_BETWEEN_ANSWERS = 0.1  # 3 kiosks x 50 answers over about 5 s
BIG_BATCH = 500  # the most a batch may hold: long enough to be caught in a worker


@pytest.fixture
def stack(tmp_path):
    with stack_on_test_database(tmp_path) as running:
        yield running


@pytest.fixture
def tokens(db):
    store = LocationFactory(code="HCM-01", timezone="Asia/Ho_Chi_Minh")
    kiosks = [make_kiosk(store, registered_days_ago=5)[1] for _ in range(KIOSKS + 1)]
    reader = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    return kiosks, location_services.create_api_token(user=reader)


def start_batch(port: int, token: str, responses: list[dict]) -> socket.socket:
    """Send a batch on a plain socket and leave it to be answered: we need the connection's
    own port to find the worker serving it."""
    body = json.dumps({"responses": responses}).encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(
        b"POST /api/v1/kiosk/responses/batch/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    return conn


def reply_of(conn: socket.socket) -> bytes:
    """All the server sent before closing; empty when the connection was cut unanswered."""
    received = b""
    with conn:
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def worker_serving(stack: Stack, conn: socket.socket) -> int | None:
    """The gunicorn worker holding the server end of conn, found through /proc: the socket
    inode of the TCP connection from conn's port, then the worker with it among its files."""
    client_port = conn.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if (
            int(local.split(":")[1], 16) == stack.port
            and int(remote.split(":")[1], 16) == client_port
        ):
            inode = fields[9]
    if inode is None:
        return None
    for pid in stack.web_workers():
        try:
            if any(
                os.readlink(fd) == f"socket:[{inode}]" for fd in Path(f"/proc/{pid}/fd").iterdir()
            ):
                return pid
        except OSError:  # the worker went away meanwhile
            continue
    return None


def stored() -> tuple[int, set[str]]:
    ids = [str(i) for i in SurveyResponse.objects.values_list("id", flat=True)]
    return len(ids), set(ids)


def test_a_worker_killed_mid_request_is_replaced_and_nothing_is_lost_or_doubled(stack, tokens):
    kiosk_tokens, api_token = tokens
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    workers = stack.booted_web_workers()
    kiosks = [
        Kiosk(stack.url, token, batch=n % 2 == 1) for n, token in enumerate(kiosk_tokens[:KIOSKS])
    ]
    # The tablet whose batch is cut: it sends its whole queue in one request.
    big = Kiosk(stack.url, kiosk_tokens[KIOSKS], batch=True)
    for _ in range(BIG_BATCH):
        big.answer()

    with ThreadPoolExecutor(len(kiosks)) as pool:
        give_up_at = time.monotonic() + 60
        runs = [
            pool.submit(k.run, ANSWERS_PER_KIOSK, SECONDS_BETWEEN_ANSWERS, give_up_at)
            for k in kiosks
        ]
        # Once every kiosk has been answered, the workers are warm and busy with the load.
        wait_for(lambda: all(k.attempts for k in kiosks), 30, message="the kiosks to start")
        conn = start_batch(stack.port, kiosk_tokens[KIOSKS], list(big.queue))
        victim = wait_for(
            lambda: worker_serving(stack, conn), 30, 0.005, "a worker to take the batch"
        )
        os.kill(victim, signal.SIGKILL)
        cut = reply_of(conn)
        for run in runs:
            run.result()
    logs = stack.logs()

    # The batch got no answer, so the tablet still holds all of it and sends it again.
    assert cut == b"", cut[:200]
    big.drain(time.monotonic() + 30)
    # The master replaced the killed worker, left the other alone, and keeps answering.
    replaced = wait_for(
        lambda: len(now := stack.web_workers()) == 2 and victim not in now and now,
        10,
        message=f"gunicorn to replace worker {victim}\n{logs}",
    )
    assert workers - {victim} < replaced
    with stack.client(kiosk_tokens[0]) as kiosk:
        after = new_response(10)
        assert kiosk.post("/api/v1/kiosk/responses/", json=after).status_code == 201

    # Never a 500: only "stored" (201), and "stored before" or a batch's answer (200). The
    # requests waiting in gunicorn's listen queue were served by the other worker or the new
    # one; a kiosk whose request timed out sent it again with the same id.
    everyone = [*kiosks, big]
    outcomes = sum((k.outcomes() for k in everyone), Counter())
    assert {o for o in outcomes if isinstance(o, int)} <= {200, 201}, (outcomes, logs)
    assert set(sum((k.item_statuses for k in everyone), Counter())) <= STORED
    assert [len(k.queue) for k in everyone] == [0] * len(everyone)

    # Each answer is stored once, however many times it was sent.
    sent = {after["id"]} | {id_ for k in everyone for id_ in k.sent}
    assert len(sent) == KIOSKS * ANSWERS_PER_KIOSK + BIG_BATCH + 1
    assert stored() == (len(sent), sent)
    # And counted once, whatever the killed worker had queued for the Celery worker.
    wait_for(lambda: nps_figures(stack, api_token)["n"] == len(sent), 30, message=stack.logs())
