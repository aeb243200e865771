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


@pytest.fixture(scope="session")
def browser():
    if sync_playwright is None or not CHROMIUM.exists():
        pytest.skip(f"browser tests need the playwright package and {CHROMIUM}")
    # Playwright's sync API keeps an asyncio loop running on this thread, which Django takes
    # for an async context and refuses the ORM in; the tests themselves are plain sync code.
    unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            yield browser
            browser.close()
    finally:
        if unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe


@pytest.fixture
def new_page(browser, live_server):
    """Pages in fresh browser contexts: their own storage and service workers."""
    contexts = []

    def make(viewport=TABLET, motion="reduce"):
        context = browser.new_context(
            viewport=viewport,
            base_url=live_server.url,
            service_workers="allow",
            has_touch=viewport == PHONE,
            # Without animations a test taps as soon as a screen has settled.
            reduced_motion=motion,
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
