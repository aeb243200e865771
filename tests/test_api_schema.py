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


def test_every_kiosk_operation_carries_an_example(schema):
    for path, method in KIOSK_OPERATIONS:
        operation = schema["paths"][path][method]
        bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
        examples = [
            media.get("examples") for body in bodies for media in body.get("content", {}).values()
        ]
        assert any(examples), f"{method.upper()} {path} has no example"


def test_the_metrics_endpoint_is_documented_with_its_parameters(schema):
    operation = schema["paths"]["/api/v1/metrics/scores/"]["get"]

    assert {p["name"] for p in operation["parameters"]} >= {
        "from",
        "to",
        "group_by",
        "location",
        "region",
        "touchpoint",
        "staff",
        "question",
    }
    assert {"personalToken": []} in operation["security"]


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


def test_the_schema_is_valid_openapi_without_warnings(capsys):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
