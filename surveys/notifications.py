"""Telling people: an alert by e-mail to the store's managers (and the region's manager for
escalations), in each reader's language, and to every webhook of the organization."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, prefetch_related_objects
from django.template.loader import render_to_string
from django.utils import timezone, translation

from cxhub.queries import CompiledQuery
from locations.models import Role
from locations.selectors import saved_language

from . import webhooks
from .models import Alert, WebhookDelivery


def _people(location_id, region_id=None):
    """Active people with an e-mail address who manage the store, and the region's managers
    when a region is given; each with the language they saved ("" or None: none)."""
    users = get_user_model().objects
    roles = {"memberships__role": Role.STORE_MANAGER, "memberships__location": location_id}
    people = users.filter(is_active=True, **roles).exclude(email="")
    if region_id is not None:
        people = people | users.filter(
            is_active=True,
            memberships__role=Role.REGIONAL_MANAGER,
            memberships__region_id=region_id,
        ).exclude(email="")
    return people.distinct().order_by("pk").annotate(preferred_language=F("preference__language"))


# Read for every alert: compiled to SQL once per process (see cxhub.queries).
_store_managers = CompiledQuery(_people, -7_340_127)
_store_and_region_managers = CompiledQuery(_people, -7_340_127, -7_340_129)


def recipients(alert: Alert) -> list:
    """Active people with an e-mail address who manage the alert's store, plus the region's
    managers when the rule escalates."""
    if alert.rule.escalate and alert.location.region_id:
        return _store_and_region_managers(alert.location_id, alert.location.region_id)
    return _store_managers(alert.location_id)


# The alert and all its e-mail shows, locked while it is sent.
_alert_to_notify = CompiledQuery(
    lambda alert_id: (
        Alert.objects.select_for_update(of=("self",))
        .select_related(
            "rule", "location__region", "organization", "response__staff", "response__case"
        )
        .filter(pk=alert_id)
    ),
    -7_340_131,
)


def notify(alert_id: int) -> int:
    """E-mail the alert (one message per language) and queue its webhooks, once; returns
    how many people were written to.

    The alert's row is locked while it is sent, so two copies of the task (a redelivery,
    the sweep) cannot both send it; a failure part-way leaves it unnotified for the sweep.
    """
    with transaction.atomic():
        found = _alert_to_notify(alert_id)
        if not found:
            raise Alert.DoesNotExist("Alert matching query does not exist.")
        alert = found[0]
        if alert.notified_at is not None:
            return 0
        written = _send(alert)
        alert.notified_at = timezone.now()
        alert.save(update_fields=["notified_at"])
    return written


def _send(alert: Alert) -> int:
    by_language = defaultdict(list)
    for person in recipients(alert):
        language = person.preferred_language or alert.organization.default_language
        by_language[language].append(person.email)
    if by_language and alert.response is not None:
        # The e-mails list the answers: read once for every template and language.
        prefetch_related_objects([alert.response], "answers")
    context = {"alert": alert, "case": _case(alert), "site_url": settings.SITE_URL.rstrip("/")}
    for language, addresses in sorted(by_language.items()):
        with translation.override(language):
            subject = render_to_string("email/alert_subject.txt", context).strip()
            message = EmailMultiAlternatives(
                subject, render_to_string("email/alert.txt", context), to=addresses
            )
            message.attach_alternative(render_to_string("email/alert.html", context), "text/html")
            message.send()
    for delivery in webhooks.queue_deliveries(alert):
        _deliver_later(delivery.pk)
    return sum(len(a) for a in by_language.values())


def _case(alert: Alert):
    response = alert.response
    return getattr(response, "case", None) if response is not None else None


def _deliver_later(delivery_id: int) -> None:
    from .tasks import deliver_webhook_task

    transaction.on_commit(lambda: deliver_webhook_task.delay(delivery_id))


# Long enough for the task that was queued to have run; what is older was lost.
SWEEP_GRACE = timedelta(seconds=30)


def sweep_pending(*, limit: int = 500) -> int:
    """Queue again what a lost task left undone: alerts never notified (younger than a day:
    older news helps nobody) and webhook deliveries whose next attempt is due."""
    from .tasks import deliver_webhook_task, notify_alert_task

    now = timezone.now()
    alerts = list(
        Alert.objects.filter(
            notified_at__isnull=True,
            fired_at__lte=now - SWEEP_GRACE,
            fired_at__gte=now - timedelta(days=1),
        )
        .order_by("fired_at")
        .values_list("pk", flat=True)[:limit]
    )
    deliveries = list(
        WebhookDelivery.objects.filter(
            delivered_at__isnull=True,
            gave_up_at__isnull=True,
            endpoint__is_active=True,
            next_attempt_at__lte=now - SWEEP_GRACE,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in alerts:
        notify_alert_task.delay(pk)
    for pk in deliveries:
        deliver_webhook_task.delay(pk)
    return len(alerts) + len(deliveries)


def notify_escalations(cases) -> int:
    """Tell each overdue case's region managers (head office when the store has no region)
    that it is past due; returns how many messages were sent."""
    sent = 0
    for case in cases:
        people = get_user_model().objects.filter(is_active=True).exclude(email="")
        if case.location.region_id:
            people = people.filter(
                memberships__role=Role.REGIONAL_MANAGER,
                memberships__region_id=case.location.region_id,
            )
        else:
            people = people.filter(
                memberships__role=Role.HEAD_OFFICE, memberships__organization=case.organization_id
            )
        context = {"case": case, "site_url": settings.SITE_URL.rstrip("/")}
        for person in people.distinct():
            language = saved_language(person) or case.organization.default_language
            with translation.override(language):
                subject = render_to_string("email/escalation_subject.txt", context).strip()
                body = render_to_string("email/escalation.txt", context)
            EmailMultiAlternatives(subject, body, to=[person.email]).send()
            sent += 1
    return sent
