"""The periodic alert work beat runs: checking what the checks queued at commit missed, and
noticing kiosks gone silent while their store is open."""

import contextlib
import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from locations.models import Kiosk

from . import recovery
from .models import RESPONSE_RULES, Alert, AlertRule, RuleKind, SurveyResponse

log = logging.getLogger(__name__)

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
    checked = len(recovery.check_responses(ids))
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
    rules = recovery.effective_rules(k.location_id for k in kiosks)
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
        alert = recovery.fire(
            rule,
            kiosk.location,
            window_start=last,
            summary=f"The kiosk {kiosk.name or kiosk.public_id} at {kiosk.location.code} "
            f"has been silent since {last:%Y-%m-%d %H:%M} UTC",
        )
        if alert:
            created.append(alert)
            recovery.queue_notifications(alert)
    return created
