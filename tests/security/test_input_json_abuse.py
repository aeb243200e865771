"""JSON built to hurt the parser: deep nesting, huge or inexact numbers, answers not an object."""

# Already covered elsewhere: answers that are not an object (tests/surveys/test_validation.py).

import json

import pytest

from surveys.models import SurveyResponse
from tests.factories import a_response
from tests.security.input_helpers import BATCH_URL, HEARTBEAT_URL, PAIR_URL, URL, post, post_raw


@pytest.mark.parametrize("url", [URL, BATCH_URL, HEARTBEAT_URL, PAIR_URL])
@pytest.mark.parametrize("depth", [1_000, 20_000])
def test_deeply_nested_json_is_a_400(kiosk_client, url, depth):
    r = post_raw(kiosk_client, "[" * depth + "]" * depth, url)

    assert r.status_code == 400


def test_deeply_nested_answers_are_a_400_on_the_answer(kiosk_client):
    nested = "[" * 5_000 + "]" * 5_000
    raw = json.dumps(a_response(nps=9, comment="PLACEHOLDER")).replace('"PLACEHOLDER"', nested)

    assert post_raw(kiosk_client, raw).status_code == 400


@pytest.mark.parametrize(
    "raw_nps", ["1e400", "-1e400", "1" + "0" * 400, "1" + "0" * 5000, "9.0000000000000001"]
)
def test_a_huge_or_inexact_number_as_a_score_is_a_400(kiosk_client, raw_nps):
    raw = json.dumps(a_response(nps=9)).replace('"nps": 9', f'"nps": {raw_nps}')

    r = post_raw(kiosk_client, raw)

    assert r.status_code == 400
    assert SurveyResponse.objects.count() == 0


@pytest.mark.parametrize("value", ["1e400", "1" + "0" * 30, "-1" + "0" * 30])
def test_a_huge_survey_version_is_a_400_on_that_field(kiosk_client, value):
    raw = json.dumps(a_response(nps=9)).replace(
        '"language"', f'"survey_version": {value}, "language"'
    )

    r = post_raw(kiosk_client, raw)

    assert r.status_code == 400
    assert list(r.json()) == ["survey_version"]


@pytest.mark.parametrize("field", ["queue_length", "invalid_count", "battery"])
@pytest.mark.parametrize("value", ["1e400", "1" + "0" * 30, "NaN", "Infinity"])
def test_a_huge_number_in_a_heartbeat_is_a_400(kiosk_client, field, value):
    r = post_raw(kiosk_client, f'{{"{field}": {value}}}', HEARTBEAT_URL)

    assert r.status_code == 400


@pytest.mark.parametrize("answers", [9, 1e300, True, "nps=9", ["nps", 9], [{"nps": 9}]], ids=repr)
def test_answers_that_are_not_an_object_are_a_400_on_answers(kiosk_client, answers):
    body = {**a_response(), "answers": answers}

    r = post(kiosk_client, body)

    assert r.status_code == 400
    assert list(r.json()) == ["answers"]
