"""The demo chain: a café chain in Hà Nội, TP. Hồ Chí Minh and Bangkok with weeks of feedback
that tells a story — a lunch rush, one store that keeps customers waiting, one barista whom
customers keep praising.

Every response goes through `record_batch`, the kiosk API's own path, so the demo shows what
ingest really stores. Deterministic: the same seed, days and clock give the same data.
"""

import math
import random
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from locations import services as location_services
from locations.models import Kiosk, Location, Organization, Region, Role, StaffMember

from .demo_data import (
    COMMENTS,
    HOURLY,
    LANGUAGES,
    LOGINS,
    REASONS,
    RUSH_HOURS,
    STORES,
    THAILAND,
    VIETNAM,
    WEEKDAY,
    Login,
    Store,
)
from .models import Survey, SurveyResponse, SurveyVersion
from .services import Status, publish_survey, record_batch

DEMO_SLUG = "demo"
DEMO_NAME = "Cà Phê Sen"
SEED = 2025
DEFAULT_DAYS = 90
DEFAULT_PER_DAY = 45
BATCH_SIZE = 500  # the batch endpoint's limit (settings.CXHUB_MAX_BATCH_SIZE)

WORSE_STORE = "HN-02"
STAR_STAFF = "NV-011"
LEFT_STAFF = "NV-019"  # deactivated a third of the way before today


# Appended to the demo's survey in a second version, so the kiosk shows its "contact me"
# screen (explicit consent first); the first version's keys stay as they are.
CONTACT_QUESTION = {
    "key": "contact",
    "kind": "contact",
    "required": False,
    "text": {
        "vi": "Bạn có muốn cửa hàng liên hệ lại với bạn không?",
        "th": "ต้องการให้ทางร้านติดต่อกลับไหม",
        "en": "Would you like the store to get back to you?",
    },
}


class DemoError(ValueError):
    """The demo cannot be seeded as asked; the message says why."""


@dataclass
class Seeded:
    organization: Organization
    created: bool  # False: the demo existed and was left as it was
    responses: int = 0
    stores: int = 0
    staff: int = 0
    kiosks: int = 0


# --- the organization ------------------------------------------------------------------


def demo_organization() -> Organization | None:
    organization = Organization.objects.filter(slug=DEMO_SLUG).first()
    if organization is not None and organization.name != DEMO_NAME:
        # Never rebuild (or delete) a real tenant that happens to use the slug.
        raise DemoError(
            f"The slug {DEMO_SLUG!r} belongs to {organization.name!r}, not the demo chain; "
            "rename that organization's slug to seed the demo."
        )
    return organization


def seed_demo(
    *,
    days: int = DEFAULT_DAYS,
    per_day: int = DEFAULT_PER_DAY,
    reset: bool = False,
    seed: int = SEED,
    progress: Callable[[Location, int], None] | None = None,
) -> Seeded:
    """Build the demo chain, or leave an existing one as it is (its logins made to work)
    unless `reset` deletes it first. All or nothing: a failure leaves no half-made demo."""
    if days < 1 or per_day < 1:
        raise DemoError("--days and --per-day must be at least 1.")
    with transaction.atomic():
        existing = demo_organization()
        if existing is not None and not reset:
            ensure_logins(existing)
            return Seeded(existing, created=False)
        if existing is not None:
            delete_demo(existing)
        return _build(days=days, per_day=per_day, seed=seed, progress=progress)


def delete_demo(organization: Organization) -> None:
    """Delete the demo and its logins. Responses, staff and locations are PROTECTed against
    deleting one by one, so they go leaves first."""
    SurveyResponse.objects.filter(organization=organization).delete()
    Kiosk.objects.filter(organization=organization).delete()
    StaffMember.objects.filter(organization=organization).delete()
    Location.objects.filter(organization=organization).delete()
    Region.objects.filter(organization=organization).delete()
    Survey.objects.filter(organization=organization).update(current_version=None)
    organization.delete()
    get_user_model().objects.filter(username__in=[login.email for login in LOGINS]).delete()


def ensure_logins(organization: Organization) -> tuple[Login, ...]:
    """Give every demo login its membership and its printed password, whatever happened since."""
    for login in LOGINS:
        user = location_services.invite_user(
            email=login.email,
            organization=organization,
            role=login.role,
            region=login.region,
            location=login.location,
        ).user
        user.set_password(login.password)
        user.first_name, user.last_name = login.name
        user.is_active = True
        # Head office may use the admin, which shows only their own organization.
        user.is_staff = login.role == Role.HEAD_OFFICE
        user.save()
    return LOGINS


def _build(*, days, per_day, seed, progress) -> Seeded:
    rng = random.Random(seed)
    now = timezone.now()
    organization = location_services.create_organization(
        name=DEMO_NAME, slug=DEMO_SLUG, default_language="vi"
    )
    regions = {
        name: Region.objects.create(organization=organization, name=name)
        for name in (VIETNAM, THAILAND)
    }
    seeded = Seeded(organization, created=True)
    for store in STORES:
        location = Location.objects.create(
            organization=organization,
            region=regions[store.region],
            code=store.code,
            name=store.name,
            timezone=store.zone,
            default_language=store.language,
        )
        staff = _hire(organization, location, store, now=now, days=days)
        kiosks = _install_kiosks(location, store, registered_at=now - timedelta(days=days + 2))
        bodies = _store_responses(rng, store, staff, days=days, per_day=per_day, now=now)
        for touchpoint, items in _split_by_touchpoint(rng, bodies, kiosks).items():
            _submit(kiosks[touchpoint], items)
        for kiosk in kiosks.values():
            location_services.record_heartbeat(
                kiosk=kiosk,
                app_version="1.4.2",
                queue_length=0,
                invalid_count=0,
                battery=rng.randint(55, 100),
            )
        seeded.stores += 1
        seeded.staff += len(staff)
        seeded.kiosks += len(kiosks)
        seeded.responses += len(bodies)
        if progress:
            progress(location, len(bodies))
    # After the history, as a chain would: past answers stay on version 1.
    add_contact_question(organization)
    ensure_logins(organization)
    return seeded


def add_contact_question(organization: Organization) -> SurveyVersion:
    """Publish the organization's default survey again with the optional contact question
    at the end; a survey that already has it is left alone."""
    survey = Survey.objects.select_related("current_version").get(pk=organization.default_survey_id)
    if any(q["key"] == CONTACT_QUESTION["key"] for q in survey.questions):
        return survey.current_version
    survey.questions = [*survey.questions, CONTACT_QUESTION]
    survey.save(update_fields=["questions"])
    return publish_survey(survey=survey)


@dataclass
class Member:
    code: str
    effect: float  # NPS points this person adds to a visit
    weight: float  # how often customers name them
    until: datetime | None = None  # last day at work


def _hire(organization, location, store: Store, *, now, days) -> list[Member]:
    staff_rng = random.Random(f"{SEED}-{store.code}")
    members = []
    for code, name in store.staff:
        left = code == LEFT_STAFF
        StaffMember.objects.create(
            organization=organization,
            location=location,
            code=code,
            display_name=name,
            is_active=not left,
        )
        effect, weight = staff_rng.gauss(0, 0.25), 1.0
        if code == STAR_STAFF:
            effect, weight = 1.2, 2.0
        if left:
            # Gone for the last third of the period; customers rated them lower before that.
            members.append(Member(code, effect - 0.5, weight, now - timedelta(days=days // 3)))
        else:
            members.append(Member(code, effect, weight))
    return members


def _install_kiosks(location, store: Store, *, registered_at) -> dict[str, Kiosk]:
    touchpoints = ("main", "checkout") if store.checkout else ("main",)
    kiosks = {}
    for touchpoint in touchpoints:
        kiosk = location_services.create_kiosk(
            location=location, touchpoint=touchpoint, name=f"{store.code} {touchpoint}"
        ).kiosk
        # Registered before the first demo answer, so the server trusts the kiosk's clock.
        kiosk.registered_at = registered_at
        kiosk.save(update_fields=["registered_at"])
        kiosks[touchpoint] = kiosk
    return kiosks


def _split_by_touchpoint(rng, bodies: list[dict], kiosks: dict) -> dict[str, list[dict]]:
    if len(kiosks) == 1:
        return {"main": bodies}
    split = {name: [] for name in kiosks}
    for body in bodies:
        split["main" if rng.random() < 0.6 else "checkout"].append(body)
    return split


def _submit(kiosk: Kiosk, items: list[dict]) -> None:
    for start in range(0, len(items), BATCH_SIZE):
        for outcome in record_batch(kiosk=kiosk, items=items[start : start + BATCH_SIZE]):
            if outcome.status != Status.CREATED:
                raise DemoError(
                    f"The demo made a response {kiosk.location.code} refused "
                    f"({outcome.status}): {outcome.errors}"
                )


# --- responses -------------------------------------------------------------------------


def _store_responses(rng, store: Store, staff: list[Member], *, days, per_day, now) -> list[dict]:
    zone = zoneinfo.ZoneInfo(store.zone)
    today = now.astimezone(zone).date()
    week_mean = sum(WEEKDAY) / len(WEEKDAY)
    hours, weights = list(HOURLY), list(HOURLY.values())
    bodies = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        mean = per_day * store.busyness * WEEKDAY[day.weekday()] / week_mean
        count = max(0, round(rng.gauss(mean, math.sqrt(mean))))
        trend = 0.4 * (days - back) / days  # the chain gets a little better over the period
        for hour in sorted(rng.choices(hours, weights, k=count)):
            moment = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), zone)
            body = _response(rng, store, staff, moment, trend)
            # Today's customers only up to a few minutes ago: kiosk clocks never run ahead.
            if moment < now - timedelta(minutes=5):
                bodies.append(body)
    return bodies


def _response(rng, store: Store, staff: list[Member], moment: datetime, trend: float) -> dict:
    language = _pick(rng, LANGUAGES[store.language])
    on_shift = [m for m in staff if m.until is None or moment <= m.until]
    member = None
    if rng.random() < 0.5 and on_shift:
        member = rng.choices(on_shift, [m.weight for m in on_shift])[0]
    worse = store.code == WORSE_STORE
    rush = moment.hour in RUSH_HOURS
    weekend = moment.weekday() >= 5
    mood = 8.0 + store.effect + trend + (member.effect if member else 0) + rng.gauss(0, 1.7)
    if rush:
        # The worse store cannot keep up at rush hour: that is where its waits come from.
        mood -= 0.9 if worse else 0.25
    if worse and weekend:
        mood -= 0.4
    nps = _clamp(round(mood), 0, 10)
    answers = {
        "nps": nps,
        "csat": _clamp(round(1 + mood * 0.4 + rng.gauss(0, 0.45)), 1, 5),
        "ces": _clamp(
            round(1 + mood * 0.6 - (0.8 if worse and rush else 0) + rng.gauss(0, 0.6)), 1, 7
        ),
    }
    reasons = []
    if nps <= 6 and rng.random() < 0.75:
        reasons = _reasons(rng, worse=worse, rush=rush)
        answers["reason"] = reasons
    comment = _comment(rng, language, nps, reasons, named=member is not None)
    if comment:
        answers["comment"] = comment
    # Some customers walk away after a question or two: the kiosk sends what it has.
    walked_away = rng.random()
    complete = True
    if walked_away < 0.06:
        answers, complete = {"nps": nps}, False
    elif walked_away < 0.09:
        answers, complete = {"nps": nps, "csat": answers["csat"]}, False
    body = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "submitted_at": moment.isoformat(),
        "language": language,
        "answers": answers,
        "complete": complete,
    }
    if member:
        body["staff"] = member.code
    return body


def _reasons(rng, *, worse: bool, rush: bool) -> list[str]:
    weights = dict(REASONS)
    if worse:
        weights["wait_time"] *= 4
    if rush:
        weights["wait_time"] *= 2
    keys = list(weights)
    first = rng.choices(keys, [weights[k] for k in keys])[0]
    if rng.random() < 0.3:
        others = [k for k in keys if k != first]
        return [first, rng.choices(others, [weights[k] for k in others])[0]]
    return [first]


def _comment(rng, language: str, nps: int, reasons: list[str], *, named: bool) -> str | None:
    if nps <= 6:
        if rng.random() >= 0.35:
            return None
        topic = reasons[0] if reasons else rng.choice(list(REASONS))
    elif nps <= 8:
        if rng.random() >= 0.1:
            return None
        topic = "neutral"
    else:
        if rng.random() >= 0.2:
            return None
        topic = "staff_praise" if named and rng.random() < 0.5 else "praise"
    return rng.choice(COMMENTS[language][topic])


def _pick(rng, weighted) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
