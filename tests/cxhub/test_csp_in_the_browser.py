"""Every kind of page, in a real browser under the real policy: nothing refused, nothing
logged, nothing fetched from anywhere but our own origin."""

import pytest
from django.conf import settings
from django.test import Client

from surveys.models import SurveyResponse
from tests.factories import UserFactory
from tests.kiosk.helpers import LANGUAGE_NAMES, pair, wait_until

from .conftest import CHARTS_URL

# Registered before any page script runs, on every page the context opens.
LISTEN = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.violatedDirective} refused ${event.blockedURI} (${event.sourceFile}:${event.lineNumber}) ${event.sample}`
  );
});
"""


@pytest.fixture
def watched_page(new_page, live_server):
    page = new_page(bypass_csp=False)
    page.console = []
    page.foreign_requests = []

    def on_console(message):
        # Chrome logs every refusal as an error; notices such as a skipped autofocus are "info".
        if message.type in ("error", "warning"):
            page.console.append(f"{message.type}: {message.text}")

    def on_request(request):
        if not request.url.startswith((live_server.url, "data:")):
            page.foreign_requests.append(request.url)

    page.add_init_script(LISTEN)
    page.on("console", on_console)
    page.on("request", on_request)
    return page


def problems(page) -> dict[str, list[str]]:
    found = {
        "violations": page.evaluate("window.cspViolations"),
        "console": page.console,
        "errors": page.errors,
        "foreign requests": page.foreign_requests,
    }
    return {kind: items for kind, items in found.items() if items}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("url", "ready"),
    [
        ("/", "main h1"),
        ("/accounts/login/", "form.login"),
        ("/kiosk/", "form.pair"),
        ("/admin/login/", "#login-form"),
        ("/api/docs/", ".swagger-ui .info .title"),
    ],
)
def test_a_page_runs_under_the_policy_without_a_single_violation(watched_page, url, ready):
    watched_page.goto(url)
    watched_page.locator(ready).first.wait_for()
    watched_page.wait_for_load_state("networkidle")

    assert problems(watched_page) == {}


def settled(page, screen, key=None):
    """Until the kiosk shows that screen and takes taps (tests/kiosk's on_screen() waits with
    wait_for_function, which the policy refuses: Playwright compiles it with eval)."""
    question = f"[data-key='{key}']" if key else ""
    page.locator(f"#app[data-screen={screen}]{question}:not([data-busy])").wait_for()


@pytest.mark.django_db(transaction=True)
def test_a_customer_answers_at_the_kiosk_under_the_policy(watched_page, store, staff):
    page = watched_page
    pair(page, store)
    settled(page, "attract")
    page.get_by_role("button", name=LANGUAGE_NAMES["th"], exact=True).click()
    page.locator("html[lang=th]").wait_for()
    page.locator(".nps-row button").nth(9).click()
    settled(page, "question", "csat")
    page.locator(".face-button").nth(4).click()
    settled(page, "question", "ces")
    page.locator(".step").nth(6).click()
    settled(page, "question", "@staff")
    page.get_by_role("button", name=staff.display_name).click()
    settled(page, "question", "comment")
    page.locator("textarea").fill("บริการดีมาก")
    page.locator("#go").click()
    settled(page, "thanks")

    wait_until(page, lambda: SurveyResponse.objects.count() == 1, message="the response")
    assert problems(page) == {}


@pytest.mark.django_db(transaction=True)
def test_the_admin_runs_under_the_policy_for_a_signed_in_administrator(watched_page, live_server):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    watched_page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )

    for url in (
        "/admin/",
        "/admin/locations/location/add/",
        "/admin/surveys/survey/",
        "/admin/auth/user/add/",
    ):
        watched_page.goto(url)
        watched_page.locator("#content").wait_for()
        watched_page.wait_for_load_state("networkidle")

        assert problems(watched_page) == {}, url


@pytest.mark.django_db(transaction=True)
def test_a_bar_chart_a_heatmap_and_a_line_draw_under_the_policy(watched_page, chart_urls):
    watched_page.goto(CHARTS_URL)
    for chart in ("fig-bar", "fig-heatmap", "fig-trend"):
        watched_page.locator(f"#chart-{chart} .main-svg").first.wait_for()
    watched_page.locator("#chart-fig-bar .bars path").first.hover(force=True)
    watched_page.locator("#chart-fig-bar .hoverlayer .hovertext").wait_for()
    watched_page.wait_for_load_state("networkidle")

    assert problems(watched_page) == {}
    assert watched_page.locator("#chart-fig-bar .bars path").count() == 3
    assert watched_page.locator("#chart-fig-heatmap image").count() == 1
    assert watched_page.locator("#chart-fig-trend .scatterlayer path.js-line").count() == 1
    # plotly's own rules (its layers stacked on one another) arrived from
    # static/vendor/plotly/plotly.css, not from a <style> element.
    layer = watched_page.locator("#chart-fig-bar .main-svg").first
    assert layer.evaluate("svg => getComputedStyle(svg).position") == "absolute"
    assert watched_page.locator("style").count() == 0


@pytest.mark.django_db(transaction=True)
def test_charts_write_numbers_the_way_the_reader_s_language_does(watched_page, chart_urls):
    watched_page.set_extra_http_headers({"Accept-Language": "vi"})
    watched_page.goto(CHARTS_URL)

    labels = watched_page.locator("#chart-fig-bar .bartext")
    labels.first.wait_for()

    assert labels.all_text_contents() == ["1.234,5", "987,3", "42,0"]
    assert problems(watched_page) == {}
