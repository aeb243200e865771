"""Alerts and service-recovery cases: from an unhappy answer to someone acting on it.

Recording responses asks (after commit) for their alerts to be checked. A check fires each
matching rule at most once per response (or per store and window, for burst rules) — the
unique constraints on Alert guarantee it under retries and concurrent workers — opens a
case for an unhappy response, and queues the notifications of the alerts it created.
"""

import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from locations.models import Kiosk, Location

from .models import (
    RESPONSE_RULES,
    Alert,
    AlertRule,
    Case,
    RuleKind,
    SurveyResponse,
)

log = logging.getLogger(__name__)

# What every organization starts with (and the demo seeds): METRICS.md's unhappy answers,
# a contact request, and three unhappy answers within an hour at one store.
DEFAULT_RULES = (
    {"kind": RuleKind.DETRACTOR, "threshold": 6},
    {"kind": RuleKind.LOW_CSAT, "threshold": 2},
    {"kind": RuleKind.LOW_CES, "threshold": 3},
    {"kind": RuleKind.CONTACT_REQUEST},
    {"kind": RuleKind.UNHAPPY_BURST, "threshold": 3, "window_minutes": 60, "escalate": True},
    {
        "kind": RuleKind.KIOSK_SILENT,
        "window_minutes": 120,
        "opens_at": time(8),
        "closes_at": time(22),
    },
)
UNHAPPY_KINDS = tuple(RESPONSE_RULES)
# An unhappy answer older than this (a kiosk that was offline for days, an import) opens no
# case and alerts no one: the customer is long gone. A request to be contacted always does.
ALERT_MAX_AGE = timedelta(hours=24)


def create_default_rules(organization) -> list[AlertRule]:
    return [
        AlertRule.objects.get_or_create(
            organization=organization, location=None, kind=spec["kind"], defaults=spec
        )[0]
        for spec in DEFAULT_RULES
    ]


def effective_rules(location_ids: Iterable[int]) -> dict[int, dict[str, AlertRule]]:
    """Per location, the rule of each kind that applies there: its own, else its
    organization's. Disabled rules are left out."""
    locations = list(Location.objects.filter(pk__in=set(location_ids)).only("organization_id"))
    rules = AlertRule.objects.filter(
        organization__in={loc.organization_id for loc in locations}
    ).select_related("location")
    by_org: dict[int, dict[str, AlertRule]] = {}
    by_location: dict[int, dict[str, AlertRule]] = {}
    for rule in rules:
        if rule.location_id is None:
            by_org.setdefault(rule.organization_id, {})[rule.kind] = rule
        else:
            by_location.setdefault(rule.location_id, {})[rule.kind] = rule
    out = {}
    for loc in locations:
        merged = {**by_org.get(loc.organization_id, {}), **by_location.get(loc.pk, {})}
        out[loc.pk] = {kind: rule for kind, rule in merged.items() if rule.enabled}
    return out


# --- checking responses ---------------------------------------------------------------------

LOOSEST_SECONDS = 60


def _loosest_key(organization_id: int) -> str:
    return f"alert-thresholds:{organization_id}"


def loosest_thresholds(organization_id: int) -> dict[str, int]:
    """Per question kind, the highest score any enabled rule of the organization (or one of
    its stores) alerts on. Read on every request, so cached; a rule's change clears it."""
    try:
        cached = cache.get(_loosest_key(organization_id))
    except Exception:  # the cache is Redis: without it, read the rules
        log.warning("could not read cached alert thresholds", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    loosest: dict[str, int] = {}
    rules = AlertRule.objects.filter(
        organization_id=organization_id, enabled=True, kind__in=list(RESPONSE_RULES)
    ).values_list("kind", "threshold")
    for kind, threshold in rules:
        question_kind, default = RESPONSE_RULES[kind]
        value = threshold if threshold is not None else default
        loosest[question_kind] = max(loosest.get(question_kind, value), value)
    try:
        cache.set(_loosest_key(organization_id), loosest, LOOSEST_SECONDS)
    except Exception:
        log.warning("could not cache alert thresholds", exc_info=True)
    return loosest


def forget_thresholds(organization_id: int) -> None:
    try:
        cache.delete(_loosest_key(organization_id))
    except Exception:  # expiry forgets them within a minute anyway
        log.warning("could not clear cached alert thresholds", exc_info=True)


def worth_checking(organization_id: int, cleans) -> list:
    """The ids of just-recorded responses a rule could match: a score at or under a rule's
    threshold, or contact details. The rest (most customers are happy) queue nothing; the
    sweep checks everything recent anyway, with the rules as they are now."""
    loosest = loosest_thresholds(organization_id)
    return [
        clean.id
        for clean in cleans
        if clean.contact
        or any(
            a.score is not None and a.kind in loosest and a.score <= loosest[a.kind]
            for a in clean.answers
        )
    ]


def request_alert_check(response_ids: list) -> None:
    """Called once the responses commit. Without a broker the periodic sweep checks them."""
    from .tasks import check_alerts_task

    try:
        check_alerts_task.delay([str(pk) for pk in response_ids])
    except Exception:  # any broker failure: the sweep catches up
        log.warning("could not enqueue an alert check; the sweep will do it", exc_info=True)


def check_responses(response_ids: Iterable) -> list[Alert]:
    """Fire the rules these responses match; returns the alerts created now (none for a
    response already checked)."""
    responses = list(
        SurveyResponse.objects.filter(pk__in=list(response_ids))
        .select_related("location", "staff")
        .prefetch_related("answers", "contact")
    )
    rules = effective_rules(r.location_id for r in responses)
    created: list[Alert] = []
    now = timezone.now()
    for response in responses:
        applicable = rules.get(response.location_id, {})
        matched = [rule for rule in applicable.values() if _matches(rule, response)]
        if now - response.submitted_at > ALERT_MAX_AGE:
            matched = [rule for rule in matched if rule.kind == RuleKind.CONTACT_REQUEST]
        for rule in matched:
            alert = _fire(
                rule, response.location, response=response, summary=_summary(rule, response)
            )
            if alert:
                created.append(alert)
        if any(
            rule.kind in UNHAPPY_KINDS or rule.kind == RuleKind.CONTACT_REQUEST for rule in matched
        ):
            open_case(response)
        burst = applicable.get(RuleKind.UNHAPPY_BURST)
        if burst and any(rule.kind in UNHAPPY_KINDS for rule in matched):
            alert = _check_burst(burst, response)
            if alert:
                created.append(alert)
    for alert in created:
        _queue_notifications(alert)
    return created


def _matches(rule: AlertRule, response: SurveyResponse) -> bool:
    if rule.kind == RuleKind.CONTACT_REQUEST:
        return _has_contact(response)
    if rule.kind not in RESPONSE_RULES:
        return False
    question_kind, default = RESPONSE_RULES[rule.kind]
    threshold = rule.threshold if rule.threshold is not None else default
    return any(
        a.kind == question_kind and a.score is not None and a.score <= threshold
        for a in response.answers.all()
    )


def _has_contact(response: SurveyResponse) -> bool:
    try:
        contact = response.contact
    except SurveyResponse.contact.RelatedObjectDoesNotExist:
        return False
    return contact.erased_at is None


def _summary(rule: AlertRule, response: SurveyResponse) -> str:
    scores = ", ".join(
        f"{a.question.upper()} {a.score}" for a in response.answers.all() if a.score is not None
    )
    return f"{rule.get_kind_display()} at {response.location.code}: {scores}"[:300]


def _fire(rule, location, *, response=None, window_start=None, summary="") -> Alert | None:
    """The alert, if this rule had not fired for this response (or window) yet."""
    try:
        with transaction.atomic():
            return Alert.objects.create(
                rule=rule,
                organization_id=location.organization_id,
                location=location,
                response=response,
                window_start=window_start,
                fired_at=timezone.now(),
                summary=summary,
            )
    except IntegrityError:  # fired before: a retried task, a resent response, another worker
        return None


def _check_burst(rule: AlertRule, response: SurveyResponse) -> Alert | None:
    """Fire when the store had `threshold` unhappy responses within the window ending now.
    The window start is rounded down to the window's length, so two workers checking at
    once agree on it and the rule fires once per window."""
    window = timedelta(minutes=rule.window_minutes)
    now = timezone.now()
    unhappy = (
        Alert.objects.filter(
            location_id=response.location_id,
            rule__kind__in=UNHAPPY_KINDS,
            response__submitted_at__gte=now - window,
        )
        .values("response")
        .distinct()
        .count()
    )
    if unhappy < (rule.threshold or 3):
        return None
    return _fire(
        rule,
        response.location,
        window_start=_floor(now, window),
        summary=f"{unhappy} unhappy customers within {rule.window_minutes} minutes at {response.location.code}",
    )


def _floor(moment: datetime, window: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    return epoch + ((moment - epoch) // window) * window


def open_case(response: SurveyResponse) -> Case:
    organization = response.location.organization
    now = timezone.now()
    case, _ = Case.objects.get_or_create(
        response=response,
        defaults={
            "organization_id": response.organization_id,
            "location_id": response.location_id,
            "opened_at": now,
            "due_at": now + timedelta(hours=organization.case_sla_hours),
        },
    )
    return case


def _queue_notifications(alert: Alert) -> None:
    from .tasks import notify_alert_task

    transaction.on_commit(lambda: notify_alert_task.delay(alert.pk))


SWEEP_CURSOR = "alert-sweep-checked-until"


def sweep_unchecked(
    *, since: timedelta = timedelta(minutes=15), grace: timedelta = timedelta(seconds=5)
) -> int:
    """Check the responses received since the last sweep: a check lost with the broker is
    done here, and checking one twice fires nothing twice.

    Each sweep takes up where the last stopped (a cursor in the cache), never further back
    than `since`: re-checking the whole quarter hour every minute made the sweep the worker's
    biggest job under load (docs/benchmarks.md, load). `grace` leaves the last seconds to
    transactions still committing."""
    now = timezone.now()
    until = now - grace
    start = now - since
    try:
        cursor = cache.get(SWEEP_CURSOR)
    except Exception:  # the cache is away: check the whole period, as after a restart
        log.warning("could not read the alert sweep's cursor", exc_info=True)
        cursor = None
    if cursor is not None:
        start = max(start, datetime.fromisoformat(cursor))
    recent = SurveyResponse.objects.filter(received_at__gte=start, received_at__lt=until)
    # Only responses some rule could match: low scores under the loosest threshold in use,
    # or contact details. Scanning every recent response would cost the most at peak load.
    loosest = Q(contact__isnull=False)
    for kind, (question_kind, default) in RESPONSE_RULES.items():
        thresholds = AlertRule.objects.filter(kind=kind, enabled=True).values_list(
            "threshold", flat=True
        )
        worst = max((t if t is not None else default for t in thresholds), default=None)
        if worst is not None:
            loosest |= Q(answers__kind=question_kind, answers__score__lte=worst)
    ids = list(recent.filter(loosest).values_list("pk", flat=True).distinct())
    checked = len(check_responses(ids))
    with contextlib.suppress(Exception):  # a lost cursor only makes the next sweep wider
        cache.set(SWEEP_CURSOR, until.isoformat(), int(since.total_seconds()))
    return checked


# --- silent kiosks ------------------------------------------------------------------------------


def check_silent_kiosks() -> list[Alert]:
    """Fire for each kiosk that has not been heard from for the rule's window while its
    store was open. Silence overnight does not count: the window starts at opening time at
    the earliest. One alert per silence (its start), however often beat checks."""
    now = timezone.now()
    kiosks = list(
        Kiosk.objects.filter(revoked_at__isnull=True, location__is_active=True).select_related(
            "location"
        )
    )
    rules = effective_rules(k.location_id for k in kiosks)
    created = []
    for kiosk in kiosks:
        rule = rules.get(kiosk.location_id, {}).get(RuleKind.KIOSK_SILENT)
        last = kiosk.last_seen_at or kiosk.registered_at
        if rule is None or last is None:
            continue
        local_now = now.astimezone(ZoneInfo(kiosk.location.timezone))
        opening, closing = rule.opens_at or time(8), rule.closes_at or time(22)
        opens = local_now.replace(hour=opening.hour, minute=opening.minute, second=0, microsecond=0)
        if local_now < opens or local_now.time() >= closing:
            continue
        silent_since = max(last, opens)
        if now - silent_since < timedelta(minutes=rule.window_minutes):
            continue
        alert = _fire(
            rule,
            kiosk.location,
            window_start=last,
            summary=f"The kiosk {kiosk.name or kiosk.public_id} at {kiosk.location.code} "
            f"has been silent since {last:%Y-%m-%d %H:%M} UTC",
        )
        if alert:
            created.append(alert)
            _queue_notifications(alert)
    return created
