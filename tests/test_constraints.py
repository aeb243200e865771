"""What the database itself refuses, whatever code path tries it."""

import pytest
from django.db import IntegrityError, transaction

from locations.models import Membership, Role
from surveys.models import Answer, SurveyVersion
from tests.factories import LocationFactory, StaffMemberFactory, UserFactory, a_response

URL = "/api/v1/kiosk/responses/"


@pytest.fixture
def stored_response(kiosk_client):
    from surveys.models import SurveyResponse

    body = a_response(nps=9)
    kiosk_client.post(URL, body, format="json")
    return SurveyResponse.objects.get(id=body["id"])


@pytest.mark.parametrize(
    ("kind", "score"),
    [("nps", 11), ("csat", 0), ("csat", 6), ("ces", 0), ("ces", 8), ("text", 3), ("nps", None)],
)
def test_a_score_off_its_kinds_scale_cannot_be_stored(stored_response, kind, score):
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.objects.create(response=stored_response, question="extra", kind=kind, score=score)


def test_a_question_is_answered_at_most_once_per_response(stored_response):
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.objects.create(response=stored_response, question="nps", kind="nps", score=3)


def test_a_location_code_is_unique_within_its_organization_only(store):
    LocationFactory(code=store.code)  # another organization: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        LocationFactory(code=store.code, organization=store.organization)


def test_a_staff_code_is_unique_within_its_organization(staff):
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffMemberFactory(location=staff.location, code=staff.code)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.HEAD_OFFICE, "location"),
        (Role.REGIONAL_MANAGER, None),
        (Role.STORE_MANAGER, "region"),
        (Role.STORE_MANAGER, None),
    ],
)
def test_a_membership_names_exactly_the_scope_its_role_covers(store, role, scope):
    kwargs = {"location": store} if scope == "location" else {}
    if scope == "region":
        kwargs = {"region": store.region}
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=UserFactory(), organization=store.organization, role=role, **kwargs
        )


@pytest.mark.postgres
def test_a_published_versions_questions_cannot_be_changed_even_by_hand(store):
    version = store.organization.default_survey.current_version

    with pytest.raises(IntegrityError), transaction.atomic():
        SurveyVersion.objects.filter(pk=version.pk).update(questions=[])

    SurveyVersion.objects.filter(pk=version.pk).update(published_by=None)  # still allowed
