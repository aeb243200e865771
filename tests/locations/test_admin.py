"""The admin a head office sets its chain up with, through real HTTP on the real database."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from locations.models import ApiToken, Kiosk, Location, Membership, PairingCode, Role, StaffMember
from locations.services import create_api_token, create_pairing_code
from surveys.models import ContactDetails
from surveys.services import record_response
from tests.admin_cast import head_office_fixture, owner_fixture, signed_in  # noqa: F401
from tests.factories import (
    MembershipFactory,
    StaffMemberFactory,
    UserFactory,
    a_response,
    make_kiosk,
)

CONFIG = "/api/v1/kiosk/config/"
MODELS = [
    "locations.organization",
    "locations.region",
    "locations.location",
    "locations.touchpoint",
    "locations.staffmember",
    "locations.kiosk",
    "locations.pairingcode",
    "locations.membership",
    "locations.apitoken",
    "surveys.survey",
    "surveys.surveyversion",
    "surveys.surveyresponse",
    "surveys.contactdetails",
]
READ_ONLY = {
    "locations.pairingcode",
    "locations.apitoken",
    "surveys.surveyversion",
    "surveys.surveyresponse",
    "surveys.contactdetails",
}


def url(model: str, view: str, *args) -> str:
    app, name = model.split(".")
    return reverse(f"admin:{app}_{name}_{view}", args=args)


def a_chain(location, staff_code, user):
    """One of everything the admin shows, in the location's organization."""
    staff = StaffMemberFactory(location=location, code=staff_code)
    kiosk, _ = make_kiosk(location)
    response = record_response(kiosk=kiosk, body=a_response()).response
    contact = ContactDetails.objects.create(
        response=response,
        question="contact",
        email="khach@example.com",
        consented_at=timezone.now(),
    )
    create_pairing_code(location=location)
    create_api_token(user=user, name="spreadsheet")
    organization = location.organization
    return {
        "locations.organization": organization,
        "locations.region": location.region,
        "locations.location": location,
        "locations.touchpoint": kiosk.touchpoint,
        "locations.staffmember": staff,
        "locations.kiosk": kiosk,
        "locations.pairingcode": PairingCode.objects.get(location=location),
        "locations.membership": Membership.objects.get(user=user),
        "locations.apitoken": ApiToken.objects.get(user=user),
        "surveys.survey": organization.default_survey,
        "surveys.surveyversion": organization.default_survey.current_version,
        "surveys.surveyresponse": response,
        "surveys.contactdetails": contact,
    }


@pytest.fixture
def outsider(other_store):
    """Head office of another chain."""
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=other_store.organization, role=Role.HEAD_OFFICE)
    return user


@pytest.fixture
def ours(store, head_office):
    return a_chain(store, "NV-014", head_office)


@pytest.fixture
def theirs(other_store, outsider):
    other_store.organization.name = "Siam Retail"
    other_store.organization.save()
    other_store.region.name = "Bangkok Metro"
    other_store.region.save()
    return a_chain(other_store, "TH-007", outsider)


@pytest.fixture
def root(db):
    return signed_in(UserFactory(is_staff=True, is_superuser=True))


def queries_for(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_every_model_of_locations_and_surveys_is_in_the_admin():
    for label in ("locations", "surveys"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.model_name != "answer":  # shown inside its response
                assert admin.site.is_registered(model), model


@pytest.mark.parametrize("who", ["root", "owner"])
def test_every_changelist_add_and_change_page_opens(who, request, ours, theirs):
    client = request.getfixturevalue(who)
    for model in MODELS:
        assert client.get(url(model, "changelist")).status_code == 200, model
        addable = model not in READ_ONLY and (who == "root" or model != "locations.organization")
        assert client.get(url(model, "add")).status_code == (200 if addable else 403), model
        assert client.get(url(model, "change", ours[model].pk)).status_code == 200, model


def test_changelists_cost_the_same_queries_for_one_row_or_many(owner, ours, store):
    models = ["locations.kiosk", "locations.pairingcode", "surveys.surveyresponse"]
    before = {model: queries_for(owner, url(model, "changelist")) for model in models}
    for _ in range(4):
        kiosk, _ = make_kiosk(store, touchpoint="checkout")
        record_response(kiosk=kiosk, body=a_response())
        create_pairing_code(location=store, kiosk=kiosk)
    after = {model: queries_for(owner, url(model, "changelist")) for model in models}
    assert after == before


def test_head_office_sees_only_its_own_organization(owner, root, ours, theirs):
    for model, mine, other in [
        ("locations.location", "HCM-01", "BKK-01"),
        ("locations.staffmember", "NV-014", "TH-007"),
        ("locations.kiosk", "HCM-01", "BKK-01"),
        ("locations.pairingcode", "HCM-01", "BKK-01"),
        ("surveys.surveyresponse", "HCM-01", "BKK-01"),
    ]:
        page = owner.get(url(model, "changelist")).content.decode()
        assert mine in page and other not in page, model
        assert "Siam Retail" not in page and "Bangkok Metro" not in page, model  # filters
        everything = root.get(url(model, "changelist")).content.decode()
        assert mine in everything and other in everything, model


def test_another_organizations_row_by_url_is_as_good_as_missing(owner, ours, theirs):
    for model in MODELS:
        row = theirs[model]
        for view in ("change", "delete", "history"):
            response = owner.get(url(model, view, row.pk), follow=True)
            assert "BKK-01" not in response.content.decode(), (model, view)
            if response.status_code == 403:  # a read-only model refuses deleting before looking
                continue
            assert response.redirect_chain == [(reverse("admin:index"), 302)], (model, view)
            assert "doesn’t exist" in messages_of(response)[0]
    # Nor can it be changed by posting to it.
    owner.post(url("locations.location", "change", theirs["locations.location"].pk), {"name": "X"})
    assert Location.objects.get(code="BKK-01").name != "X"


def test_the_location_autocomplete_offers_only_its_own_stores(owner, ours, theirs):
    query = {"app_label": "locations", "model_name": "staffmember", "field_name": "location"}
    found = owner.get(reverse("admin:autocomplete"), {**query, "term": "01"}).json()["results"]
    assert [row["text"].split()[0] for row in found] == ["HCM-01"]


def test_head_office_cannot_create_a_location_in_another_organization(owner, store, theirs):
    add_page = owner.get(url("locations.location", "add")).content.decode()
    assert f'<option value="{store.organization.pk}" selected>' in add_page
    assert theirs["locations.organization"].name not in add_page

    response = owner.post(
        url("locations.location", "add"),
        {
            "organization": theirs["locations.organization"].pk,
            "code": "BKK-99",
            "name": "Sneaked in",
            "timezone": "Asia/Bangkok",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Location.objects.filter(code="BKK-99").exists()


def test_a_row_cannot_point_into_another_organization(root, store, theirs):
    response = root.post(
        url("locations.staffmember", "add"),
        {
            "organization": store.organization.pk,
            "location": theirs["locations.location"].pk,
            "code": "NV-999",
            "display_name": "Crossed wires",
            "is_active": "on",
        },
    )
    assert "belongs to another organization" in response.content.decode()
    assert not StaffMember.objects.filter(code="NV-999").exists()


def test_a_new_kiosk_shows_its_token_once_and_the_token_works(owner, store):
    response = owner.post(
        url("locations.kiosk", "add"), {"location": store.pk, "name": "Quầy thu ngân"}, follow=True
    )
    [token] = re.findall(r"cxk_[\w-]+", " ".join(messages_of(response)))

    kiosk_client = APIClient()
    kiosk_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    config = kiosk_client.get(CONFIG)
    assert config.status_code == 200
    assert config.json()["location"]["code"] == "HCM-01"
    assert config.json()["kiosk"]["touchpoint"]["name"] == "main"

    kiosk = Kiosk.objects.get(name="Quầy thu ngân")
    assert token not in owner.get(url("locations.kiosk", "changelist")).content.decode()
    assert token not in owner.get(url("locations.kiosk", "change", kiosk.pk)).content.decode()
    assert kiosk.token_digest != token and kiosk.token_hint == token[-4:]


def test_revoking_a_kiosk_locks_its_token_out(owner, kiosk, kiosk_client):
    assert kiosk_client.get(CONFIG).status_code == 200
    owner.post(
        url("locations.kiosk", "changelist"), {"action": "revoke", "_selected_action": [kiosk.pk]}
    )
    assert kiosk_client.get(CONFIG).status_code == 401


def test_a_pairing_code_re_pairs_the_same_kiosk(owner, kiosk, kiosk_client):
    response = owner.post(
        url("locations.kiosk", "changelist"),
        {"action": "create_pairing_code", "_selected_action": [kiosk.pk]},
        follow=True,
    )
    [code] = re.findall(r"pairing code (\d{8})", " ".join(messages_of(response)))

    paired = APIClient().post("/api/v1/kiosk/pair/", {"code": code}, format="json")
    assert paired.status_code == 201
    assert Kiosk.objects.count() == 1
    assert kiosk_client.get(CONFIG).status_code == 401  # the old token is replaced
    renewed = APIClient()
    renewed.credentials(HTTP_AUTHORIZATION=f"Bearer {paired.json()['token']}")
    assert renewed.get(CONFIG).json()["kiosk"]["id"] == str(kiosk.public_id)


def test_a_location_gets_a_pairing_code_for_a_new_kiosk(owner, store):
    response = owner.post(
        url("locations.location", "changelist"),
        {"action": "create_pairing_code_for_new_kiosk", "_selected_action": [store.pk]},
        follow=True,
    )
    [code] = re.findall(r"HCM-01: pairing code (\d{8})", " ".join(messages_of(response)))

    paired = APIClient().post("/api/v1/kiosk/pair/", {"code": code}, format="json")
    assert paired.status_code == 201
    assert paired.json()["location"] == "HCM-01" and paired.json()["touchpoint"] == "main"


def test_the_changelists_offer_the_import(owner):
    for model in ("locations.location", "locations.staffmember"):
        page = owner.get(url(model, "changelist")).content.decode()
        assert url(model, "import") in page and "Import from CSV/XLSX" in page


def test_a_csv_imported_in_the_admin_creates_locations(owner, store):
    csv = "code,name,region,timezone\nHCM-02,Quận 3,South,Asia/Ho_Chi_Minh\nHN-01,Hoàn Kiếm,North,Asia/Ho_Chi_Minh\n"
    response = owner.post(
        url("locations.location", "import"),
        {
            "organization": store.organization.pk,
            "file": SimpleUploadedFile("stores.csv", csv.encode()),
        },
        follow=True,
    )
    assert "created 2, updated 0, unchanged 0" in " ".join(messages_of(response))
    codes = set(
        Location.objects.filter(organization=store.organization).values_list("code", flat=True)
    )
    assert codes == {"HCM-01", "HCM-02", "HN-01"}


def test_a_bad_csv_lists_every_bad_line_and_imports_nothing(owner, store):
    csv = "code,name,region,timezone\nHCM-02,Quận 3,South,Asia/Ho_Chi_Minh\nHCM-03,,South,Asia/Saigon\nHCM-04,Thủ Đức,South,Mars/Base\n"
    response = owner.post(
        url("locations.location", "import"),
        {
            "organization": store.organization.pk,
            "file": SimpleUploadedFile("stores.csv", csv.encode()),
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "line 3: name is empty" in page and "line 4: timezone" in page
    assert Location.objects.count() == 1


def test_staff_imported_in_the_admin_join_their_store(owner, store):
    csv = "location,code,name\nHCM-01,NV-100,Lê Văn Tám\n"
    owner.post(
        url("locations.staffmember", "import"),
        {
            "organization": store.organization.pk,
            "file": SimpleUploadedFile("staff.csv", csv.encode()),
        },
    )
    assert StaffMember.objects.get(code="NV-100").location == store


def test_head_office_cannot_import_into_another_organization(owner, other_store):
    csv = "code,name,region,timezone\nBKK-02,Silom,,Asia/Bangkok\n"
    response = owner.post(
        url("locations.location", "import"),
        {
            "organization": other_store.organization.pk,
            "file": SimpleUploadedFile("x.csv", csv.encode()),
        },
    )
    assert "Select a valid choice" in response.content.decode()
    assert not Location.objects.filter(code="BKK-02").exists()


def test_head_office_invites_a_store_manager_by_email(owner, store, other_store):
    form = {"organization": store.organization.pk, "role": Role.STORE_MANAGER, "location": store.pk}
    owner.post(url("locations.membership", "add"), {**form, "email": "mai@example.com"})
    membership = Membership.objects.get(user__email="mai@example.com")
    assert membership.location == store and membership.role == Role.STORE_MANAGER

    owner.post(
        url("locations.membership", "add"),
        {**form, "email": "spy@example.com", "location": other_store.pk},
    )
    assert not Membership.objects.filter(user__email="spy@example.com").exists()


def test_head_office_can_revoke_a_members_api_token(owner, ours, theirs):
    tokens = [ours["locations.apitoken"].pk, theirs["locations.apitoken"].pk]
    owner.post(
        url("locations.apitoken", "changelist"), {"action": "revoke", "_selected_action": tokens}
    )
    assert ApiToken.objects.get(pk=tokens[0]).revoked_at is not None
    assert ApiToken.objects.get(pk=tokens[1]).revoked_at is None


def test_a_superuser_sees_a_persons_memberships_on_their_account(root, head_office, ours):
    page = root.get(reverse("admin:auth_user_change", args=[head_office.pk])).content.decode()
    assert 'id="memberships-group"' in page and 'value="head_office" selected' in page


def test_a_store_manager_gets_no_admin_even_as_staff(store):
    manager = UserFactory(is_staff=True)
    MembershipFactory(
        user=manager, organization=store.organization, role=Role.STORE_MANAGER, location=store
    )
    client = signed_in(manager)
    assert client.get(url("locations.location", "changelist")).status_code == 403
    assert client.get(url("locations.location", "change", store.pk)).status_code == 403
    assert "Locations" not in client.get(reverse("admin:index")).content.decode()
