"""Tenant isolation, tried the way an attacker of another organization would."""

# Tenant isolation, tried the way an attacker would: every URL the project serves and every
# operation of its API, requested by each kind of user of another organization — its head
# office (who may use the admin), a regional manager, a store manager, a personal API token and
# a kiosk token — with the victim organization's real identifiers.
#
# Nothing that belongs to the victim may come back, nothing of the victim's may change, and an
# id that exists in the victim's organization must be answered exactly as an id that exists
# nowhere: otherwise ids could be walked to learn what another tenant has.
#
# The URLs are not listed by hand. They are read from the URL resolver and their arguments are
# filled by name; a new URL whose arguments tenancy_probes.py cannot fill fails the suite until
# someone says there how to fill it, so no URL goes untried.
#
# Every string of the victim's data carries the marker VICTIM, so any of it showing up in an
# answer is found without knowing in advance where it might leak from.

import json
import uuid

import pytest
from django.db import connection, models
from django.test import Client
from django.utils import timezone

from locations.models import Kiosk, Region
from surveys import cases
from surveys.models import Case, SurveyResponse
from tests.security.tenancy_probes import (
    ARGUMENT,
    FROM_THE_INTERNET,
    GHOST_PK,
    IDENTIFIERS,
    ROUTES,
    Probe,
    Writes,
    arguments,
    is_api,
    methods,
    outcome,
    probes,
    readable,
    revealed,
    send,
    unknown_arguments,
)
from tests.security.tenancy_world import MARKER, Unfillable, client_as, snapshot

ATTACKERS = ("head_office", "regional_manager", "store_manager", "personal_token", "kiosk_token")

# Whatever the attacker is answered, it is one of these, and it carries nothing of the
# victim's: a page of their own (200), a refusal (401, 403, 404, 405), a redirect (to sign
# in, to the admin's "does not exist", to the same URL with a slash), or a refused form (400).
ANSWERS = {200, 301, 302, 400, 401, 403, 404, 405}


def test_every_url_pattern_is_one_this_module_knows_how_to_fill():
    unfillable = {str(route): unknown_arguments(route) for route in ROUTES}
    assert {route: names for route, names in unfillable.items() if names} == {}


@pytest.mark.parametrize("identity", ATTACKERS)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_another_organization_gets_nothing_of_the_victim_s_from(route, identity, world, db):
    client = client_as(world, world.attacker, identity)
    if route not in world.tried:
        try:
            world.tried[route] = probes(route, world)
        except Unfillable as error:
            world.tried[route] = error
    if isinstance(world.tried[route], Unfillable):
        pytest.fail(f"{route} cannot be tried: {world.tried[route]}")
    problems, sent = [], ""
    for probe in world.tried[route]:
        # Everything the attacker sent so far may come back (the admin's "ID … does not
        # exist" is shown on the next page): that reveals nothing.
        sent += probe.sent + (probe.ghost or "")
        writes = Writes()
        with connection.execute_wrapper(writes):
            response = send(client, probe, as_json=is_api(route))
            text = readable(response)  # a streamed export runs its queries now
        if response.status_code not in ANSWERS:
            problems.append(f"{probe} answered {response.status_code}")
        leaked = revealed(world, text, sent)
        if leaked:
            problems.append(f"{probe} ({response.status_code}) shows the victim's {leaked[:5]}")
        if writes.count and snapshot(world.victim) != world.baseline:
            problems.append(f"{probe} ({response.status_code}) changed the victim's data")
            break
        if probe.ghost:
            ghost = send(client, Probe("GET", probe.ghost))
            if outcome(response) != outcome(ghost, probe.ghost_values):
                problems.append(
                    f"{probe} answers {outcome(response)} for the victim's ids but "
                    f"{outcome(ghost)} for ids that exist nowhere ({probe.ghost}): "
                    "that tells which ids exist"
                )
    assert not problems, f"as the attacker's {identity}:\n" + "\n".join(problems)


NAMING = [route for route in ROUTES if IDENTIFIERS & set(arguments(route))]


@pytest.mark.parametrize("route", NAMING, ids=str)
def test_the_victim_s_own_head_office_finds_every_id_the_attacker_was_refused(route, world, db):
    """Not vacuous: the ids tried above are real ones, found by their owner."""
    if route.name == "admin:view_on_site":
        pytest.skip("no model has a page on the site (get_absolute_url): a 404 for everyone")
    client = client_as(world, world.victim, "head_office")
    for probe in probes(route, world, only_victim=True):
        response = send(client, probe)
        assert response.status_code != 404, probe
        assert response.get("Location") != "/admin/", f"{probe}: the admin says it does not exist"


def test_the_victim_s_own_head_office_sees_the_secrets_the_attacker_never_does(world, db):
    victim = world.victim
    client = client_as(world, victim, "head_office")
    org, store = victim.org.slug, victim.store.code

    store_page = readable(client.get(f"/dashboard/{org}/stores/{store}/", **FROM_THE_INTERNET))
    case = Case.objects.filter(organization=victim.org, location=victim.store).first()
    case_page = readable(client.get(f"/cases/{case.pk}/", **FROM_THE_INTERNET))
    export = readable(
        client.get(f"/dashboard/{org}/stores/{store}/export/responses.xlsx", **FROM_THE_INTERNET)
    )
    kiosks = readable(client.get("/admin/locations/kiosk/", **FROM_THE_INTERNET))
    scores = client_as(world, victim, "personal_token").get(
        "/api/v1/metrics/scores/", {"group_by": "staff"}, **FROM_THE_INTERNET
    )

    assert f"{MARKER} comment: waited forty minutes" in store_page
    assert f"{MARKER} barista Lan" in store_page
    assert "victim.customer@mail.example" in case_page
    assert f"{MARKER} note: called the customer back" in case_page
    assert victim.bodies[1]["id"] in export
    assert f"{MARKER} kiosk at the till" in kiosks
    assert {"staff": victim.staff.code} in [r["group"] for r in scores.json()["results"]]
    # Every one of those would have been caught had it reached the attacker.
    for text in (store_page, case_page, export, kiosks, readable(scores)):
        assert revealed(world, text, sent="")


@pytest.mark.parametrize("identity", ["head_office", "regional_manager", "store_manager"])
def test_walking_the_ids_next_to_the_victim_s_finds_only_the_attacker_s_own(world, identity, db):
    """Cases, regions and admin rows have sequential integer ids, so they can be guessed:
    what protects them is that a guessed id of another tenant's answers exactly as one that
    does not exist — a 404 (the admin: its "does not exist" redirect), never a 403."""
    attacker = world.attacker
    client = client_as(world, attacker, identity)
    user = attacker.people[identity]

    own_cases = set(cases.visible_cases(user).values_list("pk", flat=True))
    all_cases = Case.objects.values_list("pk", flat=True)
    for pk in range(min(all_cases) - 2, max(all_cases) + 3):
        answer = client.get(f"/cases/{pk}/", **FROM_THE_INTERNET).status_code
        assert answer == (200 if pk in own_cases else 404), f"/cases/{pk}/"

    regions = Region.objects.values_list("pk", flat=True)
    for pk in range(min(regions) - 2, max(regions) + 3):
        url = f"/dashboard/{attacker.org.slug}/regions/{pk}/"
        own = Region.objects.filter(pk=pk, organization=attacker.org)
        sees = identity == "head_office" or (
            identity == "regional_manager" and pk == attacker.region.pk
        )
        expected = 200 if own.exists() and sees else 404
        assert client.get(url, **FROM_THE_INTERNET).status_code == expected, url

    kiosks = Kiosk.objects.values_list("pk", flat=True)
    for pk in range(min(kiosks) - 2, max(kiosks) + 3):
        url = f"/admin/locations/kiosk/{pk}/change/"
        answer = outcome(client.get(url, **FROM_THE_INTERNET))
        if identity != "head_office":
            assert answer == (302, f"/admin/login/?next={url}"), url
        elif Kiosk.objects.filter(pk=pk, organization=attacker.org).exists():
            assert answer == (200, ""), url
        else:
            assert answer == (302, "/admin/"), url


def test_responses_are_keyed_by_the_ids_their_devices_made_not_by_a_counter():
    assert isinstance(SurveyResponse._meta.pk, models.UUIDField)


def test_a_kiosk_of_another_organization_can_neither_claim_nor_probe_the_victim_s_data(world, db):
    victim = world.victim
    kiosk = client_as(world, world.attacker, "kiosk_token")

    def post(path, body):
        return kiosk.post(path, json.dumps(body), "application/json", **FROM_THE_INTERNET)

    # The victim's very body, resent by another kiosk: a conflict, never the stored response.
    resent = post("/api/v1/kiosk/responses/", victim.bodies[1])
    batch = post("/api/v1/kiosk/responses/batch/", {"responses": [victim.bodies[1]]})
    assert resent.status_code == 409
    assert set(resent.json()) == {"detail", "id"}
    assert batch.json()["results"] == [
        {"id": victim.bodies[1]["id"], "status": "conflict", "errors": {"id": resent.json()["id"]}}
    ]
    assert not revealed(world, readable(resent) + readable(batch), sent=json.dumps(victim.bodies))

    # The victim's survey version and staff code are refused in the very words used for
    # ones that exist nowhere.
    def refusal(name, value):
        body = {
            "id": str(uuid.uuid4()),
            "submitted_at": timezone.now().isoformat(),
            "answers": {"nps": 9},
            name: value,
        }
        answer = post("/api/v1/kiosk/responses/", body)
        assert answer.status_code == 400
        return json.dumps(answer.json()).replace(json.dumps(value).strip('"'), "…")

    assert refusal("survey_version", victim.version.pk) == refusal("survey_version", GHOST_PK)
    assert refusal("staff", victim.staff.code) == refusal("staff", "NO-SUCH-STAFF")
    assert snapshot(victim) == world.baseline


def test_every_api_operation_of_the_schema_is_among_the_requests_tried(world, db):
    schema = Client().get("/api/schema/?format=json", **FROM_THE_INTERNET).json()
    operations = {
        (path, method.upper())
        for path, item in schema["paths"].items()
        for method in item
        if method != "parameters"
    }
    tried = {
        (
            "/" + ARGUMENT.sub(lambda m: "{" + (m.group(1) or m.group(2)) + "}", route.pattern),
            method,
        )
        for route in ROUTES
        for method in methods(route)
    }

    assert operations, "the schema lists no operation"
    assert operations <= tried
