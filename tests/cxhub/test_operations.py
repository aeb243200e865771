"""What an operator's tools read: liveness and readiness, Prometheus metrics, and JSON log
lines that carry the request id and no customer's contact details."""

import io
import json
import logging
import re
import shutil
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from cxhub import worker_state
from cxhub.logs import redact
from locations.models import Role
from metrics.models import DirtyBucket
from tests.factories import MembershipFactory, a_response, make_kiosk
from tests.stack import stack_on_test_database, wait_for

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


def sample(text: str, name: str, **labels) -> float:
    """The value of one Prometheus sample in an exposition, 0 when it is not there yet."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        series, _, label_text = metric.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if series == name and got == wanted:
            return float(value)
    return 0.0


def test_liveness_answers_without_touching_anything(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        answer = Client().get("/healthz")

    assert (answer.status_code, answer.content) == (200, b"ok")


def test_probes_by_address_are_answered_whatever_the_host_header(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    prober = Client(HTTP_HOST="10.0.3.7:8000", REMOTE_ADDR="10.0.3.1")

    answers = [prober.get(path).status_code for path in ("/healthz", "/readyz", "/metrics")]

    assert answers == [200, 200, 200]
    assert prober.get("/accounts/login/").status_code == 400


def test_readiness_reports_each_dependency_and_is_ready_with_the_database(db):
    answer = Client().get("/readyz")

    body = answer.json()
    assert answer.status_code == 200
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "redis", "worker", "rollup_lag", "queue_depth"}
    assert body["checks"]["database"]["status"] == "ok"


def test_without_the_database_a_web_process_is_not_ready(db, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", unreachable)
        answer = Client().get("/readyz")

    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == {"status": "down", "error": "OperationalError"}


@needs_redis
def test_without_a_worker_the_web_stays_ready_but_a_strict_monitor_is_told(db):
    worker_state.redis().delete(worker_state.HEARTBEAT_KEY)

    relaxed = Client().get("/readyz")
    strict = Client().get("/readyz?strict=1")

    assert relaxed.status_code == 200
    assert relaxed.json()["checks"]["worker"]["status"] == "down"
    assert strict.status_code == 503


def test_a_rollup_bucket_waiting_for_minutes_shows_as_lag(store):
    DirtyBucket.objects.create(
        location=store,
        day=timezone.localdate(),
        hour=3,
        marked_at=timezone.now() - timedelta(minutes=10),
    )

    lag = Client().get("/readyz?strict=1")
    scraped = Client().get("/metrics").content.decode()

    assert lag.status_code == 503
    assert lag.json()["checks"]["rollup_lag"]["status"] == "degraded"
    assert 595 < lag.json()["checks"]["rollup_lag"]["oldest_dirty_bucket_seconds"] < 700
    assert 595 < sample(scraped, "cxhub_rollup_lag_seconds") < 700


def test_metrics_count_requests_by_route_and_responses_by_outcome(kiosk_client):
    before = Client().get("/metrics").content.decode()
    body = a_response(nps=3)
    kiosk_client.post("/api/v1/kiosk/responses/", body, format="json")
    kiosk_client.post("/api/v1/kiosk/responses/", body, format="json")
    kiosk_client.post("/api/v1/kiosk/responses/", {"answers": {"nps": 11}}, format="json")

    after = Client().get("/metrics").content.decode()

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = {"method": "POST", "route": "kiosk:response-create"}
    assert grew("cxhub_http_requests_total", **route, status="201") == 1
    assert grew("cxhub_http_requests_total", **route, status="200") == 1
    assert grew("cxhub_http_requests_total", **route, status="400") == 1
    assert grew("cxhub_http_request_duration_seconds_count", **route) == 3
    for outcome in ("created", "duplicate", "invalid"):
        assert grew("cxhub_responses_ingested_total", outcome=outcome) == 1, outcome


def test_metrics_are_for_the_private_network_or_a_scraper_with_the_token(settings, db):
    through_proxy = Client(HTTP_X_FORWARDED_FOR="8.8.8.8").get("/metrics")
    from_outside = Client(REMOTE_ADDR="8.8.8.8").get("/metrics")
    settings.METRICS_TOKEN = "scrape-me-0123456789"
    without_token = Client().get("/metrics")
    with_token = Client(HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").get("/metrics")

    assert [through_proxy.status_code, from_outside.status_code] == [403, 403]
    assert without_token.status_code == 403
    assert with_token.status_code == 200
    assert with_token["Content-Type"].startswith("text/plain")


@pytest.fixture
def log_lines():
    """What the configured console handler writes, read back as parsed JSON lines."""
    stream = io.StringIO()
    console = logging.getLogger().handlers[0]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_every_request_logs_one_json_line_with_the_id_the_proxy_gave_it(kiosk_client, log_lines):
    answer = kiosk_client.post(
        "/api/v1/kiosk/responses/",
        a_response(nps=9),
        format="json",
        HTTP_X_REQUEST_ID="proxy-req-42",
    )

    access = [line for line in log_lines() if line["logger"] == "cxhub.access"]
    assert answer["X-Request-ID"] == "proxy-req-42"
    assert access[-1] | {"time": None, "duration_ms": None} == {
        "time": None,
        "level": "INFO",
        "logger": "cxhub.access",
        "message": "POST kiosk:response-create 201",
        "request_id": "proxy-req-42",
        "method": "POST",
        "route": "kiosk:response-create",
        "status": 201,
        "duration_ms": None,
    }


def test_a_refused_request_is_logged_under_its_own_id(kiosk_client, log_lines, monkeypatch):
    from surveys import api

    def database_down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(api, "record_response", database_down)

    answer = kiosk_client.post(
        "/api/v1/kiosk/responses/", a_response(), format="json", HTTP_X_REQUEST_ID="outage-7"
    )

    lines = log_lines()
    assert answer.status_code == 503
    assert {line["request_id"] for line in lines} == {"outage-7"}
    assert [line["level"] for line in lines if line["logger"] != "cxhub.access"] == ["WARNING"]


def test_a_request_without_a_sane_id_gets_a_new_one(db):
    answer = Client(HTTP_X_REQUEST_ID="<script>" + "x" * 100).get("/healthz")

    assert re.fullmatch(r"[0-9a-f]{32}", answer["X-Request-ID"])


def test_an_error_quoting_a_customers_contact_logs_neither_address_nor_number(db, log_lines):
    try:
        raise OperationalError(
            'duplicate key (email)=(mai.tran@example.vn) phone "+84 90 123 4567" / 0901234567'
        )
    except OperationalError:
        logging.getLogger("django.request").exception("Internal Server Error: /api/v1/x/")

    [line] = log_lines()
    written = json.dumps(line)
    assert "mai.tran" not in written and "123 4567" not in written and "0901234567" not in written
    assert "[email]" in written and "[phone]" in written
    assert line["level"] == "ERROR"


@pytest.mark.parametrize(
    "kept",
    ["2026-12-05 13:04:52,123", "took 1234.5 ms", "3f2a1234-5678-90ab-cdef-1234567890ab", "HCM-01"],
)
def test_redaction_leaves_times_ids_and_codes_alone(kept):
    assert redact(f"at {kept} ok") == f"at {kept} ok"


@pytest.mark.postgres
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_under_gunicorn_metrics_add_up_every_process_and_readiness_sees_the_worker(tmp_path, store):
    _, kiosk_token = make_kiosk(store, registered_days_ago=1)
    MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE)
    with stack_on_test_database(tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        with stack.client(kiosk_token) as kiosk, httpx.Client(base_url=stack.url) as probe:
            for i in range(20):
                traced = {"X-Request-ID": f"trace-me-{i}"}
                sent = kiosk.post(
                    "/api/v1/kiosk/responses/", json=a_response(nps=9), headers=traced
                )
                assert sent.status_code == 201

            def drained():
                answer = probe.get("/readyz?strict=1")
                queues = answer.json()["checks"]["queue_depth"].get("queues", {})
                return answer.status_code == 200 and sum(queues.values()) == 0 and answer

            ready = wait_for(drained, 30, message="a live worker and empty queues\n" + stack.logs())
            scraped = probe.get("/metrics").text

        def traced_lines():
            log = (tmp_path / "worker.log").read_text()
            return [line for line in log.splitlines() if '"request_id": "trace-me-' in line]

        # The refresh waits a moment to gather responses (ROLLUP_REFRESH_DELAY_SECONDS).
        traced = wait_for(traced_lines, 30, message="the worker's lines for the requests")

    checks = ready.json()["checks"]
    assert checks["worker"]["status"] == checks["redis"]["status"] == "ok"
    assert checks["queue_depth"]["queues"] == {"celery": 0, "alerts": 0}
    route = {"method": "POST", "route": "kiosk:response-create", "status": "201"}
    # Two gunicorn workers served these; the exposition adds up both.
    assert sample(scraped, "cxhub_http_requests_total", **route) == 20
    assert sample(scraped, "cxhub_responses_ingested_total", outcome="created") == 20
    # The rollup refresh each request queued logs under that request's id.
    assert all(line.startswith("{") for line in traced)
