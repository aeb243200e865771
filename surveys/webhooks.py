"""Signed webhooks: every alert, POSTed as JSON to each active endpoint of its organization.

Signature (docs/webhooks.md): `X-CXHub-Signature: t=<unix seconds>,v1=<hex>` where hex is
HMAC-SHA256 of "<t>.<raw body>" with the endpoint's secret. Receivers recompute it, compare
in constant time and refuse a timestamp more than five minutes away (replay).
"""

import functools
import hashlib
import hmac
import json
import ssl
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cxhub.queries import CompiledQuery, insert_new

from .models import Alert, WebhookDelivery, WebhookEndpoint

MAX_ATTEMPTS = 8
DISABLE_AFTER_FAILURES = 20  # consecutive, across deliveries
TIMEOUT_SECONDS = 5.0
# Retries further off than this are sent by the beat sweep (notifications.sweep_pending),
# well inside the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT, 600 s).
LONGEST_COUNTDOWN = 240


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now=None) -> bool:
    """What a receiver does (and our tests do): the signature matches and is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def payload(alert: Alert) -> dict:
    """The one webhook format. Customers' contact details are never sent."""
    response = alert.response
    case = getattr(response, "case", None) if response else None
    return {
        "event": "alert.fired",
        "alert_id": alert.pk,
        "organization": alert.organization.slug,
        "rule": alert.rule.kind,
        "fired_at": alert.fired_at.isoformat(),
        "summary": alert.summary,
        "location": {"code": alert.location.code, "name": alert.location.name},
        "response": None
        if response is None
        else {
            "id": str(response.pk),
            "submitted_at": response.submitted_at.isoformat(),
            "language": response.language,
            "staff": response.staff.code if response.staff else None,
            "answers": {a.question: a.value for a in response.answers.all() if a.kind != "contact"},
        },
        "case": None
        if case is None
        else {
            "id": case.pk,
            "due_at": case.due_at.isoformat(),
            "url": f"{settings.SITE_URL.rstrip('/')}/cases/{case.pk}/",
        },
    }


# Read for every alert: compiled to SQL once per process (see cxhub.queries).
_active_endpoints = CompiledQuery(
    lambda organization_id: WebhookEndpoint.objects.filter(
        organization_id=organization_id, is_active=True
    ),
    -7_340_133,
)


def queue_deliveries(alert: Alert) -> list[WebhookDelivery]:
    """The alert's delivery to each active endpoint of its organization: created now, in
    one statement, or the one it already has."""
    endpoints = _active_endpoints(alert.organization_id)
    if not endpoints:
        return []
    now = timezone.now()
    made = {
        delivery.endpoint_id: delivery
        for delivery in insert_new(
            [
                WebhookDelivery(endpoint=endpoint, alert=alert, next_attempt_at=now)
                for endpoint in endpoints
            ],
            key="endpoint_id",
        )
    }
    known = [endpoint.pk for endpoint in endpoints if endpoint.pk not in made]
    if known:
        made |= {
            delivery.endpoint_id: delivery
            for delivery in WebhookDelivery.objects.filter(alert=alert, endpoint_id__in=known)
        }
    return [made[endpoint.pk] for endpoint in endpoints if endpoint.pk in made]


RETRY = "retry"


def backoff_seconds(attempts: int) -> int:
    """15 s, 30 s, 1 min … up to ~17 min between tries: receivers go down for minutes."""
    return min(15 * 2 ** (attempts - 1), 1024)


def deliver(delivery_id: int) -> tuple[str, int]:
    """One attempt, if one is due. Returns ("delivered" | "done" | "gave up" | "retry" |
    "not due", attempts so far); "done" when nothing is left to do (delivered before, given
    up, endpoint disabled, or another worker is sending it right now)."""
    with transaction.atomic():
        # Locked for the attempt: a redelivered or swept copy of the task skips it instead
        # of sending the alert twice.
        found = _delivery_to_attempt(delivery_id)
        if not found:
            return "done", 0
        return _attempt(found[0])


# What deliver reads, compiled to SQL once per process (see cxhub.queries).
_delivery_to_attempt = CompiledQuery(
    lambda delivery_id: (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related(
            "endpoint",
            "alert__rule",
            "alert__location",
            "alert__organization",
            "alert__response__staff",
        )
        .filter(pk=delivery_id)
        .order_by("pk")[:1]  # what .first() reads
    ),
    -7_340_135,
)


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings httpx.post builds for itself when given none (certifi's CAs, or
    SSL_CERT_FILE / SSL_CERT_DIR): building them loads every CA certificate, some 19 ms
    of CPU per POST, so each process builds them once."""
    return httpx.create_ssl_context()


def _attempt(delivery: WebhookDelivery) -> tuple[str, int]:
    endpoint = delivery.endpoint
    if delivery.delivered_at or delivery.gave_up_at or not endpoint.is_active:
        return "done", delivery.attempts
    if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now():
        return "not due", delivery.attempts
    body = json.dumps(payload(delivery.alert), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "CXHub-Webhook/1",
        "X-CXHub-Delivery": str(delivery.pk),
        "X-CXHub-Event": "alert.fired",
        "X-CXHub-Signature": sign(endpoint.secret, int(time.time()), body),
    }
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    try:
        answer = httpx.post(
            endpoint.url, content=body, headers=headers, timeout=TIMEOUT_SECONDS, verify=_tls()
        )
        delivery.last_status, delivery.last_error = answer.status_code, ""
        ok = 200 <= answer.status_code < 300
    except httpx.HTTPError as error:
        delivery.last_status, delivery.last_error, ok = None, str(error)[:300], False
    if ok:
        delivery.delivered_at = timezone.now()
        delivery.save()
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return "delivered", delivery.attempts
    endpoint.consecutive_failures += 1
    fields = ["consecutive_failures"]
    if endpoint.consecutive_failures >= DISABLE_AFTER_FAILURES:
        endpoint.is_active, endpoint.disabled_at = False, timezone.now()
        fields += ["is_active", "disabled_at"]
    endpoint.save(update_fields=fields)
    if delivery.attempts >= MAX_ATTEMPTS or not endpoint.is_active:
        delivery.gave_up_at = timezone.now()
        delivery.save()
        return "gave up", delivery.attempts
    delivery.next_attempt_at = timezone.now() + timedelta(
        seconds=backoff_seconds(delivery.attempts)
    )
    delivery.save()
    return RETRY, delivery.attempts
