import pytest

# The kiosk's real browser (Debian's chromium through Playwright) serves these tests too.
from tests.kiosk.conftest import browser, new_page  # noqa: F401

CHARTS_URL = "/charts-under-test/"


@pytest.fixture
def chart_urls(settings):
    """The site plus a page of charts (tests/cxhub/urls.py) at CHARTS_URL."""
    settings.ROOT_URLCONF = "tests.cxhub.urls"
