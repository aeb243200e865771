"""GET /api/v1/metrics/scores/: exact figures, every grouping, and only what a role may see."""

import datetime as dt
import uuid

import pytest
import time_machine
from rest_framework.test import APIClient

from locations import services as location_services
from locations.models import Role
from metrics import selectors, services
from metrics.scores import summarize
from tests.factories import (
    LocationFactory,
    MembershipFactory,
    OrganizationFactory,
    RegionFactory,
    StaffMemberFactory,
    UserFactory,
    make_kiosk,
)

URL = "/api/v1/metrics/scores/"
NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)
RANGE = {"from": "2026-11-01", "to": "2026-11-30"}


def send(location, *answer_sets, staff=None, when="2026-11-21T10:00:00+07:00"):
    _, token = make_kiosk(location, registered_days_ago=60)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for answers in answer_sets:
        body = {"id": str(uuid.uuid4()), "submitted_at": when, "staff": staff, "answers": answers}
        assert client.post("/api/v1/kiosk/responses/", body, format="json").status_code == 201


@pytest.fixture
def chain(db):
    """Organization A: region North (HN-01, HN-02) and South (HCM-01); organization B: BKK-01."""
    with time_machine.travel(NOW, tick=False):
        a = OrganizationFactory(slug="a")
        north, south = (
            RegionFactory(organization=a, name="North"),
            RegionFactory(organization=a, name="South"),
        )
        stores = {
            "HN-01": LocationFactory(organization=a, region=north, code="HN-01"),
            "HN-02": LocationFactory(organization=a, region=north, code="HN-02"),
            "HCM-01": LocationFactory(organization=a, region=south, code="HCM-01"),
            "BKK-01": LocationFactory(code="BKK-01", timezone="Asia/Bangkok"),
        }
        for location in stores.values():
            send(
                location,
                {"nps": 10, "csat": 5, "ces": 7},
                {"nps": 0, "csat": 1, "ces": 1},
                {"nps": 8},
            )
        services.rebuild_rollups()
    users = {
        "head_office": MembershipFactory(organization=a, role=Role.HEAD_OFFICE).user,
        "regional_manager": MembershipFactory(
            organization=a, role=Role.REGIONAL_MANAGER, region=north
        ).user,
        "store_manager": MembershipFactory(
            organization=a, role=Role.STORE_MANAGER, location=stores["HN-01"]
        ).user,
        "other_organization": MembershipFactory(
            organization=stores["BKK-01"].organization, role=Role.HEAD_OFFICE
        ).user,
        "no_membership": UserFactory(),
    }
    return stores, users


def get_as(user, **params):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client.get(URL, {**RANGE, **params})


def groups(response):
    return [next(iter(r["group"].values())) for r in response.json()["results"]]


VISIBLE = {
    "head_office": ["HCM-01", "HN-01", "HN-02"],
    "regional_manager": ["HN-01", "HN-02"],
    "store_manager": ["HN-01"],
    "other_organization": ["BKK-01"],
    "no_membership": [],
}


@pytest.mark.parametrize("role", list(VISIBLE))
def test_each_role_sees_exactly_its_own_stores(chain, role):
    _, users = chain

    assert groups(get_as(users[role], group_by="location")) == VISIBLE[role]


@pytest.mark.parametrize(
    "params",
    [
        {"location": "BKK-01"},
        {"location": ["HN-01", "BKK-01", "HCM-01"]},
        {"region": "North"},
        {"region": "South"},
        {"group_by": "organization"},
        {"group_by": "region"},
        {"group_by": "day", "location": "HCM-01"},
        {"group_by": "staff"},
        {"touchpoint": "main", "group_by": "touchpoint"},
    ],
    ids=repr,
)
def test_no_parameter_reaches_beyond_what_a_role_may_see(chain, params):
    stores, users = chain
    for role, visible in VISIBLE.items():
        expected_n = 3 * len([code for code in visible if _matches(stores[code], params)])

        results = get_as(users[role], **params).json()["results"]

        seen_n = sum(r["questions"]["nps"]["n"] for r in results if "nps" in r["questions"])
        assert seen_n == expected_n, role


def _matches(location, params):
    codes = params.get("location")
    codes = [codes] if isinstance(codes, str) else codes
    if codes and location.code not in codes:
        return False
    region = params.get("region")
    return not region or (location.region and location.region.name == region)


def test_an_anonymous_visitor_is_refused(chain):
    assert get_as(None).status_code in (401, 403)


def test_a_personal_api_token_reads_as_its_user(chain):
    _, users = chain
    token = location_services.create_api_token(user=users["regional_manager"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert groups(client.get(URL, {**RANGE, "group_by": "location"})) == ["HN-01", "HN-02"]


def test_a_kiosk_token_cannot_read_scores(chain):
    stores, _ = chain
    _, token = make_kiosk(stores["HN-01"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert client.get(URL, RANGE).status_code == 401


def test_the_figures_follow_metrics_md_and_equal_the_selectors(chain):
    _, users = chain

    result = get_as(users["store_manager"], group_by="location").json()["results"][0]

    nps = result["questions"]["nps"]
    expected = summarize("nps", [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1])
    assert nps["n"] == 3
    assert nps["score"] == pytest.approx(0.0)
    assert nps["ci95"] == pytest.approx(expected["ci95"])
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (1, 1, 1)
    assert nps["histogram"] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]
    assert nps["low_sample"] is True
    assert result["questions"]["csat"]["histogram"] == [1, 0, 0, 0, 1]
    assert result["questions"]["csat"]["mean"] == 3
    assert result["questions"]["ces"]["ci95"] is not None
    assert result["questions"]["ces"]["easy_share"] == 50
    query = selectors.ScoreQuery(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "location")
    assert [result] == selectors.public_results(
        selectors.scores_by_group(users["store_manager"], query)
    )


@pytest.mark.parametrize(
    ("group_by", "value"),
    [
        ("organization", "a"),
        ("region", "North"),
        ("day", "2026-11-21"),
        ("week", "2026-W47"),
        ("month", "2026-11"),
        ("hour", 10),
        ("weekday", 6),
        ("touchpoint", "main"),
    ],
)
def test_each_grouping_names_its_group_as_the_contract_says(chain, group_by, value):
    _, users = chain

    results = get_as(users["store_manager"], group_by=group_by).json()["results"]

    assert [r["group"] for r in results] == [{group_by: value}]


def test_a_question_filter_keeps_only_that_question(chain):
    _, users = chain

    results = get_as(users["store_manager"], question="csat").json()["results"]

    assert list(results[0]["questions"]) == ["csat"]


def test_days_outside_the_range_are_left_out(chain):
    _, users = chain

    assert get_as(users["head_office"], **{"from": "2026-11-22", "to": "2026-11-30"}).json() == {
        "results": []
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"group_by": "planet"}, "group_by"),
        ({"question": "not a key!"}, "question"),
    ],
)
def test_bad_parameters_get_a_message_each(chain, params, field):
    _, users = chain

    r = get_as(users["head_office"], **params)

    assert r.status_code == 400
    assert field in r.json()


def test_a_staff_member_below_the_privacy_threshold_shows_only_n(db):
    with time_machine.travel(NOW, tick=False):
        store = LocationFactory(code="HN-09")
        few, many = (
            StaffMemberFactory(location=store, code="NV-1"),
            StaffMemberFactory(location=store, code="NV-2"),
        )
        send(store, *[{"nps": 9}] * 4, staff=few.code)
        send(store, *[{"nps": 9}] * 5, staff=many.code)
        send(store, {"nps": 2}, staff=None)
        services.rebuild_rollups()
    head = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user

    by_staff = {
        r["group"]["staff"]: r["questions"]["nps"]
        for r in get_as(head, group_by="staff").json()["results"]
    }
    one = get_as(head, staff="NV-1", group_by="location").json()["results"][0]["questions"]["nps"]

    assert by_staff["NV-1"] == {
        "n": 4,
        "low_sample": True,
        "score": None,
        "ci95": None,
        "histogram": None,
        "promoters": None,
        "passives": None,
        "detractors": None,
    }
    assert one["score"] is None and one["n"] == 4
    assert by_staff["NV-2"]["score"] == 100
    assert by_staff[None]["score"] == -100  # answers naming nobody are not one person


def test_the_ranking_does_not_let_a_tiny_store_top_the_table(db):
    with time_machine.travel(NOW, tick=False):
        organization = OrganizationFactory()
        # Five stores on 100 answers each, NPS 0, 10, 20, 30, 40; one store with six promoters.
        for i in range(5):
            store = LocationFactory(organization=organization, code=f"S{i}")
            send(store, *([{"nps": 10}] * (50 + 5 * i) + [{"nps": 0}] * (50 - 5 * i)))
        send(LocationFactory(organization=organization, code="TINY"), *[{"nps": 10}] * 6)
        services.rebuild_rollups()
    head = MembershipFactory(organization=organization, role=Role.HEAD_OFFICE).user
    query = selectors.ScoreQuery(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "location")

    ranked = selectors.ranking(head, query)

    assert [r["group"]["location"] for r in ranked][:2] == ["S4", "TINY"]
    pooled = 100 * (306 - 200) / 506  # all 506 answers together: NPS 20.9
    assert ranked[1]["score"] == 100
    assert ranked[1]["shrunk_score"] == pytest.approx((6 * 100 + 30 * pooled) / 36)
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5, 6]


def test_a_change_between_periods_is_real_only_when_z_reaches_1_96(db):
    with time_machine.travel(NOW, tick=False):
        store = LocationFactory(code="HN-07")
        send(store, *([{"nps": 10}] * 80 + [{"nps": 0}] * 20), when="2026-11-21T10:00:00+07:00")
        send(store, *([{"nps": 10}] * 40 + [{"nps": 0}] * 60), when="2026-10-21T10:00:00+07:00")
        services.rebuild_rollups()
    head = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    now = selectors.ScoreQuery(
        dt.date(2026, 11, 1), dt.date(2026, 11, 30), "location", questions=("nps",)
    )
    before = selectors.ScoreQuery(
        dt.date(2026, 10, 1), dt.date(2026, 10, 31), "location", questions=("nps",)
    )

    [row] = selectors.compare_periods(head, now, before)

    assert row["change"]["difference"] == pytest.approx(60 - (-20))
    assert row["change"]["real"] is True


def test_a_store_is_compared_with_its_chain_on_the_same_period(db):
    with time_machine.travel(NOW, tick=False):
        organization = OrganizationFactory()
        worse = LocationFactory(organization=organization, code="WORSE")
        send(worse, *([{"nps": 10}] * 20 + [{"nps": 0}] * 80))  # NPS −60
        good = LocationFactory(organization=organization, code="GOOD")
        send(good, *([{"nps": 10}] * 90 + [{"nps": 0}] * 10))  # NPS 80
        services.rebuild_rollups()
    head = MembershipFactory(organization=organization, role=Role.HEAD_OFFICE).user
    november = {"date_from": dt.date(2026, 11, 1), "date_to": dt.date(2026, 11, 30)}

    nps = selectors.compare_scopes(
        head,
        selectors.ScoreQuery(**november, locations=("WORSE",)),
        selectors.ScoreQuery(**november),
    )["nps"]

    assert nps["a"]["score"] == pytest.approx(-60)
    assert nps["b"]["score"] == pytest.approx(10)
    assert nps["change"]["real"] is True
    spread = (nps["a"]["_se"] ** 2 + nps["b"]["_se"] ** 2) ** 0.5
    assert nps["change"]["z"] == pytest.approx(-70 / spread)


def test_staff_are_ranked_within_their_store_without_the_nameless_answers(db):
    with time_machine.travel(NOW, tick=False):
        store = LocationFactory(code="HN-05")
        for code, answers in (("A", [10] * 30), ("B", [10] * 15 + [0] * 15), ("C", [10] * 3)):
            StaffMemberFactory(location=store, code=code)
            send(store, *[{"nps": n} for n in answers], staff=code)
        send(store, *[{"nps": 0}] * 10)
        services.rebuild_rollups()
    head = MembershipFactory(organization=store.organization, role=Role.HEAD_OFFICE).user
    query = selectors.ScoreQuery(
        dt.date(2026, 11, 1), dt.date(2026, 11, 30), "staff", locations=("HN-05",)
    )

    ranked = selectors.ranking(head, query)

    assert [(r["group"]["staff"], r["rank"]) for r in ranked] == [("A", 1), ("B", 2), ("C", None)]
    assert ranked[2]["score"] is None  # three answers: below the privacy threshold
