"""One test per rule of the kiosk contract: each bad answer gets its own message."""

import pytest

from locations.models import StaffMember
from surveys.models import ContactDetails, SurveyResponse
from surveys.services import publish_survey
from tests.factories import LocationFactory, StaffMemberFactory, a_response

URL = "/api/v1/kiosk/responses/"


def post(client, body):
    return client.post(URL, body, format="json")


def answer_errors(client, **answers):
    r = post(client, a_response(**answers))
    assert r.status_code == 400, r.content
    return r.json()["answers"]


@pytest.mark.parametrize("bad_id", ["123", "", None, 42, "0b6f2f7e-3d55-4a57-9a43"])
def test_an_id_that_is_not_a_uuid_is_refused(kiosk_client, bad_id):
    body = a_response()
    body["id"] = bad_id

    r = post(kiosk_client, body)

    assert r.status_code == 400
    assert list(r.json()) == ["id"]


def test_an_answer_to_an_unknown_question_is_refused(kiosk_client):
    assert "mood" in answer_errors(kiosk_client, nps=9, mood=3)


@pytest.mark.parametrize("value", ["9", True, 5.5, 9.0, [9], {"score": 9}], ids=repr)
def test_a_score_must_be_a_json_integer(kiosk_client, value):
    assert answer_errors(kiosk_client, nps=value) == {"nps": ["Give a whole number from 0 to 10."]}


@pytest.mark.parametrize(
    ("question", "value"),
    [("nps", -1), ("nps", 11), ("csat", 0), ("csat", 6), ("ces", 0), ("ces", 8)],
)
def test_a_score_off_its_scale_is_refused(kiosk_client, question, value):
    assert question in answer_errors(kiosk_client, **{question: value})


@pytest.mark.parametrize(
    ("question", "value"),
    [("nps", 0), ("nps", 10), ("csat", 1), ("csat", 5), ("ces", 1), ("ces", 7)],
)
def test_the_ends_of_each_scale_are_accepted(kiosk_client, question, value):
    assert post(kiosk_client, a_response(**{question: value})).status_code == 201


def test_a_choice_that_does_not_exist_is_refused(kiosk_client):
    errors = answer_errors(kiosk_client, nps=3, reason=["rude_parrot"])
    assert "rude_parrot" in errors["reason"][0]


@pytest.mark.parametrize("value", ["wait_time", [], [1], ["wait_time", "wait_time"]], ids=repr)
def test_a_choice_answer_is_a_non_empty_list_of_distinct_choice_keys(kiosk_client, value):
    assert "reason" in answer_errors(kiosk_client, nps=3, reason=value)


def test_a_text_answer_longer_than_its_limit_is_refused(kiosk_client):
    errors = answer_errors(kiosk_client, nps=9, comment="á" * 1001)
    assert errors["comment"] == ["Keep it to 1000 characters (this is 1001)."]


def test_a_text_answer_at_its_limit_in_thai_is_accepted(kiosk_client):
    assert post(kiosk_client, a_response(comment="ดี" * 500)).status_code == 201


def test_a_text_answer_must_be_text_without_nul(kiosk_client):
    assert "comment" in answer_errors(kiosk_client, comment=5)
    assert "comment" in answer_errors(kiosk_client, comment="ok\x00")


def test_emoji_and_vietnamese_combining_marks_are_kept_exactly(kiosk_client):
    text = "Cà phê ngon quá 😍 — Nha\u0300 ha\u0300ng"
    body = a_response(nps=10, comment=text)

    assert post(kiosk_client, body).status_code == 201
    assert SurveyResponse.objects.get(id=body["id"]).answers.get(question="comment").text == text


@pytest.mark.parametrize(
    "value",
    ["2026-11-22T18:04:05", "2026-11-22", "22/11/2026 18:04", "", None, 1763809445],
    ids=["no offset", "no time", "not iso", "empty", "null", "epoch"],
)
def test_submitted_at_needs_an_iso_time_with_an_offset(kiosk_client, value):
    body = a_response()
    body["submitted_at"] = value

    r = post(kiosk_client, body)

    assert r.status_code == 400
    assert list(r.json()) == ["submitted_at"]


def test_a_reason_is_refused_when_its_condition_does_not_hold(kiosk_client):
    errors = answer_errors(kiosk_client, nps=7, reason=["price"])
    assert errors == {"reason": ["Only asked when nps is at most 6."]}


def test_a_reason_is_refused_when_the_question_it_depends_on_is_unanswered(kiosk_client):
    assert "reason" in answer_errors(kiosk_client, csat=2, reason=["price"])


def test_a_reason_is_accepted_when_its_condition_holds(kiosk_client):
    assert post(kiosk_client, a_response(nps=6, reason=["price", "wait_time"])).status_code == 201


def test_a_response_must_carry_at_least_one_answer(kiosk_client):
    body = a_response()
    body["answers"] = {}

    assert post(kiosk_client, body).json() == {
        "answers": ["A response must carry at least one answer."]
    }


@pytest.mark.parametrize("answers", [None, [], "nps=9"], ids=repr)
def test_answers_must_be_an_object(kiosk_client, answers):
    body = a_response()
    body["answers"] = answers

    assert "answers" in post(kiosk_client, body).json()


def test_optional_questions_may_be_skipped(kiosk_client):
    assert post(kiosk_client, a_response(csat=3)).status_code == 201


def test_a_null_answer_is_a_skipped_question(kiosk_client):
    body = a_response(nps=9, reason=None, comment=None)

    assert post(kiosk_client, body).json()["answers"] == {"nps": 9}


def test_only_null_answers_are_no_answers_at_all(kiosk_client):
    assert answer_errors(kiosk_client, nps=None) == ["A response must carry at least one answer."]


def test_a_language_the_survey_does_not_offer_is_refused(kiosk_client):
    body = a_response()
    body["language"] = "fr"

    assert list(post(kiosk_client, body).json()) == ["language"]


def test_without_a_language_the_locations_default_is_stored(kiosk_client, store):
    store.default_language = "th"
    store.save()
    body = a_response()
    del body["language"]

    post(kiosk_client, body)

    assert SurveyResponse.objects.get(id=body["id"]).language == "th"


def test_a_staff_code_the_location_does_not_have_is_refused(kiosk_client, store):
    elsewhere = StaffMemberFactory(location=LocationFactory(organization=store.organization))
    for code in ("NV-404", elsewhere.code):
        body = {**a_response(), "staff": code}

        r = post(kiosk_client, body)

        assert r.status_code == 400
        assert list(r.json()) == ["staff"]


def test_a_staff_member_deactivated_since_is_still_accepted(kiosk_client, staff):
    StaffMember.objects.filter(pk=staff.pk).update(is_active=False)

    assert post(kiosk_client, {**a_response(), "staff": staff.code}).status_code == 201


def test_no_staff_member_may_be_named_as_null(kiosk_client):
    assert post(kiosk_client, {**a_response(), "staff": None}).status_code == 201


def test_an_older_survey_version_the_kiosk_still_shows_is_accepted(kiosk_client, store):
    survey = store.organization.default_survey
    old = survey.current_version
    survey.questions = [q for q in survey.questions if q["key"] != "ces"]
    survey.save()
    new = publish_survey(survey=survey)
    body = {**a_response(ces=6), "survey_version": old.pk}

    assert post(kiosk_client, a_response(ces=6)).json()["answers"] == {
        "ces": [f"There is no question 'ces' in survey version {new.pk}."]
    }
    assert post(kiosk_client, body).status_code == 201
    assert SurveyResponse.objects.get(id=body["id"]).survey_version == old


def test_a_survey_version_of_another_organization_is_refused(kiosk_client, other_store):
    body = {
        **a_response(),
        "survey_version": other_store.organization.default_survey.current_version.pk,
    }

    assert list(post(kiosk_client, body).json()) == ["survey_version"]


def test_a_required_question_may_be_missing_only_from_a_partial_response(kiosk_client, store):
    survey = store.organization.default_survey
    survey.questions = [{**q, "required": q["key"] == "csat"} for q in survey.questions]
    survey.save()
    publish_survey(survey=survey)

    assert answer_errors(kiosk_client, nps=9) == {"csat": ["This question is required."]}
    partial = {**a_response(nps=9), "complete": False}
    assert post(kiosk_client, partial).status_code == 201
    assert SurveyResponse.objects.get(id=partial["id"]).is_complete is False


def test_a_required_question_hidden_by_its_condition_is_not_required(kiosk_client, store):
    survey = store.organization.default_survey
    survey.questions = [{**q, "required": q["key"] == "reason"} for q in survey.questions]
    survey.save()
    publish_survey(survey=survey)

    assert post(kiosk_client, a_response(nps=9)).status_code == 201
    assert answer_errors(kiosk_client, nps=2) == {"reason": ["This question is required."]}


def test_contact_details_are_kept_only_with_explicit_consent(kiosk_client, contact_survey):
    refused = answer_errors(kiosk_client, nps=2, contact={"email": "lan@example.com"})
    assert "consent" in refused["contact"][0]

    body = a_response(nps=2, contact={"consent": True, "name": "Lan", "email": "lan@example.com"})
    r = post(kiosk_client, body)

    assert r.status_code == 201
    assert r.json()["answers"]["contact"] == {"consent": True}
    details = ContactDetails.objects.get(response_id=body["id"])
    assert (details.name, details.email) == ("Lan", "lan@example.com")


@pytest.mark.parametrize(
    "contact",
    [
        {"consent": True},
        {"consent": True, "email": "not-an-address"},
        {"consent": "yes", "phone": "0901"},
    ],
    ids=["nothing to reach", "bad e-mail", "consent not true"],
)
def test_a_contact_request_needs_consent_and_a_way_to_reach_the_customer(
    kiosk_client, contact_survey, contact
):
    assert "contact" in answer_errors(kiosk_client, nps=2, contact=contact)


def test_every_problem_is_reported_at_once_and_nothing_is_stored(kiosk_client):
    body = {
        "id": "nope",
        "submitted_at": "2026-11-22",
        "language": "xx",
        "staff": "NV-404",
        "answers": {"nps": 12, "csat": "5", "reason": ["price"], "mood": 1},
    }

    r = post(kiosk_client, body)

    assert set(r.json()) == {"id", "submitted_at", "language", "staff", "answers"}
    assert set(r.json()["answers"]) == {"nps", "csat", "reason", "mood"}
    assert SurveyResponse.objects.count() == 0
