"""Celery adapters for closing the loop: each task is one service call."""

from celery import shared_task
from django.db import DatabaseError

from . import alert_sweeps, cases, notifications, privacy, recovery, webhooks

RETRYING = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


@shared_task(**RETRYING)
def check_alerts_task(response_ids: list[str]) -> int:
    return len(recovery.check_responses(response_ids))


@shared_task(**RETRYING)
def sweep_alerts_task() -> int:
    return alert_sweeps.sweep_unchecked() + notifications.sweep_pending()


@shared_task(**RETRYING)
def check_silent_kiosks_task() -> int:
    return len(alert_sweeps.check_silent_kiosks())


@shared_task(**RETRYING)
def escalate_overdue_cases_task() -> int:
    return notifications.notify_escalations(cases.escalate_overdue())


@shared_task(**RETRYING)
def erase_expired_contacts_task() -> int:
    return privacy.erase_expired()


@shared_task(**RETRYING)
def notify_alert_task(alert_id: int) -> int:
    return notifications.notify(alert_id)


@shared_task(**RETRYING)
def deliver_webhook_task(delivery_id: int) -> str:
    # A failed attempt schedules the next itself (rather than raising for Celery's retry),
    # so the delivery log counts every attempt and no failure propagates to the caller.
    # Waits longer than that are left to the sweep: Redis hands a delayed task to a second
    # worker once it has waited past the visibility timeout.
    outcome, attempts = webhooks.deliver(delivery_id)
    wait = webhooks.backoff_seconds(attempts)
    if outcome == webhooks.RETRY and wait <= webhooks.LONGEST_COUNTDOWN:
        deliver_webhook_task.apply_async([delivery_id], countdown=wait)
    return outcome
