"""cxhub.db_routers: the dashboards' and the metrics API's rollup reads go to the read
replica; writes, ingest, sessions, accounts and everything read inside a transaction stay on
the primary.

The settings define DATABASES["replica"] only with DATABASE_REPLICA_URL. Here the alias is
added for this module's tests as a test mirror of "default" (TEST MIRROR: the same database
through a second connection, as Django's own multi-database tests do), after the test
database exists, and removed afterwards: the rest of the suite never sees it. Requests run
in transactional tests, so that what the primary's connection committed is visible through
the replica's."""

import contextlib
import copy
import datetime as dt
import json
import re
import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connection, connections, router, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from cxhub import db_routers
from cxhub.db_routers import REPLICA_DB_ALIAS, ROLLUP_MODELS, primary_reads, replica_reads
from locations import services as location_services
from locations.models import Location, Membership, Role
from metrics import selectors
from metrics.models import DailyRollup, DirtyBucket, HourlyRollup, StoreHourRollup
from surveys.models import Answer, SurveyResponse
from tests.factories import LocationFactory, MembershipFactory, make_kiosk

ROUTERS = ["cxhub.db_routers.ReplicaRouter"]
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|TRUNCATE)\b|\bFOR (NO KEY )?UPDATE\b", re.I)


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup):
    """DATABASES["replica"] as the settings define it, mirroring the test database.

    Module-scoped, so it exists before each test's database set-up runs (which allows only
    the aliases it finds then, and flushes no mirror). A replica the settings define (with
    DATABASE_REPLICA_URL) is set aside meanwhile: a test mirror keeps its own host."""
    saved = connections.settings.get(REPLICA_DB_ALIAS)
    forget_replica_connection()
    mirror = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    mirror["TEST"] = {**mirror["TEST"], "MIRROR": DEFAULT_DB_ALIAS}
    connections.settings[REPLICA_DB_ALIAS] = mirror
    try:
        yield
    finally:
        forget_replica_connection()
        del connections.settings[REPLICA_DB_ALIAS]
        if saved is not None:
            connections.settings[REPLICA_DB_ALIAS] = saved


def forget_replica_connection():
    if hasattr(connections._connections, REPLICA_DB_ALIAS):
        connections[REPLICA_DB_ALIAS].close()
        del connections[REPLICA_DB_ALIAS]


@contextlib.contextmanager
def no_replica_alias():
    saved = connections.settings.pop(REPLICA_DB_ALIAS)
    try:
        yield
    finally:
        connections.settings[REPLICA_DB_ALIAS] = saved


@pytest.fixture
def replica(settings):
    settings.DATABASE_ROUTERS = ROUTERS
    # As between two requests: an earlier test in this process may have left a streamed
    # answer unclosed, and so its request "open" (request_finished fires on close).
    db_routers._request_finished()
    return connections[REPLICA_DB_ALIAS]


# Real requests: committed rows (transactional tests), the replica among the allowed aliases.
committed = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS])


def test_every_metrics_model_is_classified():
    """A new metrics model is read from the primary until someone decides otherwise here."""
    labels = {m._meta.label_lower for m in apps.get_app_config("metrics").get_models()}
    assert labels - ROLLUP_MODELS == {"metrics.dirtybucket", "metrics.digestsent"}
    assert labels >= ROLLUP_MODELS


def test_without_a_replica_everything_reads_the_primary(replica):
    with no_replica_alias(), replica_reads():
        assert router.db_for_read(HourlyRollup) == DEFAULT_DB_ALIAS
        assert router.db_for_read(DailyRollup) == DEFAULT_DB_ALIAS


def test_rollups_read_the_replica_during_requests_only(replica):
    # Outside a request (a worker, beat, a management command such as rebuild_rollups).
    assert router.db_for_read(HourlyRollup) == DEFAULT_DB_ALIAS
    with replica_reads():
        for label in ROLLUP_MODELS:
            assert router.db_for_read(apps.get_model(label)) == REPLICA_DB_ALIAS
        # Everything else: accounts, memberships, stores, responses, freshness marks.
        for model in (DirtyBucket, Location, Membership, SurveyResponse, Answer):
            assert router.db_for_read(model) == DEFAULT_DB_ALIAS
        assert router.db_for_read(get_user_model()) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Session) == DEFAULT_DB_ALIAS
        with primary_reads():
            assert router.db_for_read(HourlyRollup) == DEFAULT_DB_ALIAS
        assert router.db_for_read(HourlyRollup) == REPLICA_DB_ALIAS
    assert router.db_for_read(HourlyRollup) == DEFAULT_DB_ALIAS


def test_the_request_signals_open_and_close_the_replica(replica):
    db_routers._request_started()
    try:
        assert router.db_for_read(StoreHourRollup) == REPLICA_DB_ALIAS
    finally:
        db_routers._request_finished()
    assert router.db_for_read(StoreHourRollup) == DEFAULT_DB_ALIAS


def test_writes_always_go_to_the_primary(replica):
    with replica_reads():
        for model in apps.get_models():
            assert router.db_for_write(model) == DEFAULT_DB_ALIAS


def test_a_request_that_wrote_rollups_reads_its_own_writes(replica):
    with replica_reads():
        assert router.db_for_read(DailyRollup) == REPLICA_DB_ALIAS
        router.db_for_write(HourlyRollup)
        assert router.db_for_read(DailyRollup) == DEFAULT_DB_ALIAS
    # The next request starts afresh.
    with replica_reads():
        assert router.db_for_read(DailyRollup) == REPLICA_DB_ALIAS


def test_other_writes_do_not_pin_the_request(replica):
    """The metrics API writes the token's last use before it reads: that must not send its
    reads to the primary."""
    with replica_reads():
        router_ = db_routers.ReplicaRouter()
        router_.db_for_write(Location)
        assert router_.db_for_read(HourlyRollup) == REPLICA_DB_ALIAS


@pytest.mark.django_db
def test_reads_inside_a_transaction_stay_on_the_primary(replica):
    # A (non-transactional) test runs inside a transaction on the primary.
    assert connection.in_atomic_block
    with replica_reads():
        assert router.db_for_read(HourlyRollup) == DEFAULT_DB_ALIAS


def test_migrations_and_relations(replica):
    assert router.allow_migrate(REPLICA_DB_ALIAS, "metrics", model_name="hourlyrollup") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "metrics", model_name="hourlyrollup") is True
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "auth", model_name="user") is True
    location, rollup = Location(), HourlyRollup()
    location._state.db, rollup._state.db = DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS
    assert router.allow_relation(location, rollup) is True


def test_a_row_read_from_the_replica_leads_back_to_the_primary(replica):
    """Django follows an instance hint when a router has no opinion; ours always has one."""
    rollup = HourlyRollup()
    rollup._state.db = REPLICA_DB_ALIAS
    assert router.db_for_read(Location, instance=rollup) == DEFAULT_DB_ALIAS


# --- through real requests ----------------------------------------------------------------


def tables(queries) -> str:
    return " ".join(q["sql"] for q in queries)


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if WRITE.search(q["sql"])]


@pytest.fixture
def chain(transactional_db):
    store = LocationFactory(code="HCM-01", timezone="Asia/Ho_Chi_Minh")
    _, kiosk_token = make_kiosk(store, registered_days_ago=30)
    head_office = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    return store, kiosk_token, head_office


def submit(kiosk_token, nps, csat):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {kiosk_token}")
    body = {
        "id": str(uuid.uuid4()),
        "submitted_at": (timezone.now() - dt.timedelta(minutes=5)).isoformat(),
        "answers": {"nps": nps, "csat": csat},
    }
    return client.post("/api/v1/kiosk/responses/", body, format="json", secure=True)


@pytest.mark.postgres
@committed
def test_ingest_writes_and_rollup_refreshes_never_touch_the_replica(chain, replica):
    store, kiosk_token, _ = chain
    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connection) as on_primary,
    ):
        for nps, csat in ((10, 5), (3, 2), (8, 4)):
            assert submit(kiosk_token, nps, csat).status_code == 201
    assert on_replica.captured_queries == []
    # Stored, and rolled up (tasks run in-process in tests) on the primary.
    assert "surveys_surveyresponse" in tables(on_primary.captured_queries)
    assert "metrics_hourlyrollup" in tables(on_primary.captured_queries)
    assert SurveyResponse.objects.filter(location=store).count() == 3


@pytest.mark.postgres
@committed
def test_the_metrics_api_reads_rollups_from_the_replica(chain, replica):
    _, kiosk_token, head_office = chain
    for nps, csat in ((10, 5), (3, 2), (8, 4)):
        assert submit(kiosk_token, nps, csat).status_code == 201
    api_token = location_services.create_api_token(user=head_office)
    today = timezone.now().date()
    params = {"from": str(today - dt.timedelta(days=2)), "to": str(today + dt.timedelta(days=1))}

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connection) as on_primary,
    ):
        response = client.get("/api/v1/metrics/scores/", params, secure=True)
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["group"] == {"location": "HCM-01"}
    assert result["questions"]["nps"]["n"] == 3
    assert result["questions"]["csat"]["n"] == 3

    read_there = tables(on_replica.captured_queries)
    assert "metrics_dailyrollup" in read_there
    assert writes(on_replica.captured_queries) == []
    # The token (and its last use, a write) on the primary; no rollup read there.
    read_here = tables(on_primary.captured_queries)
    assert "locations_apitoken" in read_here
    assert "rollup" not in read_here
    assert "locations_apitoken" not in read_there

    # The same figures as the selector reading the primary.
    query = selectors.ScoreQuery(
        date_from=today - dt.timedelta(days=2), date_to=today + dt.timedelta(days=1)
    )
    with CaptureQueriesContext(replica) as outside_requests:
        expected = selectors.public_results(selectors.scores_by_group(head_office, query))
    assert outside_requests.captured_queries == []
    assert response.json()["results"] == json.loads(JSONRenderer().render(expected))


@pytest.mark.postgres
@committed
def test_dashboard_pages_read_rollups_from_the_replica_and_sessions_from_the_primary(
    chain, replica
):
    store, kiosk_token, head_office = chain
    for nps, csat in ((10, 5), (3, 2), (9, 5), (0, 1)):
        assert submit(kiosk_token, nps, csat).status_code == 201
    browser = Client()
    browser.force_login(head_office)
    slug = store.organization.slug

    for url in (f"/dashboard/{slug}/", f"/dashboard/{slug}/stores/{store.code}/"):
        with (
            CaptureQueriesContext(replica) as on_replica,
            CaptureQueriesContext(connection) as on_primary,
        ):
            page = browser.get(url, secure=True)
        assert page.status_code == 200, url
        read_there = tables(on_replica.captured_queries)
        assert "rollup" in read_there, url
        assert writes(on_replica.captured_queries) == [], url
        assert "django_session" not in read_there and "auth_user" not in read_there, url
        read_here = tables(on_primary.captured_queries)
        assert "django_session" in read_here and "auth_user" in read_here, url
        assert "rollup" not in read_here, url


@pytest.mark.postgres
@committed
def test_a_transaction_reads_the_primary_where_the_replica_is_allowed(chain, replica):
    _, kiosk_token, head_office = chain
    assert submit(kiosk_token, 9, 5).status_code == 201
    today = timezone.now().date()
    query = selectors.ScoreQuery(
        date_from=today - dt.timedelta(days=2), date_to=today + dt.timedelta(days=1)
    )
    with replica_reads(), CaptureQueriesContext(replica) as on_replica:
        with transaction.atomic():
            inside = selectors.scores_by_group(head_office, query)
        assert on_replica.captured_queries == []
        outside = selectors.scores_by_group(head_office, query)
        assert writes(on_replica.captured_queries) == []
        assert "metrics_dailyrollup" in tables(on_replica.captured_queries)
    assert inside == outside
