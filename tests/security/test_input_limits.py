"""Input limits through the real HTTP path: body sizes, comment lengths and batches."""

# Already covered elsewhere, and not repeated here: a single response over its body limit
# is a 413 and a batch of more than 500 a 400 (tests/surveys/test_kiosk_api.py); a comment
# over its limit (tests/surveys/test_validation.py).

import json

import pytest

from tests.factories import a_response
from tests.security.input_helpers import BATCH_URL, HEARTBEAT_URL, PAIR_URL, URL, post, post_raw


@pytest.mark.parametrize("url", [URL, BATCH_URL, HEARTBEAT_URL, PAIR_URL])
def test_every_kiosk_endpoint_answers_a_body_over_its_limit_with_a_413(settings, kiosk_client, url):
    limits = settings.CXHUB_MAX_BODY_BYTES
    limit = limits[max((prefix for prefix in limits if url.startswith(prefix)), key=len)]

    r = post_raw(kiosk_client, '{"padding": "' + "x" * limit + '"}', url)

    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


def test_a_full_batch_of_the_longest_comments_fits_under_the_batch_body_limit(settings):
    # Four bytes a character is the most UTF-8 takes; the kiosk sends JSON as UTF-8.
    comment = "😍" * 1000
    batch = {"responses": [a_response(nps=10, comment=comment) for _ in range(500)]}

    size = len(json.dumps(batch, ensure_ascii=False).encode())

    assert size <= settings.CXHUB_MAX_BODY_BYTES[BATCH_URL]


def test_a_comment_over_its_limit_in_a_batch_is_invalid_with_a_message_on_the_comment(
    kiosk_client,
):
    good, too_long = a_response(nps=9, comment="ok"), a_response(nps=9, comment="x" * 1001)

    r = post(kiosk_client, {"responses": [good, too_long]}, BATCH_URL)

    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["created", "invalid"]
    assert r.json()["results"][1]["errors"] == {
        "answers": {"comment": ["Keep it to 1000 characters (this is 1001)."]}
    }


def test_the_comment_limit_counts_characters_not_bytes(kiosk_client):
    assert post(kiosk_client, a_response(comment="😍" * 1000)).status_code == 201

    r = post(kiosk_client, a_response(comment="😍" * 1001))

    assert r.status_code == 400
    assert r.json()["answers"] == {"comment": ["Keep it to 1000 characters (this is 1001)."]}
