import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

LANGUAGES = [("vi", "Tiếng Việt"), ("th", "ไทย"), ("en", "English")]


class AuditedByOrganization:
    """The organization each audit-log entry of the row belongs to, so that an
    organization's administrators read their own entries only (locations.admin)."""

    def get_additional_data(self) -> dict:
        return {"organization_id": self.organization_id}


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Asia/Ho_Chi_Minh).")


class Organization(models.Model):
    """A tenant: one chain. Every row below it carries its id so data never crosses chains."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    default_language = models.CharField(max_length=8, choices=LANGUAGES, default="en")
    default_survey = models.ForeignKey(
        "surveys.Survey", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    low_sample_threshold = models.PositiveSmallIntegerField(
        default=30, help_text="Below this many answers a score is marked 'low sample'."
    )
    privacy_threshold = models.PositiveSmallIntegerField(
        default=5, help_text="Below this many answers no score is shown for a staff member."
    )
    kiosk_idle_seconds = models.PositiveSmallIntegerField(
        default=30, help_text="A kiosk left mid-survey this long sends what it has and resets."
    )
    case_sla_hours = models.PositiveSmallIntegerField(
        default=24, help_text="A service-recovery case is due this many hours after it opens."
    )
    contact_retention_days = models.PositiveSmallIntegerField(
        default=90, help_text="Customers' contact details are erased this many days after."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_additional_data(self) -> dict:
        return {"organization_id": self.pk}


class Region(AuditedByOrganization, models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="regions")
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="locations_region_unique_name"
            )
        ]

    def __str__(self):
        return self.name


class Location(AuditedByOrganization, models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="locations")
    region = models.ForeignKey(
        Region, models.PROTECT, null=True, blank=True, related_name="locations"
    )
    code = models.CharField(max_length=40, help_text="The chain's own store code, e.g. HCM-01.")
    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64, default="Asia/Ho_Chi_Minh", validators=[validate_timezone]
    )
    default_language = models.CharField(max_length=8, choices=LANGUAGES, blank=True)
    survey = models.ForeignKey(
        "surveys.Survey",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="locations",
        help_text="Empty: the organization's default survey.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="locations_location_unique_code"
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def language(self) -> str:
        return self.default_language or self.organization.default_language


class Touchpoint(AuditedByOrganization, models.Model):
    """Where in the customer's visit a kiosk stands: entrance, checkout, fitting-room…"""

    organization = models.ForeignKey(Organization, models.CASCADE, related_name="touchpoints")
    name = models.SlugField(max_length=60)
    label = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="locations_touchpoint_unique_name"
            )
        ]

    def __str__(self):
        return self.label or self.name


class StaffMember(AuditedByOrganization, models.Model):
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="staff")
    location = models.ForeignKey(Location, models.PROTECT, related_name="staff")
    code = models.CharField(max_length=40)
    display_name = models.CharField(max_length=120)
    photo = models.ImageField(upload_to="staff/", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            # Staff codes are HR codes, unique in the chain: a transfer moves the person.
            models.UniqueConstraint(
                fields=["organization", "code"], name="locations_staffmember_unique_code"
            )
        ]

    def __str__(self):
        return f"{self.display_name} ({self.code})"


class Kiosk(AuditedByOrganization, models.Model):
    """A tablet (ours or another vendor's) bound to one location and touchpoint."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="kiosks")
    location = models.ForeignKey(Location, models.CASCADE, related_name="kiosks")
    touchpoint = models.ForeignKey(Touchpoint, models.PROTECT, related_name="kiosks")
    name = models.CharField(max_length=120, blank=True)
    token_digest = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    token_hint = models.CharField(max_length=12, blank=True, editable=False)
    registered_at = models.DateTimeField(
        help_text="First registration (create_kiosk or first pairing); a new token does not move it."
    )
    token_issued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    queue_length = models.PositiveIntegerField(null=True, blank=True)
    invalid_count = models.PositiveIntegerField(null=True, blank=True)
    battery = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["location__code", "touchpoint__name", "id"]
        constraints = [
            models.CheckConstraint(
                name="locations_kiosk_battery_percent",
                condition=Q(battery__isnull=True) | Q(battery__lte=100),
            )
        ]

    def __str__(self):
        label = self.name or f"kiosk {self.token_hint or self.pk}"
        return f"{self.location.code} · {self.touchpoint.name} · {label}"

    @property
    def is_active(self) -> bool:
        return self.token_digest is not None and self.revoked_at is None


class PairingCode(models.Model):
    """A short-lived one-time code a manager types on a tablet to pair it."""

    organization = models.ForeignKey(Organization, models.CASCADE, related_name="+")
    location = models.ForeignKey(Location, models.CASCADE, related_name="pairing_codes")
    touchpoint = models.ForeignKey(Touchpoint, models.CASCADE, related_name="+")
    kiosk = models.ForeignKey(
        Kiosk,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="pairing_codes",
        help_text="Set to re-pair an existing kiosk (it keeps its history and registration time).",
    )
    code_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"pairing code for {self.location.code} until {self.expires_at:%H:%M}"


class Role(models.TextChoices):
    HEAD_OFFICE = "head_office", "Head office"
    REGIONAL_MANAGER = "regional_manager", "Regional manager"
    STORE_MANAGER = "store_manager", "Store manager"


class Membership(AuditedByOrganization, models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    region = models.ForeignKey(Region, models.CASCADE, null=True, blank=True, related_name="+")
    location = models.ForeignKey(Location, models.CASCADE, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Each role names exactly the scope it covers, no more.
            models.CheckConstraint(
                name="locations_membership_scope_matches_role",
                condition=(
                    Q(role=Role.HEAD_OFFICE, region__isnull=True, location__isnull=True)
                    | Q(role=Role.REGIONAL_MANAGER, region__isnull=False, location__isnull=True)
                    | Q(role=Role.STORE_MANAGER, region__isnull=True, location__isnull=False)
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "organization"],
                condition=Q(role=Role.HEAD_OFFICE),
                name="locations_membership_once_head_office",
            ),
            models.UniqueConstraint(
                fields=["user", "region"], name="locations_membership_once_per_region"
            ),
            models.UniqueConstraint(
                fields=["user", "location"], name="locations_membership_once_per_location"
            ),
        ]

    def __str__(self):
        scope = self.location or self.region or self.organization
        return f"{self.user} · {self.get_role_display()} · {scope}"


class ApiToken(models.Model):
    """A personal token for the reading side (BI tools, spreadsheets): acts as its user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=120, blank=True)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=12, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.user} · {self.name or self.token_hint}"


class UserPreference(models.Model):
    """What a person chose for themselves, wherever they sign in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="preference")
    # Blank: follow the browser (the language cookie, then Accept-Language).
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, blank=True)
    digest = models.CharField(
        max_length=8,
        choices=[
            ("none", _("No digest")),
            ("daily", _("Every morning")),
            ("weekly", _("Every Monday")),
        ],
        default="weekly",
        help_text="The e-mail summary of the stores this person manages.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(language="") | Q(language__in=[code for code, _ in settings.LANGUAGES]),
                name="locations_userpreference_known_language",
            )
        ]

    def __str__(self):
        return f"{self.user} · {self.language or 'browser'}"
