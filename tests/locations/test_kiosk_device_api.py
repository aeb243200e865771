"""A kiosk pairs with a one-time code, reads its configuration and reports a heartbeat."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from locations import services
from locations.models import Kiosk
from tests.factories import StaffMemberFactory

PAIR_URL = "/api/v1/kiosk/pair/"
CONFIG_URL = "/api/v1/kiosk/config/"
HEARTBEAT_URL = "/api/v1/kiosk/heartbeat/"


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def test_a_tablet_pairs_with_a_code_and_gets_a_working_token(store, anonymous_client):
    code = services.create_pairing_code(location=store, touchpoint="checkout")

    r = anonymous_client.post(PAIR_URL, {"code": code, "name": "Quầy thu ngân"}, format="json")

    assert r.status_code == 201
    assert r.json()["location"] == "HCM-01"
    assert r.json()["touchpoint"] == "checkout"
    kiosk = Kiosk.objects.get()
    assert kiosk.name == "Quầy thu ngân"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {r.json()['token']}")
    assert client.get(CONFIG_URL).status_code == 200


def test_a_pairing_code_works_only_once(store, anonymous_client):
    code = services.create_pairing_code(location=store)
    anonymous_client.post(PAIR_URL, {"code": code}, format="json")

    r = anonymous_client.post(PAIR_URL, {"code": code}, format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["code"]
    assert Kiosk.objects.count() == 1


def test_an_expired_pairing_code_is_refused(store, anonymous_client):
    code = services.create_pairing_code(location=store)

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)):
        r = anonymous_client.post(PAIR_URL, {"code": code}, format="json")

    assert r.status_code == 400


@pytest.mark.parametrize("code", ["1234", "abcdefgh", "", None])
def test_a_malformed_pairing_code_is_400(db, anonymous_client, code):
    assert anonymous_client.post(PAIR_URL, {"code": code}, format="json").status_code == 400


@override_settings(CXHUB_PAIRING_RATE="3/min")
def test_guessing_pairing_codes_is_rate_limited(db, anonymous_client):
    for _ in range(3):
        anonymous_client.post(PAIR_URL, {"code": "00000000"}, format="json")

    r = anonymous_client.post(PAIR_URL, {"code": "00000000"}, format="json")

    assert r.status_code == 429
    assert "Retry-After" in r


def test_re_pairing_a_kiosk_replaces_its_old_token(kiosk_and_token, store, anonymous_client):
    kiosk, old_token = kiosk_and_token
    code = services.create_pairing_code(location=store, kiosk=kiosk)
    new_token = anonymous_client.post(PAIR_URL, {"code": code}, format="json").json()["token"]
    old, new = APIClient(), APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {old_token}")
    new.credentials(HTTP_AUTHORIZATION=f"Bearer {new_token}")

    assert old.get(CONFIG_URL).status_code == 401
    assert new.get(CONFIG_URL).status_code == 200
    assert Kiosk.objects.count() == 1


def test_the_configuration_carries_the_survey_with_every_translation_and_the_active_staff(
    kiosk_client, store
):
    StaffMemberFactory(location=store, code="NV-001", display_name="Lê Văn Hùng")
    StaffMemberFactory(location=store, code="NV-002", display_name="Gone", is_active=False)

    config = kiosk_client.get(CONFIG_URL).json()

    assert config["location"] == {
        "code": "HCM-01",
        "name": store.name,
        "timezone": "Asia/Ho_Chi_Minh",
        "default_language": "vi",
    }
    assert config["survey"]["version"] == store.organization.default_survey.current_version_id
    assert config["survey"]["languages"] == ["vi", "th", "en"]
    keys = [q["key"] for q in config["survey"]["questions"]]
    assert keys == ["nps", "csat", "ces", "reason", "comment"]
    assert all(set(q["text"]) == {"vi", "th", "en"} for q in config["survey"]["questions"])
    assert config["staff"] == [{"code": "NV-001", "name": "Lê Văn Hùng", "photo": None}]
    assert config["settings"]["idle_timeout_seconds"] == 30


def test_the_configuration_never_shows_another_stores_staff(kiosk_client, other_store):
    StaffMemberFactory(location=other_store, code="TH-001")

    assert kiosk_client.get(CONFIG_URL).json()["staff"] == []


def test_a_heartbeat_updates_last_seen_and_reports_the_current_survey_version(kiosk_client, kiosk):
    r = kiosk_client.post(
        HEARTBEAT_URL,
        {"app_version": "1.4.2", "queue_length": 3, "invalid_count": 1, "battery": 87},
        format="json",
    )

    assert r.status_code == 200
    assert (
        r.json()["survey_version"] == kiosk.location.organization.default_survey.current_version_id
    )
    kiosk.refresh_from_db()
    assert (kiosk.app_version, kiosk.queue_length, kiosk.invalid_count, kiosk.battery) == (
        "1.4.2",
        3,
        1,
        87,
    )
    assert kiosk.last_seen_at is not None


@pytest.mark.parametrize(
    "body", [{"battery": 101}, {"queue_length": -1}, {"queue_length": "many"}], ids=repr
)
def test_a_heartbeat_with_impossible_values_is_400(kiosk_client, body):
    r = kiosk_client.post(HEARTBEAT_URL, body, format="json")

    assert r.status_code == 400
    assert list(r.json()) == list(body)


def test_any_kiosk_call_marks_the_kiosk_as_seen(kiosk_client, kiosk):
    assert kiosk.last_seen_at is None

    kiosk_client.get(CONFIG_URL)

    kiosk.refresh_from_db()
    assert kiosk.last_seen_at is not None


@pytest.mark.parametrize("url", [CONFIG_URL, HEARTBEAT_URL])
def test_device_calls_need_a_kiosk_token(anonymous_client, url):
    assert anonymous_client.generic("GET" if url == CONFIG_URL else "POST", url).status_code == 401
