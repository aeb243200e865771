"""The interface speaks Vietnamese, Thai or English: what a signed-in person saved, else what
their browser asks for. Signing in and out happens on our own translated pages."""

import pytest
from django.conf import settings
from django.db import IntegrityError
from django.test import Client
from django.utils.translation import get_language_info

from locations.models import UserPreference
from locations.services import ServiceError, save_language
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(db):
    return UserFactory(username="mai@example.com")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_visitor_sees_pages_in_their_browser_s_language(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="th")

    html = response.content.decode()
    assert '<html lang="th">' in html
    assert "เข้าสู่ระบบ" in html  # Sign in
    assert response["Content-Language"] == "th"


def test_a_signed_in_user_sees_pages_in_their_saved_language(person):
    save_language(user=person, language="vi")

    response = signed_in(person).get("/", HTTP_ACCEPT_LANGUAGE="th")

    html = response.content.decode()
    assert '<html lang="vi">' in html
    assert "Đăng xuất" in html  # Sign out
    assert response["Content-Language"] == "vi"


def test_a_saved_language_beats_the_language_cookie_too(person):
    save_language(user=person, language="th")
    client = signed_in(person)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    assert client.get("/")["Content-Language"] == "th"


def test_a_signed_in_user_without_a_saved_language_follows_their_browser(person):
    response = signed_in(person).get("/", HTTP_ACCEPT_LANGUAGE="vi")

    assert response["Content-Language"] == "vi"


def test_choosing_a_language_saves_it_for_a_signed_in_user(person):
    client = signed_in(person)

    response = client.post("/i18n/setlang/", {"language": "th", "next": "/kiosk/"})

    assert response.status_code == 302
    assert response["Location"] == "/kiosk/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "th"
    assert UserPreference.objects.get(user=person).language == "th"


def test_a_saved_language_follows_the_user_to_another_device(person):
    signed_in(person).post("/i18n/setlang/", {"language": "vi", "next": "/"})

    other_device = Client()
    other_device.post("/accounts/login/", {"username": person.username, "password": PASSWORD})

    assert other_device.get("/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "vi"


def test_choosing_again_replaces_the_saved_language(person):
    client = signed_in(person)

    client.post("/i18n/setlang/", {"language": "th", "next": "/"})
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert UserPreference.objects.get(user=person).language == "en"


def test_a_visitor_s_choice_lives_only_in_their_cookie(client, db):
    response = client.post("/i18n/setlang/", {"language": "vi", "next": "/"})

    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "vi"
    assert not UserPreference.objects.exists()
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="th")["Content-Language"] == "vi"


def test_a_language_cxhub_does_not_speak_is_neither_saved_nor_set(person):
    # Django's own view would set a cookie for any language Django has a translation for.
    response = signed_in(person).post("/i18n/setlang/", {"language": "fr", "next": "/"})

    assert response.status_code == 400
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert not UserPreference.objects.exists()


def test_the_language_switch_takes_no_foreign_next_address(person):
    response = signed_in(person).post(
        "/i18n/setlang/", {"language": "vi", "next": "https://evil.example/"}
    )

    assert response["Location"] == "/"


def test_changing_the_language_takes_a_post_with_a_csrf_token(person):
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)

    assert client.get("/i18n/setlang/").status_code == 405
    assert client.post("/i18n/setlang/", {"language": "vi"}).status_code == 403
    assert not UserPreference.objects.exists()


def test_the_switcher_on_every_page_posts_to_set_language_and_marks_the_current_one(client, db):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="vi").content.decode()

    assert '<form class="language" action="/i18n/setlang/" method="post">' in html
    assert '<input type="hidden" name="next" value="/accounts/login/">' in html
    # Each language named in itself, as Django spells it.
    vietnamese = get_language_info("vi")["name_local"]
    assert f'<option value="vi" lang="vi" selected>{vietnamese}</option>' in html
    assert '<option value="th" lang="th">ภาษาไทย</option>' in html


def test_only_a_language_cxhub_speaks_can_be_saved(person):
    with pytest.raises(ServiceError):
        save_language(user=person, language="fr")
    with pytest.raises(IntegrityError):
        UserPreference.objects.create(user=person, language="fr")


def test_the_sign_in_page_speaks_the_visitor_s_language_and_signs_them_in(client, person):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="vi").content.decode()

    response = client.post(
        "/accounts/login/", {"username": "mai@example.com", "password": PASSWORD}
    )

    assert "<h1>Đăng nhập</h1>" in page
    assert "Địa chỉ email" in page
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


def test_signing_in_returns_a_person_to_the_page_they_wanted(client, person):
    response = client.post(
        "/accounts/login/?next=/admin/",
        {"username": "mai@example.com", "password": PASSWORD, "next": "/admin/"},
    )

    assert response["Location"] == "/admin/"


def test_a_wrong_password_is_explained_in_the_visitor_s_language(client, person):
    response = client.post(
        "/accounts/login/",
        {"username": "mai@example.com", "password": "wrong"},
        HTTP_ACCEPT_LANGUAGE="th",
    )

    assert response.status_code == 200
    assert "อีเมลและรหัสผ่านไม่ตรงกัน" in response.content.decode()


def test_visitors_get_a_sign_in_link_and_signed_in_people_a_sign_out_button(client, person):
    visitor = client.get("/").content.decode()
    member = signed_in(person).get("/").content.decode()

    assert '<a href="/accounts/login/">Sign in</a>' in visitor
    assert "Sign out" not in visitor
    assert '<form action="/accounts/logout/" method="post">' in member
    assert "mai@example.com" in member


def test_signing_out_takes_a_post_and_returns_home(person):
    client = signed_in(person)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "_auth_user_id" not in client.session
