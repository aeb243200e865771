"""Writes with a rule: publishing surveys and recording responses exactly once."""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache

from django.db import IntegrityError, connection, connections, router, transaction
from django.utils import timezone

from locations.models import Kiosk, Organization
from metrics import services as metrics_services

from . import default_survey, recovery
from .definition import check_definition
from .ingest import CleanResponse, IngestContext, body_digest, check_response, parse_id
from .models import Answer, ContactDetails, Survey, SurveyResponse, SurveyVersion

# METRICS.md, "Time": a device clock this far off is not trusted.
CLOCK_AHEAD_TOLERANCE = timedelta(minutes=5)
CLOCK_BEFORE_REGISTRATION_TOLERANCE = timedelta(days=1)


class Status(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    INVALID = "invalid"


@dataclass
class Outcome:
    status: Status
    response: SurveyResponse | None = None
    errors: dict | None = None
    id: str | None = None


# --- surveys ---------------------------------------------------------------------------


def publish_survey(*, survey: Survey, user=None) -> SurveyVersion:
    """Freeze the survey's saved draft as its next version and make it current."""
    with transaction.atomic():
        survey = Survey.objects.select_for_update().get(pk=survey.pk)
        check_definition(survey.languages, survey.questions)
        last = survey.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = SurveyVersion.objects.create(
            survey=survey,
            number=last + 1,
            languages=list(survey.languages),
            questions=list(survey.questions),
            published_by=user,
        )
        survey.current_version = version
        survey.save(update_fields=["current_version"])
    return version


def create_default_survey(*, organization: Organization, name: str = "Customer feedback") -> Survey:
    survey = Survey.objects.create(
        organization=organization,
        name=name,
        languages=list(default_survey.LANGUAGES),
        questions=default_survey.QUESTIONS,
    )
    publish_survey(survey=survey)
    survey.refresh_from_db()
    return survey


def current_version_for(kiosk: Kiosk) -> SurveyVersion | None:
    """The version the kiosk's location shows now: its own survey's, else the organization's."""
    version_id = getattr(kiosk, "current_version_id", None)
    if version_id is not None:
        return _published_version(version_id, kiosk.current_version_published_at)
    survey = kiosk.location.survey or kiosk.organization.default_survey
    return survey.current_version if survey else None


@lru_cache(maxsize=512)
def _published_version(version_id: int, published_at) -> SurveyVersion | None:
    # Published versions never change, so each process keeps the ones it has read. The
    # publication time is in the key so that a reused id (a test database) is not confused.
    return SurveyVersion.objects.select_related("survey").filter(pk=version_id).first()


def ingest_context(kiosk: Kiosk) -> IngestContext:
    return IngestContext(kiosk=kiosk, current_version=current_version_for(kiosk))


# --- responses -------------------------------------------------------------------------


def record_response(*, kiosk: Kiosk, body, ctx: IngestContext | None = None) -> Outcome:
    """Store one response exactly once, whatever the retries and races.

    A known id is answered (duplicate or conflict) before the body is validated, as the API
    promises; a concurrent insert of the same id loses on the primary key and is then
    answered the same way.
    """
    raw_id = body.get("id") if isinstance(body, dict) else None
    response_id = parse_id(raw_id)
    if response_id is not None:
        known = _compare_with_stored(response_id, kiosk, body)
        if known:
            return known
    ctx = ctx or ingest_context(kiosk)
    clean, errors = check_response(body, ctx)
    if errors:
        return Outcome(
            Status.INVALID, errors=errors, id=raw_id if isinstance(raw_id, str) else None
        )
    try:
        with transaction.atomic():
            response = _insert([clean], kiosk, keep_answers=True)[0]
    except IntegrityError:
        # Another request stored this id between our look-up and our insert.
        known = _compare_with_stored(response_id, kiosk, body)
        if known:
            return known
        raise
    return Outcome(Status.CREATED, response=response, id=str(response.id))


def record_batch(*, kiosk: Kiosk, items: list) -> list[Outcome]:
    """Record a kiosk's queue: one outcome per item, in order, as if sent one after another.

    The common case (new ids, no race) is checked in memory and inserted in one transaction;
    if a concurrent request took one of the ids, the batch falls back to item by item.
    """
    ctx = ingest_context(kiosk)
    ids = {parse_id(item.get("id")) for item in items if isinstance(item, dict)} - {None}
    stored = {
        row["id"]: (row["kiosk_id"], row["body_digest"])
        for row in SurveyResponse.objects.filter(id__in=ids).values("id", "kiosk_id", "body_digest")
    }
    outcomes: list[Outcome | None] = []
    to_insert: list[tuple[int, CleanResponse]] = []
    for position, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, dict) else None
        response_id = parse_id(raw_id)
        if response_id in stored:
            outcomes.append(_compare(stored[response_id], kiosk, item, str(response_id)))
            continue
        clean, errors = check_response(item, ctx)
        if errors:
            outcomes.append(
                Outcome(
                    Status.INVALID, errors=errors, id=raw_id if isinstance(raw_id, str) else None
                )
            )
            continue
        stored[clean.id] = (kiosk.pk, clean.digest)
        to_insert.append((position, clean))
        outcomes.append(None)
    if to_insert:
        try:
            with transaction.atomic():
                created = _insert([clean for _, clean in to_insert], kiosk)
        except IntegrityError:
            return [record_response(kiosk=kiosk, body=item, ctx=ctx) for item in items]
        for (position, _), response in zip(to_insert, created, strict=True):
            outcomes[position] = Outcome(Status.CREATED, response=response, id=str(response.id))
    return outcomes


def _compare_with_stored(response_id, kiosk: Kiosk, body) -> Outcome | None:
    row = _stored_kiosk_and_digest(response_id)
    if row is None:
        return None
    outcome = _compare(row, kiosk, body, str(response_id))
    if outcome.status == Status.DUPLICATE:
        outcome.response = SurveyResponse.objects.get(id=response_id)
    return outcome


def _stored_kiosk_and_digest(response_id) -> tuple[int, str] | None:
    """What `SurveyResponse.objects.filter(id=response_id).values_list("kiosk_id",
    "body_digest").first()` reads, on every kiosk submission, without compiling that
    queryset each time: a look-up by primary key, the id converted for the database by its
    field as the ORM converts it."""
    connection = connections[router.db_for_read(SurveyResponse)]
    quote = connection.ops.quote_name
    meta = SurveyResponse._meta
    sql = (
        f"SELECT {quote(meta.get_field('kiosk').column)}, "
        f"{quote(meta.get_field('body_digest').column)} "
        f"FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [meta.pk.get_db_prep_value(response_id, connection)])
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


def _compare(stored: tuple[int, str], kiosk: Kiosk, body, response_id: str) -> Outcome:
    kiosk_id, digest = stored
    if kiosk_id == kiosk.pk and digest == body_digest(body):
        return Outcome(Status.DUPLICATE, id=response_id)
    return Outcome(
        Status.CONFLICT,
        id=response_id,
        errors={"id": ["This id was already used for a different response."]},
    )


RESPONSE_COLUMNS = (
    "id",
    "organization",
    "location",
    "touchpoint",
    "kiosk",
    "survey_version",
    "staff",
    "submitted_at",
    "received_at",
    "local_day",
    "local_hour",
    "language",
    "clock_untrusted",
    "is_complete",
    "body_digest",
)
ANSWER_COLUMNS = ("response", "question", "kind", "score", "choices", "text")


def _insert(
    cleans: list[CleanResponse], kiosk: Kiosk, *, keep_answers: bool = False
) -> list[SurveyResponse]:
    """Write the responses, their answers and contact details; mark their buckets dirty.

    Rows go in as plain tuples (see insert_rows): a batch of 500 responses is some 3,000
    rows, and building a model instance for each was most of a batch's cost. With
    keep_answers the answers are also kept on each response, for the API to echo them."""
    received_at = timezone.now()
    zone = kiosk.location.zone
    responses, response_rows, answer_rows, contacts = [], [], [], []
    for clean in cleans:
        untrusted = (
            clean.submitted_at > received_at + CLOCK_AHEAD_TOLERANCE
            or clean.submitted_at < kiosk.registered_at - CLOCK_BEFORE_REGISTRATION_TOLERANCE
        )
        local = (received_at if untrusted else clean.submitted_at).astimezone(zone)
        response = SurveyResponse(
            id=clean.id,
            organization_id=kiosk.organization_id,
            location=kiosk.location,
            touchpoint=kiosk.touchpoint,
            kiosk=kiosk,
            survey_version=clean.version,
            staff=clean.staff,
            submitted_at=clean.submitted_at,
            received_at=received_at,
            local_day=local.date(),
            local_hour=local.hour,
            language=clean.language,
            clock_untrusted=untrusted,
            is_complete=clean.is_complete,
            body_digest=clean.digest,
        )
        responses.append(response)
        response_rows.append(
            tuple(
                getattr(response, SurveyResponse._meta.get_field(c).attname)
                for c in RESPONSE_COLUMNS
            )
        )
        answer_rows.extend(
            (clean.id, a.question, a.kind, a.score, a.choices, a.text) for a in clean.answers
        )
        if keep_answers:
            response.recorded_answers = [
                Answer(
                    response=response,
                    question=a.question,
                    kind=a.kind,
                    score=a.score,
                    choices=a.choices,
                    text=a.text,
                )
                for a in clean.answers
            ]
        if clean.contact:
            question = next(a.question for a in clean.answers if a.kind == "contact")
            contacts.append(
                ContactDetails(
                    response=response, question=question, consented_at=received_at, **clean.contact
                )
            )
    insert_rows(SurveyResponse, RESPONSE_COLUMNS, response_rows)
    insert_rows(Answer, ANSWER_COLUMNS, answer_rows)
    for response in responses:
        response._state.adding = False
    if contacts:
        ContactDetails.objects.bulk_create(contacts)
    # Marked in the same transaction, so a committed response always has its bucket marked;
    # the refresh is only asked for once the rows are visible to a worker.
    buckets = {(r.location_id, r.local_day, r.local_hour) for r in responses}
    metrics_services.mark_dirty(buckets)
    transaction.on_commit(metrics_services.request_refresh)
    unhappy = recovery.worth_checking(kiosk.organization_id, cleans)
    if unhappy:
        transaction.on_commit(lambda: recovery.request_alert_check(unhappy))
    return responses


def insert_rows(model, field_names: tuple[str, ...], rows: list[tuple]) -> None:
    """A multi-row INSERT of plain tuples: what bulk_create sends, without a model
    instance per row. Values go through each field's own conversion for the database."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = 30000 // len(fields)  # under SQLite's and PostgreSQL's parameter limits
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
                f"VALUES {', '.join([one_row] * len(chunk))}",
                params,
            )
