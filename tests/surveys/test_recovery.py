"""Closing the loop: unhappy answers fire their rules once, open a case, reach the store's
managers by e-mail and every webhook, signed, retried and given up on as documented."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail

from locations.models import Role
from surveys import alert_sweeps, notifications, recovery, webhooks
from surveys.models import Alert, AlertRule, Case, RuleKind, WebhookDelivery, WebhookEndpoint
from surveys.services import publish_survey
from tests.factories import MembershipFactory, RegionFactory, StaffMemberFactory, a_response

URL = "/api/v1/kiosk/responses/"
NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def rules(store):
    store.region = RegionFactory(organization=store.organization, name="South")
    store.save(update_fields=["region"])
    return {rule.kind: rule for rule in recovery.create_default_rules(store.organization)}


@pytest.fixture
def managers(store, rules):
    return {
        "store": MembershipFactory(
            organization=store.organization, role=Role.STORE_MANAGER, location=store
        ).user,
        "region": MembershipFactory(
            organization=store.organization, role=Role.REGIONAL_MANAGER, region=store.region
        ).user,
    }


@pytest.fixture
def submit(kiosk_client, django_capture_on_commit_callbacks):
    def post(body):
        with django_capture_on_commit_callbacks(execute=True):
            response = kiosk_client.post(URL, body, format="json")
        assert response.status_code in (200, 201), response.content
        return body

    return post


def test_a_detractor_fires_its_rule_once_opens_a_case_and_emails_the_store_manager(
    submit, managers, store
):
    StaffMemberFactory(location=store, code="NV-7", display_name="Lan")
    body = submit({**a_response(nps=3, csat=4, comment="Đợi quá lâu"), "staff": "NV-7"})
    submit(body)  # the kiosk resent it
    recovery.check_responses([body["id"]])  # and a retried task checks it again

    alert = Alert.objects.get()
    assert alert.rule.kind == RuleKind.DETRACTOR
    case = Case.objects.get()
    assert (case.response_id.hex, case.status) == (body["id"].replace("-", ""), "open")
    assert case.due_at - case.opened_at == dt.timedelta(hours=24)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [managers["store"].email]
    assert store.code in message.subject
    assert "nps: 3" in message.body and "Lan" in message.body
    assert f"/cases/{case.pk}/" in message.body
    assert message.alternatives[0][1] == "text/html"


def test_a_happy_customer_fires_nothing_and_opens_no_case(submit, managers):
    submit(a_response(nps=9, csat=5, ces=7))

    assert not Alert.objects.exists()
    assert not Case.objects.exists()
    assert not mail.outbox


def test_a_store_can_switch_a_rule_off_for_itself(submit, managers, store, rules):
    AlertRule.objects.create(
        organization=store.organization, location=store, kind=RuleKind.DETRACTOR, enabled=False
    )

    submit(a_response(nps=2))

    assert not Alert.objects.exists()


def test_a_store_can_tighten_a_threshold_for_itself(submit, managers, store, rules):
    AlertRule.objects.create(
        organization=store.organization, location=store, kind=RuleKind.LOW_CSAT, threshold=3
    )

    submit(a_response(nps=8, csat=3))

    assert [a.rule.kind for a in Alert.objects.all()] == [RuleKind.LOW_CSAT]


def test_three_unhappy_customers_within_an_hour_escalate_once_to_the_regional_manager(
    submit, managers
):
    for minutes in (0, 20, 40, 50):
        with time_machine.travel(NOW + dt.timedelta(minutes=minutes), tick=False):
            submit(a_response(nps=1))

    bursts = Alert.objects.filter(rule__kind=RuleKind.UNHAPPY_BURST)
    assert bursts.count() == 1
    escalation = [m for m in mail.outbox if "3 unhappy" in m.body]
    assert len(escalation) == 1
    assert set(escalation[0].to) == {managers["store"].email, managers["region"].email}


def test_unhappy_customers_spread_over_more_than_an_hour_do_not_make_a_burst(submit, managers):
    for minutes in (0, 45, 110):
        with time_machine.travel(NOW + dt.timedelta(minutes=minutes), tick=False):
            submit(a_response(nps=1))

    assert not Alert.objects.filter(rule__kind=RuleKind.UNHAPPY_BURST).exists()


def test_a_customer_who_asks_to_be_contacted_fires_the_contact_rule(submit, managers, store, rules):
    survey = store.organization.default_survey
    contact = {
        "key": "contact",
        "kind": "contact",
        "text": {"vi": "Liên hệ", "th": "ติดต่อ", "en": "Contact me"},
    }
    survey.questions = [*survey.questions, contact]
    survey.save()
    publish_survey(survey=survey)

    submit(a_response(nps=8, contact={"consent": True, "phone": "0901234567"}))

    assert [a.rule.kind for a in Alert.objects.all()] == [RuleKind.CONTACT_REQUEST]
    assert Case.objects.count() == 1
    assert "0901234567" not in mail.outbox[0].body  # contact details stay on the case page


def test_the_sweep_checks_responses_whose_check_was_never_queued(submit, managers, monkeypatch):
    monkeypatch.setattr(recovery, "request_alert_check", lambda ids: None)  # broker down
    submit(a_response(nps=0))
    assert not Alert.objects.exists()

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)):
        alert_sweeps.sweep_unchecked()
        alert_sweeps.sweep_unchecked()

    assert Alert.objects.count() == 1
    assert Case.objects.count() == 1


def test_each_sweep_checks_only_what_arrived_since_the_last_one(submit, managers, monkeypatch):
    monkeypatch.setattr(recovery, "request_alert_check", lambda ids: None)  # broker down
    checked = []
    monkeypatch.setattr(recovery, "check_responses", lambda ids: checked.append(ids) or [])
    submit(a_response(nps=0))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)

    with time_machine.travel(later, tick=False):
        alert_sweeps.sweep_unchecked()
    submit_at = later + dt.timedelta(seconds=30)
    with time_machine.travel(submit_at, tick=False):
        submit(a_response(nps=1))
    with time_machine.travel(submit_at + dt.timedelta(minutes=1), tick=False):
        alert_sweeps.sweep_unchecked()

    assert [len(ids) for ids in checked] == [1, 1]


# --- webhooks against a real receiver on 127.0.0.1 ----------------------------------------------


class Receiver:
    """An HTTP server that verifies each signature and answers with the next planned status."""

    def __init__(self, secret: str, statuses: list[int]):
        self.secret, self.statuses, self.received = secret, list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = webhooks.verify(receiver.secret, self.headers["X-CXHub-Signature"], body)
                receiver.received.append((signed, json.loads(body)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status if signed else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(store):
    made = []

    def make(statuses=()):
        endpoint = WebhookEndpoint.objects.create(organization=store.organization, url="http://x")
        server = Receiver(endpoint.secret, statuses)
        endpoint.url = server.url
        endpoint.save(update_fields=["url"])
        made.append(server)
        return endpoint, server

    yield make
    for server in made:
        server.close()


def test_an_alert_reaches_the_webhook_signed_with_the_endpoint_secret(submit, managers, receiver):
    _, server = receiver()

    body = submit(a_response(nps=2, comment="Bàn bẩn"))

    assert len(server.received) == 1
    signed, payload = server.received[0]
    assert signed
    assert payload["event"] == "alert.fired"
    assert payload["rule"] == "detractor"
    assert payload["response"]["id"] == body["id"]
    assert payload["response"]["answers"]["comment"] == "Bàn bẩn"
    assert payload["case"]["url"].endswith(f"/cases/{Case.objects.get().pk}/")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.last_status) == (1, 200)
    assert delivery.delivered_at is not None


def settled(delivery: WebhookDelivery) -> WebhookDelivery:
    """Let time pass to each retry's due moment and run the beat sweep, as production does
    for retries too far off for a delayed task; until delivered or given up."""
    for _ in range(webhooks.MAX_ATTEMPTS + 1):
        delivery.refresh_from_db()
        if delivery.delivered_at or delivery.gave_up_at:
            return delivery
        with time_machine.travel(delivery.next_attempt_at + notifications.SWEEP_GRACE):
            notifications.sweep_pending()
    raise AssertionError(f"{delivery} never settled")


def test_a_failing_receiver_is_retried_until_it_takes_the_alert(submit, managers, receiver):
    endpoint, server = receiver(statuses=[500, 503])

    submit(a_response(nps=2))
    delivery = settled(WebhookDelivery.objects.get())

    assert [signed for signed, _ in server.received] == [True, True, True]
    assert delivery.attempts == 3 and delivery.delivered_at is not None
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_a_receiver_that_keeps_failing_is_given_up_on_and_then_disabled(
    submit, managers, receiver, monkeypatch
):
    monkeypatch.setattr(webhooks, "DISABLE_AFTER_FAILURES", 12)
    endpoint, server = receiver(statuses=[500] * 50)

    submit(a_response(nps=2))
    first = settled(WebhookDelivery.objects.get())
    assert first.attempts == webhooks.MAX_ATTEMPTS
    assert first.gave_up_at is not None and first.delivered_at is None

    submit(a_response(nps=1))  # a second alert: four more failures reach the limit
    settled(WebhookDelivery.objects.exclude(pk=first.pk).get())

    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at is not None
    assert len(server.received) == 12


def test_a_retry_waiting_for_its_time_is_not_sent_early_by_a_second_copy_of_the_task(
    submit, managers, receiver
):
    _, server = receiver(statuses=[500])
    submit(a_response(nps=2))
    delivery = WebhookDelivery.objects.get()

    again = webhooks.deliver(delivery.pk)  # a redelivered copy of the task, too early

    assert again == ("not due", 1)
    assert len(server.received) == 1


def test_an_alert_whose_notification_was_lost_is_sent_once_by_the_sweep(
    submit, managers, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    _, server = receiver()
    # The broker is down when the alert fires: the task that would notify is never queued.
    monkeypatch.setattr(recovery, "queue_notifications", lambda alert: None)
    submit(a_response(nps=2))
    assert (len(mail.outbox), Alert.objects.get().notified_at) == (0, None)
    monkeypatch.undo()

    with (
        time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        notifications.sweep_pending()
        notifications.sweep_pending()  # the next sweep finds nothing left to do

    assert len(mail.outbox) == 1
    assert Alert.objects.get().notified_at is not None
    assert WebhookDelivery.objects.get().delivered_at is not None
    assert len(server.received) == 1


def test_a_signature_is_refused_when_the_body_or_the_time_is_not_what_was_signed():
    header = webhooks.sign("s3cret", 1_800_000_000, b'{"a":1}')

    assert webhooks.verify("s3cret", header, b'{"a":1}', now=1_800_000_100)
    assert not webhooks.verify("s3cret", header, b'{"a":2}', now=1_800_000_100)
    assert not webhooks.verify("other", header, b'{"a":1}', now=1_800_000_100)
    assert not webhooks.verify("s3cret", header, b'{"a":1}', now=1_800_000_400)  # replayed
    assert not webhooks.verify("s3cret", "nonsense", b'{"a":1}')


@pytest.mark.parametrize(
    ("last_seen_local", "now_local", "fires"),
    [
        ("2026-11-22T09:00", "2026-11-22T11:30", True),  # silent 2 h 30 while open
        ("2026-11-22T10:00", "2026-11-22T11:30", False),  # only 1 h 30
        ("2026-11-21T21:00", "2026-11-22T09:00", False),  # overnight: open for 1 h only
        ("2026-11-21T21:00", "2026-11-22T10:30", True),  # open for 2 h 30, still silent
        ("2026-11-22T12:00", "2026-11-22T22:30", False),  # closed now
    ],
)
def test_a_kiosk_silent_for_two_hours_while_the_store_is_open_fires_once(
    kiosk, managers, last_seen_local, now_local, fires
):
    zone = dt.timezone(dt.timedelta(hours=7))  # Hồ Chí Minh City
    kiosk.last_seen_at = dt.datetime.fromisoformat(last_seen_local).replace(tzinfo=zone)
    kiosk.save(update_fields=["last_seen_at"])

    with time_machine.travel(dt.datetime.fromisoformat(now_local).replace(tzinfo=zone), tick=False):
        alert_sweeps.check_silent_kiosks()
        alert_sweeps.check_silent_kiosks()

    silent = Alert.objects.filter(rule__kind=RuleKind.KIOSK_SILENT)
    assert silent.count() == (1 if fires else 0)


def test_an_unhappy_answer_from_days_ago_alerts_no_one_but_a_contact_request_still_does(
    submit, managers, store
):
    survey = store.organization.default_survey
    contact = {
        "key": "contact",
        "kind": "contact",
        "text": {"vi": "Liên hệ", "th": "ติดต่อ", "en": "Contact me"},
    }
    survey.questions = [*survey.questions, contact]
    survey.save()
    publish_survey(survey=survey)
    two_days_ago = (NOW - dt.timedelta(days=2)).isoformat()

    submit({**a_response(nps=1), "submitted_at": two_days_ago})
    assert not Alert.objects.exists()

    submit(
        {
            **a_response(nps=1, contact={"consent": True, "email": "an@example.com"}),
            "submitted_at": two_days_ago,
        }
    )
    assert [a.rule.kind for a in Alert.objects.all()] == [RuleKind.CONTACT_REQUEST]


def test_only_responses_a_rule_could_match_queue_an_alert_check(
    submit, managers, store, rules, monkeypatch
):
    queued = []
    monkeypatch.setattr(recovery, "request_alert_check", lambda ids: queued.extend(ids))
    happy = submit(a_response(nps=9, csat=5, ces=7))
    unhappy = submit(a_response(nps=9, csat=2))
    detractor = rules[RuleKind.DETRACTOR]
    detractor.threshold = 9
    detractor.save()  # as the admin does: takes effect at the next response
    ninth = submit(a_response(nps=9))

    assert [str(i) for i in queued] == [unhappy["id"], ninth["id"]]
    assert happy["id"] not in [str(i) for i in queued]
