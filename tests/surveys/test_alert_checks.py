"""The alert check and notification in few statements, with what they did before: each rule
fires once per response however many workers check it, the reads compiled once give what
the querysets give, the burst count is the ORM's count, each reader is written to in the
language they saved, and a webhook delivery is queued once per endpoint."""

import datetime as dt
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import psycopg2
import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.db import connection, connections
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from locations.models import Role, UserPreference
from surveys import notifications, recovery, services, webhooks
from surveys.models import (
    Alert,
    Case,
    ContactDetails,
    RuleKind,
    SurveyResponse,
    WebhookDelivery,
    WebhookEndpoint,
)
from surveys.services import record_response
from tests.factories import LocationFactory, MembershipFactory, a_response


@pytest.fixture
def rules(store):
    return {rule.kind: rule for rule in recovery.create_default_rules(store.organization)}


@pytest.fixture
def record(kiosk, rules):
    def make(submitted_at=None, **answers):
        body = a_response(**answers)
        if submitted_at is not None:
            body["submitted_at"] = submitted_at.isoformat()
        return record_response(kiosk=kiosk, body=body).response

    return make


def _state(obj, _seen=()):
    """An instance's field values and select_related instances, recursively (a relation
    back to an instance already shown is shown by its type and id)."""
    if obj is None:
        return None
    if id(obj) in _seen:
        return type(obj), obj.pk
    seen = (*_seen, id(obj))
    values = {
        k: v for k, v in vars(obj).items() if k not in ("_state", "_prefetched_objects_cache")
    }
    related = {name: _state(other, seen) for name, other in obj._state.fields_cache.items()}
    return type(obj), values, obj._state.db, obj._state.adding, related


def _kinds(alerts):
    return sorted(alert.rule.kind for alert in alerts)


# --- firing ----------------------------------------------------------------------------------


def test_a_check_fires_each_matching_rule_once_and_a_second_check_fires_nothing(record, store):
    response = record(nps=2, csat=1, ces=2)

    with CaptureQueriesContext(connection) as first:
        fired = recovery.check_responses([response.pk])
    with CaptureQueriesContext(connection) as second:
        again = recovery.check_responses([str(response.pk)])

    assert _kinds(fired) == ["detractor", "low_ces", "low_csat"]
    assert again == []
    stored = {alert.pk: alert for alert in Alert.objects.all()}
    assert set(stored) == {alert.pk for alert in fired}
    for alert in fired:
        assert not alert._state.adding
        row = stored[alert.pk]
        assert (row.rule_id, row.response_id, row.location_id, row.organization_id) == (
            alert.rule_id,
            response.pk,
            store.pk,
            store.organization_id,
        )
        assert (
            row.summary
            == alert.summary
            == f"{alert.rule.get_kind_display()} at {store.code}: NPS 2, CSAT 1, CES 2"
        )
        assert row.notified_at is None and row.window_start is None
    assert Case.objects.filter(response=response).count() == 1
    # The response, its answers, the rules, one insert for the alerts, the case (with its
    # audit entry) and the burst count; 18 or more statements before. A second check finds
    # the case with the response and inserts nothing.
    assert len(first) <= 12, [q["sql"][:80] for q in first.captured_queries]
    assert len(second) <= 7, [q["sql"][:80] for q in second.captured_queries]


def test_a_rule_that_fired_already_is_skipped_and_the_others_still_fire(record, rules, store):
    response = record(nps=2, csat=1)
    Alert.objects.create(
        rule=rules[RuleKind.DETRACTOR],
        organization=store.organization,
        location=store,
        response=response,
        fired_at=timezone.now(),
        summary="fired by another worker",
    )

    fired = recovery.check_responses([response.pk])

    assert _kinds(fired) == ["low_csat"]
    assert Alert.objects.filter(rule__kind=RuleKind.DETRACTOR).get().summary == (
        "fired by another worker"
    )


def test_a_batch_is_checked_like_its_responses_one_by_one(record, store):
    happy, unhappy, worse = record(nps=9, csat=5), record(nps=5), record(nps=1, ces=1)

    fired = recovery.check_responses([happy.pk, unhappy.pk, worse.pk])

    assert sorted((a.response_id == worse.pk, a.rule.kind) for a in fired) == [
        (False, "detractor"),
        (True, "detractor"),
        (True, "low_ces"),
    ]
    assert Case.objects.count() == 2
    assert recovery.check_responses([happy.pk, unhappy.pk, worse.pk]) == []


def test_a_case_is_opened_once_with_its_audit_entry_and_found_again_by_a_later_check(record):
    response = record(nps=0)
    recovery.check_responses([response.pk])
    case = Case.objects.get()

    recovery.check_responses([response.pk])
    again = recovery.open_case(SurveyResponse.objects.get(pk=response.pk))

    assert again.pk == case.pk and Case.objects.count() == 1
    entries = LogEntry.objects.get_for_object(case)
    assert [e.action for e in entries] == [LogEntry.Action.CREATE]
    assert case.due_at - case.opened_at == dt.timedelta(hours=24)


def test_a_case_opened_meanwhile_by_another_worker_is_the_one_returned(record):
    response = record(nps=0)
    [(loaded, _)] = recovery._read_responses([response.pk])  # read without a case
    other = recovery.open_case(SurveyResponse.objects.get(pk=response.pk))

    assert recovery.open_case(loaded).pk == other.pk
    assert Case.objects.count() == 1


# --- what is read ------------------------------------------------------------------------------


def test_one_response_is_read_as_the_orm_reads_it_and_without_compiling_a_query(record, store):
    plain = record(nps=3, csat=2, comment="Chờ lâu")
    with_contact = record(nps=1)
    ContactDetails.objects.create(
        response=with_contact, question="contact", phone="0901", consented_at=timezone.now()
    )
    recovery.open_case(with_contact)
    for response in (plain, with_contact):
        recovery._read_responses([response.pk])  # compiled here at the latest

        with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
            [(one, answers)] = recovery._read_responses([response.pk])
        by_orm = dict(
            (r.pk, (r, a)) for r, a in recovery._read_responses([response.pk, record(nps=9).pk])
        )
        orm, orm_answers = by_orm[response.pk]

        assert _state(one) == _state(orm)
        assert set(one._state.fields_cache) == {"location", "contact", "case"}
        assert sorted((_state(a)[:4] for a in answers), key=str) == sorted(
            (_state(a)[:4] for a in orm_answers), key=str
        )


def test_the_burst_count_is_what_the_orm_counts(record, rules, store):
    now = timezone.now()
    elsewhere = LocationFactory(organization=store.organization)
    two_kinds = record(nps=1, csat=1)  # two unhappy alerts, one customer
    contact_only = record(nps=9)
    earlier = record(submitted_at=now - dt.timedelta(minutes=90), nps=0)
    there = record(nps=2)
    for response, kind, location in [
        (two_kinds, RuleKind.DETRACTOR, store),
        (two_kinds, RuleKind.LOW_CSAT, store),
        (contact_only, RuleKind.CONTACT_REQUEST, store),
        (earlier, RuleKind.DETRACTOR, store),
        (there, RuleKind.DETRACTOR, elsewhere),
    ]:
        Alert.objects.create(
            rule=rules[kind],
            organization=store.organization,
            location=location,
            response=response,
            fired_at=now,
            summary="",
        )

    for location in (store, elsewhere):
        for minutes in (30, 60, 120):
            since = now - dt.timedelta(minutes=minutes)
            orm = (
                Alert.objects.filter(
                    location_id=location.pk,
                    rule__kind__in=recovery.UNHAPPY_KINDS,
                    response__submitted_at__gte=since,
                )
                .values("response")
                .distinct()
                .count()
            )
            assert recovery._unhappy_responses(location.pk, since=since) == orm
    assert recovery._unhappy_responses(store.pk, since=now - dt.timedelta(minutes=120)) == 2


def test_the_stored_kiosk_and_digest_are_what_the_orm_reads(record):
    response = record(nps=9)
    expected = (
        SurveyResponse.objects.filter(id=response.pk).values_list("kiosk_id", "body_digest").first()
    )

    assert services._stored_kiosk_and_digest(response.pk) == expected
    assert services._stored_kiosk_and_digest(uuid.uuid4()) is None


# --- telling people ----------------------------------------------------------------------------


def test_each_reader_is_written_to_in_the_language_they_saved(record, store):
    store.organization.default_language = "vi"
    store.organization.save(update_fields=["default_language"])
    english, vietnamese, following = (
        MembershipFactory(
            organization=store.organization, role=Role.STORE_MANAGER, location=store
        ).user
        for _ in range(3)
    )
    UserPreference.objects.create(user=english, language="en")
    UserPreference.objects.create(user=vietnamese, language="vi")
    UserPreference.objects.create(user=following, language="")  # follows their browser
    response = record(nps=2, comment="Bàn bẩn")
    [alert] = recovery.check_responses([response.pk])
    mail.outbox.clear()

    with CaptureQueriesContext(connection) as queries:
        written = notifications.notify(alert.pk)

    assert written == 3
    sent = {tuple(sorted(m.to)): m for m in mail.outbox}
    assert set(sent) == {(english.email,), tuple(sorted([vietnamese.email, following.email]))}
    assert "An alert at" in sent[(english.email,)].body
    assert "An alert at" not in sent[tuple(sorted([vietnamese.email, following.email]))].body
    assert all("nps: 2" in m.body and "comment: Bàn bẩn" in m.body for m in mail.outbox)
    # The alert, its readers with their languages, its answers once, the webhooks, the stamp.
    assert len(queries) <= 8, [q["sql"][:80] for q in queries.captured_queries]
    assert notifications.notify(alert.pk) == 0


def test_the_readers_are_the_store_managers_and_for_escalations_the_region_managers(
    record, store, rules
):
    def member(role, **scope):
        return MembershipFactory(organization=store.organization, role=role, **scope).user

    manager = member(Role.STORE_MANAGER, location=store)
    member(Role.STORE_MANAGER, location=LocationFactory(organization=store.organization))
    regional = member(Role.REGIONAL_MANAGER, region=store.region)
    gone = member(Role.STORE_MANAGER, location=store)
    gone.is_active = False
    gone.save()
    silent = member(Role.STORE_MANAGER, location=store)
    silent.email = ""
    silent.save()
    [alert] = recovery.check_responses([record(nps=2).pk])

    assert [p.pk for p in notifications.recipients(alert)] == [manager.pk]
    rules[RuleKind.DETRACTOR].escalate = True
    rules[RuleKind.DETRACTOR].save()
    alert.rule.refresh_from_db()
    assert [p.pk for p in notifications.recipients(alert)] == sorted([manager.pk, regional.pk])


def test_a_delivery_is_queued_once_for_each_active_endpoint(record, store):
    active = WebhookEndpoint.objects.create(organization=store.organization, url="http://a")
    WebhookEndpoint.objects.create(organization=store.organization, url="http://b", is_active=False)
    WebhookEndpoint.objects.create(organization=LocationFactory().organization, url="http://c")
    [alert] = recovery.check_responses([record(nps=2).pk])

    first = webhooks.queue_deliveries(alert)
    again = webhooks.queue_deliveries(alert)

    assert [d.endpoint_id for d in first] == [active.pk]
    assert [d.pk for d in again] == [d.pk for d in first]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.pk, delivery.attempts, delivery.delivered_at) == (first[0].pk, 0, None)
    assert delivery.next_attempt_at is not None


# --- concurrent workers (PostgreSQL) -----------------------------------------------------------

BURST_WINDOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_checking_one_response_at_once_fire_each_rule_once(record, monkeypatch):
    queued = []
    monkeypatch.setattr(recovery, "request_alert_check", lambda ids: None)  # checked below
    monkeypatch.setattr(recovery, "queue_notifications", queued.append)
    # Mid-hour: every worker puts the burst in the same window.
    monkeypatch.setattr(recovery, "_floor", lambda moment, window: BURST_WINDOW)
    responses = [record(nps=1, csat=1, ces=1) for _ in range(3)]
    barrier = threading.Barrier(4)

    def check(_):
        try:
            barrier.wait()
            return recovery.check_responses([r.pk for r in responses])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(check, range(4)))

    fired = [alert.pk for result in results for alert in result]
    assert sorted(fired) == sorted(Alert.objects.values_list("pk", flat=True))
    # Three rules for each response, and one burst (three unhappy customers) for the store.
    assert len(fired) == 10
    assert sorted(a.pk for a in queued) == sorted(fired)
    assert Case.objects.count() == 3


def _hold_uncommitted_alert(rule, response):
    """Fire the rule for the response from another connection and leave it uncommitted, so
    the check's own insert has to wait on the unique index: the race, made deterministic."""
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
    )
    with other.cursor() as cur:
        cur.execute(
            """INSERT INTO surveys_alert (rule_id, organization_id, location_id, response_id,
                                          fired_at, summary)
               VALUES (%s, %s, %s, %s, now(), 'the other worker')""",
            [rule.pk, response.organization_id, response.location_id, str(response.pk)],
        )
    return other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("other_commits", [True, False])
def test_a_check_racing_another_worker_fires_what_the_other_did_not(
    record, rules, monkeypatch, other_commits
):
    monkeypatch.setattr(recovery, "request_alert_check", lambda ids: None)  # checked below
    monkeypatch.setattr(recovery, "queue_notifications", lambda alert: None)
    response = record(nps=1, csat=1)
    other = _hold_uncommitted_alert(rules[RuleKind.DETRACTOR], response)

    def check():
        try:
            return recovery.check_responses([response.pk])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(check)
        time.sleep(0.5)
        assert not pending.done(), "the check should be waiting on the other worker's alert"
        if other_commits:
            other.commit()
        else:
            other.rollback()
        other.close()
        fired = pending.result(timeout=10)

    assert _kinds(fired) == (["low_csat"] if other_commits else ["detractor", "low_csat"])
    assert Alert.objects.filter(rule__kind=RuleKind.DETRACTOR).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_another_worker_is_sending_is_skipped_not_waited_for(record, store, monkeypatch):
    monkeypatch.setattr(recovery, "request_alert_check", lambda ids: None)
    monkeypatch.setattr(recovery, "queue_notifications", lambda alert: None)
    WebhookEndpoint.objects.create(organization=store.organization, url="http://127.0.0.1:9/")
    [alert] = recovery.check_responses([record(nps=2).pk])
    [delivery] = webhooks.queue_deliveries(alert)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(hours=1)
    )
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
    )
    with other.cursor() as cur:
        cur.execute(
            "SELECT id FROM surveys_webhookdelivery WHERE id = %s FOR UPDATE", [delivery.pk]
        )

    assert webhooks.deliver(delivery.pk) == ("done", 0)
    other.rollback()
    other.close()
    assert webhooks.deliver(delivery.pk) == ("not due", 0)


def test_webhooks_are_posted_with_one_tls_context_that_verifies_certificates():
    context = webhooks._tls()

    assert webhooks._tls() is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
