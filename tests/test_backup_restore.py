"""The backup and restore of docs/operations.md, run for real: data in through HTTP, a
`pg_dump -Fc` of the database, `createdb` + `pg_restore` into a fresh one, and the restored
database holds every row of every table, the same sequences, the same rollups and serves
the same figures; then it is dropped.

The commands are the documentation's, with the test server's -h/-p/-U (the doc runs them
inside the `db` container, over its socket, as user cxhub)."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from locations import services as location_services
from locations.models import Role
from metrics import selectors
from metrics.models import DailyRollup, HourlyRollup
from surveys.models import SurveyResponse
from surveys.recovery import create_default_rules
from tests.factories import LocationFactory, MembershipFactory, StaffMemberFactory, make_kiosk

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def tool(name: str) -> str | None:
    return shutil.which(name) or (str(PG_BIN / name) if (PG_BIN / name).exists() else None)


pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not all(tool(t) for t in ("pg_dump", "pg_restore", "createdb", "dropdb")),
        reason="needs the PostgreSQL client programs",
    ),
]


def run(*command: str, stdin=None, stdout=None):
    """A client program against the test server, as the operator runs it."""
    s = connection.settings_dict
    env = {**os.environ}
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    server = [
        "-h",
        s.get("HOST") or "127.0.0.1",
        "-p",
        str(s.get("PORT") or 5432),
        "-U",
        s.get("USER") or "postgres",
    ]
    name, *rest = command
    subprocess.run(
        [tool(name), *server, *rest], stdin=stdin, stdout=stdout, env=env, check=True, timeout=120
    )


def open_database(name: str):
    s = connection.settings_dict
    return psycopg2.connect(
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
        user=s.get("USER") or "postgres",
        password=s.get("PASSWORD") or None,
        dbname=name,
    )


def snapshot(db) -> dict:
    """Every table's row count and a digest of its rows, and every sequence's position."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        tables = [name for (name,) in cursor.fetchall()]
        out = {}
        for table in tables:
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '')) FROM \"{table}\" t"
            )
            out[table] = cursor.fetchone()
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        )
        out["sequences"] = sorted(cursor.fetchall())
    return out


def send(client, when, **answers):
    body = {"id": str(uuid.uuid4()), "submitted_at": when.isoformat(), "answers": answers}
    response = client.post("/api/v1/kiosk/responses/", body, format="json", secure=True)
    assert response.status_code == 201, response.content


@pytest.fixture
def chain_with_data():
    """Two stores with responses through the kiosk API (rolled up by the in-process tasks),
    unhappy ones with their alerts and cases, reasons and comments, staff, a head-office user and a token."""
    first = LocationFactory(code="HCM-01", timezone="Asia/Ho_Chi_Minh")
    second = LocationFactory(
        organization=first.organization, code="HN-01", timezone="Asia/Ho_Chi_Minh"
    )
    StaffMemberFactory(location=first, code="NV-01")
    create_default_rules(first.organization)
    head_office = MembershipFactory(organization=first.organization, role=Role.HEAD_OFFICE).user
    now = timezone.now()
    for store in (first, second):
        _, token = make_kiosk(store, registered_days_ago=30)
        kiosk = APIClient()
        kiosk.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        for i in range(12):
            send(kiosk, now - dt.timedelta(hours=3 * i), nps=i % 11, csat=1 + i % 5, ces=1 + i % 7)
        send(
            kiosk,
            now - dt.timedelta(minutes=10),
            nps=2,
            reason=["wait_time"],
            comment="Chờ lâu quá",
        )
    api_token = location_services.create_api_token(user=head_office)
    return head_office, api_token


def figures(user) -> list:
    today = timezone.now().date()
    query = selectors.ScoreQuery(
        date_from=today - dt.timedelta(days=7), date_to=today + dt.timedelta(days=1)
    )
    return json.loads(JSONRenderer().render(selectors.scores_by_group(user, query)))


def test_a_dump_restores_into_a_fresh_database_with_every_row_and_figure(chain_with_data, tmp_path):
    head_office, _ = chain_with_data
    assert SurveyResponse.objects.count() == 26
    assert HourlyRollup.objects.exists() and DailyRollup.objects.exists()
    expected_figures = figures(head_office)
    assert expected_figures  # something to compare

    source = connection.settings_dict["NAME"]
    restored = f"{source}_restore_{uuid.uuid4().hex[:8]}"
    dump = tmp_path / "cxhub.dump"

    # docs/operations.md, "Backups": pg_dump -Fc cxhub > cxhub.dump
    with dump.open("wb") as out:
        run("pg_dump", "-Fc", source, stdout=out)
    assert dump.stat().st_size > 0

    # docs/operations.md, "Restoring": createdb, then pg_restore into it.
    run("createdb", restored)
    try:
        with dump.open("rb") as into:
            run("pg_restore", "--no-owner", "--exit-on-error", "-d", restored, stdin=into)

        with open_database(source) as a, open_database(restored) as b:
            before, after = snapshot(a), snapshot(b)
        a.close()
        b.close()
        assert set(after) == set(before)
        for table in before:
            assert after[table] == before[table], table
        assert before["surveys_surveyresponse"][0] == 26
        for table in ("surveys_answer", "surveys_case", "metrics_dailyrollup", "django_migrations"):
            assert before[table][0] > 0, table

        # The restored database serves the same figures, and needs no migration.
        env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{connection.settings_dict['USER']}@"
                f"{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}/{restored}"
            ),
            "REDIS_URL": "",
        }
        if connection.settings_dict.get("PASSWORD"):
            env["PGPASSWORD"] = connection.settings_dict["PASSWORD"]
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--check"], cwd=ROOT, env=env, check=True, timeout=120)
        script = (
            "import datetime as dt, json\n"
            "from django.contrib.auth import get_user_model\n"
            "from django.utils import timezone\n"
            "from rest_framework.renderers import JSONRenderer\n"
            "from metrics import selectors\n"
            f"user = get_user_model().objects.get(pk={head_office.pk})\n"
            "today = timezone.now().date()\n"
            "query = selectors.ScoreQuery(date_from=today - dt.timedelta(days=7),"
            " date_to=today + dt.timedelta(days=1))\n"
            "print(JSONRenderer().render(selectors.scores_by_group(user, query)).decode())\n"
        )
        shell = subprocess.run(
            [*manage, "shell", "-c", script],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        )
        assert json.loads(shell.stdout.strip().splitlines()[-1]) == expected_figures
    finally:
        run("dropdb", "--if-exists", restored)
