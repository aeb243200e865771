"""The pages around the kiosk on a phone, in the two languages with the longest words: nothing
wider than the screen, and nothing axe finds serious."""

import pytest

from tests.kiosk.helpers import AXE, PHONE, serious_violations

from .conftest import CHARTS_URL


def width_of(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["vi", "th"])
def test_home_and_sign_in_fit_a_phone_and_pass_axe(new_page, language):
    if not AXE.exists():
        pytest.skip("axe-core is missing: run npm ci")
    page = new_page(viewport=PHONE)
    page.set_extra_http_headers({"Accept-Language": language})

    for url in ("/", "/accounts/login/"):
        page.goto(url)
        page.locator(f"html[lang={language}]").wait_for()

        assert width_of(page) <= PHONE["width"], url
        assert serious_violations(page) == [], url


@pytest.mark.django_db(transaction=True)
def test_charts_take_the_width_of_a_phone(new_page, chart_urls):
    page = new_page(viewport=PHONE)
    page.goto(CHARTS_URL)
    page.locator("#chart-fig-heatmap .main-svg").first.wait_for()

    chart = page.locator("#chart-fig-bar .main-svg").first.bounding_box()
    assert width_of(page) <= PHONE["width"]
    assert PHONE["width"] - 60 <= chart["width"] <= PHONE["width"]
