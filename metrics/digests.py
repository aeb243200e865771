"""The daily or weekly e-mail each manager chose: for every organization, region or store
they manage, the scores with their change, the biggest movers, open and overdue cases and a
few comments — in their language, as HTML and plain text."""

from datetime import UTC, date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from locations.models import Membership, Role
from locations.selectors import saved_language
from surveys import cases

from . import dashboards
from .dashboards import Scope
from .models import DigestSent
from .periods import Period, today_in

COMMENTS = 3


def scopes_of(user) -> list[tuple[str, Scope]]:
    """(title, scope) per membership: an organization, a region or a store."""
    out = []
    for m in (
        Membership.objects.filter(user=user)
        .select_related("organization", "region", "location")
        .order_by("organization__name", "role")
    ):
        org = m.organization
        if m.role == Role.HEAD_OFFICE:
            out.append((org.name, Scope(org.slug)))
        elif m.role == Role.REGIONAL_MANAGER:
            out.append(
                (f"{org.name} · {m.region.name}", Scope(org.slug, region=m.region.name), m.region)
            )
        else:
            out.append(
                (
                    f"{m.location.code} · {m.location.name}",
                    Scope(org.slug, locations=(m.location.code,)),
                )
            )
    return out


def period_for(frequency: str, today: date) -> Period:
    """Yesterday for a daily digest; the seven days up to yesterday for a weekly one."""
    last = today - timedelta(days=1)
    first = last if frequency == "daily" else last - timedelta(days=6)
    return Period("custom", first, last)


def build(user, frequency: str, now=None) -> dict | None:
    sections = []
    for title, scope in scopes_of(user):
        locations = dashboards.locations_in(user, scope)
        zone = locations.order_by("code").values_list("timezone", flat=True).first() or "UTC"
        period = period_for(frequency, today_in(zone, now))
        ranking = (
            dashboards.store_ranking(user, scope, period, "nps") if not scope.locations else []
        )
        open_cases = cases.visible_cases(user).filter(
            location__in=locations, status__in=cases.OPEN_STATUSES
        )
        sections.append(
            {
                "title": title,
                "period": period,
                "cards": dashboards.score_cards(user, scope, period),
                "movers": dashboards.movers(ranking),
                "open_cases": open_cases.count(),
                "overdue_cases": open_cases.filter(due_at__lt=now or timezone.now()).count(),
                "comments": dashboards.latest_comments(user, scope, period)[:COMMENTS],
            }
        )
    if not sections:
        return None
    return {
        "user": user,
        "frequency": frequency,
        "sections": sections,
        "site_url": settings.SITE_URL.rstrip("/"),
    }


def recipients(frequency: str):
    """Active people with an address and a membership who chose this frequency (weekly is
    the default for anyone who never chose)."""
    chose = Q(preference__digest=frequency)
    if frequency == "weekly":
        chose |= Q(preference__isnull=True)
    return (
        get_user_model()
        .objects.filter(chose, is_active=True, memberships__isnull=False)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def send(frequency: str, now=None) -> int:
    """Send this frequency's digests, once per person and day whatever the retries; returns
    how many went out."""
    run_on = (now or timezone.now()).astimezone(UTC).date()
    already = DigestSent.objects.filter(frequency=frequency, run_on=run_on).values("user_id")
    sent = 0
    for user in recipients(frequency).exclude(pk__in=already):
        context = build(user, frequency, now)
        if context is None:
            continue
        language = saved_language(user) or user.memberships.first().organization.default_language
        with translation.override(language):
            subject = render_to_string("email/digest_subject.txt", context).strip()
            message = EmailMultiAlternatives(
                subject, render_to_string("email/digest.txt", context), to=[user.email]
            )
            message.attach_alternative(render_to_string("email/digest.html", context), "text/html")
        message.send()
        # Recorded per person: a run that fails half-way resumes with the next one.
        DigestSent.objects.get_or_create(user=user, frequency=frequency, run_on=run_on)
        sent += 1
    return sent
