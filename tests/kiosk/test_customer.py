"""Customers at the kiosk, in a real browser: every language and kind of question, the back
step, double taps, and the idle timeout; the answers checked in the database."""

import pytest

from surveys.default_survey import QUESTIONS
from surveys.demo import CONTACT_QUESTION, add_contact_question
from surveys.models import SurveyResponse
from tests.factories import StaffMemberFactory

from .helpers import LANGUAGE_NAMES, on_screen, pair, tap, wait_until

TEXT = {q["key"]: q["text"] for q in [*QUESTIONS, CONTACT_QUESTION]}
REASONS = {c["key"]: c["text"] for c in QUESTIONS[3]["choices"]}


@pytest.fixture
def survey(store):
    return add_contact_question(store.organization)


def heading(page):
    return page.locator("#question").inner_text()


def answers_of(response):
    return {a.question: a.value for a in response.answers.all()}


def serve(page, *, lang, nps, csat, ces, reasons=(), staff=None, comment="", email=""):
    """One customer, tapping through every screen the survey shows them."""
    on_screen(page, "attract")
    tap(page, page.get_by_role("button", name=LANGUAGE_NAMES[lang], exact=True))
    page.locator(f"html[lang={lang}]").wait_for()
    assert heading(page) == TEXT["nps"][lang]
    tap(page, page.locator(".nps-row button").nth(nps))

    on_screen(page, "question", "csat")
    assert heading(page) == TEXT["csat"][lang]
    tap(page, page.locator(".face-button").nth(csat - 1))

    on_screen(page, "question", "ces")
    assert heading(page) == TEXT["ces"][lang]
    tap(page, page.locator(".step").nth(ces - 1))

    if reasons:
        on_screen(page, "question", "reason")
        assert heading(page) == TEXT["reason"][lang]
        for reason in reasons:
            tap(page, page.get_by_role("button", name=REASONS[reason][lang]))
        tap(page, page.locator("#go"))

    on_screen(page, "question", "@staff")
    if staff:
        tap(page, page.get_by_role("button", name=staff.display_name))
    else:
        tap(page, page.locator(".person.unsure"))

    on_screen(page, "question", "comment")
    assert heading(page) == TEXT["comment"][lang]
    page.locator("textarea").fill(comment)
    tap(page, page.locator("#go"))

    on_screen(page, "question", "contact")
    assert heading(page) == TEXT["contact"][lang]
    if email:
        page.locator("#consent").check()
        page.locator("#contact-email").fill(email)
    tap(page, page.locator("#go"))
    on_screen(page, "thanks")


def test_customers_answer_in_vietnamese_thai_and_english(page, store, staff, survey, live_server):
    thai_staff = StaffMemberFactory(location=store, code="TH-001", display_name="สมชาย ใจดี")
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    pair(page, store)

    serve(
        page,
        lang="vi",
        nps=4,
        csat=2,
        ces=3,
        reasons=["wait_time", "price"],
        staff=staff,
        comment="Phải chờ hơi lâu, nhưng cà phê rất ngon.",
        email="lan@example.com",
    )
    tap(page, page.locator(".thanks"))  # a tap ends the thank-you at once
    serve(page, lang="th", nps=6, csat=3, ces=4, reasons=["cleanliness"], staff=thai_staff)
    tap(page, page.locator(".thanks"))
    serve(page, lang="en", nps=9, csat=5, ces=7, comment="Lovely people!")
    # The last thank-you goes back to the start by itself, in the store's language.
    on_screen(page, "attract")
    page.locator("html[lang=vi]").wait_for()

    wait_until(page, lambda: SurveyResponse.objects.count() == 3, message="three responses")
    rows = {r.language: r for r in SurveyResponse.objects.select_related("staff", "contact")}
    assert answers_of(rows["vi"]) == {
        "nps": 4,
        "csat": 2,
        "ces": 3,
        "reason": ["wait_time", "price"],
        "comment": "Phải chờ hơi lâu, nhưng cà phê rất ngon.",
        "contact": {"consent": True},
    }
    assert rows["vi"].staff == staff
    assert rows["vi"].contact.email == "lan@example.com"
    assert answers_of(rows["th"]) == {"nps": 6, "csat": 3, "ces": 4, "reason": ["cleanliness"]}
    assert rows["th"].staff == thai_staff
    # 9 is not ≤ 6: the reason question never showed.
    assert answers_of(rows["en"]) == {"nps": 9, "csat": 5, "ces": 7, "comment": "Lovely people!"}
    assert rows["en"].staff is None
    assert all(r.is_complete and r.survey_version == survey for r in rows.values())
    assert all(url.startswith(live_server.url) for url in requested), "nothing from outside"
    assert page.errors == []


def test_a_double_tap_answers_one_question_only(page, store, staff, survey):
    pair(page, store)
    on_screen(page, "attract")
    box = page.locator(".nps-row button").nth(8).bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    on_screen(page, "question", "csat")
    page.wait_for_timeout(600)
    assert page.locator("#app").get_attribute("data-key") == "csat"
    assert page.locator(".face-button[aria-pressed=true]").count() == 0


def test_going_back_to_a_better_score_drops_the_reason_it_no_longer_asks(
    page, store, staff, survey
):
    pair(page, store)
    on_screen(page, "attract")
    tap(page, page.locator(".nps-row button").nth(3))
    on_screen(page, "question", "csat")
    tap(page, page.locator(".face-button").nth(3))
    on_screen(page, "question", "ces")
    tap(page, page.locator(".step").nth(4))
    on_screen(page, "question", "reason")
    tap(page, page.get_by_role("button", name=REASONS["wait_time"]["vi"]))
    for key in ("ces", "csat"):
        tap(page, page.locator(".back"))
        on_screen(page, "question", key)
    tap(page, page.locator(".back"))
    on_screen(page, "attract")
    assert page.locator(".nps-row button[aria-pressed=true]").inner_text() == "3"

    tap(page, page.locator(".nps-row button").nth(9))
    on_screen(page, "question", "csat")
    assert page.locator(".face-button").nth(3).get_attribute("aria-pressed") == "true"
    tap(page, page.locator("#go"))
    on_screen(page, "question", "ces")
    tap(page, page.locator("#go"))
    on_screen(page, "question", "@staff")  # no reason screen for a 9
    tap(page, page.locator(".person.unsure"))
    on_screen(page, "question", "comment")
    tap(page, page.locator("#go"))
    on_screen(page, "question", "contact")
    tap(page, page.locator("#go"))
    on_screen(page, "thanks")

    wait_until(page, lambda: SurveyResponse.objects.count() == 1, message="the response")
    assert answers_of(SurveyResponse.objects.get()) == {"nps": 9, "csat": 4, "ces": 5}


def test_a_customer_who_walks_away_leaves_a_partial_and_a_fresh_start(page, store, survey):
    store.organization.kiosk_idle_seconds = 2
    store.organization.save(update_fields=["kiosk_idle_seconds"])
    pair(page, store)
    on_screen(page, "attract")
    tap(page, page.get_by_role("button", name="English", exact=True))
    tap(page, page.locator(".nps-row button").nth(7))
    on_screen(page, "question", "csat")
    tap(page, page.locator(".face-button").nth(3))
    on_screen(page, "question", "ces")

    # Nobody touches the screen: the kiosk sends what it has and starts over.
    page.locator("#app[data-screen=attract]").wait_for(timeout=6000)
    page.locator("html[lang=vi]").wait_for()
    assert page.locator(".nps-row button[aria-pressed=true]").count() == 0
    wait_until(page, lambda: SurveyResponse.objects.count() == 1, message="the partial response")
    partial = SurveyResponse.objects.get()
    assert partial.is_complete is False
    assert partial.language == "en"
    assert answers_of(partial) == {"nps": 7, "csat": 4}
