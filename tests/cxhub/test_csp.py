"""Every kind of page we serve sends one strict Content-Security-Policy and runs no inline
script: scripts come from our own origin only, and data reaches a page as JSON blocks."""

from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.factories import UserFactory

from .conftest import CHARTS_URL

PAGES = [
    "/",
    "/accounts/login/",
    "/kiosk/",
    "/kiosk/sw.js",
    "/admin/login/",
    "/api/docs/",
    "/api/docs/?script=",
]
SIGNED_IN_PAGES = ["/", "/admin/", "/admin/locations/location/add/"]


def policy(response) -> dict[str, list[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {name: sources for name, *sources in directives}


class InlineCode(HTMLParser):
    """Inline script bodies, event-handler attributes and javascript: links in a page."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.found.append(f"<script {attrs}> without src")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def assert_strict(response):
    directives = policy(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["font-src"] == ["'self'"]
    # Style elements and stylesheets only from our origin; only attributes may be inline.
    assert directives["style-src-elem"] == ["'self'"]
    assert directives["style-src-attr"] == ["'unsafe-inline'"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_kind_of_page_sends_the_strict_policy(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_pages_for_signed_in_people_send_the_strict_policy_too(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.django_db
def test_no_script_source_is_unsafe_anywhere(client):
    for url in PAGES:
        sources = [s for name, s in policy(client.get(url)).items() if name.startswith("script")]

        assert all("'unsafe-inline'" not in s and "'unsafe-eval'" not in s for s in sources), url


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", [url for url in PAGES if "script" not in url and "sw.js" not in url]
)
def test_no_page_has_inline_code(client, url):
    assert inline_code(client.get(url).content.decode()) == []


@pytest.mark.parametrize("url", SIGNED_IN_PAGES)
def test_no_page_for_signed_in_people_has_inline_code(admin_client, url):
    assert inline_code(admin_client.get(url).content.decode()) == []


@pytest.mark.django_db
def test_a_page_of_charts_hands_its_figures_over_as_json_data_not_code(client, chart_urls):
    html = client.get(CHARTS_URL).content.decode()

    assert inline_code(html) == []
    assert html.count('<script id="fig-') == 3
    assert '<script id="fig-bar" type="application/json">' in html


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_script_as_a_file(client):
    page = client.get("/api/docs/").content.decode()
    script = client.get("/api/docs/?script=")

    assert '<script src="/api/docs/?script="></script>' in page
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content
