"""A retried or raced submission is stored once, and nobody gets a 500 for it."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from surveys.ingest import body_digest
from surveys.models import Answer, SurveyResponse
from tests.factories import a_response

URL = "/api/v1/kiosk/responses/"
BATCH_URL = "/api/v1/kiosk/responses/batch/"


def client_for(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def post_in_thread(token, url, body, barrier=None):
    try:
        if barrier:
            barrier.wait()
        return client_for(token).post(url, body, format="json")
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_of_the_same_id_store_one_row(kiosk_and_token):
    _, token = kiosk_and_token
    body = a_response(nps=9, csat=5)
    barrier = threading.Barrier(8)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: post_in_thread(token, URL, body, barrier), range(8)))

    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 7 + [201]
    assert SurveyResponse.objects.count() == 1
    assert Answer.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_batch_delivered_three_times_at_once_is_stored_once(kiosk_and_token):
    _, token = kiosk_and_token
    batch = {"responses": [a_response(nps=i % 11) for i in range(100)]}
    barrier = threading.Barrier(3)

    with ThreadPoolExecutor(3) as pool:
        results = list(
            pool.map(lambda _: post_in_thread(token, BATCH_URL, batch, barrier), range(3))
        )

    assert [r.status_code for r in results] == [200, 200, 200]
    per_item = zip(*(r.json()["results"] for r in results), strict=True)
    assert all(
        sorted(x["status"] for x in item) == ["created", "duplicate", "duplicate"]
        for item in per_item
    )
    assert SurveyResponse.objects.count() == 100


def _hold_uncommitted_insert(body, kiosk, digest):
    """Insert the response row from another connection and leave it uncommitted, so the
    API's own insert has to wait on the primary key — the race, made deterministic."""
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
    )
    with other.cursor() as cur:
        cur.execute(
            """INSERT INTO surveys_surveyresponse
               (id, organization_id, location_id, touchpoint_id, kiosk_id, survey_version_id,
                submitted_at, received_at, local_day, local_hour, language, clock_untrusted,
                is_complete, body_digest)
               VALUES (%s, %s, %s, %s, %s, %s, now(), now(), current_date, 0, 'vi', false, true, %s)""",
            [
                body["id"],
                kiosk.organization_id,
                kiosk.location_id,
                kiosk.touchpoint_id,
                kiosk.pk,
                kiosk.organization.default_survey.current_version_id,
                digest,
            ],
        )
    return other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("same_body", "expected"), [(True, 200), (False, 409)])
def test_a_submission_that_loses_the_race_is_answered_like_a_retry(
    kiosk_and_token, same_body, expected
):
    kiosk, token = kiosk_and_token
    body = a_response(nps=9)
    digest = body_digest(body) if same_body else "another body"
    other = _hold_uncommitted_insert(body, kiosk, digest)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post_in_thread, token, URL, body)
        time.sleep(0.5)
        assert not pending.done(), "the API should be waiting on the uncommitted row"
        other.commit()
        other.close()
        r = pending.result(timeout=10)

    assert r.status_code == expected
    assert SurveyResponse.objects.count() == 1


def test_a_duplicate_never_adds_answers(kiosk_client):
    body = a_response(nps=9, csat=4, ces=5)
    for _ in range(3):
        kiosk_client.post(URL, body, format="json")
        kiosk_client.post(BATCH_URL, {"responses": [body]}, format="json")

    assert Answer.objects.count() == 3
