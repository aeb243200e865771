"""A real browser (Debian's chromium, driven by Playwright) against the app served by
pytest-django's live server (a real origin, so the service worker runs). Tests that need
the browser skip when chromium or the playwright package is missing."""

import os
from pathlib import Path

import pytest

from .helpers import PHONE, TABLET

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # depends on the machine
    sync_playwright = None

# Debian's chromium; KIOSK_CHROMIUM points elsewhere (another distribution's path).
CHROMIUM = Path(os.environ.get("KIOSK_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Other test directories import `browser` into their conftest, which makes a fixture of
# their own; they all share one chromium, since Playwright's sync API cannot start twice on
# one thread. The last of them to finish closes it.
_shared: dict = {"users": 0}


@pytest.fixture(scope="session")
def browser():
    if sync_playwright is None or not CHROMIUM.exists():
        pytest.skip(f"browser tests need the playwright package and {CHROMIUM}")
    if not _shared["users"]:
        # Playwright's sync API keeps an asyncio loop running on this thread, which Django
        # takes for an async context and refuses the ORM in; the tests are plain sync code.
        _shared["unsafe"] = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        _shared["playwright"] = sync_playwright().start()
        _shared["browser"] = _shared["playwright"].chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS
        )
    _shared["users"] += 1
    try:
        yield _shared["browser"]
    finally:
        _shared["users"] -= 1
        if not _shared["users"]:
            _shared.pop("browser").close()
            _shared.pop("playwright").stop()
            unsafe = _shared.pop("unsafe")
            if unsafe is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe


@pytest.fixture
def new_page(browser, live_server):
    """Pages in fresh browser contexts: their own storage and service workers."""
    contexts = []

    def make(viewport=TABLET, motion="reduce", bypass_csp=True):
        context = browser.new_context(
            viewport=viewport,
            base_url=live_server.url,
            service_workers="allow",
            has_touch=viewport == PHONE,
            # Without animations a test taps as soon as a screen has settled.
            reduced_motion=motion,
            # Playwright's wait_for_function compiles its predicate with eval and axe goes in
            # as an inline script: our CSP refuses both. tests/cxhub/test_csp_in_the_browser.py
            # runs the pages, the kiosk included, under the real policy (bypass_csp=False).
            bypass_csp=bypass_csp,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
