"""The audit log: every change to surveys, staff, kiosks, people and cases is recorded with
who made it, each organization reads only its own entries, and no secret is ever in it."""

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from locations.models import Kiosk, Membership, Role, StaffMember
from surveys import recovery
from surveys.models import Case, CaseStatus
from surveys.services import record_response
from tests.admin_cast import head_office_fixture, owner_fixture, signed_in  # noqa: F401
from tests.factories import (
    MembershipFactory,
    StaffMemberFactory,
    UserFactory,
    a_response,
    make_kiosk,
)


def entries_for(obj) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk)
        ).order_by("timestamp", "pk")
    )


@pytest.fixture
def member(store):
    return StaffMemberFactory(location=store, code="NV-014", display_name="Trần Thị Mai")


def test_renaming_a_staff_member_in_the_admin_records_who_did_it_and_what_changed(
    owner, head_office, member
):
    page = reverse("admin:locations_staffmember_change", args=[member.pk])
    form = owner.get(page).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v not in (None, "") and k != "photo"}
    data.update(display_name="Trần Thị Mai Anh", location=member.location_id)
    data["organization"] = member.organization_id

    assert owner.post(page, data).status_code == 302

    last = entries_for(member)[-1]
    assert last.action == LogEntry.Action.UPDATE
    assert last.actor == head_office
    assert last.changes_dict["display_name"] == ["Trần Thị Mai", "Trần Thị Mai Anh"]
    assert last.additional_data == {"organization_id": member.organization_id}


def test_a_case_closed_on_its_page_is_recorded_with_its_new_status(store):
    kiosk, _ = make_kiosk(store, registered_days_ago=1)
    case = recovery.open_case(record_response(kiosk=kiosk, body=a_response(nps=1)).response)
    manager = MembershipFactory(
        organization=store.organization, role=Role.STORE_MANAGER, location=store
    ).user

    signed_in(manager).post(
        f"/cases/{case.pk}/", {"status": "resolved", "outcome": "recovered", "owner": manager.pk}
    )

    case = Case.objects.get(pk=case.pk)
    assert case.status == CaseStatus.RESOLVED
    last = entries_for(case)[-1]
    assert (last.actor, last.changes_dict["status"]) == (manager, ["open", "resolved"])


def test_revoking_a_kiosk_is_recorded_and_its_token_never_is(owner, head_office, store):
    kiosk, token = make_kiosk(store)
    digest = kiosk.token_digest

    owner.post(
        reverse("admin:locations_kiosk_changelist"),
        {"action": "revoke", "_selected_action": [kiosk.pk]},
    )

    kiosk = Kiosk.objects.get(pk=kiosk.pk)
    assert kiosk.revoked_at is not None
    history = entries_for(kiosk)
    assert history[0].action == LogEntry.Action.CREATE
    assert history[-1].action == LogEntry.Action.UPDATE
    assert history[-1].actor == head_office
    assert history[-1].changes_dict["revoked_at"][0] == "None"
    everything = str([(e.changes, e.additional_data) for e in LogEntry.objects.all()])
    assert token not in everything and digest not in everything


def test_a_new_password_is_recorded_as_a_change_to_the_person_but_not_its_hash(db):
    user = UserFactory()
    user.set_password("first-passphrase-123")
    user.save()

    user.set_password("second-passphrase-456")
    user.save()

    assert all("password" not in entry.changes_dict for entry in entries_for(user))


def test_giving_someone_a_role_is_recorded(store, head_office):
    membership = MembershipFactory(
        organization=store.organization, role=Role.STORE_MANAGER, location=store
    )

    membership.role = Role.HEAD_OFFICE
    membership.location = None
    membership.save()

    assert entries_for(Membership.objects.get(pk=membership.pk))[-1].changes_dict["role"] == [
        "store_manager",
        "head_office",
    ]


def test_head_office_reads_its_own_organizations_entries_and_nobody_elses(
    owner, store, other_store, member
):
    theirs = StaffMemberFactory(location=other_store, code="TH-007", display_name="Somchai")
    listing = reverse("admin:auditlog_logentry_changelist")

    page = owner.get(listing)

    shown = {entry.object_repr for entry in page.context["cl"].result_list}
    assert str(member) in shown
    assert str(theirs) not in shown
    their_entry = entries_for(theirs)[0]
    assert owner.get(
        reverse("admin:auditlog_logentry_change", args=[their_entry.pk])
    ).status_code in (
        302,
        404,
    )


def test_nobody_edits_or_deletes_history(owner, member):
    entry = entries_for(member)[0]

    change = owner.post(reverse("admin:auditlog_logentry_change", args=[entry.pk]), {})
    delete = owner.post(reverse("admin:auditlog_logentry_delete", args=[entry.pk]), {"post": "yes"})

    assert change.status_code == 403 and delete.status_code == 403
    assert LogEntry.objects.filter(pk=entry.pk).exists()
    assert StaffMember.objects.filter(pk=member.pk).exists()
