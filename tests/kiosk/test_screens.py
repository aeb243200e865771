"""Every kiosk screen in every language: axe finds nothing serious, every target is at least
48 px, nothing is wider than the screen, on a 10" tablet (both ways round) and a phone.
Screenshots of each land in test-artifacts/screenshots/."""

import re

import pytest

from surveys.demo import add_contact_question
from tests.factories import StaffMemberFactory

from .helpers import (
    AXE,
    LANGUAGE_NAMES,
    PHONE,
    TABLET,
    TABLET_PORTRAIT,
    layout_problems,
    long_press_corner,
    on_screen,
    pair,
    serious_violations,
    shoot,
    tap,
)

LANGUAGES = ["vi", "th", "en"]


class Inspector:
    def __init__(self, page, device):
        self.page, self.device, self.problems = page, device, {}

    def look(self, lang, screen):
        found = serious_violations(self.page) + layout_problems(self.page)
        if found:
            self.problems[f"{self.device}/{lang}/{screen}"] = found
        shoot(self.page, f"{self.device}-{lang}-{screen}")


def walk_survey(page, lang, inspect, staff_menu_pin=None):
    """Through every screen a customer can meet, in one language."""
    on_screen(page, "attract")
    tap(page, page.get_by_role("button", name=LANGUAGE_NAMES[lang], exact=True))
    on_screen(page, "attract")
    inspect(lang, "attract")
    if staff_menu_pin:
        long_press_corner(page)
        page.get_by_role("dialog").wait_for()
        inspect(lang, "staff-pin")
        for digit in staff_menu_pin:
            page.get_by_role("button", name=digit, exact=True).click()
        page.locator("#status-title").wait_for()
        inspect(lang, "staff-status")
        page.locator(".dialog .button").last.click()  # close
    tap(page, page.locator(".nps-row button").nth(3))
    for key, choose in (
        ("csat", lambda: page.locator(".face-button").nth(1)),
        ("ces", lambda: page.locator(".step").nth(2)),
        ("reason", lambda: page.locator(".chip").nth(0)),
    ):
        on_screen(page, "question", key)
        inspect(lang, key)
        tap(page, choose())
    tap(page, page.locator("#go"))
    on_screen(page, "question", "@staff")
    inspect(lang, "staff")
    tap(page, page.locator(".person").first)
    on_screen(page, "question", "comment")
    page.locator("textarea").fill("Cà phê ngon · กาแฟอร่อย · Great coffee")
    inspect(lang, "comment")
    tap(page, page.locator("#go"))
    on_screen(page, "question", "contact")
    page.locator("#consent").check()
    page.locator("#contact-phone").fill("0901234567")
    inspect(lang, "contact")
    tap(page, page.locator("#go"))
    on_screen(page, "thanks")
    inspect(lang, "thanks")
    tap(page, page.locator(".thanks"))


@pytest.mark.parametrize(
    ("device", "viewport", "languages", "staff_menu"),
    [
        ("tablet", TABLET, LANGUAGES, True),
        ("portrait", TABLET_PORTRAIT, ["vi"], False),
        ("phone", PHONE, ["th", "en"], False),
    ],
)
def test_every_screen_is_accessible_and_fits(
    new_page, store, staff, device, viewport, languages, staff_menu
):
    if not AXE.exists():
        pytest.skip("axe-core is missing: `npm ci` installs it into node_modules/")
    store.name = "Cà Phê Sen Quận 1"
    store.save(update_fields=["name"])
    for code, name in [
        ("NV-011", "Lê Hoàng Minh"),
        ("NV-012", "Võ Ngọc Ánh"),
        ("NV-013", "Phan Gia Huy"),
    ]:
        StaffMemberFactory(location=store, code=code, display_name=name)
    add_contact_question(store.organization)
    page = new_page(viewport)
    inspector = Inspector(page, device)
    page.goto("/kiosk/")
    for lang in languages:
        tap(page, page.get_by_role("button", name=LANGUAGE_NAMES[lang], exact=True))
        on_screen(page, "pairing")
        inspector.look(lang, "pairing")
    pin = pair(page, store)[-4:]
    for lang in languages:
        walk_survey(page, lang, inspector.look, pin if staff_menu else None)

    assert inspector.problems == {}
    assert page.errors == []


def test_every_word_of_the_app_is_translated(page):
    page.goto("/kiosk/")
    words = page.evaluate("import('/static/kiosk/i18n.js').then((module) => module.WORDS)")
    en, vi, th = words["en"], words["vi"], words["th"]

    assert set(vi) == set(th) == set(en)
    for key, english in en.items():
        if isinstance(english, list):
            assert len(vi[key]) == len(th[key]) == len(english), key
            english, vietnamese, thai = " ".join(english), " ".join(vi[key]), " ".join(th[key])
        else:
            vietnamese, thai = vi[key], th[key]
        assert re.search("[\u0e00-\u0e7f]", thai), f"{key} is not in Thai"
        if key != "email":  # the same word in Vietnamese
            assert vietnamese != english, f"{key} is not in Vietnamese"
        placeholders = set(re.findall(r"\{\w+\}", english))
        assert set(re.findall(r"\{\w+\}", vietnamese)) == placeholders, key
        assert set(re.findall(r"\{\w+\}", thai)) == placeholders, key
