"""Dashboard pages and exports: who may open what, figures equal to the selectors and the
metrics API, a bounded number of queries, clear errors for bad filters, exports that open."""

import datetime as dt
import io
import re
import uuid

import openpyxl
import pandas as pd
import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from locations.models import Role
from metrics import selectors, services
from tests.factories import (
    LocationFactory,
    MembershipFactory,
    OrganizationFactory,
    RegionFactory,
    StaffMemberFactory,
    UserFactory,
    make_kiosk,
)

NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)  # 12:00 in Hồ Chí Minh City


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def send(location, *answer_sets, staff=None, when="2026-11-21T10:00:00+07:00"):
    _, token = make_kiosk(location, registered_days_ago=60)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for answers in answer_sets:
        body = {"id": str(uuid.uuid4()), "submitted_at": when, "staff": staff, "answers": answers}
        assert client.post("/api/v1/kiosk/responses/", body, format="json").status_code == 201


def answers(i: int) -> dict:
    out = {"nps": i % 11, "csat": 1 + i % 5, "ces": 1 + i % 7}
    if i % 11 <= 6:
        out["reason"] = ["wait_time"] if i % 2 else ["price", "staff"]
    if i % 3 == 0:
        out["comment"] = f"Bình luận số {i}"
    return out


@pytest.fixture
def chain(db):
    """Organization A: North (HN-01, HN-02) and South (HCM-01); organization B: BKK-01."""
    a = OrganizationFactory(slug="a", name="Chain A")
    north = RegionFactory(organization=a, name="North")
    south = RegionFactory(organization=a, name="South")
    stores = {
        "HN-01": LocationFactory(organization=a, region=north, code="HN-01"),
        "HN-02": LocationFactory(organization=a, region=north, code="HN-02"),
        "HCM-01": LocationFactory(organization=a, region=south, code="HCM-01"),
        "BKK-01": LocationFactory(code="BKK-01", timezone="Asia/Bangkok"),
    }
    StaffMemberFactory(location=stores["HN-01"], code="NV-1", display_name="Lan")
    for n, location in enumerate(stores.values()):
        send(location, *(answers(i + n) for i in range(12)))
        send(location, *(answers(i) for i in range(6)), when="2026-10-30T09:00:00+07:00")
    send(stores["HN-01"], *(answers(i) for i in range(8)), staff="NV-1")
    services.rebuild_rollups()
    users = {
        "anonymous": None,
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
    return {"org": a, "north": north, "south": south, "stores": stores, "users": users}


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def pages(chain) -> dict[str, str]:
    org, north, south = chain["org"].slug, chain["north"].pk, chain["south"].pk
    other = chain["stores"]["BKK-01"].organization.slug
    return {
        "organization": f"/dashboard/{org}/",
        "region north": f"/dashboard/{org}/regions/{north}/",
        "region south": f"/dashboard/{org}/regions/{south}/",
        "store HN-01": f"/dashboard/{org}/stores/HN-01/",
        "store HCM-01": f"/dashboard/{org}/stores/HCM-01/",
        "staff NV-1": f"/dashboard/{org}/stores/HN-01/staff/NV-1/",
        "other organization": f"/dashboard/{other}/",
        "other store": f"/dashboard/{other}/stores/BKK-01/",
        "organization scores.csv": f"/dashboard/{org}/export/scores.csv",
        "organization responses.xlsx": f"/dashboard/{org}/export/responses.xlsx",
        "region north responses.csv": f"/dashboard/{org}/regions/{north}/export/responses.csv",
        "region south scores.xlsx": f"/dashboard/{org}/regions/{south}/export/scores.xlsx",
        "store HN-01 scores.csv": f"/dashboard/{org}/stores/HN-01/export/scores.csv",
        "store HCM-01 responses.csv": f"/dashboard/{org}/stores/HCM-01/export/responses.csv",
        "other store responses.csv": f"/dashboard/{other}/stores/BKK-01/export/responses.csv",
        "metrics api, HCM-01": "/api/v1/metrics/scores/?from=2026-10-01&to=2026-11-30&location=HCM-01",
    }


# What each role may open; everything else is a 404 (a redirect to sign in when anonymous),
# and the API answers a store it may not see with an empty result.
ALLOWED = {
    "head_office": {
        "organization", "region north", "region south", "store HN-01", "store HCM-01",
        "staff NV-1", "organization scores.csv", "organization responses.xlsx",
        "region north responses.csv", "region south scores.xlsx", "store HN-01 scores.csv",
        "store HCM-01 responses.csv", "metrics api, HCM-01",
    },
    "regional_manager": {
        "region north", "store HN-01", "staff NV-1", "region north responses.csv",
        "store HN-01 scores.csv",
    },
    "store_manager": {"store HN-01", "staff NV-1", "store HN-01 scores.csv"},
    "other_organization": {"other organization", "other store", "other store responses.csv"},
    "no_membership": set(),
    "anonymous": set(),
}  # fmt: skip


@pytest.mark.parametrize("role", list(ALLOWED))
def test_every_role_opens_exactly_the_pages_exports_and_figures_it_may_see(chain, role):
    user = chain["users"][role]
    client = client_for(user)
    for name, url in pages(chain).items():
        response = client.get(url)
        if name.startswith("metrics api"):
            expected = 200 if role != "anonymous" else 401
            assert response.status_code in (expected, 403 if role == "anonymous" else expected)
            if response.status_code == 200:
                stores = [r["group"]["location"] for r in response.json()["results"]]
                assert stores == (["HCM-01"] if name in ALLOWED[role] else []), (role, name)
        elif role == "anonymous":
            assert response.status_code == 302, (role, name)
            assert response["Location"].startswith("/accounts/login/")
        elif name in ALLOWED[role]:
            assert response.status_code == 200, (role, name, response.status_code)
        else:
            assert response.status_code == 404, (role, name, response.status_code)


@pytest.mark.parametrize(
    ("role", "lands_on"),
    [
        ("head_office", "/dashboard/a/"),
        ("regional_manager", "/dashboard/a/regions/{north}/"),
        ("store_manager", "/dashboard/a/stores/HN-01/"),
    ],
)
def test_the_dashboard_link_takes_each_role_to_the_widest_page_it_may_see(chain, role, lands_on):
    response = client_for(chain["users"][role]).get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"] == lands_on.format(north=chain["north"].pk)


def test_someone_without_a_membership_is_told_so_rather_than_shown_an_error(chain):
    response = client_for(chain["users"]["no_membership"]).get("/dashboard/")

    assert response.status_code == 200
    assert b"not a member of any organization" in response.content


def numbers(html: str, attribute: str) -> list[str]:
    return re.findall(rf'{attribute}="([^"]+)"', html)


def test_the_figures_on_the_head_office_page_equal_the_selectors_and_the_metrics_api(chain):
    head = chain["users"]["head_office"]
    html = client_for(head).get("/dashboard/a/?range=30d&question=nps").content.decode()

    query = selectors.ScoreQuery(dt.date(2026, 10, 24), dt.date(2026, 11, 22), "location")
    ranked = selectors.ranking(head, query, "nps")
    api = APIClient()
    api.force_authenticate(head)
    results = api.get(
        "/api/v1/metrics/scores/",
        {"from": "2026-10-24", "to": "2026-11-22", "group_by": "location", "question": "nps"},
    ).json()["results"]
    by_store = {r["group"]["location"]: r["questions"]["nps"] for r in results}

    rows = re.findall(r'<tr data-location="([^"]+)">(.*?)</tr>', html, re.S)
    assert [code for code, _ in rows] == [e["group"]["location"] for e in ranked]
    for code, row in rows:
        (score,) = numbers(row, "data-score")
        (n,) = numbers(row, "data-n")
        assert float(score) == pytest.approx(by_store[code]["score"], abs=1e-6)
        assert int(n) == by_store[code]["n"]
    chain_nps = selectors.scope_scores(head, query)["nps"]
    card = re.search(r'data-question="nps">(.*?)</article>', html, re.S).group(1)
    assert float(numbers(card, "data-score")[0]) == pytest.approx(chain_nps["score"], abs=1e-6)
    assert int(numbers(card, "data-n")[0]) == chain_nps["n"]


def test_the_store_page_shows_its_staff_reasons_comments_and_every_chart(chain):
    html = client_for(chain["users"]["store_manager"]).get("/dashboard/a/stores/HN-01/").content
    html = html.decode()

    for chart in ("trend", "composition", "heat_score", "heat_volume", "reasons", "touchpoints"):
        assert f'data-figure="fig-{chart}"' in html
        assert f'<script id="fig-{chart}" type="application/json">' in html
    assert 'data-staff="NV-1"' in html and "Lan" in html
    assert "Bình luận số" in html
    assert "<script>" not in html  # no inline script: the CSP forbids it


def test_a_staff_member_below_the_privacy_threshold_shows_only_how_many_answers(chain):
    org = chain["org"]
    org.privacy_threshold = 50
    org.save(update_fields=["privacy_threshold"])

    html = client_for(chain["users"]["store_manager"]).get("/dashboard/a/stores/HN-01/")
    row = re.search(r'<tr data-staff="NV-1">(.*?)</tr>', html.content.decode(), re.S).group(1)

    assert "not enough answers" in row
    assert "data-score" not in row
    assert 'data-n="8"' in row


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("range=fortnight", "range"),
        ("range=custom&from=2026-11-30&to=2026-11-01", "date_to"),
        ("range=custom&from=31/11/2026", "date_from"),
        ("range=custom", "date_from"),
        ("question=happiness", "question"),
        ("range=custom&from=2010-01-01&to=2026-11-01", "date_to"),
    ],
)
def test_bad_filters_get_a_400_that_names_the_field(chain, query, field):
    response = client_for(chain["users"]["head_office"]).get(f"/dashboard/a/?{query}")

    assert response.status_code == 400
    assert f'data-field="{field}"' in response.content.decode()


def test_a_link_keeps_its_filters_so_it_can_be_shared(chain):
    html = client_for(chain["users"]["head_office"]).get(
        "/dashboard/a/?range=custom&from=2026-10-01&to=2026-11-21&question=csat"
    )
    link = "/dashboard/a/stores/HN-01/?range=custom&amp;question=csat&amp;from=2026-10-01&amp;to=2026-11-21"

    assert link in html.content.decode()


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "page", ["/dashboard/a/", "/dashboard/a/regions/{north}/", "/dashboard/a/stores/HN-01/"]
)
def test_a_page_makes_as_many_queries_for_twenty_stores_as_for_three(chain, page):
    url = page.format(north=chain["north"].pk)
    client = client_for(chain["users"]["head_office"])
    few = count_queries(client, url)

    for i in range(17):
        region = chain["north"] if i % 2 else chain["south"]
        location = LocationFactory(organization=chain["org"], region=region, code=f"X-{i:02d}")
        StaffMemberFactory(location=location, code=f"S-{i}")
        send(location, *(answers(j) for j in range(3)), staff=f"S-{i}")
    services.rebuild_rollups()

    assert count_queries(client, url) == few


def test_the_scores_export_holds_the_table_as_shown_in_csv_and_xlsx(chain):
    client = client_for(chain["users"]["head_office"])
    html = client.get("/dashboard/a/?range=30d").content.decode()
    shown = re.findall(r'<tr data-location="([^"]+)">', html)

    as_csv = pd.read_csv(
        io.BytesIO(
            b"".join(client.get("/dashboard/a/export/scores.csv?range=30d").streaming_content)
        )
    )
    as_xlsx = pd.read_excel(
        io.BytesIO(
            b"".join(client.get("/dashboard/a/export/scores.xlsx?range=30d").streaming_content)
        )
    )

    for frame in (as_csv, as_xlsx):
        assert frame["location"].tolist() == shown
        assert {
            "rank",
            "shrunk_score",
            "score",
            "ci95_low",
            "ci95_high",
            "n",
            "change_is_real",
        } <= set(frame.columns)


def test_the_responses_export_holds_every_response_of_the_scope_and_period(chain):
    client = client_for(chain["users"]["regional_manager"])
    north = chain["north"].pk

    csv_body = b"".join(
        client.get(
            f"/dashboard/a/regions/{north}/export/responses.csv?range=custom&from=2026-10-01"
        ).streaming_content
    )
    xlsx_body = b"".join(
        client.get(
            f"/dashboard/a/regions/{north}/export/responses.xlsx?range=custom&from=2026-10-01"
        ).streaming_content
    )

    frame = pd.read_csv(io.BytesIO(csv_body), encoding="utf-8-sig")
    assert len(frame) == 12 + 6 + 12 + 6 + 8  # HN-01 (and its staff answers) and HN-02
    assert set(frame["location"]) == {"HN-01", "HN-02"}
    assert {"nps", "csat", "ces", "reason", "comment"} <= set(frame.columns)
    assert frame["id"].is_unique
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_body), read_only=True)["responses"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(frame.columns)
    assert len(rows) - 1 == len(frame)
    assert sorted(str(r[0]) for r in rows[1:]) == sorted(frame["id"])


def test_a_large_responses_export_is_streamed_in_chunks(chain, monkeypatch):
    from metrics import exports

    monkeypatch.setattr(exports, "CHUNK", 7)
    response = client_for(chain["users"]["head_office"]).get(
        "/dashboard/a/export/responses.csv?range=30d"
    )

    parts = list(response.streaming_content)
    frame = pd.read_csv(io.BytesIO(b"".join(parts)), encoding="utf-8-sig")
    assert len(parts) > 3
    assert frame["id"].is_unique
    assert len(frame) == 3 * (12 + 6) + 8  # the last 30 days include 30 October


def test_head_office_of_two_chains_sees_each_chain_on_its_own_page(chain):
    person = chain["users"]["head_office"]
    other = chain["stores"]["BKK-01"].organization
    MembershipFactory(user=person, organization=other, role=Role.HEAD_OFFICE)
    client = client_for(person)

    first = client.get("/dashboard/a/?range=30d").content.decode()
    second = client.get(f"/dashboard/{other.slug}/?range=30d").content.decode()

    assert sorted(re.findall(r'<tr data-location="([^"]+)">', first)) == [
        "HCM-01",
        "HN-01",
        "HN-02",
    ]
    assert re.findall(r'<tr data-location="([^"]+)">', second) == ["BKK-01"]
    landing = client.get("/dashboard/")
    assert landing.status_code == 200  # two chains: a list to choose from
    assert "/dashboard/a/" in landing.content.decode()


def test_a_comment_written_as_a_formula_is_exported_as_plain_text(chain):
    send(chain["stores"]["HCM-01"], {"nps": 2, "comment": '=HYPERLINK("http://x.test","hi")'})
    client = client_for(chain["users"]["head_office"])

    body = b"".join(client.get("/dashboard/a/stores/HCM-01/export/responses.csv").streaming_content)
    xlsx = b"".join(
        client.get("/dashboard/a/stores/HCM-01/export/responses.xlsx").streaming_content
    )

    frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    assert '\'=HYPERLINK("http://x.test","hi")' in frame["comment"].tolist()
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx))["responses"]
    cells = [c.value for row in sheet.iter_rows() for c in row]
    assert '\'=HYPERLINK("http://x.test","hi")' in cells
    assert not any(isinstance(v, str) and v.startswith("=") for v in cells)
