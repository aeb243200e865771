"""Every status the kiosk contract promises, through HTTP."""

import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from locations import services as location_services
from surveys.models import Answer, SurveyResponse
from tests.factories import a_response

URL = "/api/v1/kiosk/responses/"
BATCH_URL = "/api/v1/kiosk/responses/batch/"


def test_a_new_response_is_stored_with_its_answers_and_answered_201(kiosk_client, staff):
    body = a_response(nps=9, csat=4, ces=6, comment="Nhân viên rất nhiệt tình")
    body["staff"] = "NV-014"

    r = kiosk_client.post(URL, body, format="json")

    assert r.status_code == 201
    assert r.json()["id"] == body["id"]
    assert r.json()["answers"] == {
        "nps": 9,
        "csat": 4,
        "ces": 6,
        "comment": "Nhân viên rất nhiệt tình",
    }
    assert r.json()["staff"] == "NV-014"
    stored = SurveyResponse.objects.get(id=body["id"])
    assert stored.staff == staff
    assert stored.language == "vi"
    assert Answer.objects.filter(response=stored).count() == 4


def test_an_exact_retry_is_answered_200_with_the_stored_response_and_counted_once(kiosk_client):
    body = a_response(nps=9)
    first = kiosk_client.post(URL, body, format="json")

    again = kiosk_client.post(URL, body, format="json")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert SurveyResponse.objects.count() == 1


def test_the_same_id_with_another_body_is_a_conflict(kiosk_client):
    body = a_response(nps=9)
    kiosk_client.post(URL, body, format="json")

    r = kiosk_client.post(URL, {**body, "answers": {"nps": 3}}, format="json")

    assert r.status_code == 409
    assert "id" in r.json()
    assert SurveyResponse.objects.get(id=body["id"]).answers.get().score == 9


def test_the_same_id_from_another_kiosk_is_a_conflict(kiosk_client, store):
    body = a_response(nps=9)
    kiosk_client.post(URL, body, format="json")
    issued = location_services.create_kiosk(location=store, touchpoint="checkout")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")

    assert other.post(URL, body, format="json").status_code == 409


def test_a_known_id_is_answered_before_the_new_body_is_validated(kiosk_client):
    body = a_response(nps=9)
    kiosk_client.post(URL, body, format="json")

    r = kiosk_client.post(URL, {**body, "answers": {"nps": "nine"}}, format="json")

    assert r.status_code == 409


def test_key_order_spacing_and_offset_do_not_make_a_retry_a_conflict(kiosk_client):
    body = a_response(nps=9, csat=5)
    body["submitted_at"] = "2026-11-22T18:04:05+07:00"
    kiosk_client.post(URL, body, format="json")
    reordered = (
        '{ "answers" : {"csat": 5, "nps": 9}, "language": "vi",'
        f' "submitted_at": "2026-11-22T11:04:05Z", "id": "{body["id"]}" }}'
    )

    r = kiosk_client.post(URL, reordered, content_type="application/json")

    assert r.status_code == 200


def test_an_invalid_response_gets_400_with_a_message_per_field(kiosk_client):
    r = kiosk_client.post(
        URL,
        {"id": "not-a-uuid", "submitted_at": "yesterday", "answers": {"nps": 11, "mood": 3}},
        format="json",
    )

    assert r.status_code == 400
    errors = r.json()
    assert set(errors) == {"id", "submitted_at", "answers"}
    assert set(errors["answers"]) == {"nps", "mood"}
    assert SurveyResponse.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    ["{not json", "[]", '"a string"', "null", "42", ""],
    ids=["broken", "list", "string", "null", "number", "empty"],
)
def test_a_body_that_is_not_a_response_object_is_a_400_never_a_500(kiosk_client, raw):
    r = kiosk_client.post(URL, raw, content_type="application/json")

    assert r.status_code == 400


def test_an_unknown_token_is_401(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer cxk_not-a-real-token")

    assert anonymous_client.post(URL, a_response(), format="json").status_code == 401


def test_no_token_is_401_with_a_bearer_challenge(anonymous_client):
    r = anonymous_client.post(URL, a_response(), format="json")

    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401_at_once(kiosk_client, kiosk):
    location_services.revoke_kiosk(kiosk=kiosk)

    assert kiosk_client.post(URL, a_response(), format="json").status_code == 401


def test_a_personal_api_token_cannot_submit_responses(store, anonymous_client):
    from tests.factories import UserFactory

    token = location_services.create_api_token(user=UserFactory())
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert anonymous_client.post(URL, a_response(), format="json").status_code == 401


@override_settings(CXHUB_MAX_BODY_BYTES={"/api/v1/kiosk/": 2000})
def test_a_body_too_large_is_413(settings, kiosk_client):
    from cxhub.middleware import BodySizeLimitMiddleware  # noqa: F401 - limits read per process

    body = a_response(comment="x" * 3000)

    r = kiosk_client.post(URL, body, format="json")

    assert r.status_code == 413


@override_settings(CXHUB_KIOSK_RATE="2/min")
def test_a_kiosk_over_its_rate_gets_429_with_retry_after(kiosk_client):
    from django.core.cache import cache

    cache.clear()
    for _ in range(2):
        assert kiosk_client.post(URL, a_response(), format="json").status_code == 201

    r = kiosk_client.post(URL, a_response(), format="json")

    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0
    cache.clear()


def test_a_batch_answers_each_item_in_order_and_one_bad_item_never_rejects_the_good(kiosk_client):
    stored = a_response(nps=10)
    kiosk_client.post(URL, stored, format="json")
    good, bad = a_response(nps=8), a_response(nps=42)
    conflicting = {**stored, "answers": {"nps": 0}}

    r = kiosk_client.post(
        BATCH_URL, {"responses": [good, bad, stored, conflicting, "junk"]}, format="json"
    )

    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "created",
        "invalid",
        "duplicate",
        "conflict",
        "invalid",
    ]
    assert [x["id"] for x in results[:4]] == [good["id"], bad["id"], stored["id"], stored["id"]]
    assert results[1]["errors"] == {"answers": {"nps": ["Give a whole number from 0 to 10."]}}
    assert SurveyResponse.objects.count() == 2


def test_the_same_id_twice_in_one_batch_is_answered_as_if_sent_one_after_the_other(kiosk_client):
    body = a_response(nps=7)
    other_body = {**body, "answers": {"nps": 1}}

    r = kiosk_client.post(BATCH_URL, {"responses": [body, body, other_body]}, format="json")

    assert [x["status"] for x in r.json()["results"]] == ["created", "duplicate", "conflict"]
    assert SurveyResponse.objects.count() == 1


def test_an_invalid_item_does_not_reserve_its_id_later_in_the_batch(kiosk_client):
    body = a_response(nps=7)
    broken = {**body, "answers": {"nps": 70}}

    r = kiosk_client.post(BATCH_URL, {"responses": [broken, body]}, format="json")

    assert [x["status"] for x in r.json()["results"]] == ["invalid", "created"]


def test_a_batch_of_more_than_500_is_refused_whole(kiosk_client):
    r = kiosk_client.post(
        BATCH_URL, {"responses": [a_response() for _ in range(501)]}, format="json"
    )

    assert r.status_code == 400
    assert "responses" in r.json()
    assert SurveyResponse.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"responses": {}}, [], {"responses": "x"}])
def test_a_batch_without_a_list_of_responses_is_400(kiosk_client, body):
    assert kiosk_client.post(BATCH_URL, body, format="json").status_code == 400


def test_a_batch_of_500_is_stored_whole(kiosk_client):
    items = [a_response(nps=i % 11) for i in range(500)]
    for item in items:
        if item["answers"]["nps"] <= 6:
            item["answers"]["reason"] = ["wait_time"]

    r = kiosk_client.post(BATCH_URL, {"responses": items}, format="json")

    assert {x["status"] for x in r.json()["results"]} == {"created"}
    assert SurveyResponse.objects.count() == 500
    assert Answer.objects.count() == 500 + sum(1 for i in items if "reason" in i["answers"])


def test_an_unreachable_database_is_503_with_retry_after(kiosk_client, monkeypatch):
    from django.db import OperationalError

    from surveys import api

    def database_down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(api, "record_response", database_down)

    r = kiosk_client.post(URL, a_response(), format="json")

    assert r.status_code == 503
    assert r["Retry-After"]


def test_uuid_ids_are_accepted_in_any_letter_case(kiosk_client):
    body = a_response()
    body["id"] = str(uuid.uuid4()).upper()

    assert kiosk_client.post(URL, body, format="json").status_code == 201
