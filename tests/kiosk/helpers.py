"""What the kiosk's browser tests share: pairing a tablet, tapping like a customer, axe,
layout checks and screenshots."""

import re
import time
from pathlib import Path

from django.core.cache import cache

from locations.services import create_pairing_code

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
TABLET = {"width": 1280, "height": 800}
TABLET_PORTRAIT = {"width": 800, "height": 1280}
PHONE = {"width": 390, "height": 844}
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "th": "ไทย", "en": "English"}


def pair(page, location, touchpoint=None) -> str:
    """Pair the tablet the way staff do: open /kiosk/, type a fresh code. Returns the code
    (its last four digits are the staff PIN)."""
    cache.clear()  # the pairing throttle counts every test's pairing from 127.0.0.1
    code = create_pairing_code(location=location, touchpoint=touchpoint)
    page.goto("/kiosk/")
    page.locator("#code").fill(code)
    page.locator("form.pair button[type=submit]").click()
    page.locator("#app[data-screen=attract]").wait_for()
    return code


def on_screen(page, name, key=None, timeout=10_000):
    """Until the app shows that screen (and question) and takes taps again."""
    page.wait_for_function(
        """([name, key]) => {
            const app = document.getElementById('app');
            return app.dataset.screen === name && (key === null || app.dataset.key === key)
                && !app.hasAttribute('data-busy');
        }""",
        arg=[name, key],
        polling="raf",
        timeout=timeout,
    )


def tap(page, locator):
    """A customer's tap. The app ignores taps while a new screen settles (the second half of
    a double tap lands there), so wait for that as a person would."""
    page.wait_for_function(
        "!document.getElementById('app').hasAttribute('data-busy')", polling="raf"
    )
    locator.click()


def wait_for_worker(page):
    """Until the service worker has cached the shell and controls the page."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null")


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical violations, and any text whose contrast axe could not
    check (a background it cannot see through would hide a contrast failure)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations', 'incomplete']})")
    found = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    found += [v for v in result["incomplete"] if v["id"] == "color-contrast"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
    ]


def layout_problems(page) -> list[str]:
    """Touch targets under 48 px and content wider than the screen."""
    return page.evaluate(
        """() => {
        const problems = [];
        const root = document.scrollingElement;
        if (root.scrollWidth > innerWidth + 1) problems.push(`page ${root.scrollWidth}px wide`);
        const screen = document.getElementById('screen');
        if (screen.scrollWidth > screen.clientWidth + 1) problems.push('screen scrolls sideways');
        for (const el of document.querySelectorAll('button, input, textarea, select, a[href]')) {
          const box = el.getBoundingClientRect();
          if (!box.width && !box.height) continue;  // not shown
          if (box.width < 47.5 || box.height < 47.5)
            problems.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.name || '').trim()}" is ${Math.round(box.width)}x${Math.round(box.height)}`);
        }
        return problems;
      }"""
    )


def shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def wait_until(page, predicate, timeout=15.0, message="condition"):
    """Poll the database while the browser works on its own. Waiting through Playwright (not
    time.sleep) lets it run the test's route handlers meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def long_press_corner(page, seconds=3.2):
    page.mouse.move(20, 20)
    page.mouse.down()
    page.wait_for_timeout(seconds * 1000)
    page.mouse.up()
