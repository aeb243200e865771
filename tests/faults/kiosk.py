"""A kiosk for the fault tests: a queue that forgets an answer only once the server said it
is stored, and a record of every try."""

import datetime as dt
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass

import httpx

# The real tablet waits at least Retry-After (30 s) with backoff; this one retries after a
# short pause, so that many tries land inside a short fault and the tests stay short.
RETRY_PAUSE = 0.2
STORED = {"created", "duplicate"}


@dataclass
class Attempt:
    started: float
    ended: float
    outcome: int | str  # the HTTP status, or the name of the transport error
    retry_after: str | None = None


def new_response(nps: int) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
        "language": "vi",
        "answers": {"nps": nps},
    }


class Kiosk:
    """A tablet as the README's "The kiosk" tells it: an answer is queued before the
    thank-you screen and leaves the queue only when the server said it is stored (201, or
    200 for a resend); a 503, a refused or cut connection or a timeout keeps it queued, and
    it is sent again with the same id.

    A batch kiosk drains its queue through the batch endpoint, as the tablet app does; the
    others send one response at a time, as an integrator may."""

    # The tablet app gives up on a request after 20 s.
    def __init__(self, url: str, token: str, *, batch: bool, timeout: float = 20):
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
        self.batch = batch
        self.queue: deque[dict] = deque()
        self.sent: dict[str, int] = {}  # every id ever queued, with its NPS answer
        self.attempts: list[Attempt] = []
        self.item_statuses: Counter = Counter()  # of each item in the batch answers

    def answer(self, nps: int | None = None) -> dict:
        response = new_response(len(self.sent) % 11 if nps is None else nps)
        self.sent[response["id"]] = response["answers"]["nps"]
        self.queue.append(response)
        return response

    def send(self) -> bool:
        """Try the head of the queue once; True when the server stored something."""
        started = time.monotonic()
        try:
            if self.batch:
                reply = self.client.post(
                    "/api/v1/kiosk/responses/batch/", json={"responses": list(self.queue)[:500]}
                )
            else:
                reply = self.client.post("/api/v1/kiosk/responses/", json=self.queue[0])
        except httpx.TransportError as error:
            self.attempts.append(Attempt(started, time.monotonic(), type(error).__name__))
            return False
        self.attempts.append(
            Attempt(started, time.monotonic(), reply.status_code, reply.headers.get("Retry-After"))
        )
        if self.batch and reply.status_code == 200:
            results = {r["id"]: r["status"] for r in reply.json()["results"]}
            self.item_statuses.update(results.values())
            kept = [item for item in self.queue if results.get(item["id"]) not in STORED]
            stored = len(self.queue) - len(kept)
            self.queue = deque(kept)
            return stored > 0
        if not self.batch and reply.status_code in (200, 201):
            self.queue.popleft()
            return True
        return False

    def drain(self, give_up_at: float):
        while self.queue and time.monotonic() < give_up_at:
            if not self.send():
                time.sleep(RETRY_PAUSE)

    def run(self, answers: int, every: float, give_up_at: float):
        """Answer at a steady pace, sending in between; then send until the queue is empty."""
        next_answer = time.monotonic()
        while (len(self.sent) < answers or self.queue) and time.monotonic() < give_up_at:
            if len(self.sent) < answers and time.monotonic() >= next_answer:
                self.answer()
                next_answer += every
            if self.queue:
                if not self.send():
                    time.sleep(RETRY_PAUSE)
            else:
                time.sleep(max(0.0, next_answer - time.monotonic()))
        self.client.close()

    def outcomes(self) -> Counter:
        return Counter(a.outcome for a in self.attempts)


def nps_figures(stack, api_token: str) -> dict:
    """Today's (and yesterday's) NPS figures of the one store, from the metrics API."""
    today = dt.datetime.now(dt.UTC).date()
    with stack.client(api_token) as reader:
        reply = reader.get(
            "/api/v1/metrics/scores/",
            params={"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(1))},
        )
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    return results[0]["questions"]["nps"] if results else {"n": 0}
