"""Writes with a rule for the organization side: tenants, kiosks, pairing, people, tokens."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from . import tokens
from .models import (
    ApiToken,
    Kiosk,
    Location,
    Membership,
    Organization,
    PairingCode,
    Region,
    Role,
    Touchpoint,
    UserPreference,
)

DEFAULT_TOUCHPOINT = "main"
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


class ServiceError(ValueError):
    """A request that cannot be carried out, with a message fit for the person who made it."""


def create_organization(*, name: str, slug: str, default_language: str = "en") -> Organization:
    from surveys.recovery import create_default_rules
    from surveys.services import create_default_survey

    if Organization.objects.filter(slug=slug).exists():
        raise ServiceError(f"An organization with slug {slug!r} already exists.")
    with transaction.atomic():
        organization = Organization.objects.create(
            name=name, slug=slug, default_language=default_language
        )
        organization.default_survey = create_default_survey(organization=organization)
        organization.save(update_fields=["default_survey"])
        touchpoint_for(organization, DEFAULT_TOUCHPOINT)
        create_default_rules(organization)
    return organization


def touchpoint_for(organization: Organization, name: str | None) -> Touchpoint:
    name = slugify(name or DEFAULT_TOUCHPOINT) or DEFAULT_TOUCHPOINT
    touchpoint, _ = Touchpoint.objects.get_or_create(
        organization=organization,
        name=name,
        defaults={"label": name.replace("-", " ").capitalize()},
    )
    return touchpoint


def find_location(code: str, organization: Organization | None = None) -> Location:
    matches = Location.objects.select_related("organization").filter(code=code)
    if organization is not None:
        matches = matches.filter(organization=organization)
    found = list(matches[:2])
    if not found:
        raise ServiceError(f"No location has the code {code!r}.")
    if len(found) > 1:
        raise ServiceError(
            f"Several organizations have a location {code!r}: name one with --organization."
        )
    return found[0]


# --- kiosks ----------------------------------------------------------------------------


@dataclass
class IssuedKiosk:
    kiosk: Kiosk
    token: str


def create_kiosk(
    *, location: Location, touchpoint: str | None = None, name: str = ""
) -> IssuedKiosk:
    kiosk = Kiosk(
        organization=location.organization,
        location=location,
        touchpoint=touchpoint_for(location.organization, touchpoint),
        name=name,
        registered_at=timezone.now(),
    )
    token = _assign_token(kiosk)
    kiosk.save()
    return IssuedKiosk(kiosk, token)


def _assign_token(kiosk: Kiosk) -> str:
    token = tokens.new_token(tokens.KIOSK_PREFIX)
    kiosk.token_digest = tokens.digest(token)
    kiosk.token_hint = token[-4:]
    kiosk.token_issued_at = timezone.now()
    kiosk.revoked_at = None
    return token


def revoke_kiosk(*, kiosk: Kiosk) -> None:
    """Takes effect on the kiosk's next request: the token no longer matches any kiosk.

    Saved rather than updated in bulk so that the audit log records who revoked it."""
    kiosk.revoked_at = timezone.now()
    kiosk.token_digest = None
    kiosk.save(update_fields=["revoked_at", "token_digest"])


def create_pairing_code(
    *, location: Location, touchpoint: str | None = None, kiosk: Kiosk | None = None, user=None
) -> str:
    code = tokens.new_pairing_code()
    PairingCode.objects.create(
        organization=location.organization,
        location=location,
        touchpoint=kiosk.touchpoint if kiosk else touchpoint_for(location.organization, touchpoint),
        kiosk=kiosk,
        code_digest=tokens.digest(code),
        created_by=user,
        expires_at=timezone.now() + timedelta(minutes=settings.CXHUB_PAIRING_CODE_MINUTES),
    )
    return code


def pair_kiosk(*, code: str, name: str = "", app_version: str = "") -> IssuedKiosk:
    """Exchange a one-time code for a kiosk token. A code works once, before it expires."""
    now = timezone.now()
    with transaction.atomic():
        # Claim the code with a conditional update so two tablets typing it at once
        # cannot both pair with it.
        claimed = PairingCode.objects.filter(
            code_digest=tokens.digest(code), used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if claimed != 1:
            raise ServiceError("This pairing code is not valid, was already used, or has expired.")
        pairing = PairingCode.objects.select_related("location__organization", "kiosk").get(
            code_digest=tokens.digest(code)
        )
        kiosk = pairing.kiosk or Kiosk(
            organization=pairing.organization,
            location=pairing.location,
            touchpoint=pairing.touchpoint,
            name=name,
            registered_at=now,
        )
        if app_version:
            kiosk.app_version = app_version
        token = _assign_token(kiosk)
        kiosk.save()
    return IssuedKiosk(kiosk, token)


def record_heartbeat(
    *,
    kiosk: Kiosk,
    app_version: str | None,
    queue_length: int | None,
    invalid_count: int | None,
    battery: int | None,
) -> None:
    fields = {"last_seen_at": timezone.now()}
    for name, value in (
        ("app_version", app_version),
        ("queue_length", queue_length),
        ("invalid_count", invalid_count),
        ("battery", battery),
    ):
        if value is not None:
            fields[name] = value
    Kiosk.objects.filter(pk=kiosk.pk).update(**fields)


def touch_kiosk(kiosk: Kiosk) -> None:
    """Record that the kiosk was seen, at most once a minute so busy kiosks do not write per call."""
    now = timezone.now()
    if kiosk.last_seen_at and now - kiosk.last_seen_at < LAST_SEEN_RESOLUTION:
        return
    Kiosk.objects.filter(pk=kiosk.pk).update(last_seen_at=now)
    kiosk.last_seen_at = now


# --- people ----------------------------------------------------------------------------


@dataclass
class Invitation:
    user: object
    membership: Membership
    created: bool


def invite_user(
    *,
    email: str,
    organization: Organization,
    role: str,
    region: str | None = None,
    location: str | None = None,
) -> Invitation:
    if role not in Role.values:
        raise ServiceError(f"role must be one of {', '.join(Role.values)}.")
    scope = {"region": None, "location": None}
    if role == Role.REGIONAL_MANAGER:
        if not region or location:
            raise ServiceError("A regional manager needs --region NAME (and no --location).")
        scope["region"] = Region.objects.filter(organization=organization, name=region).first()
        if scope["region"] is None:
            raise ServiceError(f"{organization.slug} has no region {region!r}.")
    elif role == Role.STORE_MANAGER:
        if not location or region:
            raise ServiceError("A store manager needs --location CODE (and no --region).")
        scope["location"] = find_location(location, organization)
    elif region or location:
        raise ServiceError(
            "Head office sees the whole organization: give no --region or --location."
        )

    User = get_user_model()
    email = User.objects.normalize_email(email).strip()
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username__iexact=email, defaults={"username": email, "email": email}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        if role == Role.HEAD_OFFICE and not user.is_staff:
            # Head office sets the chain up in the admin, which needs staff status.
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        membership, _ = Membership.objects.get_or_create(
            user=user, organization=organization, role=role, **scope
        )
    return Invitation(user, membership, created)


def create_api_token(*, user, name: str = "") -> str:
    token = tokens.new_token(tokens.PERSONAL_PREFIX)
    ApiToken.objects.create(
        user=user, name=name, token_digest=tokens.digest(token), token_hint=token[-4:]
    )
    return token


def revoke_api_tokens(tokens) -> int:
    """Revoke the given personal tokens at once; returns how many were still live.

    One save per token (people hold a handful) so that the audit log records each."""
    live = list(tokens.filter(revoked_at__isnull=True))
    now = timezone.now()
    for api_token in live:
        api_token.revoked_at = now
        api_token.save(update_fields=["revoked_at"])
    return len(live)


def authenticate_api_token(token: str) -> ApiToken | None:
    api_token = (
        ApiToken.objects.select_related("user")
        .filter(token_digest=tokens.digest(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_token is not None:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=timezone.now())
    return api_token


def save_language(*, user, language: str) -> None:
    """Remember a person's interface language; blank follows their browser again."""
    if language and language not in dict(settings.LANGUAGES):
        raise ServiceError(f"{language!r} is not a language CXHub speaks.")
    UserPreference.objects.update_or_create(user=user, defaults={"language": language})


def digest_of(user) -> str:
    return (
        UserPreference.objects.filter(user=user).values_list("digest", flat=True).first()
        or UserPreference._meta.get_field("digest").default
    )


def save_digest(*, user, digest: str) -> None:
    """Remember how often a person wants their e-mail summary (none, daily, weekly)."""
    if digest not in dict(UserPreference._meta.get_field("digest").choices):
        raise ServiceError(f"{digest!r} is not a digest frequency.")
    UserPreference.objects.update_or_create(user=user, defaults={"digest": digest})
