"""Production's defences, seen from a client: HTTPS only, careful cookies and headers,
sign-in that cannot be guessed at, sessions that end, and rate limits per kiosk address."""

import datetime as dt
import secrets

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from locations.models import Role
from tests.factories import MembershipFactory, a_response, make_kiosk
from tests.test_settings import manage

PASSWORD = "a-long-and-proper-passphrase"


@pytest.fixture
def manager(store):
    member = MembershipFactory(
        organization=store.organization, role=Role.STORE_MANAGER, location=store
    )
    member.user.set_password(PASSWORD)
    member.user.save()
    return member.user


def sign_in(client, user, password=PASSWORD, **extra):
    return client.post(
        "/accounts/login/", {"username": user.username, "password": password}, **extra
    )


def test_the_deploy_check_finds_nothing_to_warn_about_under_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_plain_http_is_sent_to_https_but_the_load_balancer_probes_are_not(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()

    page = client.get("/accounts/login/")
    probe = client.get("/healthz")

    assert page.status_code == 301
    assert page["Location"] == "https://testserver/accounts/login/"
    assert probe.status_code == 200


def test_a_page_over_https_carries_every_protective_header(db):
    answer = Client().get("/accounts/login/", secure=True)

    assert answer.status_code == 200
    assert answer["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["Referrer-Policy"] == "same-origin"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = answer["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def test_the_session_and_csrf_cookies_are_secure_and_out_of_reach_of_scripts(manager):
    client = Client()
    client.get("/accounts/login/", secure=True)
    signed_in = sign_in(client, manager, secure=True)

    assert signed_in.status_code == 302
    session, csrf = client.cookies["sessionid"], client.cookies["csrftoken"]
    for cookie in (session, csrf):
        assert cookie["secure"] and cookie["httponly"], cookie.key
        assert cookie["samesite"] == "Lax", cookie.key
    assert session["max-age"] == 12 * 3600


def test_a_session_ends_after_a_working_day(manager):
    client = Client()
    with time_machine.travel(dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC), tick=False):
        assert sign_in(client, manager).status_code == 302
        assert client.get("/dashboard/").status_code == 302  # to the store's page
        assert "login" not in client.get("/dashboard/")["Location"]
    with time_machine.travel(dt.datetime(2026, 12, 1, 13, 1, tzinfo=dt.UTC), tick=False):
        later = client.get("/dashboard/")

    assert later.status_code == 302
    assert later["Location"].startswith("/accounts/login/")


def test_the_fifth_wrong_password_locks_that_address_out_of_that_account_for_a_while(manager):
    attacker, colleague = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.4")
    start = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        wrong = [sign_in(attacker, manager, password=f"guess-{i}") for i in range(5)]
        locked = sign_in(attacker, manager)
        elsewhere = sign_in(colleague, manager)

    assert [a.status_code for a in wrong] == [200] * 4 + [429]
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in attacker.session
    assert elsewhere.status_code == 302
    with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
        assert sign_in(attacker, manager).status_code == 302


def test_the_admin_sign_in_is_locked_out_the_same_way(manager):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for i in range(5):
        attacker.post("/admin/login/", {"username": manager.username, "password": f"guess-{i}"})

    locked = attacker.post("/admin/login/", {"username": manager.username, "password": PASSWORD})

    assert locked.status_code == 429


def test_behind_a_trusted_proxy_the_lockout_follows_the_client_not_the_proxy(settings, manager):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    attacker = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    # A client cannot escape by writing its own X-Forwarded-For: the proxy appends the
    # address it saw, and only that last entry is trusted.
    spoofing = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    colleague = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.4")
    for i in range(5):
        sign_in(attacker, manager, password=f"guess-{i}")

    assert sign_in(spoofing, manager).status_code == 429
    assert sign_in(colleague, manager).status_code == 302


def test_kiosks_behind_one_address_share_a_limit_above_any_single_kiosk(settings, store):
    settings.CXHUB_KIOSK_RATE = "100/min"
    settings.CXHUB_KIOSK_ADDRESS_RATE = "5/min"
    tokens = [make_kiosk(store)[1] for _ in range(2)]

    def post(token, address):
        client = APIClient(REMOTE_ADDR=address)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/api/v1/kiosk/responses/", a_response(nps=9), format="json")

    same_store = [post(tokens[i % 2], "203.0.113.9").status_code for i in range(6)]
    other_store = post(tokens[0], "198.51.100.4")

    assert same_store == [201] * 5 + [429]
    assert other_store.status_code == 201


@pytest.mark.parametrize(
    ("stamp", "status"),
    [
        (lambda now: f"t={now - 30:.3f}", 503),  # nginx's ${msec}: seconds, 30 s ago
        (lambda now: f"t={int((now - 30) * 1e6)}", 503),  # microseconds
        (lambda now: f"t={int((now - 1) * 1e3)}", 201),  # milliseconds, a second ago
        (lambda now: "t=soon", 201),  # unreadable: served
    ],
    ids=["seconds-stale", "microseconds-stale", "milliseconds-fresh", "unreadable"],
)
def test_a_request_that_waited_too_long_in_the_queue_is_shed_with_a_503(
    kiosk_client, stamp, status
):
    import time

    answer = kiosk_client.post(
        "/api/v1/kiosk/responses/",
        a_response(nps=9),
        format="json",
        HTTP_X_REQUEST_START=stamp(time.time()),
    )

    assert answer.status_code == status
    if status == 503:
        assert answer["Retry-After"] == "30"
