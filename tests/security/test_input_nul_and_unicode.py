"""NUL, lone surrogates and text in every script, sent through the real HTTP path."""

# Already covered elsewhere, and not repeated here: NUL in a comment, and emoji with
# combining marks kept exactly (tests/surveys/test_validation.py).
#
# Text is kept exactly as typed, never NFC-normalised: a comment is what the customer said, and
# "Nguyễn" typed as e + combining marks renders the same in every browser and spreadsheet, so
# there is nothing to gain from rewriting it and a customer's words to lose.

import json
import unicodedata
import uuid

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locations import services as location_services
from locations.models import Role
from metrics import services as metrics_services
from surveys.models import ContactDetails, SurveyResponse
from tests.factories import MembershipFactory, UserFactory, a_response
from tests.security.input_helpers import (
    BATCH_URL,
    HEARTBEAT_URL,
    PAIR_URL,
    SCORES_URL,
    csv_cells,
    export,
    post,
    post_raw,
    signed_in,
    store_page,
    stored_comment,
    unhappy_case,
    xlsx_cells,
)

# --- NUL: PostgreSQL text cannot hold it, so it must be refused before it gets there --------


def with_nul(where: str) -> dict:
    body = a_response(nps=3)
    if where == "id":
        body["id"] = body["id"] + "\x00"
    elif where == "submitted_at":
        body["submitted_at"] += "\x00"
    elif where == "language":
        body["language"] = "vi\x00"
    elif where == "staff":
        body["staff"] = "NV-014\x00"
    elif where == "answer key":
        body["answers"]["nps\x00"] = 9
    elif where == "comment":
        body["answers"]["comment"] = "ngon\x00"
    elif where == "choice":
        body["answers"]["reason"] = ["price\x00"]
    elif where == "contact":
        body["answers"]["contact"] = {"consent": True, "name": "Lan\x00", "phone": "0901"}
    return body


NUL_REFUSED_ON = {
    "id": "id",
    "submitted_at": "submitted_at",
    "language": "language",
    "staff": "staff",
    "answer key": "answers",
    "comment": "answers",
    "choice": "answers",
    "contact": "answers",
}


@pytest.mark.postgres
@pytest.mark.parametrize("where", list(NUL_REFUSED_ON))
def test_nul_anywhere_in_a_response_is_a_400_on_that_field(
    kiosk_client, staff, contact_survey, where
):
    r = post(kiosk_client, with_nul(where))

    assert r.status_code == 400
    assert list(r.json()) == [NUL_REFUSED_ON[where]]
    assert SurveyResponse.objects.count() == 0
    assert ContactDetails.objects.count() == 0


@pytest.mark.postgres
def test_nul_in_a_field_the_kiosk_api_ignores_is_never_stored(kiosk_client):
    body = {**a_response(nps=9), "tablet_note": "\x00"}

    assert post(kiosk_client, body).status_code == 201
    assert post(kiosk_client, body).status_code == 200


@pytest.mark.postgres
def test_nul_in_a_batch_item_makes_that_item_invalid_and_stores_the_others(kiosk_client, staff):
    good = a_response(nps=9)

    r = post(kiosk_client, {"responses": [with_nul("comment"), good, with_nul("staff")]}, BATCH_URL)

    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["invalid", "created", "invalid"]
    assert SurveyResponse.objects.get().id == uuid.UUID(good["id"])


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (PAIR_URL, {"code": "12345678", "name": "Quầy\x00"}, "name"),
        (PAIR_URL, {"code": "12345678", "app_version": "1.0\x00"}, "app_version"),
        (HEARTBEAT_URL, {"app_version": "1.4.2\x00"}, "app_version"),
    ],
)
def test_nul_in_what_a_kiosk_names_itself_is_a_400_on_that_field(
    kiosk_client, store, url, body, field
):
    if url == PAIR_URL:
        body = {**body, "code": location_services.create_pairing_code(location=store)}

    r = post(kiosk_client, body, url)

    assert r.status_code == 400
    assert list(r.json()) == [field]


@pytest.mark.postgres
@pytest.mark.parametrize("param", ["location", "region", "touchpoint", "staff", "question"])
def test_nul_in_a_metrics_filter_is_a_400_that_names_it(store, anonymous_client, param):
    user = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    anonymous_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {location_services.create_api_token(user=user)}"
    )

    r = anonymous_client.get(SCORES_URL, {param: "HCM-01\x00"})

    assert r.status_code == 400
    assert list(r.json()) == [param]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path",
    [
        "{page}?question=nps%00",
        "{page}?range=custom&from=2026-11-01%00&to=2026-11-02",
        "{page}export/scores%00.csv",
        "{page}staff/NV-014%00/",
        "/dashboard/{org}/stores/HCM-01%00/",
        "/cases/?location=HCM-01%00",
    ],
)
def test_nul_in_a_page_address_is_refused_never_a_500(store, staff, manager, path):
    page = store_page(store)

    r = signed_in(manager).get(path.format(page=page, org=store.organization.slug))

    assert r.status_code in (400, 404)


@pytest.mark.postgres
def test_nul_in_a_case_note_is_a_400_on_the_note(kiosk_client, store, manager):
    case = unhappy_case(kiosk_client, "Chờ lâu quá")

    r = signed_in(manager).post(
        f"/cases/{case.pk}/", {"status": "in_progress", "note": "Gọi lại\x00"}
    )

    assert r.status_code == 400
    assert 'data-field="note"' in r.content.decode()
    assert not case.notes.exists()


@pytest.mark.postgres
def test_nul_in_a_sign_in_name_is_refused_not_a_500(db):
    UserFactory(username="lan@example.com")

    r = Client().post(
        "/accounts/login/", {"username": "lan@example.com\x00", "password": "whatever"}
    )

    assert r.status_code in (200, 400)


# --- invalid Unicode: a JSON \u escape can carry half of a surrogate pair -------------------


def with_lone_surrogate(where: str) -> str:
    """The body as raw JSON: json.dumps would escape a lone surrogate the same way."""
    body = a_response(nps=3)
    if where == "comment":
        body["answers"]["comment"] = "ngon \ud83d"
    elif where == "answer key":
        body["answers"]["\udc8d"] = 9
    elif where == "staff":
        body["staff"] = "NV-\ud800"
    elif where == "contact":
        body["answers"]["contact"] = {"consent": True, "name": "Lan \udfff", "phone": "0901"}
    elif where == "ignored field":
        body["tablet_note"] = "\ud800"
    return json.dumps(body)


INVALID_TEXT = ["Text must be valid Unicode: this holds half of a surrogate pair."]
SURROGATE_REFUSED_WITH = {
    "comment": {"answers": {"comment": INVALID_TEXT}},
    "answer key": {"answers": INVALID_TEXT},
    "staff": {"staff": INVALID_TEXT},
    "contact": {"answers": {"contact": INVALID_TEXT}},
    "ignored field": {"non_field_errors": INVALID_TEXT},
}


@pytest.mark.parametrize("where", list(SURROGATE_REFUSED_WITH))
def test_a_lone_surrogate_anywhere_in_a_response_is_a_400_on_that_field(
    kiosk_client, contact_survey, where
):
    r = post_raw(kiosk_client, with_lone_surrogate(where))

    assert r.status_code == 400
    assert r.json() == SURROGATE_REFUSED_WITH[where]
    assert SurveyResponse.objects.count() == 0


def test_a_lone_surrogate_in_a_resent_response_is_a_conflict_not_a_500(kiosk_client):
    body = a_response(nps=9, comment="ngon")
    post(kiosk_client, body)

    r = post_raw(kiosk_client, json.dumps(body).replace("ngon", "ngon \\ud83d"))

    assert r.status_code == 409


def test_a_lone_surrogate_in_a_batch_item_makes_only_that_item_invalid(kiosk_client):
    good = a_response(nps=9)
    raw = f'{{"responses": [{with_lone_surrogate("comment")}, {json.dumps(good)}]}}'

    r = post_raw(kiosk_client, raw, BATCH_URL)

    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["invalid", "created"]


def test_a_body_that_is_not_utf8_is_a_400(kiosk_client):
    raw = json.dumps(a_response(nps=9, comment="ngon")).encode().replace(b"ngon", b"ng\xffn")

    assert post_raw(kiosk_client, raw).status_code == 400


# --- every script, kept exactly -------------------------------------------------------------

TEXTS = {
    "emoji": "Ngon quá 😍👍🏽 👨‍👩‍👧 🇻🇳 🇹🇭",
    "thai": "อร่อยมาก บริการดีเยี่ยม ขอบคุณค่ะ",
    "vietnamese, combining marks": "Nguye\u0302\u0303n Va\u0306n A\u0300: ca\u0300 phe\u0302 ngon",
    "vietnamese, precomposed": "Nguyễn Văn À: cà phê ngon",
    "right-to-left marks": "\u200fשלום\u200f · مرحبا · \u202eabc\u202c · \u2067تست\u2069",
    "invisible characters": "zero\u200bwidth\u200djoiner\u2060and\ufeffbom",
}


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_text_in_every_script_is_stored_and_read_back_exactly_as_typed(kiosk_client, text):
    body = a_response(nps=9, comment=text)

    created = post(kiosk_client, body)
    retried = post(kiosk_client, body)

    assert created.status_code == 201
    assert retried.status_code == 200
    assert created.json()["answers"]["comment"] == text
    assert retried.json()["answers"]["comment"] == text
    assert stored_comment(body) == text


def test_combining_marks_are_not_normalised_to_precomposed_letters(kiosk_client):
    typed = TEXTS["vietnamese, combining marks"]
    body = a_response(nps=9, comment=typed)

    post(kiosk_client, body)

    assert stored_comment(body) == typed != unicodedata.normalize("NFC", typed)


def test_text_in_every_script_shows_as_typed_on_the_store_page_and_in_exports(
    kiosk_client, store, manager
):
    for text in TEXTS.values():
        assert post(kiosk_client, a_response(nps=9, comment=text)).status_code == 201
    metrics_services.rebuild_rollups()
    client = signed_in(manager)

    html = client.get(store_page(store)).content.decode()
    in_csv = csv_cells(export(client, store, "responses.csv"))
    in_xlsx = [cell.value for cell in xlsx_cells(export(client, store, "responses.xlsx"))]

    for text in TEXTS.values():
        assert text in html
        assert text in in_csv
        assert text in in_xlsx


@pytest.mark.postgres
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    # One kiosk and store for every example on purpose: each sends a response of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(st.characters(exclude_categories=[]), max_size=1100))
def test_any_text_is_stored_exactly_or_refused_with_a_message_on_the_comment(kiosk_client, text):
    body = a_response(nps=9, comment=text)

    r = post_raw(kiosk_client, json.dumps(body))

    if r.status_code == 201:
        assert r.json()["answers"].get("comment", "") == text
        assert not text or stored_comment(body) == text
    else:
        assert r.status_code == 400
        assert list(r.json()) == ["answers"]
        assert list(r.json()["answers"]) == ["comment"]
