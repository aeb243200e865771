"""The kiosk's page, service worker and manifest as the server sends them, and the rules the
app's files keep: small, nothing from outside, nothing inline, every word translated."""

import json
import re
from html.parser import HTMLParser

import pytest

from surveys.kiosk_views import APP_VERSION

from .helpers import ROOT

KIOSK_STATIC = ROOT / "static" / "kiosk"
SW_TEMPLATE = ROOT / "templates" / "kiosk" / "sw.js"
JS_BUDGET = 60_000  # bytes, uncompressed


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.script_bodies = [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_bodies.append(data)


@pytest.fixture
def shell(client):
    response = client.get("/kiosk/")
    assert response.status_code == 200
    return response


def test_the_page_has_no_inline_script_or_handler_and_is_never_cached_stale(shell):
    tags = Tags()
    tags.feed(shell.content.decode())

    assert "no-cache" in shell["Cache-Control"]
    assert tags.script_bodies == []
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts and all(attrs.get("src", "").startswith("/static/kiosk/") for attrs in scripts)
    handlers = [(tag, name) for tag, attrs in tags.tags for name in attrs if name.startswith("on")]
    assert handlers == []
    assert not any("style" in attrs for _, attrs in tags.tags)


def test_the_page_hands_the_app_its_urls_and_version(shell):
    tags = Tags()
    tags.feed(shell.content.decode())
    html = dict(tags.tags)["html"]

    urls = json.loads(html["data-urls"])
    assert urls["batch"] == "/api/v1/kiosk/responses/batch/"
    assert urls["pair"] == "/api/v1/kiosk/pair/"
    assert urls["sw"] == "/kiosk/sw.js"
    assert urls["scope"] == "/kiosk/"
    assert re.fullmatch(rf"{re.escape(APP_VERSION)}\+[0-9a-f]{{10}}", html["data-version"])


def test_the_service_worker_is_served_from_the_kiosk_scope_and_never_cached(client, shell):
    response = client.get("/kiosk/sw.js")
    body = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "no-cache" in response["Cache-Control"]
    assert response["Service-Worker-Allowed"] == "/kiosk/"
    version = re.search(r'data-version="([^"]+)"', shell.content.decode()).group(1)
    assert f'"version": "{version}"' in body


def test_the_service_worker_caches_the_shell_and_every_kiosk_file(client):
    body = client.get("/kiosk/sw.js").content.decode()
    setup = json.loads(re.search(r"const SETUP = (\{.*?\n\});", body, re.S).group(1))
    wanted = {
        f"/static/kiosk/{path.relative_to(KIOSK_STATIC).as_posix()}"
        for path in KIOSK_STATIC.rglob("*")
        if path.suffix in {".js", ".css", ".woff2", ".png", ".svg"}
    }

    assert {"/kiosk/", "/kiosk/manifest.webmanifest"} <= set(setup["precache"])
    assert wanted <= set(setup["precache"])
    assert setup["config"] == "/api/v1/kiosk/config/"
    for url in setup["precache"]:
        assert client.get(url).status_code == 200, url


def test_the_manifest_installs_the_kiosk_full_screen_in_its_scope(client):
    response = client.get("/kiosk/manifest.webmanifest")
    manifest = json.loads(response.content)

    assert response["Content-Type"] == "application/manifest+json"
    assert manifest["start_url"] == manifest["scope"] == "/kiosk/"
    assert manifest["display"] == "fullscreen"
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_the_kiosk_javascript_stays_under_60_kb():
    files = [*KIOSK_STATIC.rglob("*.js"), SW_TEMPLATE]
    total = sum(path.stat().st_size for path in files)

    assert len(files) >= 7
    assert total < JS_BUDGET, f"kiosk JS is {total} bytes; the budget is {JS_BUDGET}"


def test_nothing_is_loaded_from_another_origin():
    files = [*KIOSK_STATIC.rglob("*.js"), *KIOSK_STATIC.rglob("*.css"), SW_TEMPLATE]
    files += list((ROOT / "templates" / "kiosk").glob("*.html"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        # The one absolute URL allowed is SVG's namespace name, which is never fetched.
        text = text.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path


def test_the_fonts_and_their_licence_ship_with_the_app():
    fonts = {path.name for path in (KIOSK_STATIC / "fonts").glob("*.woff2")}

    for subset in ("latin", "latin-ext", "vietnamese"):
        assert f"noto-sans-{subset}-400-normal.woff2" in fonts
    assert "noto-sans-thai-thai-400-normal.woff2" in fonts
    for licence in ("OFL-NotoSans.txt", "OFL-NotoSansThai.txt"):
        assert "SIL Open Font License" in (KIOSK_STATIC / "fonts" / licence).read_text()
    css = (KIOSK_STATIC / "kiosk.css").read_text()
    assert all(f"fonts/{name}" in css for name in fonts)
