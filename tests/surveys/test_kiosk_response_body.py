"""The kiosk's 201 and 200 bodies are ResponseOut's representation of the stored response,
with the serializer's fields built once per process; and a token revoked after it was
used is refused on its next request."""

import json

import pytest
from rest_framework.renderers import JSONRenderer

from locations import services as location_services
from surveys.models import SurveyResponse
from surveys.serializers import ResponseOut
from tests.factories import a_response

URL = "/api/v1/kiosk/responses/"

pytestmark = pytest.mark.django_db


def _as_stored(response_id) -> dict:
    stored = (
        SurveyResponse.objects.select_related("location", "touchpoint", "staff")
        .prefetch_related("answers")
        .get(pk=response_id)
    )
    return json.loads(JSONRenderer().render(ResponseOut(stored).data))


@pytest.mark.parametrize("with_staff", [True, False])
def test_created_and_duplicate_bodies_are_responseout_of_the_stored_row(
    kiosk_client, staff, with_staff
):
    body = a_response(nps=3, csat=2, ces=5, reason=["wait_time"], comment="Lâu quá")
    if with_staff:
        body["staff"] = staff.code

    created = kiosk_client.post(URL, body, format="json")
    again = kiosk_client.post(URL, body, format="json")

    assert created.status_code == 201
    assert again.status_code == 200
    assert created.json() == _as_stored(body["id"]) == again.json()
    assert created.json()["staff"] == (staff.code if with_staff else None)
    assert list(created.json()) == list(ResponseOut().fields)


def test_a_token_revoked_after_use_is_refused_on_its_next_request(kiosk_client, kiosk):
    assert kiosk_client.post(URL, a_response(), format="json").status_code == 201

    location_services.revoke_kiosk(kiosk=kiosk)

    assert kiosk_client.post(URL, a_response(), format="json").status_code == 401
