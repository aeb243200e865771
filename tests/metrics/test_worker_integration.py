"""Responses through HTTP, rollups by a real Celery worker on Redis, figures through the
metrics API — and the figures stay right when the worker is killed or Redis goes away."""

import datetime as dt
import shutil
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from locations import services as location_services
from locations.models import Role
from metrics.models import DirtyBucket
from surveys.models import SurveyResponse
from tests.factories import LocationFactory, MembershipFactory, make_kiosk
from tests.stack import stack_on_test_database, wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


@pytest.fixture
def stack(tmp_path):
    with stack_on_test_database(tmp_path) as running:
        yield running


@pytest.fixture
def store_with_tokens(db):
    store = LocationFactory(code="HCM-01")
    _, kiosk_token = make_kiosk(store, registered_days_ago=5)
    reader = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    return store, kiosk_token, location_services.create_api_token(user=reader)


def response(nps):
    return {
        "id": str(uuid.uuid4()),
        "submitted_at": timezone.now().isoformat(),
        "answers": {"nps": nps},
    }


def nps_n(stack, read_token):
    today = timezone.now().astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    r = stack.client(read_token).get(
        "/api/v1/metrics/scores/",
        params={"from": str(today - dt.timedelta(days=1)), "to": str(today)},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    return results[0]["questions"]["nps"] if results else {"n": 0}


def test_responses_posted_over_http_appear_in_the_metrics_api_via_the_worker(
    stack, store_with_tokens
):
    _, kiosk_token, read_token = store_with_tokens
    stack.start_web()
    stack.start_worker()
    kiosk = stack.client(kiosk_token)

    for nps in (10, 9, 3):
        assert kiosk.post("/api/v1/kiosk/responses/", json=response(nps)).status_code == 201
    batch = {"responses": [response(8), response(0)]}
    assert kiosk.post("/api/v1/kiosk/responses/batch/", json=batch).status_code == 200

    figures = wait_for(
        lambda: (f := nps_n(stack, read_token))["n"] == 5 and f, message=stack.logs()
    )
    assert (figures["promoters"], figures["passives"], figures["detractors"]) == (2, 1, 2)
    assert figures["score"] == 0


def test_a_worker_killed_mid_task_and_restarted_leaves_the_figures_right(stack, store_with_tokens):
    store, kiosk_token, read_token = store_with_tokens
    stack.start_web()
    stack.start_worker()
    kiosk = stack.client(kiosk_token)
    assert kiosk.post("/api/v1/kiosk/responses/", json=response(10)).status_code == 201
    wait_for(lambda: nps_n(stack, read_token)["n"] == 1, message=stack.logs())

    # Hold the refresh lock on the location so the next refresh blocks half-way, inside its
    # transaction; kiosks must still be able to submit meanwhile.
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            cursor.execute(
                "SELECT id FROM locations_location WHERE id = %s FOR NO KEY UPDATE", [store.pk]
            )
            assert kiosk.post("/api/v1/kiosk/responses/", json=response(0)).status_code == 201
            wait_for(_a_refresh_is_waiting_on_the_lock, message="the refresh to block on the lock")
            stack.kill_worker()
        finally:
            cursor.execute("ROLLBACK")

    assert nps_n(stack, read_token)["n"] == 1  # the killed refresh committed nothing
    # Restarted as in production: the worker, and beat sweeping the marks of lost refreshes
    # (the killed task also comes back to a worker once Redis's visibility timeout passes).
    stack.start_worker()
    stack.start_beat()

    figures = wait_for(
        lambda: (f := nps_n(stack, read_token))["n"] == 2 and f, timeout=60, message=stack.logs()
    )
    assert figures["score"] == 0
    wait_for(lambda: not DirtyBucket.objects.exists(), message="the bucket to be clean")


def _a_refresh_is_waiting_on_the_lock():
    # Only the worker's refresh can be waiting on a lock in this test's database. We ask
    # from inside the lock-holding transaction, where PostgreSQL would keep showing the
    # first snapshot of pg_stat_activity: clear it on every poll.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_with_redis_down_responses_are_stored_and_the_figures_heal_when_it_is_back(
    stack, store_with_tokens
):
    _, kiosk_token, read_token = store_with_tokens
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    kiosk = stack.client(kiosk_token)
    assert kiosk.post("/api/v1/kiosk/responses/", json=response(9)).status_code == 201
    wait_for(lambda: nps_n(stack, read_token)["n"] == 1, message=stack.logs())

    stack.redis.stop()
    sent = [response(n) for n in (10, 2, 7)]
    assert [kiosk.post("/api/v1/kiosk/responses/", json=b).status_code for b in sent] == [201] * 3
    assert (
        kiosk.post("/api/v1/kiosk/responses/batch/", json={"responses": [response(1)]}).json()[
            "results"
        ][0]["status"]
        == "created"
    )
    assert SurveyResponse.objects.count() == 5
    assert DirtyBucket.objects.exists()  # remembered in PostgreSQL, waiting for the sweep

    stack.redis.start()

    wait_for(lambda: nps_n(stack, read_token)["n"] == 5, timeout=60, message=stack.logs())
