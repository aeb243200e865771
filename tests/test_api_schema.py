"""The OpenAPI schema documents every kiosk endpoint, with examples, and its docs page works
without anything from a CDN."""

import pytest

KIOSK_OPERATIONS = {
    ("/api/v1/kiosk/responses/", "post"),
    ("/api/v1/kiosk/responses/batch/", "post"),
    ("/api/v1/kiosk/config/", "get"),
    ("/api/v1/kiosk/heartbeat/", "post"),
    ("/api/v1/kiosk/pair/", "post"),
}


@pytest.fixture
def schema(anonymous_client):
    r = anonymous_client.get("/api/schema/?format=json")
    assert r.status_code == 200
    return r.json()


def test_every_kiosk_endpoint_is_in_the_schema(schema):
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}

    assert operations >= KIOSK_OPERATIONS


def test_submitting_a_response_is_documented_with_examples_and_every_status(schema):
    operation = schema["paths"]["/api/v1/kiosk/responses/"]["post"]

    assert operation["requestBody"]["content"]["application/json"]["examples"]
    assert set(operation["responses"]) >= {"200", "201", "400", "401", "409", "413", "429", "503"}
    assert operation["security"] == [{"kioskToken": []}]


def test_the_docs_page_loads_its_assets_from_our_own_server(anonymous_client):
    html = anonymous_client.get("/api/docs/").content.decode()

    assert "swagger" in html.lower()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
