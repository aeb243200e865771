"""Contact details: erased after the organization's retention period, or on request, with
the response, its scores and its comment kept."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from surveys import privacy
from surveys.models import Answer, ContactDetails
from surveys.services import record_response
from tests.factories import a_response, make_kiosk

NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)


@pytest.fixture
def contacts(store):
    kiosk, _ = make_kiosk(store, registered_days_ago=200)
    made = {}
    for name, days_ago, email, phone in (
        ("old", 120, "old@example.com", "+84 90 111 2222"),
        ("recent", 10, "Lan@Example.com", "0903334444"),
    ):
        with time_machine.travel(NOW - dt.timedelta(days=days_ago), tick=False):
            response = record_response(
                kiosk=kiosk, body=a_response(nps=2, comment=f"comment {name}")
            ).response
            made[name] = ContactDetails.objects.create(
                response=response,
                question="contact",
                name=name.title(),
                email=email,
                phone=phone,
                consented_at=NOW - dt.timedelta(days=days_ago),
            )
    return made


def test_contact_details_past_the_retention_period_are_erased_and_the_comment_stays(contacts):
    with time_machine.travel(NOW, tick=False):
        assert privacy.erase_expired() == 1
        assert privacy.erase_expired() == 0

    old, recent = (ContactDetails.objects.get(pk=c.pk) for c in contacts.values())
    assert (old.name, old.email, old.phone) == ("", "", "")
    assert old.erased_at is not None
    assert recent.email == "Lan@Example.com" and recent.erased_at is None
    comment = Answer.objects.get(response=old.response, question="comment")
    assert comment.text == "comment old"


def test_an_organization_with_a_longer_retention_keeps_them_longer(contacts, store):
    store.organization.contact_retention_days = 365
    store.organization.save(update_fields=["contact_retention_days"])

    with time_machine.travel(NOW, tick=False):
        assert privacy.erase_expired() == 0


@pytest.mark.parametrize(
    ("args", "erased"),
    [
        (["--email", "lan@example.com"], "recent"),
        (["--phone", "0903 334 444"], "recent"),
        (["--phone", "+84-90-111-2222"], "old"),
    ],
)
def test_erase_contact_erases_one_person_on_request(contacts, args, erased):
    out = StringIO()

    call_command("erase_contact", *args, stdout=out)

    assert "erased the contact details of 1 response" in out.getvalue()
    for name, contact in contacts.items():
        contact.refresh_from_db()
        assert (contact.erased_at is not None) == (name == erased)


def test_erase_contact_needs_an_address_or_a_number(db):
    with pytest.raises(CommandError):
        call_command("erase_contact")
