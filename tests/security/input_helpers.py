"""How the input tests send what a kiosk sends and read back pages and exports."""

import io

import openpyxl
import pandas as pd
from django.test import Client

from surveys import recovery
from surveys.models import Answer, Case, SurveyResponse
from tests.factories import a_response

URL = "/api/v1/kiosk/responses/"
BATCH_URL = "/api/v1/kiosk/responses/batch/"
HEARTBEAT_URL = "/api/v1/kiosk/heartbeat/"
PAIR_URL = "/api/v1/kiosk/pair/"
SCORES_URL = "/api/v1/metrics/scores/"


def post(client, body, url=URL):
    return client.post(url, body, format="json")


def post_raw(client, raw: str | bytes, url=URL):
    return client.post(url, raw, content_type="application/json")


def stored_comment(body) -> str:
    return Answer.objects.get(response_id=body["id"], question="comment").text


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def store_page(store) -> str:
    return f"/dashboard/{store.organization.slug}/stores/{store.code}/"


def export(client, store, name: str) -> bytes:
    response = client.get(f"{store_page(store)}export/{name}")
    assert response.status_code == 200, name
    return b"".join(response.streaming_content)


def csv_cells(body: bytes) -> list:
    frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return [*frame.columns, *frame.to_numpy().ravel().tolist()]


def xlsx_cells(body: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(body))
    return [cell for sheet in book for row in sheet.iter_rows() for cell in row]


def unhappy_case(kiosk_client, comment) -> Case:
    body = a_response(nps=2, comment=comment)
    assert post(kiosk_client, body).status_code == 201
    return recovery.open_case(SurveyResponse.objects.get(id=body["id"]))
