"""Surveys in the admin: drafts are checked, publishing freezes a version, history is read-only."""

import copy
import json

import pytest
from django.urls import reverse

from surveys.default_survey import QUESTIONS
from surveys.models import Survey, SurveyResponse, SurveyVersion
from surveys.services import record_response
from tests.admin_cast import head_office_fixture, owner_fixture  # noqa: F401
from tests.factories import a_response


@pytest.fixture
def survey(store):
    return store.organization.default_survey


def change_url(obj) -> str:
    return reverse(f"admin:surveys_{obj._meta.model_name}_change", args=[obj.pk])


def draft_form(survey, **changes) -> dict:
    form = {"name": survey.name, "languages": survey.languages, "questions": survey.questions}
    form.update(changes)
    return {
        k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in form.items()
    }


def test_publishing_from_the_changelist_makes_the_next_version(owner, head_office, survey):
    assert survey.current_version.number == 1
    owner.post(
        reverse("admin:surveys_survey_changelist"),
        {"action": "publish", "_selected_action": [survey.pk]},
    )
    survey.refresh_from_db()
    assert survey.current_version.number == 2
    assert survey.current_version.published_by == head_office
    assert survey.versions.count() == 2


def test_save_and_publish_freezes_the_edited_draft_and_leaves_the_old_version_alone(owner, survey):
    assert 'name="_publish"' in owner.get(change_url(survey)).content.decode()
    questions = copy.deepcopy(survey.questions)
    questions[0]["text"]["en"] = "Would you recommend us to a friend?"
    response = owner.post(
        change_url(survey),
        {**draft_form(survey, questions=questions), "_publish": "1"},
        follow=True,
    )
    assert "Published Customer feedback version 2." in response.content.decode()

    first, second = SurveyVersion.objects.filter(survey=survey).order_by("number")
    page = owner.get(change_url(survey)).content.decode()
    assert f'<a href="{change_url(first)}">v1</a>' in page
    assert f'<a href="{change_url(second)}">v2</a>' in page
    assert second.questions[0]["text"]["en"] == "Would you recommend us to a friend?"
    assert first.questions[0]["text"]["en"] != "Would you recommend us to a friend?"


def test_saving_the_draft_alone_publishes_nothing(owner, survey):
    owner.post(change_url(survey), draft_form(survey, name="Phản hồi khách hàng"))
    survey.refresh_from_db()
    assert survey.name == "Phản hồi khách hàng"
    assert survey.versions.count() == 1


def test_a_published_version_cannot_be_changed_added_or_deleted(owner, survey):
    version = survey.current_version
    page = owner.get(change_url(version))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()

    form = {"languages": '["en"]', "questions": "[]", "number": "7"}
    assert owner.post(change_url(version), form).status_code == 403
    assert owner.post(reverse("admin:surveys_surveyversion_add"), form).status_code == 403
    delete = reverse("admin:surveys_surveyversion_delete", args=[version.pk])
    assert owner.post(delete, {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    assert version.number == 1 and version.languages == ["vi", "th", "en"]


def test_an_invalid_definition_is_a_form_error_and_saves_nothing(owner, survey):
    questions = copy.deepcopy(survey.questions)
    del questions[0]["text"]["vi"]
    response = owner.post(change_url(survey), draft_form(survey, questions=questions))
    assert response.status_code == 200
    assert "question &#x27;nps&#x27; text: the &#x27;vi&#x27; translation is missing." in (
        response.content.decode()
    )
    survey.refresh_from_db()
    assert "vi" in survey.questions[0]["text"]


def test_malformed_json_is_a_form_error(owner, survey):
    response = owner.post(change_url(survey), draft_form(survey, questions="[{"))
    assert response.status_code == 200
    assert "Enter a valid JSON." in response.content.decode()


def test_an_unsupported_language_is_reported_on_the_languages_field(owner, survey):
    response = owner.post(change_url(survey), draft_form(survey, languages=["vi", "fr"]))
    assert "languages: &#x27;fr&#x27; is not one of vi, th, en." in response.content.decode()


def test_a_new_survey_starts_from_the_template_as_an_unpublished_draft(owner, store):
    page = owner.get(reverse("admin:surveys_survey_add")).content.decode()
    assert "&quot;key&quot;: &quot;nps&quot;" in page

    owner.post(
        reverse("admin:surveys_survey_add"),
        {
            "organization": store.organization.pk,
            "name": "Checkout",
            "languages": '["vi", "en"]',
            "questions": json.dumps(QUESTIONS),
        },
    )
    draft = Survey.objects.get(name="Checkout")
    assert draft.organization == store.organization and draft.current_version is None


def test_head_office_cannot_publish_another_organizations_survey(owner, other_store):
    theirs = other_store.organization.default_survey
    owner.post(
        reverse("admin:surveys_survey_changelist"),
        {"action": "publish", "_selected_action": [theirs.pk]},
    )
    assert theirs.versions.count() == 1
    assert owner.get(change_url(theirs)).status_code == 302


def test_a_response_and_its_answers_are_shown_but_never_changed(owner, kiosk):
    response = record_response(kiosk=kiosk, body=a_response(nps=3, csat=2, ces=4)).response
    page = owner.get(change_url(response))
    assert page.status_code == 200
    assert "nps" in page.content.decode() and "csat" in page.content.decode()

    assert owner.post(change_url(response), {"language": "en"}).status_code == 403
    delete = reverse("admin:surveys_surveyresponse_delete", args=[response.pk])
    assert owner.post(delete, {"post": "yes"}).status_code == 403
    assert SurveyResponse.objects.get(pk=response.pk).language == "vi"
