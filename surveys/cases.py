"""Service-recovery cases: reading them through the visibility gate, acting on them, and
escalating those past due.

A case moves open → in progress → resolved (with an outcome) or dismissed (with a reason).
The first action on it — taking it, a note, a status — stamps `first_action_at`, the
"how fast" head office reads per store.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from locations.models import Role
from locations.selectors import visible_locations

from .models import Case, CaseNote, CaseOutcome, CaseStatus

OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.IN_PROGRESS)


class CaseError(ValueError):
    """What was asked of a case cannot be done; `field` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# --- reading ---------------------------------------------------------------------------------


def visible_cases(user) -> QuerySet[Case]:
    """The one gate, for cases: those of the stores the person may see."""
    return Case.objects.filter(location__in=visible_locations(user))


def case_list(user, *, location_code: str | None = None, show_closed: bool = False):
    """Open cases first (overdue first among them), then the rest newest first."""
    cases = visible_cases(user).select_related("location", "owner", "response__staff")
    if location_code:
        cases = cases.filter(location__code=location_code)
    if not show_closed:
        cases = cases.filter(status__in=OPEN_STATUSES)
    return cases.order_by(F("closed_at").desc(nulls_first=True), "due_at", "-opened_at")


def case_detail(user, pk: int) -> Case:
    return (
        visible_cases(user)
        .select_related("location__region", "owner", "response__staff", "organization")
        .prefetch_related("response__answers", "notes__author")
        .get(pk=pk)
    )


def contact_for(case: Case):
    """The customer's contact details, while kept (consented and not yet erased)."""
    contact = getattr(case.response, "contact", None)
    if contact is None or contact.erased_at is not None:
        return None
    return contact


def possible_owners(case: Case):
    """People who may own a case: the store's managers, the region's, head office."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(memberships__role=Role.STORE_MANAGER, memberships__location=case.location_id)
            | Q(
                memberships__role=Role.REGIONAL_MANAGER,
                memberships__region=case.location.region_id,
            )
            | Q(memberships__role=Role.HEAD_OFFICE, memberships__organization=case.organization_id)
        )
        .distinct()
        .order_by("username")
    )


@dataclass
class StoreCases:
    code: str
    name: str
    opened: int
    open_now: int
    overdue: int
    resolved: int
    recovered: int
    median_first_action: timedelta | None
    median_to_close: timedelta | None

    @property
    def recovery_rate(self) -> float | None:
        return 100 * self.recovered / self.resolved if self.resolved else None


def cases_by_store(user, organization, date_from, date_to) -> list[StoreCases]:
    """Per store, for cases opened in the period: how many, how many still open and
    overdue, how many resolved and recovered, and the median times to first action and to
    closing — what head office wants to know about each store's service recovery."""
    now = timezone.now()
    cases = visible_cases(user).filter(
        organization=organization, opened_at__date__gte=date_from, opened_at__date__lte=date_to
    )
    counts = {
        row["location__code"]: row
        for row in cases.values("location__code", "location__name")
        .annotate(
            opened=Count("pk"),
            open_now=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
            overdue=Count("pk", filter=Q(status__in=OPEN_STATUSES, due_at__lt=now)),
            resolved=Count("pk", filter=Q(status=CaseStatus.RESOLVED)),
            recovered=Count("pk", filter=Q(outcome=CaseOutcome.RECOVERED)),
        )
        .order_by()
    }
    # Medians in Python: a store's cases in a period are few, and medians are not portable SQL.
    firsts: dict[str, list] = {}
    closes: dict[str, list] = {}
    for code, opened, first, closed in cases.values_list(
        "location__code", "opened_at", "first_action_at", "closed_at"
    ):
        if first:
            firsts.setdefault(code, []).append(first - opened)
        if closed:
            closes.setdefault(code, []).append(closed - opened)
    return [
        StoreCases(
            code=code,
            name=row["location__name"],
            opened=row["opened"],
            open_now=row["open_now"],
            overdue=row["overdue"],
            resolved=row["resolved"],
            recovered=row["recovered"],
            median_first_action=_median(firsts.get(code)),
            median_to_close=_median(closes.get(code)),
        )
        for code, row in sorted(counts.items())
    ]


def _median(values):
    if not values:
        return None
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def open_case_count(user, location) -> int:
    return visible_cases(user).filter(location=location, status__in=OPEN_STATUSES).count()


# --- acting -------------------------------------------------------------------------------------


def act(case: Case, user, *, status="", owner=None, outcome="", reason="", note="") -> Case:
    """Apply one form's worth of changes to a case, all or nothing."""
    now = timezone.now()
    if case.is_closed and status in OPEN_STATUSES:
        case.closed_at = None  # reopened
    if status == CaseStatus.RESOLVED and not outcome:
        raise CaseError("outcome", "Say how it ended: recovered, not reached or not recoverable.")
    if status == CaseStatus.DISMISSED and not reason.strip():
        raise CaseError("reason", "Say why the case is dismissed.")
    if status and status not in CaseStatus.values:
        raise CaseError("status", "Not a case status.")
    if outcome and outcome not in CaseOutcome.values:
        raise CaseError("outcome", "Not an outcome.")
    if owner is not None and owner.pk == case.owner_id:
        owner = None  # the form shows the current owner: sending it back changes nothing
    if owner is not None and not possible_owners(case).filter(pk=owner.pk).exists():
        raise CaseError("owner", "That person cannot see this store's cases.")
    with transaction.atomic():
        if owner is not None:
            case.owner = owner
        if status:
            case.status = status
            if status in (CaseStatus.RESOLVED, CaseStatus.DISMISSED):
                case.closed_at = now
                case.outcome = outcome if status == CaseStatus.RESOLVED else ""
                case.dismissed_reason = reason.strip() if status == CaseStatus.DISMISSED else ""
        if note.strip():
            CaseNote.objects.create(case=case, author=user, text=note.strip(), created_at=now)
        if case.first_action_at is None and (status or owner is not None or note.strip()):
            case.first_action_at = now
        if case.status == CaseStatus.OPEN and (owner is not None or note.strip()):
            case.status = CaseStatus.IN_PROGRESS
        case.save()
    return case


def escalate_overdue(now=None) -> list[Case]:
    """Open cases past their due time, not escalated yet: stamped and returned, for their
    region's managers to be told."""
    now = now or timezone.now()
    overdue = list(
        Case.objects.filter(status__in=OPEN_STATUSES, due_at__lt=now, escalated_at__isnull=True)
        .select_related("location__region", "organization")
        .order_by("due_at")[:500]
    )
    for case in overdue:
        # Only the first worker to stamp a case tells anyone.
        if Case.objects.filter(pk=case.pk, escalated_at__isnull=True).update(escalated_at=now):
            case.escalated_at = now
    return [case for case in overdue if case.escalated_at == now]
