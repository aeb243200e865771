"""Checking a submitted response against the survey version its kiosk shows.

Pure functions over plain data: `check_response` turns a request body into a CleanResponse or
a dict of per-field messages. It reads only what the IngestContext hands it, so the single
and batch endpoints share every rule.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from cxhub.queries import CompiledQuery
from locations.models import Kiosk, StaffMember

from .definition import DEFAULT_TEXT_MAX_LENGTH, condition_holds
from .models import SCALES, QuestionKind, SurveyVersion

ENVELOPE_FIELDS = (
    "id",
    "submitted_at",
    "language",
    "staff",
    "answers",
    "survey_version",
    "complete",
)


@dataclass
class CleanAnswer:
    question: str
    kind: str
    score: int | None = None
    choices: list[str] | None = None
    text: str = ""


@dataclass
class CleanResponse:
    id: uuid.UUID
    submitted_at: datetime
    language: str
    staff: StaffMember | None
    version: SurveyVersion
    answers: list[CleanAnswer]
    contact: dict | None
    is_complete: bool
    digest: str


# A location's staff, compiled to SQL once per process (see cxhub.queries).
_staff_at = CompiledQuery(
    lambda location_id: StaffMember.objects.filter(location_id=location_id), -7_340_117
)


@dataclass
class IngestContext:
    """What validation needs to know about one kiosk; loaded once per request or batch."""

    kiosk: Kiosk
    current_version: SurveyVersion | None
    _versions: dict[int, SurveyVersion | None] = field(default_factory=dict)

    @cached_property
    def staff_by_code(self) -> dict[str, StaffMember]:
        # Deactivated members stay: an answer given before they left still names them.
        return {s.code: s for s in _staff_at(self.kiosk.location_id)}

    def version(self, version_id: int) -> SurveyVersion | None:
        if version_id not in self._versions:
            self._versions[version_id] = SurveyVersion.objects.filter(
                pk=version_id, survey__organization_id=self.kiosk.organization_id
            ).first()
        return self._versions[version_id]


def parse_id(value) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_instant(value) -> datetime | None:
    """An ISO 8601 date and time with an offset; None for anything else (naive, date only…)."""
    # fromisoformat stops reading at a NUL, so "…+07:00\x00anything" would parse.
    if not isinstance(value, str) or "T" not in value.upper() or "\x00" in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def body_digest(body: dict) -> str:
    """Equal JSON values give equal digests: key order, spacing and the offset of
    `submitted_at` (compared as the instant it names) make no difference."""
    canonical = dict(body)
    instant = parse_instant(canonical.get("submitted_at"))
    if instant is not None:
        canonical["submitted_at"] = instant.timestamp()
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a body with half a surrogate pair (refused, but compared with a stored
    # one first when its id is known) still has a digest; valid text encodes as before.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _holds_lone_surrogate(value) -> bool:
    """Whether any key or string in a parsed JSON value holds half of a surrogate pair: JSON
    can carry one as a \\u escape, but it is not Unicode, so it can be neither stored nor
    echoed back in an error. Iterative, since nesting depth is the client's to choose."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _unicode_errors(body: dict) -> dict:
    """A message on each field (each answer, where its key is sound) holding invalid text."""
    message = ["Text must be valid Unicode: this holds half of a surrogate pair."]
    errors: dict = {}
    for key, value in body.items():
        if not _holds_lone_surrogate([key, value]):
            continue
        if key == "answers" and isinstance(value, dict) and not _holds_lone_surrogate(list(value)):
            errors[key] = {k: message for k, v in value.items() if _holds_lone_surrogate(v)}
        else:
            errors[key if key in ENVELOPE_FIELDS else "non_field_errors"] = message
    return errors


def check_response(body, ctx: IngestContext) -> tuple[CleanResponse | None, dict]:
    if not isinstance(body, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors = _unicode_errors(body)
    if errors:
        return None, errors

    response_id = parse_id(body.get("id"))
    if response_id is None:
        errors["id"] = ["Give the UUID the device made for this response."]

    submitted_at = parse_instant(body.get("submitted_at"))
    if submitted_at is None:
        errors["submitted_at"] = [
            "Give a date and time in ISO 8601 with a UTC offset, e.g. 2026-11-22T18:04:05+07:00."
        ]

    version = _check_version(body.get("survey_version"), ctx, errors)
    language = _check_language(body.get("language"), version, ctx, errors)
    staff = _check_staff(body.get("staff"), ctx, errors)

    complete = body.get("complete", True)
    if not isinstance(complete, bool):
        errors["complete"] = ["Must be true or false."]
        complete = True

    answers, contact = [], None
    if version is not None:
        answers, contact, answer_errors = _check_answers(body.get("answers"), version, complete)
        if answer_errors:
            errors["answers"] = answer_errors

    if errors:
        return None, errors
    return (
        CleanResponse(
            id=response_id,
            submitted_at=submitted_at,
            language=language,
            staff=staff,
            version=version,
            answers=answers,
            contact=contact,
            is_complete=complete,
            digest=body_digest(body),
        ),
        {},
    )


def _check_version(value, ctx, errors) -> SurveyVersion | None:
    if value is None:
        if ctx.current_version is None:
            errors["survey_version"] = ["This kiosk's location has no published survey."]
        return ctx.current_version
    if not isinstance(value, int) or isinstance(value, bool):
        errors["survey_version"] = ["Give the id of a published survey version (an integer)."]
        return None
    version = ctx.version(value)
    if version is None:
        errors["survey_version"] = [f"Survey version {value} does not exist for this kiosk."]
    return version


def _check_language(value, version, ctx, errors) -> str:
    offered = version.languages if version else []
    if value is None:
        default = ctx.kiosk.location.language
        return default if default in offered or not offered else offered[0]
    if not isinstance(value, str) or (offered and value not in offered):
        errors["language"] = [f"Use one of the survey's languages: {', '.join(offered)}."]
    return value if isinstance(value, str) else ""


def _check_staff(value, ctx, errors) -> StaffMember | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors["staff"] = ["Give a staff code (a string) or null."]
        return None
    member = ctx.staff_by_code.get(value)
    if member is None:
        errors["staff"] = [f"{value!r} is not a staff code at this location."]
    return member


def _check_answers(value, version, complete):
    if not isinstance(value, dict):
        return [], None, ["Give the answers as an object keyed by question key."]
    # A kiosk may send null for a question the customer skipped: that is not an answer.
    value = {key: answer for key, answer in value.items() if answer is not None}
    if not value:
        return [], None, ["A response must carry at least one answer."]
    questions = version.question_map()
    errors: dict[str, list[str]] = {}
    for key in value:
        if key not in questions:
            errors[key] = [f"There is no question {key!r} in survey version {version.pk}."]

    answers, contact = [], None
    for key, question in questions.items():
        shown = condition_holds(question.get("show_if"), value)
        if key not in value:
            if shown and complete and question.get("required"):
                errors[key] = ["This question is required."]
            continue
        if not shown:
            errors[key] = [_condition_message(question["show_if"])]
            continue
        checked = _check_answer(question, value[key])
        if isinstance(checked, str):
            errors[key] = [checked]
        elif question["kind"] == QuestionKind.CONTACT:
            contact = checked
            answers.append(CleanAnswer(question=key, kind=question["kind"]))
        else:
            answers.append(checked)
    return answers, contact, errors


def _condition_message(condition: dict) -> str:
    op = next(op for op in condition if op != "question")
    words = {"lte": "at most", "gte": "at least", "eq": "exactly"}[op]
    return f"Only asked when {condition['question']} is {words} {condition[op]}."


def _check_answer(question: dict, value) -> CleanAnswer | dict | str:
    """A CleanAnswer (or contact details) when valid, else the message."""
    kind, key = question["kind"], question["key"]
    if kind in SCALES:
        low, high = SCALES[kind]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"Give a whole number from {low} to {high}."
        return CleanAnswer(question=key, kind=kind, score=value)
    if kind == QuestionKind.CHOICE:
        return _check_choice(question, value)
    if kind == QuestionKind.TEXT:
        limit = question.get("max_length", DEFAULT_TEXT_MAX_LENGTH)
        if not isinstance(value, str):
            return "Give the answer as text."
        if "\x00" in value:
            return "Text cannot contain NUL characters."
        if len(value) > limit:
            return f"Keep it to {limit} characters (this is {len(value)})."
        return CleanAnswer(question=key, kind=kind, text=value)
    return _check_contact(value)


def _check_choice(question: dict, value) -> CleanAnswer | str:
    allowed = [choice["key"] for choice in question["choices"]]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "Give a list of choice keys."
    if not value:
        return "Pick at least one choice, or leave the question out."
    unknown = [v for v in value if v not in allowed]
    if unknown:
        return f"{', '.join(map(repr, unknown))} is not a choice here; choose from {', '.join(allowed)}."
    if len(set(value)) != len(value):
        return "A choice is listed twice."
    if len(value) > 1 and not question.get("multiple"):
        return "Pick one choice only."
    return CleanAnswer(question=question["key"], kind=QuestionKind.CHOICE, choices=value)


def _check_contact(value) -> dict | str:
    if not isinstance(value, dict):
        return 'Give {"consent": true, "name": …, "email": …, "phone": …}.'
    if value.get("consent") is not True:
        return "Contact details are kept only with the customer's explicit consent (consent: true)."
    details = {}
    for name, limit in (("name", 200), ("email", 254), ("phone", 40)):
        item = value.get(name, "")
        if item is None:
            item = ""
        if not isinstance(item, str) or len(item) > limit or "\x00" in item:
            return f"{name} must be text of at most {limit} characters."
        details[name] = item.strip()
    if not details["email"] and not details["phone"]:
        return "Give an e-mail address or a phone number to be contacted on."
    if details["email"]:
        try:
            EmailValidator()(details["email"])
        except ValidationError:
            return "That e-mail address does not look valid."
    return details
