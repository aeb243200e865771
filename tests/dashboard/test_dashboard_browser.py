"""The dashboards in a real browser, signed in as each role of the demo chain: every chart is
drawn, nothing is logged, thrown or refused by the content security policy, the pages read
on a phone, the filters and the language switcher work. Full-page screenshots of every page
land in test-artifacts/screenshots/<role>-<page>-<viewport>.png."""

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from locations.models import Role
from surveys.demo import STAR_STAFF
from surveys.demo_data import LOGINS, VIETNAM
from tests.kiosk.helpers import PHONE, SHOTS

from .conftest import DAYS

# The seeded chain is committed once for the module (tests/dashboard/conftest.py); the mark
# makes pytest-django set up the test database, and rolls back what each test's own requests
# write on SQLite, where the live server shares the test's connection.
pytestmark = pytest.mark.django_db

DESKTOP = {"width": 1280, "height": 900}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
STORE = "HCM-01"  # the store manager's store, in the regional manager's region
LOGIN = {login.role: login for login in LOGINS}

# Each role starts on its widest page and drills down from there, as a person would.
ROLES = {
    "head-office": Role.HEAD_OFFICE,
    "regional-manager": Role.REGIONAL_MANAGER,
    "store-manager": Role.STORE_MANAGER,
}
DRILL_DOWN = ["organization", "region", "store", "staff"]
LANDS_ON = {"head-office": "organization", "regional-manager": "region", "store-manager": "store"}


def pages_of(role: str) -> list[str]:
    """The pages a role may open, from the one it lands on down."""
    return DRILL_DOWN[DRILL_DOWN.index(LANDS_ON[role]) :]


# On the staff page at the default period (30 days, a point a day) the demo's barista has
# fewer answers a day than the privacy threshold, so the page says there are not enough
# answers instead of a trend; a longer custom period shows it (a point a week), below.
CHARTS = {
    "organization": {"trend", "regions", "region_trends", "volume", "reasons"},
    "region": {"trend", "volume", "reasons"},
    "store": {"trend", "composition", "heat_score", "heat_volume", "reasons", "touchpoints"},
    "staff": set(),
}

# Registered before any page script runs, on every page a context opens.
LISTEN_FOR_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} refused ${event.blockedURI} (${event.sourceFile}:${event.lineNumber}) ${event.sample}`
  );
});
"""

DRAWN = """
(div) => div.classList.contains("js-plotly-plot")
  && ((div._fullData && div._fullData.length > 0) || div.querySelector(".main-svg") !== null)
"""
ALL_DRAWN = f"() => [...document.querySelectorAll('div.chart')].every({DRAWN})"
CHART_STATES = f"""() => Object.fromEntries(
  [...document.querySelectorAll("div.chart")].map((div) => [
    div.dataset.figure.replace(/^fig-/, ""), ({DRAWN})(div),
  ])
)"""
LAYOUT = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  tables: [...document.querySelectorAll("main table")].map((table) => {
    const wrap = table.closest(".table-wrap");
    return {
      table: table.className,
      wrapped: wrap !== null,
      scrolls: wrap !== null && ["auto", "scroll"].includes(getComputedStyle(wrap).overflowX),
      right: Math.round((wrap || table).getBoundingClientRect().right),
    };
  }),
  // What sticks out, to say why a page is too wide.
  wide: [...document.querySelectorAll("main *")]
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1
      && !el.closest(".table-wrap"))
    .slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`),
})"""


@dataclass
class Visit:
    role: str
    page: str
    viewport: str
    path: str
    charts: dict[str, bool]
    console: list[str]
    errors: list[str]
    violations: list[str]
    layout: dict
    screenshot: Path

    @property
    def name(self) -> str:
        return f"{self.role}-{self.page}-{self.viewport}"


@dataclass
class Watched:
    """A page whose console errors, uncaught errors and CSP refusals are collected."""

    page: object
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def take(self) -> tuple[list[str], list[str], list[str]]:
        """What happened on the current document since the last call."""
        violations = self.page.evaluate("window.__cspViolations || []")
        found = (self.console[:], self.errors[:], violations)
        self.console.clear()
        self.errors.clear()
        return found


def paths(chain) -> dict[str, str]:
    base = f"/dashboard/{chain.slug}/"
    return {
        "organization": base,
        "region": f"{base}regions/{chain.vietnam}/",
        "store": f"{base}stores/{STORE}/",
        "staff": f"{base}stores/{STORE}/staff/{STAR_STAFF}/",
    }


def link_to(page, target: str):
    """The link a person follows to drill down to `target`."""
    return {
        "region": page.locator("ul.drill a", has_text=VIETNAM),
        "store": page.locator(f"tr[data-location='{STORE}'] a"),
        "staff": page.locator(f"tr[data-staff='{STAR_STAFF}'] a"),
    }[target]


@pytest.fixture(scope="module")
def tabs(browser, chain) -> dict[str, Watched]:
    """One tab per size for the whole module, signed out before each use. Its HTTP cache
    keeps plotly.js (4 MB, sent slowly by the test server) from being fetched again, and its
    renderer from compiling it again, for every sign-in."""
    made = {}
    for name, size in VIEWPORTS.items():
        phone = size == PHONE
        context = browser.new_context(
            viewport=size, base_url=chain.url, locale="en-US", is_mobile=phone, has_touch=phone
        )
        context.set_default_timeout(15_000)
        context.add_init_script(LISTEN_FOR_CSP)
        made[name] = watch(context.new_page())
    yield made
    for watched in made.values():
        watched.page.context.close()


def watch(page) -> Watched:
    watched = Watched(page)
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and watched.console.append(f"{message.text} ({message.location.get('url')})")
        ),
    )
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


def signed_out(watched: Watched) -> Watched:
    watched.page.context.clear_cookies()
    watched.console.clear()
    watched.errors.clear()
    return watched


@pytest.fixture
def desktop_tab(tabs):
    return signed_out(tabs["desktop"])


def sign_in(page, role: str) -> None:
    login = LOGIN[ROLES[role]]
    page.goto("/accounts/login/")
    page.locator("form.login [name=username]").fill(login.email)
    page.locator("form.login [name=password]").fill(login.password)
    with page.expect_navigation():
        page.locator("form.login [type=submit]").click()
    page.wait_for_load_state()


def wait_for_charts(page) -> None:
    # On a timeout the tests say which chart was not drawn.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(ALL_DRAWN, timeout=10_000)


def look_at(watched: Watched, role: str, page_name: str, viewport: str) -> Visit:
    page = watched.page
    wait_for_charts(page)
    page.evaluate("document.fonts.ready.then(() => true)")
    charts = page.evaluate(CHART_STATES)
    console, errors, violations = watched.take()
    SHOTS.mkdir(parents=True, exist_ok=True)
    screenshot = SHOTS / f"{role}-{page_name}-{viewport}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    return Visit(
        role=role,
        page=page_name,
        viewport=viewport,
        path=urlsplit(page.url).path,
        charts=charts,
        console=console,
        errors=errors,
        violations=violations,
        layout=page.evaluate(LAYOUT),
        screenshot=screenshot,
    )


@pytest.fixture(scope="module")
def tour(tabs) -> list[Visit]:
    """Every role signs in at each size and drills down through every page it may open,
    looking at each once; the tests below judge what was seen."""
    visits = []
    for viewport in VIEWPORTS:
        for role in ROLES:
            watched = signed_out(tabs[viewport])
            sign_in(watched.page, role)
            for i, page_name in enumerate(pages_of(role)):
                if i:
                    with watched.page.expect_navigation():
                        link_to(watched.page, page_name).click()
                visits.append(look_at(watched, role, page_name, viewport))
    return visits


def opened(tour) -> dict[tuple[str, str], list[str]]:
    """The paths each role opened at each size, in order."""
    found = {}
    for visit in tour:
        found.setdefault((visit.role, visit.viewport), []).append(visit.path)
    return found


def test_signing_in_takes_each_role_to_their_own_page(tour, chain):
    landed = {key: paths_opened[0] for key, paths_opened in opened(tour).items()}

    assert landed == {
        (role, viewport): paths(chain)[LANDS_ON[role]] for viewport in VIEWPORTS for role in ROLES
    }


def test_each_role_opens_every_page_it_may_see_by_following_links(tour, chain):
    assert opened(tour) == {
        (role, viewport): [paths(chain)[page] for page in pages_of(role)]
        for viewport in VIEWPORTS
        for role in ROLES
    }


def test_every_chart_on_every_page_is_drawn_by_plotly(tour):
    not_drawn = {}
    for visit in tour:
        missing = CHARTS[visit.page] - visit.charts.keys()
        blank = {name for name, drawn in visit.charts.items() if not drawn}
        if missing or blank:
            not_drawn[visit.name] = {"missing": sorted(missing), "not drawn": sorted(blank)}

    assert not_drawn == {}


def test_no_page_logs_an_error_throws_or_breaks_the_content_security_policy(tour):
    problems = {
        visit.name: found
        for visit in tour
        if (
            found := {
                kind: items
                for kind, items in (
                    ("console", visit.console),
                    ("errors", visit.errors),
                    ("csp", visit.violations),
                )
                if items
            }
        )
    }

    assert problems == {}


def test_a_full_page_screenshot_of_every_page_is_saved_at_desktop_and_phone_sizes(tour):
    expected = {
        SHOTS / f"{role}-{page}-{viewport}.png"
        for role in ROLES
        for page in pages_of(role)
        for viewport in VIEWPORTS
    }

    assert {visit.screenshot for visit in tour} == expected
    assert [path.name for path in sorted(expected) if path.stat().st_size < 10_000] == []


def test_on_a_phone_no_page_scrolls_sideways_and_tables_scroll_inside_their_wrap(tour):
    too_wide, loose_tables = {}, {}
    for visit in tour:
        if visit.viewport != "phone":
            continue
        layout = visit.layout
        if layout["scrollWidth"] > PHONE["width"] + 1 or layout["innerWidth"] > PHONE["width"]:
            too_wide[visit.name] = {k: layout[k] for k in ("scrollWidth", "innerWidth", "wide")}
        loose = [
            t
            for t in layout["tables"]
            if not (t["wrapped"] and t["scrolls"] and t["right"] <= PHONE["width"] + 1)
        ]
        if loose:
            loose_tables[visit.name] = loose

    assert too_wide == {}
    assert loose_tables == {}
    assert any(visit.layout["tables"] for visit in tour if visit.viewport == "phone")


def test_choosing_a_preset_period_reloads_the_page_with_it_in_the_url(desktop_tab):
    page = desktop_tab.page
    sign_in(page, "store-manager")
    assert "range" not in parse_qs(urlsplit(page.url).query)

    with page.expect_navigation():
        page.locator("#filter-range").select_option("7d")

    query = parse_qs(urlsplit(page.url).query)
    assert query["range"] == ["7d"]
    assert query["question"] == ["nps"]
    assert page.locator("#filter-range").input_value() == "7d"
    wait_for_charts(page)
    charts = page.evaluate(CHART_STATES)
    assert "trend" in charts
    assert all(charts.values())
    assert desktop_tab.take() == ([], [], [])


def test_picking_a_custom_period_reveals_the_date_inputs_without_reloading(desktop_tab):
    page = desktop_tab.page
    sign_in(page, "store-manager")
    with page.expect_navigation():
        link_to(page, "staff").click()
    dates = page.locator(".custom-date input")
    assert [dates.nth(i).is_visible() for i in range(2)] == [False, False]
    url = page.url

    page.locator("#filter-range").select_option("custom")

    assert page.url == url
    assert [dates.nth(i).is_visible() for i in range(2)] == [True, True]
    assert [dates.nth(i).is_enabled() for i in range(2)] == [True, True]


def test_a_custom_period_is_shown_with_its_dates_in_the_url(desktop_tab):
    page = desktop_tab.page
    sign_in(page, "store-manager")
    with page.expect_navigation():
        link_to(page, "staff").click()
    today = date.fromisoformat(page.locator("input[name=to]").input_value())
    first = today - timedelta(days=DAYS - 1)

    page.locator("#filter-range").select_option("custom")
    page.locator("input[name=from]").fill(first.isoformat())
    with page.expect_navigation():
        page.locator("form.filters [type=submit]").click()

    query = parse_qs(urlsplit(page.url).query)
    assert (query["range"], query["from"], query["to"]) == (
        ["custom"],
        [first.isoformat()],
        [today.isoformat()],
    )
    assert page.locator("input[name=from]").is_enabled()
    # Weeks of answers: the barista's trend passes the privacy threshold week by week.
    wait_for_charts(page)
    assert page.evaluate(CHART_STATES) == {"trend": True}
    assert desktop_tab.take() == ([], [], [])


def choose_language(page, code: str) -> None:
    """Through the header's language form, as a person would."""
    page.locator("form.language select[name=language]").select_option(code)
    with page.expect_navigation():
        page.locator("form.language [type=submit]").click()
    page.wait_for_load_state()


@pytest.fixture
def store_manager(desktop_tab):
    sign_in(desktop_tab.page, "store-manager")
    yield desktop_tab
    # The choice is saved for the person, not the browser: leave them on English again.
    choose_language(desktop_tab.page, "en")


def test_switching_to_vietnamese_shows_the_page_in_vietnamese_with_decimal_commas(store_manager):
    page = store_manager.page
    wait_for_charts(page)
    nps = page.locator(".score-card[data-question=nps] .score")
    assert page.locator("html").get_attribute("lang") == "en"
    assert re.fullmatch(r"-?\d+\.\d", nps.inner_text())

    choose_language(page, "vi")
    wait_for_charts(page)

    assert page.locator("html").get_attribute("lang") == "vi"
    assert urlsplit(page.url).path.endswith(f"/stores/{STORE}/")
    assert page.locator("form.filters label").first.inner_text().startswith("Khoảng thời gian")
    scores = page.locator(".score-card .score[data-score]")
    texts = [scores.nth(i).inner_text() for i in range(scores.count())]
    assert len(texts) == 3
    # A score has one decimal (two for CES), so even a whole number is written "42,0".
    assert [t for t in texts if not re.fullmatch(r"-?\d+,\d{1,2}", t)] == []
    separators = page.locator("div.chart").evaluate_all(
        "(divs) => divs.map((div) => div.dataset.separators)"
    )
    assert set(separators) == {",."}
    assert store_manager.take() == ([], [], [])


def test_a_store_manager_goes_from_the_store_page_to_a_case_and_acts_on_it(desktop_tab):
    page = desktop_tab.page
    sign_in(page, "store-manager")
    with page.expect_navigation():
        page.locator("p.open-cases a").click()
    assert urlsplit(page.url).path == "/cases/"
    with page.expect_navigation():
        page.locator("table.cases tbody tr a").first.click()
    assert re.fullmatch(r"/cases/\d+/", urlsplit(page.url).path)

    page.locator("textarea[name=note]").fill("Đã gọi lại cho khách, hẹn ghé lại tuần sau")
    with page.expect_navigation():
        page.locator("form.case-form [type=submit]").click()

    assert "Đã gọi lại cho khách" in page.locator("ul.notes").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "store-manager-case-desktop.png"), full_page=True)
    assert desktop_tab.take() == ([], [], [])
