"""A response counts in the local day and hour of its store, whatever the device's offset."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.utils import timezone

from locations import services as location_services
from surveys.models import SurveyResponse
from tests.factories import LocationFactory, make_kiosk

URL = "/api/v1/kiosk/responses/"
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def submit(client, submitted_at):
    body = {"id": str(uuid.uuid4()), "submitted_at": submitted_at, "answers": {"nps": 8}}
    r = client.post(URL, body, format="json")
    assert r.status_code == 201, r.content
    return SurveyResponse.objects.get(id=body["id"])


@pytest.fixture
def client_at(db):
    from rest_framework.test import APIClient

    def make(zone):
        _kiosk, token = make_kiosk(LocationFactory(timezone=zone), registered_days_ago=400)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("zone", "submitted_at", "day", "hour"),
    [
        # 23:30 in Hồ Chí Minh City is still the 21st there, though the kiosk sent UTC.
        ("Asia/Ho_Chi_Minh", "2026-11-21T16:30:00Z", "2026-11-21", 23),
        ("Asia/Ho_Chi_Minh", "2026-11-21T17:00:00Z", "2026-11-22", 0),
        ("Asia/Bangkok", "2026-11-21T16:59:59+00:00", "2026-11-21", 23),
        # A kiosk reporting another offset is converted to the store's zone.
        ("Asia/Bangkok", "2026-11-22T01:30:00+09:00", "2026-11-21", 23),
        ("America/New_York", "2026-11-22T04:30:00Z", "2026-11-21", 23),
        ("Australia/Sydney", "2026-11-21T13:00:00Z", "2026-11-22", 0),
    ],
)
def test_a_response_lands_in_its_stores_local_day_and_hour(
    client_at, zone, submitted_at, day, hour
):
    response = submit(client_at(zone), submitted_at)

    assert (str(response.local_day), response.local_hour) == (day, hour)
    assert response.clock_untrusted is False


@time_machine.travel(dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC), tick=False)
def test_across_the_autumn_dst_change_new_york_hours_follow_the_wall_clock(client_at):
    client = client_at("America/New_York")
    # 1 November 2026: 01:30 happens twice in New York (EDT, then EST).
    first = submit(client, "2026-11-01T05:30:00Z")
    second = submit(client, "2026-11-01T06:30:00Z")
    after = submit(client, "2026-11-01T07:30:00Z")

    assert [(str(r.local_day), r.local_hour) for r in (first, second, after)] == [
        ("2026-11-01", 1),
        ("2026-11-01", 1),
        ("2026-11-01", 2),
    ]


@time_machine.travel(dt.datetime(2026, 4, 6, 12, 0, tzinfo=dt.UTC), tick=False)
def test_across_sydneys_autumn_dst_change_the_repeated_hour_is_the_same_local_hour(client_at):
    client = client_at("Australia/Sydney")
    # 5 April 2026, 03:00 AEDT falls back to 02:00 AEST: 02:30 happens twice.
    hours = [submit(client, f"2026-04-04T{h:02d}:30:00Z").local_hour for h in (14, 15, 16, 17)]

    assert hours == [1, 2, 2, 3]


@time_machine.travel(NOW, tick=False)
def test_a_device_clock_more_than_5_minutes_ahead_is_not_trusted(client_at):
    client = client_at("Asia/Ho_Chi_Minh")
    fine = submit(client, (NOW + dt.timedelta(minutes=4)).isoformat())
    ahead = submit(client, (NOW + dt.timedelta(minutes=6)).isoformat())

    assert fine.clock_untrusted is False
    assert ahead.clock_untrusted is True
    assert ahead.received_at == NOW
    assert (ahead.local_day, ahead.local_hour) == (dt.date(2026, 11, 22), 19)


@time_machine.travel(NOW, tick=False)
def test_a_time_more_than_a_day_before_the_kiosk_was_registered_is_not_trusted(store):
    from rest_framework.test import APIClient

    _kiosk, token = make_kiosk(store, registered_days_ago=10)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    late_but_real = submit(client, (NOW - dt.timedelta(days=10, hours=23)).isoformat())
    impossible = submit(client, (NOW - dt.timedelta(days=11, hours=1)).isoformat())

    assert late_but_real.clock_untrusted is False
    assert late_but_real.local_day == dt.date(2026, 11, 11)
    assert impossible.clock_untrusted is True
    assert impossible.local_day == dt.date(2026, 11, 22)


@time_machine.travel(NOW, tick=False)
def test_a_new_token_does_not_move_the_kiosks_registration(store):
    from rest_framework.test import APIClient

    kiosk, _ = make_kiosk(store, registered_days_ago=10)
    registered = kiosk.registered_at
    code = location_services.create_pairing_code(location=store, kiosk=kiosk)
    issued = location_services.pair_kiosk(code=code)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")

    kiosk.refresh_from_db()
    assert issued.kiosk.pk == kiosk.pk
    assert kiosk.registered_at == registered
    assert (
        submit(client, (NOW - dt.timedelta(days=10, hours=23)).isoformat()).clock_untrusted is False
    )


def test_times_are_stored_in_utc(kiosk_client):
    response = submit(
        kiosk_client, timezone.now().astimezone(dt.timezone(dt.timedelta(hours=7))).isoformat()
    )

    assert response.submitted_at.utcoffset() == dt.timedelta(0)
