"""CSV and XLSX exports: the scores table as a page shows it, and the raw responses of a
period. Responses are streamed in chunks (pandas per chunk; openpyxl in write-only mode
into a temporary file), so a large export never holds the period in memory."""

import csv
import io
import tempfile

import pandas as pd
from django.http import FileResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from openpyxl import Workbook

from surveys.models import Answer, SurveyResponse

from . import dashboards
from .periods import Period

CHUNK = 2000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RESPONSE_COLUMNS = [
    "id",
    "submitted_at_utc",
    "local_day",
    "local_hour",
    "location",
    "touchpoint",
    "staff",
    "language",
    "complete",
    "clock_untrusted",
]


def scores_frame(rows: list[dict], by: str) -> pd.DataFrame:
    """The ranking or staff table: rank, who, shrunk score, score, interval, n, change."""
    records = []
    for e in rows:
        ci = e.get("ci95") or (None, None)
        change = e.get("change") or {}
        records.append(
            {
                "rank": e.get("rank"),
                by: neutralise_formula(e.get("code")),
                "name": neutralise_formula(e.get("name")),
                **({"region": neutralise_formula(e.get("region"))} if by == "location" else {}),
                "question": e.get("question"),
                "shrunk_score": e.get("shrunk_score"),
                "score": e.get("score"),
                "ci95_low": ci[0],
                "ci95_high": ci[1],
                "n": e.get("n"),
                "low_sample": e.get("low_sample"),
                **(
                    {
                        "change": change.get("difference"),
                        "change_z": change.get("z"),
                        "change_is_real": change.get("real"),
                    }
                    if by == "location"
                    else {}
                ),
            }
        )
    return pd.DataFrame.from_records(records)


def frame_response(frame: pd.DataFrame, fmt: str, name: str):
    if fmt == "csv":
        body = frame.to_csv(index=False)
        response = StreamingHttpResponse(iter([body]), content_type="text/csv; charset=utf-8")
    else:
        buffer = io.BytesIO()
        frame.to_excel(buffer, index=False, sheet_name="scores", engine="openpyxl")
        buffer.seek(0)
        return FileResponse(buffer, as_attachment=True, filename=f"{name}.xlsx", content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.csv")
    return response


# --- raw responses ------------------------------------------------------------------------


def _responses(user, scope: dashboards.Scope, period: Period):
    rows = SurveyResponse.objects.filter(
        location__in=dashboards.locations_in(user, scope),
        local_day__gte=period.date_from,
        local_day__lte=period.date_to,
    )
    if scope.staff:
        rows = rows.filter(staff__code=scope.staff)
    return rows


def _questions(responses) -> list[str]:
    return sorted(
        Answer.objects.filter(response__in=responses.values("pk"))
        .values_list("question", flat=True)
        .distinct()
        .order_by()
    )


def _chunks(responses, questions: list[str]):
    """DataFrames of CHUNK responses each, one column per question, oldest first."""
    base = responses.order_by("submitted_at", "id").values_list(
        "id",
        "submitted_at",
        "local_day",
        "local_hour",
        "location__code",
        "touchpoint__name",
        "staff__code",
        "language",
        "is_complete",
        "clock_untrusted",
    )
    last = None
    while True:
        page = base
        if last is not None:
            # Keyset pagination: stable and cheap however deep the export goes.
            page = base.filter(submitted_at__gte=last[0]).exclude(
                submitted_at=last[0], id__lte=last[1]
            )
        rows = list(page[:CHUNK])
        if not rows:
            return
        last = (rows[-1][1], rows[-1][0])
        frame = pd.DataFrame(rows, columns=RESPONSE_COLUMNS)
        answers = pd.DataFrame(
            list(
                Answer.objects.filter(response_id__in=frame["id"]).values_list(
                    "response_id", "question", "score", "choices", "text"
                )
            ),
            columns=["id", "question", "score", "choices", "text"],
        )
        answers["value"] = [
            _value(score, choices, text)
            for score, choices, text in zip(
                answers["score"], answers["choices"], answers["text"], strict=True
            )
        ]
        wide = answers.pivot(index="id", columns="question", values="value").reindex(
            columns=questions
        )
        frame = frame.join(wide, on="id")
        frame["id"] = frame["id"].astype(str)
        frame["submitted_at_utc"] = pd.to_datetime(frame["submitted_at_utc"], utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        frame["local_day"] = frame["local_day"].astype(str)
        # Codes and names come from the chain's own spreadsheets (import_staff,
        # import_locations): a cell there is no more to be run than a customer's comment.
        for column in ("location", "touchpoint", "staff"):
            frame[column] = frame[column].map(neutralise_formula)
        yield frame


def _value(score, choices, text):
    if score is not None and score == score:
        return int(score)
    if isinstance(choices, list):
        return " ".join(choices)
    return neutralise_formula(text) or None


# A cell a spreadsheet would run as a formula (=HYPERLINK(…), +cmd|…): customers type
# comments, so a leading quote makes such a comment plain text (OWASP "CSV injection"), and
# so does every other text cell that people outside head office wrote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str | None) -> str | None:
    if isinstance(text, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def responses_response(user, scope: dashboards.Scope, period: Period, fmt: str, name: str):
    responses = _responses(user, scope, period)
    questions = _questions(responses)
    columns = RESPONSE_COLUMNS + questions
    if fmt == "csv":
        response = StreamingHttpResponse(
            _csv_stream(_chunks(responses, questions), columns),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = content_disposition_header(True, f"{name}.csv")
        return response
    return FileResponse(
        _xlsx_file(_chunks(responses, questions), columns),
        as_attachment=True,
        filename=f"{name}.xlsx",
        content_type=XLSX,
    )


def _csv_stream(chunks, columns):
    # A byte-order mark so that Excel opens Vietnamese and Thai text as UTF-8.
    yield "\ufeff" + _csv_line(columns)
    for frame in chunks:
        yield frame.to_csv(index=False, header=False, columns=columns)


def _csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _xlsx_file(chunks, columns):
    """A write-only workbook: openpyxl streams rows to disk instead of keeping cells."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("responses")
    sheet.append(columns)
    for frame in chunks:
        for row in frame[columns].itertuples(index=False):
            sheet.append([None if (v is None or v != v) else v for v in row])
    # FileResponse closes (and so deletes) it once the body is sent.
    handle = tempfile.TemporaryFile()  # noqa: SIM115
    book.save(handle)
    handle.seek(0)
    return handle
