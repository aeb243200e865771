"""Locations and staff from a spreadsheet (CSV or XLSX), for the command line and the admin.

Every row is checked before anything is written, and everything is written in one
transaction: a file with one bad row imports nothing, and the person fixing it gets every
problem at once, each with the line number their spreadsheet shows.
"""

import csv
import io
import os
import zoneinfo
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from django.db import IntegrityError, transaction

from .models import Location, Organization, Region, StaffMember

# read_table() keeps each row's line in the file (header = line 1) under this key, so
# blank rows can be skipped without shifting the line numbers reported to the user.
LINE = "_line"

LOCATION_COLUMNS = ("code", "name", "region", "timezone")
STAFF_COLUMNS = ("location", "code", "name")


class ImportFailed(Exception):
    """The file cannot be imported; `errors` says why, one message per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self):
        return f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"


# --- reading ---------------------------------------------------------------------------


def read_table(file, filename: str) -> list[dict]:
    """Rows of a .csv (UTF-8, BOM or not) or .xlsx (first sheet) file as dicts.

    Keys are the header names lower-cased without spaces ("Time Zone" → "timezone"), values
    stripped strings; fully blank rows are skipped. `file` is a path or a binary file.
    """
    extension = Path(filename).suffix.lower()
    if extension not in (".csv", ".xlsx"):
        raise ImportFailed(
            [f"{Path(filename).name!r} is not a .csv or .xlsx file (got {extension or 'none'})."]
        )
    try:
        data = _read_bytes(file)
    except OSError as error:
        raise ImportFailed([f"cannot read {filename}: {error.strerror or error}"]) from error
    table = _csv_cells(data) if extension == ".csv" else _xlsx_cells(data)
    return _rows(table)


def _read_bytes(file) -> bytes:
    if isinstance(file, str | os.PathLike):
        return Path(file).read_bytes()
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read()
    return data.encode() if isinstance(data, str) else data


def _csv_cells(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFailed(
            ["the file is not UTF-8 text: save it as 'CSV UTF-8' or as .xlsx."]
        ) from error
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise ImportFailed([f"the file is not valid CSV: {error}"]) from error


def _xlsx_cells(data: bytes) -> list[list[str]]:
    import openpyxl  # only the XLSX path needs it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            return [[_cell_text(value) for value in row] for row in rows]
        finally:
            workbook.close()
    # A damaged or foreign file fails in many ways inside openpyxl (zip, XML, missing parts);
    # all of them mean the same thing to the person uploading it.
    except Exception as error:
        raise ImportFailed(["the file is not a readable .xlsx workbook."]) from error


def _cell_text(value) -> str:
    if value is None:
        return ""
    # Excel turns a code typed as 101 into the number 101.0; the store code is "101".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _rows(table: list[list[str]]) -> list[dict]:
    header_at = next((i for i, cells in enumerate(table) if any(c.strip() for c in cells)), None)
    if header_at is None:
        raise ImportFailed(["the file is empty: the first line must name the columns."])
    names = ["".join(cell.split()).lower() for cell in table[header_at]]
    named = [name for name in names if name]
    for name in named:
        if named.count(name) > 1:
            raise ImportFailed([f"line {header_at + 1}: the column {name!r} appears twice."])
    rows = []
    for index in range(header_at + 1, len(table)):
        values = [cell.strip() for cell in table[index]]
        if not any(values):
            continue
        row = dict.fromkeys(named, "")
        row.update({name: value for name, value in zip(names, values, strict=False) if name})
        row[LINE] = index + 1
        rows.append(row)
    return rows


# --- checking --------------------------------------------------------------------------


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class _Checker:
    """Collects every problem of every row, so one run reports them all."""

    def __init__(self, rows: list[dict], columns: tuple[str, ...]):
        self.errors: list[str] = []
        present = set().union(*(row.keys() for row in rows)) if rows else set(columns)
        missing = [column for column in columns if column not in present]
        if missing:
            raise ImportFailed(
                [
                    f"line 1: missing column(s) {', '.join(missing)} "
                    f"(the columns are {', '.join(columns)})."
                ]
            )
        self.first_line: dict[str, int] = {}

    def value(self, row: dict, column: str, *, max_length: int, required: bool = True) -> str:
        value = str(row.get(column) or "").strip()
        if required and not value:
            self.error(row, f"{column} is empty")
        elif len(value) > max_length:
            self.error(row, f"{column} is longer than {max_length} characters")
        return value

    def unique_code(self, row: dict, code: str) -> None:
        if not code:
            return
        if code in self.first_line:
            self.error(row, f"code {code!r} is also on line {self.first_line[code]}")
        else:
            self.first_line[code] = line_of(row)

    def error(self, row: dict, message: str) -> None:
        self.errors.append(f"line {line_of(row)}: {message}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportFailed(self.errors)


def line_of(row: dict) -> int:
    return row[LINE]


def _numbered(rows: list[dict]) -> list[dict]:
    # Rows that did not come from read_table() are numbered as if the file had no blank rows.
    return [row if LINE in row else {**row, LINE: index} for index, row in enumerate(rows, 2)]


def _max_length(model, field: str) -> int:
    return model._meta.get_field(field).max_length


# --- importing -------------------------------------------------------------------------


def import_locations(*, organization: Organization, rows: list[dict]) -> ImportSummary:
    """Create or update the organization's locations by code; regions are made as needed.

    Locations absent from the file are left alone (never deactivated or deleted).
    """
    rows = _numbered(rows)
    check = _Checker(rows, LOCATION_COLUMNS)
    wanted = []
    for row in rows:
        code = check.value(row, "code", max_length=_max_length(Location, "code"))
        name = check.value(row, "name", max_length=_max_length(Location, "name"))
        region = check.value(row, "region", max_length=_max_length(Region, "name"), required=False)
        tz = check.value(row, "timezone", max_length=_max_length(Location, "timezone"))
        if tz and tz not in _time_zones():
            check.error(row, f"timezone {tz!r} is not an IANA time zone")
        check.unique_code(row, code)
        wanted.append({"code": code, "name": name, "region": region, "timezone": tz})
    check.raise_if_any()

    with _one_transaction():
        regions = dict(Region.objects.filter(organization=organization).values_list("name", "pk"))
        for name in {w["region"] for w in wanted if w["region"]} - regions.keys():
            regions[name] = Region.objects.create(organization=organization, name=name).pk
        existing = {
            location.code: location
            for location in Location.objects.select_for_update().filter(
                organization=organization, code__in=[w["code"] for w in wanted]
            )
        }
        new, changed = [], []
        for w in wanted:
            fields = {
                "name": w["name"],
                "region_id": regions.get(w["region"]),
                "timezone": w["timezone"],
            }
            location = existing.get(w["code"])
            if location is None:
                new.append(Location(organization=organization, code=w["code"], **fields))
            elif _assign(location, fields):
                changed.append(location)
        Location.objects.bulk_create(new, batch_size=500)
        Location.objects.bulk_update(changed, ["name", "region", "timezone"], batch_size=500)
    return ImportSummary(len(new), len(changed), len(wanted) - len(new) - len(changed))


def import_staff(*, organization: Organization, rows: list[dict]) -> ImportSummary:
    """Create or update the organization's staff by code; a changed location moves the person.

    Staff absent from the file are left alone (never deactivated or deleted).
    """
    rows = _numbered(rows)
    check = _Checker(rows, STAFF_COLUMNS)
    locations = dict(Location.objects.filter(organization=organization).values_list("code", "pk"))
    wanted = []
    for row in rows:
        location = check.value(row, "location", max_length=_max_length(Location, "code"))
        code = check.value(row, "code", max_length=_max_length(StaffMember, "code"))
        name = check.value(row, "name", max_length=_max_length(StaffMember, "display_name"))
        if location and location not in locations:
            check.error(row, f"location {location!r} is not a location of {organization.slug}")
        check.unique_code(row, code)
        wanted.append({"code": code, "location_id": locations.get(location), "display_name": name})
    check.raise_if_any()

    with _one_transaction():
        existing = {
            member.code: member
            for member in StaffMember.objects.select_for_update().filter(
                organization=organization, code__in=[w["code"] for w in wanted]
            )
        }
        new, changed = [], []
        for w in wanted:
            fields = {"location_id": w["location_id"], "display_name": w["display_name"]}
            member = existing.get(w["code"])
            if member is None:
                new.append(StaffMember(organization=organization, code=w["code"], **fields))
            elif _assign(member, fields):
                changed.append(member)
        StaffMember.objects.bulk_create(new, batch_size=500)
        StaffMember.objects.bulk_update(changed, ["location", "display_name"], batch_size=500)
    return ImportSummary(len(new), len(changed), len(wanted) - len(new) - len(changed))


def _assign(instance, fields: dict) -> bool:
    """Set the fields that differ; True when any did."""
    changed = False
    for name, value in fields.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed = True
    return changed


@contextmanager
def _one_transaction():
    """One transaction for the whole file; a concurrent import's collision gets a clear message."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        raise ImportFailed(
            [
                "another change to the same rows happened meanwhile; nothing was imported, "
                "run the import again."
            ]
        ) from error
