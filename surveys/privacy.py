"""Customers' contact details: kept only with consent, erased after the organization's
retention period or on the customer's request. Only identifying fields go; the response,
its scores and its comment stay, so figures never change."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from locations.models import Organization

from .models import ContactDetails


def _erase(contacts) -> int:
    return contacts.filter(erased_at__isnull=True).update(
        name="", email="", phone="", erased_at=timezone.now()
    )


def erase_expired(now=None) -> int:
    """Erase contact details older than each organization's retention period."""
    now = now or timezone.now()
    erased = 0
    for organization_id, days in Organization.objects.values_list("pk", "contact_retention_days"):
        erased += _erase(
            ContactDetails.objects.filter(
                response__organization_id=organization_id,
                consented_at__lt=now - timedelta(days=days),
            )
        )
    return erased


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def erase_person(*, email: str = "", phone: str = "") -> int:
    """Erase every contact left with this e-mail address or phone number (spacing, dashes
    and a leading + do not matter for phones)."""
    if not email and not phone:
        raise ValueError("Give an e-mail address or a phone number.")
    match = Q()
    if email:
        match |= Q(email__iexact=email.strip())
    if phone:
        wanted = _digits(phone)
        ids = [
            pk
            for pk, stored in ContactDetails.objects.filter(erased_at__isnull=True)
            .exclude(phone="")
            .values_list("pk", "phone")
            if _digits(stored) == wanted
        ]
        match |= Q(pk__in=ids)
    return _erase(ContactDetails.objects.filter(match))
