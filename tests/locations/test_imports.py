"""Locations and staff from CSV/XLSX, through the commands operators run and the functions
the admin calls with an uploaded file."""

from io import StringIO

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from locations.imports import ImportFailed, import_locations, import_staff, read_table
from locations.models import Location, Region, StaffMember
from tests.factories import LocationFactory, OrganizationFactory, StaffMemberFactory


@pytest.fixture
def chain(db):
    return OrganizationFactory(slug="caphe")


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def write_xlsx(tmp_path, name, rows):
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.create_sheet("Notes").append(["this sheet is ignored"])
    path = tmp_path / name
    workbook.save(path)
    return path


def run(command, path, organization="caphe"):
    out, err = StringIO(), StringIO()
    call_command(command, "--organization", organization, str(path), stdout=out, stderr=err)
    return out.getvalue().splitlines()[-1]


def run_failing(command, path, organization="caphe"):
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            command, "--organization", organization, str(path), stdout=StringIO(), stderr=err
        )
    return err.getvalue().splitlines(), str(raised.value)


LOCATIONS = """code,name,region,timezone
HCM-01,Quận 1,Hồ Chí Minh,Asia/Ho_Chi_Minh
HCM-02,Quận 3,Hồ Chí Minh,Asia/Ho_Chi_Minh
BKK-01,Siam,,Asia/Bangkok
"""


def test_a_csv_creates_locations_and_their_regions(chain, tmp_path):
    assert run("import_locations", write(tmp_path, "stores.csv", LOCATIONS)) == (
        "created 3, updated 0, unchanged 0"
    )

    stores = {s.code: s for s in Location.objects.filter(organization=chain)}
    assert sorted(stores) == ["BKK-01", "HCM-01", "HCM-02"]
    assert stores["HCM-01"].name == "Quận 1"
    assert stores["HCM-01"].region == stores["HCM-02"].region
    assert stores["HCM-01"].region.name == "Hồ Chí Minh"
    assert stores["BKK-01"].region is None
    assert stores["BKK-01"].timezone == "Asia/Bangkok"
    assert Region.objects.filter(organization=chain).count() == 1


def test_a_bom_loose_header_names_blank_rows_and_padding_are_tolerated(chain, tmp_path):
    text = " CODE ,Name,Region , Time Zone\n  HCM-01 , Quận 1 ,, Asia/Ho_Chi_Minh \n,,,\n"
    path = write(tmp_path, "stores.csv", text, encoding="utf-8-sig")

    assert run("import_locations", path) == "created 1, updated 0, unchanged 0"
    store = Location.objects.get(organization=chain)
    assert (store.code, store.name, store.timezone) == ("HCM-01", "Quận 1", "Asia/Ho_Chi_Minh")


def test_an_xlsx_imports_like_a_csv(chain, tmp_path):
    path = write_xlsx(
        tmp_path,
        "stores.xlsx",
        [
            ["Code", "Name", "Region", "Timezone"],
            [101, "Sukhumvit", "Bangkok", "Asia/Bangkok"],
            [None, None, None, None],
            ["HCM-01", "Quận 1", None, "Asia/Ho_Chi_Minh"],
        ],
    )

    assert run("import_locations", path) == "created 2, updated 0, unchanged 0"
    # A code typed as a number in Excel is still the store's code, not "101.0".
    assert Location.objects.get(organization=chain, code="101").region.name == "Bangkok"
    assert Location.objects.get(organization=chain, code="HCM-01").region is None


def test_a_re_run_updates_and_never_duplicates(chain, tmp_path):
    run("import_locations", write(tmp_path, "stores.csv", LOCATIONS))
    changed = LOCATIONS.replace("Quận 3,Hồ Chí Minh", "Quận 3 (mới),Sài Gòn")

    assert run("import_locations", write(tmp_path, "again.csv", changed)) == (
        "created 0, updated 1, unchanged 2"
    )
    assert Location.objects.filter(organization=chain).count() == 3
    moved = Location.objects.get(organization=chain, code="HCM-02")
    assert (moved.name, moved.region.name) == ("Quận 3 (mới)", "Sài Gòn")
    assert run("import_locations", tmp_path / "again.csv") == "created 0, updated 0, unchanged 3"


def test_bad_rows_are_reported_by_line_number_and_nothing_is_imported(chain, tmp_path):
    LocationFactory(organization=chain, code="HCM-01", name="Old name", region=None)
    text = (
        "code,name,region,timezone\n"
        "HCM-01,New name,,Asia/Ho_Chi_Minh\n"
        "HN-01,Hà Nội,Miền Bắc,Asia/Hanoi\n"
        ",Nameless,,Asia/Bangkok\n"
        "DN-01,  ,,\n"
    )

    errors, message = run_failing("import_locations", write(tmp_path, "bad.csv", text))

    assert errors == [
        "line 3: timezone 'Asia/Hanoi' is not an IANA time zone",
        "line 4: code is empty",
        "line 5: name is empty",
        "line 5: timezone is empty",
    ]
    assert "nothing was imported" in message
    assert Location.objects.filter(organization=chain).count() == 1
    assert Location.objects.get(organization=chain).name == "Old name"
    assert not Region.objects.filter(organization=chain).exists()


def test_a_code_twice_in_one_file_names_both_lines(chain, tmp_path):
    text = LOCATIONS + "HCM-01,Again,,Asia/Ho_Chi_Minh\n"

    errors, _ = run_failing("import_locations", write(tmp_path, "twice.csv", text))

    assert errors == ["line 5: code 'HCM-01' is also on line 2"]
    assert not Location.objects.filter(organization=chain).exists()


def test_a_missing_column_is_reported(chain, tmp_path):
    errors, _ = run_failing("import_locations", write(tmp_path, "s.csv", "code,name\nA,B\n"))

    assert errors == [
        "line 1: missing column(s) region, timezone (the columns are code, name, region, timezone)."
    ]


def test_an_unknown_organization_is_refused(chain, tmp_path):
    with pytest.raises(CommandError, match="No organization has the slug 'nope'"):
        run("import_locations", write(tmp_path, "stores.csv", LOCATIONS), organization="nope")
    assert not Location.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, "No such file"),
        ("stores.txt", LOCATIONS, "not a .csv or .xlsx file"),
        ("stores.xlsx", LOCATIONS, "not a readable .xlsx workbook"),
    ],
)
def test_a_missing_or_unreadable_file_is_refused(chain, tmp_path, name, content, message):
    if content is not None:
        write(tmp_path, name, content)
    with pytest.raises(CommandError, match=message):
        run("import_locations", tmp_path / name)


def test_a_csv_that_is_not_utf8_is_refused_with_advice(chain, tmp_path):
    path = write(tmp_path, "stores.csv", "code,name,region,timezone\nA,Café,,UTC\n", "latin-1")

    with pytest.raises(CommandError, match="not UTF-8"):
        run("import_locations", path)


# --- staff --------------------------------------------------------------------------------


@pytest.fixture
def stores(chain):
    return {code: LocationFactory(organization=chain, code=code) for code in ("HCM-01", "HCM-02")}


def test_staff_are_created_at_their_locations(stores, tmp_path):
    text = "Location,Code,Name\nHCM-01,NV-001,Trần Thị Mai\nHCM-02,NV-002,Lê Văn An\n"

    assert run("import_staff", write(tmp_path, "staff.csv", text)) == (
        "created 2, updated 0, unchanged 0"
    )
    mai = StaffMember.objects.get(code="NV-001")
    assert (mai.display_name, mai.location, mai.organization) == (
        "Trần Thị Mai",
        stores["HCM-01"],
        stores["HCM-01"].organization,
    )


def test_a_member_listed_at_another_store_moves_and_is_not_duplicated(stores, tmp_path):
    mai = StaffMemberFactory(location=stores["HCM-01"], code="NV-001", display_name="Mai")
    path = write_xlsx(
        tmp_path, "staff.xlsx", [["location", "code", "name"], ["HCM-02", "NV-001", "Mai"]]
    )

    assert run("import_staff", path) == "created 0, updated 1, unchanged 0"
    mai.refresh_from_db()
    assert mai.location == stores["HCM-02"]
    assert StaffMember.objects.count() == 1


def test_staff_absent_from_the_file_are_left_active(stores, tmp_path):
    leaver = StaffMemberFactory(location=stores["HCM-01"], code="NV-009")

    run("import_staff", write(tmp_path, "staff.csv", "location,code,name\nHCM-01,NV-001,Mai\n"))

    leaver.refresh_from_db()
    assert leaver.is_active


def test_a_staff_location_of_another_organization_is_refused(stores, other_store, tmp_path):
    text = f"location,code,name\nHCM-01,NV-001,Mai\n{other_store.code},NV-002,Somchai\n"

    errors, _ = run_failing("import_staff", write(tmp_path, "staff.csv", text))

    assert errors == [f"line 3: location '{other_store.code}' is not a location of caphe"]
    assert not StaffMember.objects.exists()


# --- the interface the admin uses -------------------------------------------------------


def test_an_uploaded_file_is_read_and_imported(chain):
    upload = SimpleUploadedFile("stores.csv", ("\ufeff" + LOCATIONS).encode())

    rows = read_table(upload, upload.name)
    summary = import_locations(organization=chain, rows=rows)

    assert (summary.created, summary.updated, summary.unchanged) == (3, 0, 0)
    assert rows[0]["code"] == "HCM-01"


def test_import_failed_carries_every_error(chain, stores):
    rows = [
        {"location": "HCM-01", "code": "NV-1", "name": ""},
        {"location": "HCM-09", "code": "NV-1", "name": "Mai"},
    ]

    with pytest.raises(ImportFailed) as failed:
        import_staff(organization=chain, rows=rows)

    assert failed.value.errors == [
        "line 2: name is empty",
        "line 3: location 'HCM-09' is not a location of caphe",
        "line 3: code 'NV-1' is also on line 2",
    ]


def test_a_file_with_no_header_is_refused(tmp_path):
    with pytest.raises(ImportFailed, match="empty"):
        read_table(write(tmp_path, "empty.csv", "\n\n"), "empty.csv")
