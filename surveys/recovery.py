"""Alerts and service-recovery cases: from an unhappy answer to someone acting on it.

Recording responses asks (after commit) for their alerts to be checked. A check fires each
matching rule at most once per response (or per store and window, for burst rules) — the
unique constraints on Alert guarantee it under retries and concurrent workers — opens a
case for an unhappy response, and queues the notifications of the alerts it created.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, time, timedelta

from django.core.cache import cache
from django.db import IntegrityError, connections, router, transaction
from django.db.models import QuerySet, UUIDField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from cxhub.queries import CompiledQuery, insert_new
from locations.models import Location

from .models import (
    RESPONSE_RULES,
    Alert,
    AlertRule,
    Answer,
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
    locations = Location.objects.filter(pk__in=set(location_ids)).values_list(
        "pk", "organization_id"
    )
    return _effective_rules(dict(locations))


# An organization's rules (its own and its stores'), compiled to SQL once per process (see
# cxhub.queries): read on every alert check.
_rules_of = CompiledQuery(
    lambda organization_id: AlertRule.objects.filter(organization_id=organization_id),
    -7_340_121,
)


def _effective_rules(organizations: dict[int, int]) -> dict[int, dict[str, AlertRule]]:
    """effective_rules, given each location's organization: {location id: organization id}."""
    by_org: dict[int, dict[str, AlertRule]] = {}
    by_location: dict[int, dict[str, AlertRule]] = {}
    for organization_id in set(organizations.values()):
        for rule in _rules_of(organization_id):
            if rule.location_id is None:
                by_org.setdefault(rule.organization_id, {})[rule.kind] = rule
            else:
                by_location.setdefault(rule.location_id, {})[rule.kind] = rule
    out = {}
    for location_id, organization_id in organizations.items():
        merged = {**by_org.get(organization_id, {}), **by_location.get(location_id, {})}
        out[location_id] = {kind: rule for kind, rule in merged.items() if rule.enabled}
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
    responses = _read_responses(list(response_ids))
    rules = _effective_rules({r.location_id: r.location.organization_id for r, _ in responses})
    created: list[Alert] = []
    now = timezone.now()
    for response, answers in responses:
        applicable = rules.get(response.location_id, {})
        matched = [rule for rule in applicable.values() if _matches(rule, response, answers)]
        if now - response.submitted_at > ALERT_MAX_AGE:
            matched = [rule for rule in matched if rule.kind == RuleKind.CONTACT_REQUEST]
        # The response's rules in one statement; those that fired before are skipped.
        created += _fire_all(
            [
                _alert(
                    rule,
                    response.location,
                    response=response,
                    summary=_summary(rule, response, answers),
                )
                for rule in matched
            ]
        )
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
        queue_notifications(alert)
    return created


def _checked(responses: QuerySet) -> QuerySet:
    # With what a check reads of each: its store and organization (the alerts, the case's
    # due time), its contact details and whether it has a case already.
    return responses.select_related("location__organization", "contact", "case")


def _as_uuid(hex_id: str) -> Cast:
    return Cast(Value(hex_id), output_field=UUIDField())


# One response, the common case (each kiosk request queues a check of its own): read with
# its answers by two queries compiled to SQL once per process (see cxhub.queries).
# CompiledQuery substitutes str and int values only, so the id goes in as its 32 hex digits,
# cast to a uuid in the SQL: PostgreSQL reads a uuid written so, SQLite stores it so.
_response_by_hex = CompiledQuery(
    lambda hex_id: _checked(SurveyResponse.objects.filter(pk=_as_uuid(hex_id))),
    "7340137" + "0" * 25,
)
_answers_by_hex = CompiledQuery(
    lambda hex_id: Answer.objects.filter(response_id=_as_uuid(hex_id)), "7340139" + "0" * 25
)


def _read_responses(response_ids: list) -> list[tuple[SurveyResponse, list[Answer]]]:
    """The responses to check, each with its answers."""
    if len(response_ids) == 1:
        try:
            hex_id = uuid.UUID(str(response_ids[0])).hex
        except ValueError:
            pass  # the ORM says what is wrong with it
        else:
            return [(r, _answers_by_hex(hex_id)) for r in _response_by_hex(hex_id)]
    responses = _checked(SurveyResponse.objects.filter(pk__in=response_ids)).prefetch_related(
        "answers"
    )
    return [(r, list(r.answers.all())) for r in responses]


def _matches(rule: AlertRule, response: SurveyResponse, answers: list[Answer]) -> bool:
    if rule.kind == RuleKind.CONTACT_REQUEST:
        return _has_contact(response)
    if rule.kind not in RESPONSE_RULES:
        return False
    question_kind, default = RESPONSE_RULES[rule.kind]
    threshold = rule.threshold if rule.threshold is not None else default
    return any(
        a.kind == question_kind and a.score is not None and a.score <= threshold for a in answers
    )


def _has_contact(response: SurveyResponse) -> bool:
    try:
        contact = response.contact
    except SurveyResponse.contact.RelatedObjectDoesNotExist:
        return False
    return contact.erased_at is None


def _summary(rule: AlertRule, response: SurveyResponse, answers: list[Answer]) -> str:
    scores = ", ".join(f"{a.question.upper()} {a.score}" for a in answers if a.score is not None)
    return f"{rule.get_kind_display()} at {response.location.code}: {scores}"[:300]


def _alert(rule, location, *, response=None, window_start=None, summary="") -> Alert:
    return Alert(
        rule=rule,
        organization_id=location.organization_id,
        location=location,
        response=response,
        window_start=window_start,
        fired_at=timezone.now(),
        summary=summary,
    )


def fire(rule, location, *, response=None, window_start=None, summary="") -> Alert | None:
    """The alert, if this rule had not fired for this response (or window) yet."""
    fired = _fire_all(
        [_alert(rule, location, response=response, window_start=window_start, summary=summary)]
    )
    return fired[0] if fired else None


def _fire_all(alerts: list[Alert]) -> list[Alert]:
    """Those of these alerts (of distinct rules) that had not fired yet, now stored. The
    unique constraints decide which, in the one statement: a retried task, a resent
    response or another worker checking it at the same time fires nothing twice."""
    try:
        return insert_new(alerts, key="rule_id")
    except IntegrityError:  # not a repeat (skipped above): a row it refers to was deleted
        return []


def _check_burst(rule: AlertRule, response: SurveyResponse) -> Alert | None:
    """Fire when the store had `threshold` unhappy responses within the window ending now.
    The window start is rounded down to the window's length, so two workers checking at
    once agree on it and the rule fires once per window."""
    window = timedelta(minutes=rule.window_minutes)
    now = timezone.now()
    unhappy = _unhappy_responses(response.location_id, since=now - window)
    if unhappy < (rule.threshold or 3):
        return None
    return fire(
        rule,
        response.location,
        window_start=_floor(now, window),
        summary=f"{unhappy} unhappy customers within {rule.window_minutes} minutes at {response.location.code}",
    )


def _unhappy_responses(location_id: int, *, since: datetime) -> int:
    """How many responses submitted at the store since then fired an unhappy rule: what

        Alert.objects.filter(
            location_id=location_id,
            rule__kind__in=UNHAPPY_KINDS,
            response__submitted_at__gte=since,
        ).values("response").distinct().count()

    counts, in SQL written once rather than compiled by the ORM for every unhappy answer
    (tests/surveys/test_alert_checks.py holds the two to the same answers)."""
    connection = connections[router.db_for_read(Alert)]
    quote = connection.ops.quote_name
    alert, rule, response = (model._meta for model in (Alert, AlertRule, SurveyResponse))
    alert_response = quote(alert.get_field("response").column)
    submitted_at = response.get_field("submitted_at")
    kinds = ", ".join(["%s"] * len(UNHAPPY_KINDS))
    sql = (
        f"SELECT COUNT(DISTINCT a.{alert_response}) FROM {quote(alert.db_table)} a"
        f" INNER JOIN {quote(rule.db_table)} r"
        f" ON a.{quote(alert.get_field('rule').column)} = r.{quote(rule.pk.column)}"
        f" INNER JOIN {quote(response.db_table)} s"
        f" ON a.{alert_response} = s.{quote(response.pk.column)}"
        f" WHERE a.{quote(alert.get_field('location').column)} = %s"
        f" AND r.{quote(rule.get_field('kind').column)} IN ({kinds})"
        f" AND s.{quote(submitted_at.column)} >= %s"
    )
    params = [
        location_id,
        *(str(kind) for kind in UNHAPPY_KINDS),
        submitted_at.get_db_prep_value(since, connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _floor(moment: datetime, window: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    return epoch + ((moment - epoch) // window) * window


# The case a response has, once loaded with it (select_related("case")): a Case, or None.
_CASE_OF_RESPONSE = SurveyResponse.case.related
_NOT_LOADED = object()


def open_case(response: SurveyResponse) -> Case:
    """The response's case, opened now unless it has one (get_or_create; when the response
    was read with its case, the look-up is not repeated)."""
    organization = response.location.organization
    now = timezone.now()
    defaults = {
        "organization_id": response.organization_id,
        "location_id": response.location_id,
        "opened_at": now,
        "due_at": now + timedelta(hours=organization.case_sla_hours),
    }
    known = _CASE_OF_RESPONSE.get_cached_value(response, default=_NOT_LOADED)
    if known is _NOT_LOADED:
        case, _ = Case.objects.get_or_create(response=response, defaults=defaults)
        return case
    if known is not None:
        return known
    try:
        with transaction.atomic(using=router.db_for_write(Case)):
            case = Case.objects.create(response=response, **defaults)
    except IntegrityError:  # another worker opened it meanwhile (as get_or_create does)
        try:
            return Case.objects.get(response=response)
        except Case.DoesNotExist:
            pass
        raise
    _CASE_OF_RESPONSE.set_cached_value(response, case)
    return case


def queue_notifications(alert: Alert) -> None:
    from .tasks import notify_alert_task

    transaction.on_commit(lambda: notify_alert_task.delay(alert.pk))
