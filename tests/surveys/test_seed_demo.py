"""`seed_demo`: a believable chain whose stories (a worse store, a star barista, a lunch rush)
show in the numbers, stored through the kiosks' own ingest path."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Avg, Count, Min

from locations.models import Kiosk, Location, Membership, Organization, Region, Role, StaffMember
from surveys import demo
from surveys.models import Answer, SurveyResponse
from tests.factories import OrganizationFactory

# A Thursday, 15:00 in Hà Nội and Bangkok: the same clock gives the same demo.
NOW = datetime(2025, 11, 20, 8, 0, tzinfo=UTC)
DAYS, PER_DAY = 21, 15
LOGIN_LINE = re.compile(r"^(?P<label>[^:]+): (?P<email>\S+@\S+) / (?P<password>\S+)$")
VIETNAMESE = re.compile(
    r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I
)
THAI = re.compile(r"[\u0e00-\u0e7f]")


def seed(*args) -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("seed_demo", "--days", DAYS, "--per-day", PER_DAY, *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The demo sets three passwords per seed; the real hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def output(db) -> str:
    return seed()


@pytest.fixture
def nps(output):
    return Answer.objects.filter(question="nps")


def mean_nps(answers) -> float:
    return answers.aggregate(mean=Avg("score"))["mean"]


def test_the_demo_chain_has_two_regions_and_stores_in_both_time_zones(output):
    organization = Organization.objects.get(slug="demo")
    assert organization.name == "Cà Phê Sen"
    assert organization.default_language == "vi"
    assert organization.default_survey.current_version.languages == ["vi", "th", "en"]
    assert set(Region.objects.filter(organization=organization).values_list("name", flat=True)) == {
        "Việt Nam",
        "Thailand",
    }
    stores = Location.objects.filter(organization=organization)
    assert {s.code for s in stores} >= {"HN-01", "HCM-01", "BKK-01"}
    assert {s.timezone for s in stores if s.code.startswith(("HN", "HCM"))} == {"Asia/Ho_Chi_Minh"}
    assert {s.timezone for s in stores if s.code.startswith("BKK")} == {"Asia/Bangkok"}
    assert {s.region.name for s in stores if s.code.startswith("BKK")} == {"Thailand"}
    for store in stores:
        assert f"{store.code} {store.name}: " in output  # progress, store by store


def test_staff_have_vietnamese_and_thai_names_and_one_has_left(output):
    staff = StaffMember.objects.select_related("location")
    vietnamese = [s.display_name for s in staff if s.location.timezone == "Asia/Ho_Chi_Minh"]
    thai = [s.display_name for s in staff if s.location.timezone == "Asia/Bangkok"]
    assert "Trần Thị Mai" in vietnamese
    # Most Vietnamese names carry diacritics (a few, like Phan Gia Huy, need none).
    assert sum(bool(VIETNAMESE.search(name)) for name in vietnamese) >= 0.9 * len(vietnamese)
    assert "สมชาย ใจดี" in thai
    assert all(THAI.search(name) for name in thai)
    per_store = staff.values("location").annotate(n=Count("id")).values_list("n", flat=True)
    assert all(4 <= n <= 6 for n in per_store)
    assert list(staff.filter(is_active=False).values_list("code", flat=True)) == [demo.LEFT_STAFF]


def test_the_member_who_left_is_named_only_before_they_left(output):
    last = SurveyResponse.objects.filter(staff__code=demo.LEFT_STAFF).order_by("-submitted_at")
    assert last.exists()
    assert last.first().submitted_at <= NOW - timedelta(days=DAYS // 3)


def test_every_store_has_a_main_kiosk_and_two_have_a_checkout_kiosk(output):
    kiosks = Kiosk.objects.select_related("location", "touchpoint")
    assert {k.location.code for k in kiosks if k.touchpoint.name == "main"} == {
        s.code for s in Location.objects.all()
    }
    assert {k.location.code for k in kiosks if k.touchpoint.name == "checkout"} == {
        "HCM-01",
        "BKK-01",
    }
    assert all(k.is_active for k in kiosks)
    assert SurveyResponse.objects.filter(touchpoint__name="checkout").exists()


def test_kiosks_were_registered_before_the_first_answer_so_no_clock_is_distrusted(output):
    first = SurveyResponse.objects.aggregate(first=Min("submitted_at"))["first"]
    assert all(k.registered_at < first for k in Kiosk.objects.all())
    assert SurveyResponse.objects.count() > 1000
    assert not SurveyResponse.objects.filter(clock_untrusted=True).exists()
    assert not SurveyResponse.objects.filter(submitted_at__gt=NOW).exists()


def test_every_response_carries_answers_and_some_walked_away_after_one_question(output):
    responses = SurveyResponse.objects.annotate(n=Count("answers"))
    assert not responses.filter(n=0).exists()
    partial = responses.filter(is_complete=False)
    assert partial.exists()
    assert partial.filter(n=1).exists()
    assert responses.filter(is_complete=True, n__gte=3).count() > partial.count() * 5


def test_about_half_of_the_responses_name_a_staff_member(output):
    share = (
        SurveyResponse.objects.filter(staff__isnull=False).count() / SurveyResponse.objects.count()
    )
    assert 0.4 < share < 0.6


def test_the_worse_store_scores_clearly_lower_and_complains_about_waiting(nps):
    worse = mean_nps(nps.filter(response__location__code=demo.WORSE_STORE))
    for code in Location.objects.exclude(code=demo.WORSE_STORE).values_list("code", flat=True):
        assert mean_nps(nps.filter(response__location__code=code)) > worse + 1

    def wait_share(answers):
        reasons = list(answers.values_list("choices", flat=True))
        return sum("wait_time" in r for r in reasons) / len(reasons)

    reasons = Answer.objects.filter(question="reason")
    assert wait_share(reasons.filter(response__location__code=demo.WORSE_STORE)) > wait_share(
        reasons.exclude(response__location__code=demo.WORSE_STORE)
    )


def test_the_star_barista_scores_higher_than_their_colleagues(nps):
    star = StaffMember.objects.get(code=demo.STAR_STAFF)
    colleagues = nps.filter(response__location=star.location, response__staff__isnull=False)
    assert (
        mean_nps(nps.filter(response__staff=star))
        > mean_nps(colleagues.exclude(response__staff=star)) + 0.5
    )


def test_lunch_is_busier_than_mid_afternoon_and_weekends_busier_than_weekdays(output):
    responses = SurveyResponse.objects
    lunch = responses.filter(local_hour__in=[11, 12, 13]).count()
    afternoon = responses.filter(local_hour__in=[14, 15, 16]).count()
    assert lunch > 1.5 * afternoon
    assert set(responses.values_list("local_hour", flat=True)) <= set(range(7, 22))
    saturdays = responses.filter(local_day__week_day=7).count()  # Sunday is 1
    tuesdays = responses.filter(local_day__week_day=3).count()
    assert saturdays > tuesdays


def test_reasons_are_given_only_when_nps_is_six_or_less(nps):
    reasons = Answer.objects.filter(question="reason")
    assert reasons.exists()
    unhappy = set(nps.filter(score__lte=6).values_list("response_id", flat=True))
    assert set(reasons.values_list("response_id", flat=True)) <= unhappy


def test_comments_are_written_in_the_language_the_customer_chose(output):
    comments = Answer.objects.filter(question="comment").values_list("response__language", "text")
    by_language = {}
    for language, text in comments:
        by_language.setdefault(language, []).append(text)
    assert set(by_language) == {"vi", "th", "en"}
    assert all(VIETNAMESE.search(text) for text in by_language["vi"])
    assert all(THAI.search(text) for text in by_language["th"])
    assert not any(THAI.search(t) or VIETNAMESE.search(t) for t in by_language["en"])


def test_customers_mostly_answer_in_their_stores_language(output):
    for code, language in (("HCM-01", "vi"), ("BKK-01", "th")):
        responses = SurveyResponse.objects.filter(location__code=code)
        assert responses.filter(language=language).count() > 0.6 * responses.count()
        assert responses.filter(language="en").exists()


def signs_in(client, email, password) -> bool:
    """Through the sign-in page, as a person would: a success redirects to the dashboard."""
    answer = client.post("/accounts/login/", {"username": email, "password": password})
    return answer.status_code == 302 and answer["Location"] == "/dashboard/"


def test_every_printed_login_works_and_the_last_line_is_one(output, client):
    lines = output.strip().splitlines()
    logins = [m for m in map(LOGIN_LINE.match, lines) if m]
    assert len(logins) == len(demo.LOGINS)
    assert LOGIN_LINE.match(lines[-1])["label"].startswith("store manager")
    assert "/admin/" in output
    for login in logins:
        assert signs_in(client, login["email"], login["password"]), login["email"]
        client.logout()


def test_each_login_sees_its_scope_and_only_head_office_may_use_the_admin(output):
    memberships = Membership.objects.select_related("user", "region", "location")
    head = memberships.get(user__username="head@demo.cxhub")
    assert (head.role, head.user.is_staff) == (Role.HEAD_OFFICE, True)
    regional = memberships.get(user__username="regional.vn@demo.cxhub")
    assert (regional.role, regional.region.name, regional.user.is_staff) == (
        Role.REGIONAL_MANAGER,
        "Việt Nam",
        False,
    )
    manager = memberships.get(user__username="manager.hcm01@demo.cxhub")
    assert (manager.role, manager.location.code, manager.user.is_staff) == (
        Role.STORE_MANAGER,
        "HCM-01",
        False,
    )


def test_a_re_run_prints_the_logins_and_never_duplicates(output, client):
    counts = (SurveyResponse.objects.count(), StaffMember.objects.count(), Kiosk.objects.count())
    get_user_model().objects.filter(username="head@demo.cxhub").update(password="")

    again = seed()

    assert "already exists" in again
    assert Organization.objects.filter(slug="demo").count() == 1
    assert counts == (
        SurveyResponse.objects.count(),
        StaffMember.objects.count(),
        Kiosk.objects.count(),
    )
    last = LOGIN_LINE.match(again.strip().splitlines()[-1])
    assert signs_in(client, last["email"], last["password"])
    client.logout()
    assert signs_in(client, "head@demo.cxhub", "sen-head-office")


def test_reset_rebuilds_the_demo_from_scratch_and_the_same_clock_gives_the_same_data(output):
    before = Organization.objects.get(slug="demo").pk
    ids = set(SurveyResponse.objects.values_list("id", flat=True))

    rebuilt = seed("--reset")

    assert "Seeded" in rebuilt
    assert Organization.objects.get(slug="demo").pk != before
    assert set(SurveyResponse.objects.values_list("id", flat=True)) == ids
    assert get_user_model().objects.filter(username__endswith="@demo.cxhub").count() == 3
    assert Membership.objects.count() == 3


def test_a_real_organization_using_the_slug_is_never_touched(db):
    OrganizationFactory(name="Demo Trading Co.", slug="demo")

    with pytest.raises(CommandError, match="not the demo chain"):
        seed("--reset")

    assert Organization.objects.get(slug="demo").name == "Demo Trading Co."


@pytest.mark.parametrize("option", ["--days", "--per-day"])
def test_nonsense_sizes_are_refused_with_a_clear_message(db, option):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("seed_demo", option, "0", stdout=StringIO())
    assert not Organization.objects.exists()


def test_a_response_the_ingest_refuses_makes_the_seed_fail_loudly(kiosk):
    happy_with_a_reason = {
        "id": "0b6f2f7e-3d55-4a57-9a43-2e0c5d0e7a11",
        "submitted_at": "2025-11-20T12:00:00+07:00",
        "answers": {"nps": 9, "reason": ["price"]},
    }
    with pytest.raises(demo.DemoError, match="refused"):
        demo._submit(kiosk, [happy_with_a_reason])
