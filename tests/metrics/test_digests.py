"""Digests: each manager's chosen summary of their stores, in their language, HTML and text."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.test import Client

from locations import services as location_services
from locations.models import Role
from metrics import digests, services
from surveys import alert_sweeps, recovery
from tests.dashboard.test_pages import answers, send
from tests.factories import LocationFactory, MembershipFactory, RegionFactory

NOW = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # Monday 08:00 in Hồ Chí Minh City


@pytest.fixture
def chain(db):
    with time_machine.travel(NOW - dt.timedelta(days=1), tick=False):
        south = RegionFactory(name="South")
        org = south.organization
        recovery.create_default_rules(org)
        first = LocationFactory(organization=org, region=south, code="HCM-01")
        second = LocationFactory(organization=org, region=south, code="HCM-02")
        send(first, *(answers(i) for i in range(9)), when="2026-11-22T10:00:00+07:00")
        send(second, *(answers(i + 3) for i in range(6)), when="2026-11-20T10:00:00+07:00")
        services.rebuild_rollups()
    with time_machine.travel(NOW - dt.timedelta(days=1) + dt.timedelta(minutes=1), tick=False):
        alert_sweeps.sweep_unchecked()  # the tests' transaction never commits: check here
    people = {
        "head": MembershipFactory(organization=org, role=Role.HEAD_OFFICE).user,
        "store": MembershipFactory(organization=org, role=Role.STORE_MANAGER, location=first).user,
    }
    return org, people


def test_a_weekly_digest_goes_to_everyone_who_did_not_choose_otherwise(chain):
    _, people = chain
    location_services.save_digest(user=people["store"], digest="none")

    with time_machine.travel(NOW, tick=False):
        assert digests.send("weekly") == 1

    (message,) = mail.outbox
    assert message.to == [people["head"].email]
    assert "Tuần trước" in message.subject  # the organization speaks Vietnamese
    assert "HCM-01" in message.body or "NPS" in message.body
    assert message.alternatives[0][1] == "text/html"
    assert "<table>" in message.alternatives[0][0]


def test_a_daily_digest_covers_yesterday_at_the_managers_store_only(chain):
    _, people = chain
    location_services.save_digest(user=people["store"], digest="daily")
    location_services.save_language(user=people["store"], language="en")

    with time_machine.travel(NOW, tick=False):
        assert digests.send("daily") == 1
        context = digests.build(people["store"], "daily")

    (message,) = mail.outbox
    assert message.subject == "[CXHub] Yesterday at your stores"
    (section,) = context["sections"]
    assert section["title"].startswith("HCM-01")
    assert (section["period"].date_from, section["period"].date_to) == (
        dt.date(2026, 11, 22),
        dt.date(2026, 11, 22),
    )
    nps = next(c for c in section["cards"] if c["question"] == "nps")
    assert nps["figures"]["n"] == 9
    assert section["open_cases"] >= 1  # unhappy answers opened cases
    assert "Open cases:" in message.body


def test_a_person_chooses_their_digest_on_their_settings_page(chain):
    _, people = chain
    client = Client()
    client.force_login(people["store"])

    assert client.get("/account/preferences/").status_code == 200
    assert client.post("/account/preferences/", {"digest": "hourly"}).status_code == 400
    assert client.post("/account/preferences/", {"digest": "daily"}).status_code == 302
    assert location_services.digest_of(people["store"]) == "daily"


def test_a_digest_run_repeated_the_same_day_sends_nobody_a_second_copy(chain):
    with time_machine.travel(NOW, tick=False):
        first = digests.send("weekly")
        again = digests.send("weekly")  # a retried task, or a second beat by mistake

    assert (first, again) == (2, 0)
    assert len(mail.outbox) == 2


def test_a_run_that_failed_half_way_sends_only_what_was_left(chain, monkeypatch):
    sent = []
    real_send = digests.EmailMultiAlternatives.send

    def fail_on_the_second(message, *args, **kwargs):
        if sent:
            raise ConnectionError("SMTP went away")
        sent.append(message.to)
        return real_send(message, *args, **kwargs)

    with time_machine.travel(NOW, tick=False):
        monkeypatch.setattr(digests.EmailMultiAlternatives, "send", fail_on_the_second)
        with pytest.raises(ConnectionError):
            digests.send("weekly")
        monkeypatch.undo()
        resumed = digests.send("weekly")

    assert resumed == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [chain[1]["head"].email, chain[1]["store"].email]
    )
