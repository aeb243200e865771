"""Service-recovery cases: who sees them, acting on them, what head office reads per store,
and escalation of those past due."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client

from locations.models import Role
from surveys import cases, recovery
from surveys.models import Case, CaseOutcome, CaseStatus, ContactDetails
from surveys.services import record_response
from tests.factories import (
    LocationFactory,
    MembershipFactory,
    RegionFactory,
    UserFactory,
    a_response,
    make_kiosk,
)

NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def unhappy_case(location, **answers):
    kiosk, _ = make_kiosk(location, registered_days_ago=5)
    outcome = record_response(kiosk=kiosk, body=a_response(**(answers or {"nps": 2})))
    return recovery.open_case(outcome.response)


@pytest.fixture
def world(db):
    south = RegionFactory(name="South")
    org = south.organization
    hcm1 = LocationFactory(organization=org, region=south, code="HCM-01")
    hcm2 = LocationFactory(organization=org, region=south, code="HCM-02")
    bkk = LocationFactory(code="BKK-01", timezone="Asia/Bangkok")
    people = {
        "anonymous": None,
        "head_office": MembershipFactory(organization=org, role=Role.HEAD_OFFICE).user,
        "regional_manager": MembershipFactory(
            organization=org, role=Role.REGIONAL_MANAGER, region=south
        ).user,
        "store_manager": MembershipFactory(
            organization=org, role=Role.STORE_MANAGER, location=hcm1
        ).user,
        "other_organization": MembershipFactory(
            organization=bkk.organization, role=Role.HEAD_OFFICE
        ).user,
        "no_membership": UserFactory(),
    }
    return {
        "org": org,
        "cases": {
            "HCM-01": unhappy_case(hcm1),
            "HCM-02": unhappy_case(hcm2),
            "BKK-01": unhappy_case(bkk),
        },
        "people": people,
    }


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


SEES = {
    "head_office": {"HCM-01", "HCM-02"},
    "regional_manager": {"HCM-01", "HCM-02"},
    "store_manager": {"HCM-01"},
    "other_organization": {"BKK-01"},
    "no_membership": set(),
}


@pytest.mark.parametrize("role", [*SEES, "anonymous"])
def test_every_role_sees_and_opens_exactly_the_cases_of_its_stores(world, role):
    client = client_for(world["people"][role])

    listing = client.get("/cases/?show=all")
    if role == "anonymous":
        assert listing.status_code == 302
    else:
        listed = {
            case.location.code
            for case in Case.objects.filter(
                pk__in=re.findall(r'data-case="(\d+)"', listing.content.decode())
            )
        }
        assert listed == SEES[role]
    for code, case in world["cases"].items():
        page = client.get(f"/cases/{case.pk}/")
        posted = client.post(f"/cases/{case.pk}/", {"note": "called the customer"})
        if role == "anonymous":
            assert (page.status_code, posted.status_code) == (302, 302)
        elif code in SEES[role]:
            assert page.status_code == 200
            assert posted.status_code == 302
        else:
            assert (page.status_code, posted.status_code) == (404, 404)
    table = client.get(f"/dashboard/{world['org'].slug}/cases/")
    expected = 200 if role == "head_office" else 302 if role == "anonymous" else 404
    assert table.status_code == expected


def test_a_note_takes_the_case_into_progress_and_stamps_the_first_action(world):
    case = world["cases"]["HCM-01"]
    manager = world["people"]["store_manager"]

    with time_machine.travel(NOW + dt.timedelta(minutes=25), tick=False):
        client_for(manager).post(
            f"/cases/{case.pk}/", {"note": "Gọi lại cho khách", "owner": manager.pk}
        )

    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.owner == manager
    assert case.first_action_at - case.opened_at == dt.timedelta(minutes=25)
    assert case.notes.get().text == "Gọi lại cho khách"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"status": "resolved"}, "outcome"),
        ({"status": "dismissed", "reason": "  "}, "reason"),
        ({"status": "lost"}, "status"),
        ({"owner": "999999"}, "owner"),
    ],
)
def test_an_incomplete_change_is_refused_with_a_message_on_its_field(world, data, field):
    case = world["cases"]["HCM-01"]

    response = client_for(world["people"]["store_manager"]).post(f"/cases/{case.pk}/", data)

    assert response.status_code == 400
    assert f'data-field="{field}"' in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN


def test_someone_who_cannot_see_the_store_cannot_be_made_its_owner(world):
    case = world["cases"]["HCM-01"]
    outsider = world["people"]["other_organization"]

    response = client_for(world["people"]["head_office"]).post(
        f"/cases/{case.pk}/", {"owner": outsider.pk}
    )

    assert response.status_code == 400
    case.refresh_from_db()
    assert case.owner is None


def test_the_customer_contact_shows_on_the_case_only_while_it_is_kept(world):
    case = world["cases"]["HCM-01"]
    contact = ContactDetails.objects.create(
        response=case.response, question="contact", phone="0901234567", consented_at=NOW
    )
    client = client_for(world["people"]["store_manager"])

    assert "0901234567" in client.get(f"/cases/{case.pk}/").content.decode()
    contact.phone, contact.erased_at = "", NOW
    contact.save()
    assert "0901234567" not in client.get(f"/cases/{case.pk}/").content.decode()


def test_head_office_reads_recovery_per_store(world):
    first, second = world["cases"]["HCM-01"], world["cases"]["HCM-02"]
    head = world["people"]["head_office"]
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False):
        cases.act(first, head, status=CaseStatus.RESOLVED, outcome=CaseOutcome.RECOVERED)

    with time_machine.travel(NOW + dt.timedelta(hours=30), tick=False):
        rows = {r.code: r for r in cases.cases_by_store(head, world["org"], NOW.date(), NOW.date())}
        page = client_for(head).get(f"/dashboard/{world['org'].slug}/cases/?range=7d")

    assert rows["HCM-01"].recovery_rate == 100
    assert rows["HCM-01"].median_to_close == dt.timedelta(hours=2)
    assert rows["HCM-01"].overdue == 0
    assert rows["HCM-02"].overdue == 1  # due after 24 hours, untouched after 30
    assert rows["HCM-02"].recovery_rate is None
    assert 'data-overdue="1"' in page.content.decode()
    assert set(rows) == {first.location.code, second.location.code}


def test_an_overdue_case_is_escalated_once_to_its_region_manager(world):
    regional = world["people"]["regional_manager"]

    with time_machine.travel(NOW + dt.timedelta(hours=25), tick=False):
        escalated = cases.escalate_overdue()
        again = cases.escalate_overdue()
        from surveys.notifications import notify_escalations

        notify_escalations(escalated)

    assert {c.location.code for c in escalated} == {"HCM-01", "HCM-02", "BKK-01"}
    assert again == []
    to_regional = [m for m in mail.outbox if m.to == [regional.email]]
    assert len(to_regional) == 2
    case = world["cases"]["HCM-01"]
    (message,) = [m for m in to_regional if f"/cases/{case.pk}/" in m.body]
    # In the organization's language (Vietnamese here), with the case and its store named.
    assert message.subject == f"[CXHub] HCM-01: một phiếu xử lý đã quá hạn (#{case.pk})"
    assert f"Phiếu xử lý {case.pk} tại cửa hàng HCM-01" in message.body


def test_the_case_page_shows_its_owner_and_sending_them_back_changes_nothing(world):
    case = world["cases"]["HCM-01"]
    manager = world["people"]["store_manager"]
    client = client_for(manager)
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
        client.post(f"/cases/{case.pk}/", {"owner": manager.pk})
    case.refresh_from_db()
    stamped = case.first_action_at

    page = client.get(f"/cases/{case.pk}/").content.decode()
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False):
        again = client.post(f"/cases/{case.pk}/", {"owner": manager.pk, "status": ""})

    assert f'<option value="{manager.pk}" selected>' in page
    assert again.status_code == 302
    case.refresh_from_db()
    assert (case.owner, case.status, case.first_action_at) == (
        manager,
        CaseStatus.IN_PROGRESS,
        stamped,
    )
