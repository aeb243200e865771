"""The kiosk look-ups compiled to SQL once per process: the same instances as the ORM gives,
fresh from the database on every call, and no ORM compilation per request."""

from unittest import mock

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext

from cxhub.queries import CompiledQuery
from locations import selectors, tokens
from locations import services as location_services
from locations.models import Kiosk, StaffMember
from surveys.ingest import IngestContext
from surveys.services import publish_survey
from tests.factories import LocationFactory, StaffMemberFactory, make_kiosk

pytestmark = pytest.mark.django_db


def _state(obj):
    """An instance's field values, annotations and select_related instances, recursively."""
    values = {k: v for k, v in vars(obj).items() if k != "_state"}
    related = {name: _state(other) for name, other in obj._state.fields_cache.items()}
    return type(obj), values, obj._state.db, obj._state.adding, related


def _orm_kiosk(token):
    return selectors._kiosk_by_digest(tokens.digest(token)).first()


def test_the_kiosk_is_what_the_orm_query_gives(kiosk_and_token):
    _, token = kiosk_and_token

    kiosk = selectors.kiosk_for_token(token)

    assert _state(kiosk) == _state(_orm_kiosk(token))
    assert set(kiosk._state.fields_cache) == {"location", "organization", "touchpoint"}
    assert kiosk.current_version_id == kiosk.organization.default_survey.current_version_id
    assert kiosk.current_version_published_at is not None


def test_a_location_survey_of_its_own_wins_as_in_the_orm_query(store, kiosk_and_token):
    _, token = kiosk_and_token
    survey = store.organization.default_survey
    survey.pk = None
    survey.current_version = None
    survey.name = "Store's own"
    survey.save()
    version = publish_survey(survey=survey)
    store.survey = survey
    store.save(update_fields=["survey"])

    kiosk = selectors.kiosk_for_token(token)

    assert kiosk.current_version_id == version.pk
    assert _state(kiosk) == _state(_orm_kiosk(token))


def test_each_token_finds_its_own_kiosk(store, other_store):
    first, first_token = make_kiosk(store)
    second, second_token = make_kiosk(other_store)

    assert selectors.kiosk_for_token(first_token).pk == first.pk
    assert selectors.kiosk_for_token(second_token).pk == second.pk
    assert selectors.kiosk_for_token(second_token).location == other_store


def test_unknown_and_revoked_tokens_find_nothing_and_nothing_is_cached(kiosk_and_token):
    kiosk, token = kiosk_and_token
    assert selectors.kiosk_for_token(token) is not None
    assert selectors.kiosk_for_token(tokens.new_token(tokens.KIOSK_PREFIX)) is None

    location_services.revoke_kiosk(kiosk=kiosk)

    assert selectors.kiosk_for_token(token) is None


def test_every_call_reads_the_database_and_none_compiles_a_query(kiosk_and_token):
    _, token = kiosk_and_token
    selectors.kiosk_for_token(token)  # compiled here at the latest

    with (
        mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")),
        CaptureQueriesContext(connection) as queries,
    ):
        selectors.kiosk_for_token(token)
        selectors.kiosk_for_token(token)

    assert len(queries) == 2


def test_the_staff_of_a_location_is_what_the_orm_gives(store, kiosk):
    StaffMemberFactory(location=store, code="NV-2", display_name="B")
    StaffMemberFactory(location=store, code="NV-1", display_name="A", is_active=False)
    StaffMemberFactory(location=LocationFactory(organization=store.organization), code="NV-3")

    staff = IngestContext(kiosk=kiosk, current_version=None).staff_by_code

    expected = StaffMember.objects.filter(location_id=store.pk)
    assert list(staff) == ["NV-1", "NV-2"]
    assert [_state(s) for s in staff.values()] == [_state(s) for s in expected]


def test_a_query_that_does_not_carry_its_placeholder_is_refused(kiosk):
    ignores_its_value = CompiledQuery(lambda digest: Kiosk.objects.all(), "placeholder")

    with pytest.raises(ValueError, match="placeholder"):
        ignores_its_value("anything")


def test_values_must_have_the_placeholders_type(kiosk):
    by_location = CompiledQuery(lambda pk: Kiosk.objects.filter(location_id=pk), -1)

    with pytest.raises(TypeError):
        by_location(str(kiosk.location_id))
    assert by_location(kiosk.location_id) == [kiosk]
