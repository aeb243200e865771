"""HTML and spreadsheet formulas in what customers type: escaped on pages, inert in exports."""

# Already covered elsewhere, and not repeated here: a comment written as =HYPERLINK(…) in the
# responses export (tests/dashboard/test_pages.py).

import pytest

from metrics import services as metrics_services
from tests.factories import StaffMemberFactory, a_response
from tests.security.input_helpers import (
    csv_cells,
    export,
    post,
    signed_in,
    store_page,
    unhappy_case,
    xlsx_cells,
)

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '=HYPERLINK("http://x.test/steal","Click me")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula(cell) -> bool:
    """Text a spreadsheet would run; a negative score such as -20.5 is only a number."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


@pytest.fixture
def hostile_comments(kiosk_client, store):
    """A store whose customers typed markup and formulas, each an unhappy answer with a case."""
    cases = [unhappy_case(kiosk_client, text) for text in HOSTILE]
    metrics_services.rebuild_rollups()
    return cases


def test_html_in_a_comment_is_escaped_on_the_store_page(hostile_comments, store, manager):
    html = signed_in(manager).get(store_page(store)).content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html


def test_html_in_a_comment_is_escaped_on_its_case_page(hostile_comments, manager):
    pages = [signed_in(manager).get(f"/cases/{case.pk}/") for case in hostile_comments[:2]]

    assert all(page.status_code == 200 for page in pages)
    html = "".join(page.content.decode() for page in pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html


def test_formulas_in_comments_are_plain_text_in_the_csv_export(hostile_comments, store, manager):
    cells = csv_cells(export(signed_in(manager), store, "responses.csv"))

    for text in HOSTILE:
        assert ("'" + text if text.startswith(FORMULA_STARTS) else text) in cells
    assert not any(is_formula(cell) for cell in cells)


def test_formulas_in_comments_are_plain_text_in_the_xlsx_export(hostile_comments, store, manager):
    cells = xlsx_cells(export(signed_in(manager), store, "responses.xlsx"))

    assert not any(cell.data_type == "f" for cell in cells)
    values = [cell.value for cell in cells]
    for text in HOSTILE:
        assert ("'" + text if text.startswith(FORMULA_STARTS) else text) in values
    assert not any(is_formula(v) for v in values)


@pytest.mark.parametrize("name", ["scores.csv", "scores.xlsx", "responses.csv", "responses.xlsx"])
def test_staff_names_and_codes_written_as_formulas_are_plain_text_in_every_export(
    kiosk_client, store, manager, name
):
    # Staff lists come from HR spreadsheets (import_staff): a cell there is not trusted either.
    StaffMemberFactory(location=store, code="=1+1", display_name="@SUM(1+1)")
    for nps in range(10):
        body = {**a_response(nps=nps), "staff": "=1+1"}
        assert post(kiosk_client, body).status_code == 201
    metrics_services.rebuild_rollups()

    body = export(signed_in(manager), store, name)
    cells = csv_cells(body) if name.endswith("csv") else [c.value for c in xlsx_cells(body)]

    assert "'=1+1" in cells
    assert "'@SUM(1+1)" in cells or name.startswith("responses")
    assert not any(is_formula(v) for v in cells)
