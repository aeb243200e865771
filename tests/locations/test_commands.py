"""The operator command line: what each command stores, and what it prints on its last line."""

import os
import subprocess
import sys
from io import StringIO
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from locations import services
from locations.models import ApiToken, Kiosk, Membership, Organization, Role
from surveys.models import Survey
from tests.factories import (
    LocationFactory,
    OrganizationFactory,
    RegionFactory,
    UserFactory,
    make_kiosk,
)

CONFIG = "/api/v1/kiosk/config/"
PAIR = "/api/v1/kiosk/pair/"


def last_line(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()[-1]


def kiosk_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- organizations ----------------------------------------------------------------------


def test_create_organization_prints_the_slug_and_sets_up_the_default_survey(db):
    created = last_line(
        "create_organization", "Chuỗi Cà Phê", "--slug", "caphe", "--language", "vi"
    )
    assert created == "caphe"

    chain = Organization.objects.get(slug="caphe")
    assert (chain.name, chain.default_language) == ("Chuỗi Cà Phê", "vi")
    assert chain.default_survey.languages == ["vi", "th", "en"]
    assert chain.default_survey.current_version is not None
    assert last_line("create_organization", "Other", "--slug", "other") == "other"


@pytest.mark.parametrize("slug", ["has space", "dấu", "a/b"])
def test_create_organization_refuses_a_slug_that_is_not_a_slug(db, slug):
    with pytest.raises(CommandError, match="slug"):
        last_line("create_organization", "Chain", "--slug", slug)
    assert not Organization.objects.exists()


def test_create_organization_refuses_a_taken_slug(db):
    OrganizationFactory(slug="caphe")

    with pytest.raises(CommandError, match="already exists"):
        last_line("create_organization", "Another", "--slug", "caphe")
    assert Survey.objects.count() == 1


# --- kiosks -----------------------------------------------------------------------------


def test_a_token_from_create_kiosk_works_until_revoke_kiosk(store):
    token = last_line("create_kiosk", "--location", "HCM-01", "--name", "By the door")

    assert kiosk_client(token).get(CONFIG).status_code == 200
    kiosk = Kiosk.objects.get()
    assert (kiosk.location, kiosk.touchpoint.name, kiosk.name) == (store, "main", "By the door")

    assert last_line("revoke_kiosk", str(kiosk.public_id)) == "revoked"
    assert kiosk_client(token).get(CONFIG).status_code == 401


def test_create_kiosk_places_the_kiosk_at_a_touchpoint(store):
    last_line("create_kiosk", "--location", "HCM-01", "--touchpoint", "checkout")

    assert Kiosk.objects.get().touchpoint.name == "checkout"


def test_create_kiosk_asks_for_the_organization_when_two_chains_share_a_code(store):
    twin = LocationFactory(code="HCM-01")

    with pytest.raises(CommandError, match="--organization"):
        last_line("create_kiosk", "--location", "HCM-01")
    last_line("create_kiosk", "--location", "HCM-01", "--organization", twin.organization.slug)
    assert Kiosk.objects.get().location == twin


def test_create_kiosk_refuses_an_unknown_location_or_organization(store):
    with pytest.raises(CommandError, match="No location has the code 'HCM-99'"):
        last_line("create_kiosk", "--location", "HCM-99")
    with pytest.raises(CommandError, match="No organization has the slug 'nope'"):
        last_line("create_kiosk", "--location", "HCM-01", "--organization", "nope")
    assert not Kiosk.objects.exists()


def test_revoke_kiosk_accepts_the_token_hint_and_refuses_an_unknown_kiosk(store):
    kiosk, token = make_kiosk(store)

    with pytest.raises(CommandError, match="No kiosk"):
        last_line("revoke_kiosk", "00000000-0000-0000-0000-000000000000")
    # A hint may start with a dash, so it goes after "--" as on a command line.
    assert last_line("revoke_kiosk", "--", kiosk.token_hint) == "revoked"
    assert kiosk_client(token).get(CONFIG).status_code == 401


def test_a_code_from_pair_kiosk_pairs_one_tablet_once(store):
    cache.clear()  # the pairing throttle counts per address in the cache, across tests
    code = last_line("pair_kiosk", "--location", "HCM-01", "--touchpoint", "entrance")

    paired = APIClient().post(PAIR, {"code": code}, format="json")

    assert paired.status_code == 201, paired.content
    assert (paired.data["location"], paired.data["touchpoint"]) == ("HCM-01", "entrance")
    assert kiosk_client(paired.data["token"]).get(CONFIG).status_code == 200
    assert APIClient().post(PAIR, {"code": code}, format="json").status_code == 400


# --- people -----------------------------------------------------------------------------


def test_invite_user_prints_a_link_that_lets_them_set_a_password(store, client):
    slug = store.organization.slug
    link = last_line(
        "invite_user",
        "mai@example.com",
        "--organization",
        slug,
        "--role",
        "store_manager",
        "--location",
        "HCM-01",
    )

    assert link.startswith(f"{settings.SITE_URL}/accounts/reset/")
    membership = Membership.objects.get(user__username="mai@example.com")
    assert (membership.role, membership.location) == (Role.STORE_MANAGER, store)
    # A valid link redirects to the set-password form; an invalid one would not.
    response = client.get(urlparse(link).path)
    assert response.status_code == 302
    assert response["Location"].endswith("/set-password/")


def test_inviting_again_keeps_one_membership(store):
    args = ("invite_user", "mai@example.com", "--organization", store.organization.slug)

    last_line(*args, "--role", "regional_manager", "--region", store.region.name)
    last_line(*args, "--role", "regional_manager", "--region", store.region.name)

    assert get_user_model().objects.count() == 1
    assert Membership.objects.get().region == store.region


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("head_office", ["--location", "HCM-01"]),
        ("regional_manager", []),
        ("regional_manager", ["--location", "HCM-01"]),
        ("regional_manager", ["--region", "Nowhere"]),
        ("store_manager", []),
        ("store_manager", ["--region", "North"]),
        ("store_manager", ["--location", "HCM-99"]),
        ("store_manager", ["--region", "North", "--location", "HCM-01"]),
        ("owner", []),
    ],
)
def test_invite_user_refuses_a_scope_that_does_not_fit_the_role(store, role, scope):
    RegionFactory(organization=store.organization, name="North")

    with pytest.raises(CommandError):
        last_line(
            "invite_user",
            "mai@example.com",
            "--organization",
            store.organization.slug,
            "--role",
            role,
            *scope,
        )
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    ("email", "slug", "message"),
    [("not-an-email", None, "not an e-mail"), ("mai@example.com", "nope", "No organization")],
)
def test_invite_user_refuses_a_bad_email_or_organization(store, email, slug, message):
    with pytest.raises(CommandError, match=message):
        last_line(
            "invite_user",
            email,
            "--organization",
            slug or store.organization.slug,
            "--role",
            "head_office",
        )
    assert not Membership.objects.exists()


def test_create_api_token_prints_a_token_that_acts_as_the_user(db):
    mai = UserFactory(username="mai@example.com")

    token = last_line("create_api_token", "MAI@example.com", "--name", "Power BI")

    assert services.authenticate_api_token(token).user == mai
    assert ApiToken.objects.get().name == "Power BI"


def test_create_api_token_refuses_an_unknown_email(db):
    UserFactory(username="mai@example.com")

    with pytest.raises(CommandError, match="No user"):
        last_line("create_api_token", "an@example.com")
    assert not ApiToken.objects.exists()


# --- as a script sees it ----------------------------------------------------------------


def test_the_commands_as_a_shell_script_runs_them(tmp_path):
    """Proves exit codes and last lines as a script sees them: real processes, a real
    `manage.py`, stdout and the exit status — what call_command cannot show."""
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def last(result):
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()[-1]

    assert manage("migrate", "--verbosity", "0").returncode == 0
    assert last(manage("create_organization", "Chuỗi", "--slug", "chuoi")) == "chuoi"
    stores = tmp_path / "stores.csv"
    stores.write_text("code,name,region,timezone\nHCM-01,Quận 1,,Asia/Ho_Chi_Minh\n")
    assert last(manage("import_locations", "--organization", "chuoi", str(stores))) == (
        "created 1, updated 0, unchanged 0"
    )
    assert last(manage("create_kiosk", "--location", "HCM-01")).startswith("cxk_")

    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,region,timezone\nHN-01,Hà Nội,,Asia/Hanoi\n")
    failed = manage("import_locations", "--organization", "chuoi", str(bad))
    assert failed.returncode != 0
    assert "line 2: timezone 'Asia/Hanoi' is not an IANA time zone" in failed.stderr
    assert "Traceback" not in failed.stderr
