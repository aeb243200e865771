"""Every operation of our own OpenAPI schema, fuzzed by schemathesis in-process: a few thousand
generated requests, valid and invalid, with real kiosk and personal tokens, under every
built-in check (no server error; declared status, content type, shape and headers; invalid
data refused and valid data accepted; auth enforced; undeclared methods refused).

The schema fuzzed is the one /api/schema/ serves (a test below holds them equal); it is built
at import because schemathesis parametrizes the test per operation at collection, when the
database is still out of reach. Everything is seeded (`derandomize`, a fixed seed), so CI
reruns exactly the same requests."""

import json
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from locations import services as location_services
from locations.models import Role
from metrics import services as metrics_services
from tests.factories import MembershipFactory, StaffMemberFactory, a_response

# Fuzzing-phase cases per operation, valid and invalid together; the examples and coverage
# phases add their own on top (about 2,200 cases in all), and some checks send probes of
# their own (about 3,800 requests). Around a minute on two cores.
MAX_EXAMPLES = 300

# Which fields a schema-valid request may still be refused on with a 400, per operation: the
# rules there depend on data the schema cannot know or on two fields at once. The answers,
# language, staff code and version are checked against the kiosk's own survey and location;
# `from` carries "not after `to`" and "at most three years". Any other field named in such a
# 400 is a rule the schema should have declared.
SEMANTIC_FIELDS = {
    "kiosk_response_create": {"answers", "language", "staff", "survey_version"},
    "metrics_scores": {"from"},
}

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261122,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "operations": [
            {
                "include-operation-id": operation_id,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "409", "429"]
                    }
                },
            }
            for operation_id in SEMANTIC_FIELDS
        ],
    }
)

schema = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True), config=CONFIG
)
schema.app = WSGIHandler()


def operation_id(case) -> str:
    return case.operation.definition.raw["operationId"]


def refused_only_for_what_the_schema_cannot_say(ctx, response, case):
    """positive_data_acceptance lets the operations above refuse valid data with a 400; this
    narrows that to the fields whose rules the schema cannot express."""
    if not (case.meta and case.meta.generation.mode.is_positive and response.status_code == 400):
        return
    body = json.loads(response.content)
    blamed = set(body) if isinstance(body, dict) else {"(the whole body)"}
    allowed = SEMANTIC_FIELDS.get(operation_id(case), set())
    if not blamed <= allowed:
        raise AssertionError(
            f"A request the schema calls valid was refused on {sorted(blamed - allowed)}: "
            "declare that rule in the schema, or accept the request."
        )


@pytest.fixture(autouse=True)
def limits_raised(settings):
    """Thousands of requests a minute from one kiosk and one address are the point here."""
    settings.CXHUB_KIOSK_RATE = "1000000/min"
    settings.CXHUB_KIOSK_ADDRESS_RATE = "1000000/min"
    settings.CXHUB_PAIRING_RATE = "1000000/min"


@contextmanager
def inside_the_test_transaction():
    """Django's WSGI handler closes the database connection as each request starts and ends,
    which would end the test's transaction; the test client keeps it open the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def chain(store, kiosk_and_token, kiosk_client):
    """A store with a staff member and answers already rolled up (so that scores have groups
    to show, some below the privacy threshold), the kiosk's token and the personal token of
    the head office."""
    StaffMemberFactory(location=store, code="NV-014", display_name="Trần Thị Mai")
    for i in range(12):
        body = a_response(nps=i % 11, csat=1 + i % 5, ces=1 + i % 7)
        body["staff"] = "NV-014" if i % 2 else None
        assert kiosk_client.post("/api/v1/kiosk/responses/", body, format="json").status_code == 201
    metrics_services.rebuild_rollups()
    head_office = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    return {
        "store": store,
        "kioskToken": kiosk_and_token[1],
        "personalToken": location_services.create_api_token(user=head_office),
    }


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The fixtures hold one chain for every example on purpose; slow or large examples are
    # what a fuzzer should send.
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_500_or_an_answer_the_schema_does_not_declare(case, chain):
    headers = {}
    for requirement in case.operation.definition.raw.get("security", []):
        for scheme in requirement:
            if scheme in chain:
                headers["Authorization"] = f"Bearer {chain[scheme]}"
    if (
        operation_id(case) == "kiosk_pair"
        and case.meta.generation.mode.is_positive
        and isinstance(case.body, dict)
    ):
        # A valid-looking code that was never issued is rightly a 400; a real one lets the
        # valid names and versions reach the database.
        case.body = {
            **case.body,
            "code": location_services.create_pairing_code(location=chain["store"]),
        }
    with inside_the_test_transaction():
        case.call_and_validate(
            headers=headers, additional_checks=[refused_only_for_what_the_schema_cannot_say]
        )


def test_the_schema_fuzzed_is_the_schema_served(anonymous_client):
    served = anonymous_client.get("/api/schema/?format=json")

    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(schema.raw_schema))
