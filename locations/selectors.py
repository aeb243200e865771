"""Reads shared by pages, exports and the API — above all the one visibility gate."""

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from cxhub.queries import CompiledQuery

from . import tokens
from .models import Kiosk, Location, Membership, Organization, Role, UserPreference


def visible_locations(user) -> QuerySet[Location]:
    """The one gate: every location-scoped read for a person starts from this queryset.

    Head office sees its whole organization, a regional manager their region, a store
    manager their store; a user with several memberships sees the union. Superusers see
    everything (they run the installation). Anyone else sees nothing.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Location.objects.none()
    if user.is_superuser:
        return Location.objects.all()
    memberships = Membership.objects.filter(user=user)
    return Location.objects.filter(
        Q(organization__in=memberships.filter(role=Role.HEAD_OFFICE).values("organization"))
        | Q(region__in=memberships.filter(role=Role.REGIONAL_MANAGER).values("region"))
        | Q(pk__in=memberships.filter(role=Role.STORE_MANAGER).values("location"))
    )


def visible_organizations(user) -> QuerySet[Organization]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(
        Q(pk__in=visible_locations(user).values("organization"))
        | Q(memberships__user=user, memberships__role=Role.HEAD_OFFICE)
    ).distinct()


def sees_whole_organization(user, organization: Organization) -> bool:
    """Head office of the organization (or a superuser): the chain-wide pages."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return (
        user.is_superuser
        or Membership.objects.filter(
            user=user, organization=organization, role=Role.HEAD_OFFICE
        ).exists()
    )


def sees_whole_region(user, region) -> bool:
    """Head office of its organization or the region's manager: the region's page. A store
    manager of one of its stores sees that store, not the region."""
    if sees_whole_organization(user, region.organization):
        return True
    return (
        user.is_authenticated
        and Membership.objects.filter(user=user, region=region, role=Role.REGIONAL_MANAGER).exists()
    )


def administered_organizations(user) -> QuerySet[Organization]:
    """Organizations whose set-up this user may change in the admin: head office only."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(
        memberships__user=user, memberships__role=Role.HEAD_OFFICE
    ).distinct()


def _kiosk_by_digest(digest: str) -> QuerySet[Kiosk]:
    queryset = (
        Kiosk.objects.select_related("location", "organization", "touchpoint")
        .annotate(
            current_version_id=Coalesce(
                "location__survey__current_version_id",
                "organization__default_survey__current_version_id",
            ),
            current_version_published_at=Coalesce(
                "location__survey__current_version__published_at",
                "organization__default_survey__current_version__published_at",
            ),
        )
        .filter(token_digest=digest, revoked_at__isnull=True)
    )
    # What .first() would read.
    return (queryset if queryset.ordered else queryset.order_by("pk"))[:1]


# Compiled to SQL once per process; every call still reads the database (revocation).
_kiosks_by_digest = CompiledQuery(_kiosk_by_digest, "digest placeholder")


def kiosk_for_token(token: str) -> Kiosk | None:
    """The kiosk a token belongs to, with its place and the id of the survey version it
    should show, in one lean query (this runs on every kiosk request)."""
    kiosks = _kiosks_by_digest(tokens.digest(token))
    return kiosks[0] if kiosks else None


def saved_language(user) -> str:
    """The language a person saved for themselves; blank when they follow their browser."""
    return UserPreference.objects.filter(user=user).values_list("language", flat=True).first() or ""
