"""Reads for the kiosk side."""

from locations.models import Kiosk, StaffMember

from .services import current_version_for


def kiosk_configuration(kiosk: Kiosk, *, build_url=None) -> dict:
    """Everything a kiosk needs to run offline: its place, the survey with every
    translation, the staff to pick from, and its timings."""
    version = current_version_for(kiosk)
    location, organization = kiosk.location, kiosk.organization
    staff = StaffMember.objects.filter(location=location, is_active=True).order_by("display_name")
    return {
        "kiosk": {
            "id": str(kiosk.public_id),
            "name": kiosk.name,
            "touchpoint": {"name": kiosk.touchpoint.name, "label": kiosk.touchpoint.label},
        },
        "organization": {"name": organization.name, "slug": organization.slug},
        "location": {
            "code": location.code,
            "name": location.name,
            "timezone": location.timezone,
            "default_language": location.language,
        },
        "survey": None
        if version is None
        else {
            "version": version.pk,
            "number": version.number,
            "name": version.survey.name,
            "languages": version.languages,
            "questions": version.questions,
        },
        "staff": [
            {
                "code": member.code,
                "name": member.display_name,
                "photo": (build_url or str)(member.photo.url) if member.photo else None,
            }
            for member in staff
        ],
        "settings": {
            "idle_timeout_seconds": organization.kiosk_idle_seconds,
            "thank_you_seconds": 5,
            "heartbeat_seconds": 60,
        },
    }


def choice_labels(organization, language: str, question: str = "reason") -> dict[str, str]:
    """The labels of a choice question's choices in `language` (else English, else the
    key), from the organization's current default survey and its older versions: a
    choice dropped from the survey still has answers to name."""
    from .models import SurveyVersion

    labels: dict[str, str] = {}
    versions = SurveyVersion.objects.filter(survey__organization=organization).order_by(
        "published_at"
    )
    for questions in versions.values_list("questions", flat=True):
        for q in questions:
            if q.get("key") != question:
                continue
            for choice in q.get("choices") or ():
                text = choice.get("text") or {}
                labels[choice["key"]] = text.get(language) or text.get("en") or choice["key"]
    return labels
