"""Never lose, never double: no network, a reload with no network, a server answering 503,
a response the server refuses, a survey published while a customer is answering."""

import time

from locations.models import Kiosk
from surveys.models import SurveyResponse
from surveys.services import publish_survey

from .helpers import long_press_corner, on_screen, pair, shoot, tap, wait_for_worker, wait_until

BATCH = "**/api/v1/kiosk/responses/batch/"


def quick_customer(page, nps=10, staff_name=None):
    """The fastest happy customer: a score, a face, a step, then straight to the end."""
    on_screen(page, "attract")
    tap(page, page.locator(".nps-row button").nth(nps))
    on_screen(page, "question", "csat")
    tap(page, page.locator(".face-button").nth(4))
    on_screen(page, "question", "ces")
    tap(page, page.locator(".step").nth(6))
    on_screen(page, "question", "@staff")
    if staff_name:
        tap(page, page.get_by_role("button", name=staff_name))
    else:
        tap(page, page.locator(".person.unsure"))
    on_screen(page, "question", "comment")
    tap(page, page.locator("#go"))
    on_screen(page, "thanks")
    tap(page, page.locator(".thanks"))


def type_pin(page, pin):
    for digit in pin:
        page.get_by_role("button", name=digit, exact=True).click()


def open_staff_menu(page, pin):
    long_press_corner(page)
    page.get_by_role("dialog").wait_for()
    type_pin(page, pin)
    page.locator("#status-title").wait_for()


def fact(page, name):
    return page.locator(f"[data-fact={name}]").inner_text()


def test_answers_given_offline_survive_a_reload_and_land_exactly_once(page, store, staff):
    pair(page, store)
    wait_for_worker(page)
    page.context.set_offline(True)

    for _ in range(5):
        quick_customer(page)
    assert page.locator("#net").is_visible()  # a quiet mark, not an error
    assert page.locator("[role=alert]:not(:empty)").count() == 0
    shoot(page, "tablet-vi-offline")

    reloaded = page.reload()
    assert reloaded.from_service_worker
    on_screen(page, "attract")  # the app starts with no network at all
    assert SurveyResponse.objects.count() == 0

    page.context.set_offline(False)
    wait_until(page, lambda: SurveyResponse.objects.count() == 5, message="five responses")
    page.wait_for_timeout(1500)  # anything still in flight would land now
    assert SurveyResponse.objects.count() == 5
    assert SurveyResponse.objects.filter(is_complete=True, answers__question="nps").count() == 5
    assert page.errors == []


def test_a_server_answering_503_gets_every_response_once_it_recovers(page, store, staff):
    attempts = []

    def unavailable(route):
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            route.fulfill(
                status=503,
                headers={"Retry-After": "2", "Content-Type": "application/json"},
                body='{"detail": "The server cannot store this right now; keep it and retry."}',
            )
        else:
            route.continue_()

    pair(page, store)
    page.route(BATCH, unavailable)
    for _ in range(3):
        quick_customer(page)

    wait_until(page, lambda: SurveyResponse.objects.count() == 3, timeout=20, message="3 responses")
    assert len(attempts) >= 3
    # Retry-After: 2 was honoured after each refusal, and nothing came sooner.
    assert attempts[1] - attempts[0] >= 1.9
    assert attempts[2] - attempts[1] >= 1.9
    page.wait_for_timeout(1000)
    assert SurveyResponse.objects.count() == 3


def test_a_refused_response_is_kept_aside_and_reported_in_the_heartbeat(page, store, staff):
    """Staff member NV-014 leaves the store's list while an answer naming them waits offline:
    the server refuses it, the kiosk keeps it aside and tells the server how many."""
    pin = pair(page, store)[-4:]
    page.context.set_offline(True)
    quick_customer(page, staff_name=staff.display_name)
    quick_customer(page)
    staff.delete()
    page.context.set_offline(False)
    wait_until(page, lambda: SurveyResponse.objects.count() == 1, message="the good response")

    long_press_corner(page)
    page.get_by_role("dialog").wait_for()
    type_pin(page, f"{(int(pin) + 1) % 10000:04d}")
    assert page.get_by_role("alert").inner_text() == "Sai mã PIN"
    type_pin(page, pin)
    page.locator("#status-title").wait_for()
    page.get_by_role("button", name="Gửi ngay").click()  # send now, with a heartbeat

    kiosk = Kiosk.objects.get()
    wait_until(
        page,
        lambda: Kiosk.objects.filter(pk=kiosk.pk, invalid_count=1, queue_length=0).exists(),
        message="a heartbeat reporting one invalid response",
    )
    assert fact(page, "asideInvalid") == "1"
    assert fact(page, "queue") == "0"
    assert store.code in fact(page, "store")
    assert fact(page, "appVersion").startswith("1.0.0+")
    assert Kiosk.objects.get().app_version == fact(page, "appVersion")

    page.get_by_role("button", name="Huỷ ghép nối máy này").click()
    page.get_by_role("button", name="Huỷ ghép nối", exact=True).click()
    on_screen(page, "pairing")


def test_a_new_survey_version_reaches_the_next_customer_without_a_reload(page, store, staff):
    pin = pair(page, store)[-4:]
    page.evaluate("window.sameDocument = true")
    on_screen(page, "attract")
    tap(page, page.locator(".nps-row button").nth(9))
    on_screen(page, "question", "csat")

    survey = store.organization.default_survey
    first_version = survey.current_version
    survey.questions = [
        {**q, "text": {**q["text"], "vi": "Bạn có hài lòng không?"}} if q["key"] == "csat" else q
        for q in survey.questions
    ]
    survey.save(update_fields=["questions"])
    second_version = publish_survey(survey=survey)

    # The heartbeat tells the kiosk; the customer in the middle keeps their questions.
    open_staff_menu(page, pin)
    page.get_by_role("button", name="Gửi ngay").click()
    page.get_by_role("button", name="Đóng").click()
    assert page.locator("#question").inner_text() != "Bạn có hài lòng không?"
    tap(page, page.locator(".face-button").nth(4))
    on_screen(page, "question", "ces")
    tap(page, page.locator(".step").nth(6))
    on_screen(page, "question", "@staff")
    tap(page, page.locator(".person.unsure"))
    on_screen(page, "question", "comment")
    tap(page, page.locator("#go"))
    on_screen(page, "thanks")
    tap(page, page.locator(".thanks"))

    on_screen(page, "attract")
    tap(page, page.locator(".nps-row button").nth(8))
    on_screen(page, "question", "csat")
    assert page.locator("#question").inner_text() == "Bạn có hài lòng không?"
    assert page.evaluate("window.sameDocument") is True

    wait_until(page, lambda: SurveyResponse.objects.count() == 1, message="the first response")
    assert SurveyResponse.objects.get().survey_version == first_version
    assert second_version != first_version


def test_a_customer_cut_off_by_a_reload_still_counts_as_a_partial(page, store, staff):
    pair(page, store)
    on_screen(page, "attract")
    tap(page, page.locator(".nps-row button").nth(2))
    on_screen(page, "question", "csat")
    tap(page, page.locator(".face-button").nth(0))
    on_screen(page, "question", "ces")

    page.reload()  # the tab closed, the tablet lost power…
    on_screen(page, "attract")
    wait_until(page, lambda: SurveyResponse.objects.count() == 1, message="the partial response")
    response = SurveyResponse.objects.get()
    assert response.is_complete is False
    assert {a.question: a.score for a in response.answers.all()} == {"nps": 2, "csat": 1}
