"""The demo's survey gains the optional contact question in a second version, so the kiosk's
"contact me" screen shows in the demo while its history stays on the first version."""

from surveys.demo import add_contact_question, seed_demo
from surveys.models import Survey, SurveyResponse


def current_version(organization):
    return Survey.objects.get(pk=organization.default_survey_id).current_version


def test_the_demo_asks_for_contact_in_a_second_version_after_its_history(db):
    # Two days: with one, just after local midnight the demo's "today" has no answers yet.
    organization = seed_demo(days=2, per_day=5).organization
    current = current_version(organization)

    assert current.number == 2
    assert [q["key"] for q in current.questions] == [
        "nps",
        "csat",
        "ces",
        "reason",
        "comment",
        "contact",
    ]
    contact = current.question_map()["contact"]
    assert contact["kind"] == "contact"
    assert contact["required"] is False
    assert set(contact["text"]) == {"vi", "th", "en"}
    responses = SurveyResponse.objects.filter(organization=organization)
    assert responses.exists()
    assert not responses.filter(survey_version=current).exists()


def test_adding_the_contact_question_twice_publishes_once(db):
    organization = seed_demo(days=1, per_day=1).organization
    current = current_version(organization)

    assert add_contact_question(organization) == current
    assert current_version(organization) == current
    assert current.survey.versions.count() == 2
