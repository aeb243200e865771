"""Closing the loop: alert rules, the alerts they raise, the service-recovery cases opened
for unhappy customers, and the webhooks that carry alerts to other systems."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from locations.models import AuditedByOrganization


class RuleKind(models.TextChoices):
    DETRACTOR = "detractor", _("A detractor (NPS at or below the threshold)")
    LOW_CSAT = "low_csat", _("CSAT at or below the threshold")
    LOW_CES = "low_ces", _("CES at or below the threshold")
    CONTACT_REQUEST = "contact_request", _("The customer asked to be contacted")
    UNHAPPY_BURST = "unhappy_burst", _("Several unhappy answers at one store within a window")
    KIOSK_SILENT = "kiosk_silent", _("A store's kiosk silent during opening hours")


# The answers each per-response rule looks at, and its default threshold (METRICS.md).
RESPONSE_RULES = {
    RuleKind.DETRACTOR: ("nps", 6),
    RuleKind.LOW_CSAT: ("csat", 2),
    RuleKind.LOW_CES: ("ces", 3),
}


class AlertRule(AuditedByOrganization, models.Model):
    """A rule of an organization; a rule with a location overrides the organization's rule
    of the same kind at that store (or switches it off there, with enabled=False)."""

    organization = models.ForeignKey(
        "locations.Organization", models.CASCADE, related_name="alert_rules"
    )
    location = models.ForeignKey(
        "locations.Location",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
        help_text="Empty: every store of the organization without a rule of its own.",
    )
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    enabled = models.BooleanField(default=True)
    threshold = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Score rules: at or below this score. Burst: this many unhappy answers.",
    )
    window_minutes = models.PositiveIntegerField(
        default=60, help_text="Burst: the sliding window. Silent kiosk: how long silent."
    )
    opens_at = models.TimeField(null=True, blank=True, help_text="Silent kiosk: local opening.")
    closes_at = models.TimeField(null=True, blank=True, help_text="Silent kiosk: local closing.")
    escalate = models.BooleanField(
        default=False, help_text="Also tell the region's manager at once."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind"],
                condition=Q(location__isnull=True),
                name="surveys_alertrule_once_per_organization",
            ),
            models.UniqueConstraint(
                fields=["location", "kind"],
                condition=Q(location__isnull=False),
                name="surveys_alertrule_once_per_location",
            ),
        ]

    def __str__(self):
        where = self.location.code if self.location_id else "every store"
        return f"{self.get_kind_display()} ({where})"


class Alert(models.Model):
    """One rule fired once: for a response (score and contact rules) or for a store and a
    window (burst and silent-kiosk rules). The unique constraints make a retried task or a
    resent response unable to fire a rule twice."""

    rule = models.ForeignKey(AlertRule, models.CASCADE, related_name="alerts")
    organization = models.ForeignKey("locations.Organization", models.CASCADE, related_name="+")
    location = models.ForeignKey("locations.Location", models.CASCADE, related_name="alerts")
    response = models.ForeignKey(
        "surveys.SurveyResponse", models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    window_start = models.DateTimeField(
        null=True, blank=True, help_text="Store rules: the start of the window that fired."
    )
    fired_at = models.DateTimeField()
    summary = models.CharField(max_length=300)
    # Set once the e-mails are sent and the webhooks queued: an alert whose notification was
    # lost with the broker is found by the sweep (surveys.recovery.sweep_notifications).
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "response"],
                condition=Q(response__isnull=False),
                name="surveys_alert_once_per_response",
            ),
            models.UniqueConstraint(
                fields=["rule", "location", "window_start"],
                condition=Q(response__isnull=True),
                name="surveys_alert_once_per_window",
            ),
        ]
        indexes = [
            models.Index(fields=["location", "fired_at"], name="surveys_alert_loc_idx"),
            models.Index(
                fields=["fired_at"],
                name="surveys_alert_unnotified_idx",
                condition=Q(notified_at__isnull=True),
            ),
        ]

    def __str__(self):
        return self.summary


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    DISMISSED = "dismissed", _("Dismissed")


class CaseOutcome(models.TextChoices):
    RECOVERED = "recovered", _("Recovered")
    NOT_REACHED = "not_reached", _("Not reached")
    NOT_RECOVERABLE = "not_recoverable", _("Not recoverable")


class Case(AuditedByOrganization, models.Model):
    """A service-recovery case for one unhappy response at its store."""

    organization = models.ForeignKey("locations.Organization", models.CASCADE, related_name="+")
    location = models.ForeignKey("locations.Location", models.CASCADE, related_name="cases")
    response = models.OneToOneField("surveys.SurveyResponse", models.CASCADE, related_name="case")
    status = models.CharField(max_length=12, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="cases"
    )
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    first_action_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=CaseOutcome.choices, blank=True)
    dismissed_reason = models.CharField(max_length=300, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="surveys_case_resolution_has_outcome",
                condition=~Q(status=CaseStatus.RESOLVED) | ~Q(outcome=""),
            ),
            models.CheckConstraint(
                name="surveys_case_dismissal_has_reason",
                condition=~Q(status=CaseStatus.DISMISSED) | ~Q(dismissed_reason=""),
            ),
        ]
        indexes = [
            # The store's case list: open first, by due time.
            models.Index(fields=["location", "status", "due_at"], name="surveys_case_list_idx"),
            # The escalation sweep: open cases past due, not yet escalated.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["open", "in_progress"], escalated_at__isnull=True),
                name="surveys_case_overdue_idx",
            ),
        ]

    def __str__(self):
        return f"case {self.pk} @ {self.location_id} ({self.status})"

    @property
    def is_closed(self) -> bool:
        return self.status in (CaseStatus.RESOLVED, CaseStatus.DISMISSED)


class CaseNote(models.Model):
    case = models.ForeignKey(Case, models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"note on case {self.case_id}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(AuditedByOrganization, models.Model):
    """Where an organization's alerts are POSTed, signed with this endpoint's secret."""

    organization = models.ForeignKey(
        "locations.Organization", models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=new_webhook_secret)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One alert to one endpoint, with every attempt's outcome: the delivery log."""

    endpoint = models.ForeignKey(WebhookEndpoint, models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, models.CASCADE, related_name="deliveries")
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due (null: now). Kept here, not only in a delayed task, so a
    # retry survives a broker restart and is never sent twice by two copies of one task.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "alert"], name="surveys_webhookdelivery_once"
            )
        ]
        indexes = [
            # The sweep's question: which deliveries are pending?
            models.Index(
                fields=["next_attempt_at"],
                name="surveys_delivery_pending_idx",
                condition=Q(delivered_at__isnull=True, gave_up_at__isnull=True),
            )
        ]

    def __str__(self):
        return f"alert {self.alert_id} → {self.endpoint_id} ({self.attempts} attempts)"


DEFAULT_SLA = timedelta(hours=24)
