"""The coarser rollup tiers are exact sums of the hourly tier, and reads that combine them
(whole months from one, whole weeks from another, the days left from a third) give the
figures of the raw rows."""

import datetime as dt
import uuid
from collections import defaultdict

import pytest
import time_machine
from django.db.models import Sum

from locations.models import Location, Role
from metrics import rollup_sql, selectors, services
from metrics.models import (
    ChoiceDailyRollup,
    ChoiceRollup,
    DailyRollup,
    HourlyRollup,
    MonthHourRollup,
    StaffDailyRollup,
    StoreHourRollup,
    WeekHourRollup,
)
from metrics.scores import summarize
from surveys.models import Answer
from tests.factories import MembershipFactory, StaffMemberFactory

BINS = HourlyRollup.BIN_FIELDS

URL = "/api/v1/kiosk/responses/"
NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)


COUNTS = ("n", *BINS)


def table(model):
    """Every row of a tier as {its key, as (column, value) pairs: its counts}."""
    out = {}
    for row in model.objects.values():
        key = tuple(sorted((k, v) for k, v in row.items() if k != "id" and k not in COUNTS))
        out[key] = tuple(v for k, v in row.items() if k in COUNTS)
    return out


def summed(**key_of):
    """The hourly tier summed under another key: what a coarser tier must hold."""
    out = defaultdict(lambda: [0] * len(COUNTS))
    for row in HourlyRollup.objects.values():
        key = {
            k: row[k]
            for k in ("organization_id", "location_id", "touchpoint_id", "question", "kind")
        }
        key.update({name: of(row) for name, of in key_of.items()})
        sums = out[tuple(sorted(key.items()))]
        for i, name in enumerate(COUNTS):
            sums[i] += row[name]
    return {key: tuple(v) for key, v in out.items()}


@pytest.fixture
def answered_across_two_months(
    kiosk_client, kiosk_and_token, store, django_capture_on_commit_callbacks
):
    """Sixty responses between 30 October and 2 November, three staff members and nobody,
    each refreshed by the task its commit enqueued (in process here)."""
    # Registered well before the first answer, whatever today is: answers from before a
    # kiosk's registration get the server's clock instead of their own.
    kiosk = kiosk_and_token[0]
    kiosk.registered_at = NOW - dt.timedelta(days=60)
    kiosk.save(update_fields=["registered_at"])
    members = [StaffMemberFactory(location=store, code=f"NV-{i}") for i in range(3)]
    days = ["2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02"]
    with time_machine.travel(NOW, tick=False):
        for i in range(60):
            body = {
                "id": str(uuid.uuid4()),
                "submitted_at": f"{days[i % 4]}T{7 + i % 9:02d}:20:00+07:00",
                "staff": members[i % 4].code if i % 4 < 3 else None,
                "answers": {
                    "nps": i % 11,
                    "csat": 1 + i % 5,
                    "ces": 1 + i % 7,
                    **({"reason": ["wait_time"]} if i % 11 <= 6 else {}),
                },
            }
            with django_capture_on_commit_callbacks(execute=True):
                assert kiosk_client.post(URL, body, format="json").status_code == 201
    return store


def test_each_coarser_tier_is_the_hourly_tier_summed_after_refreshes_and_after_a_rebuild(
    answered_across_two_months,
):
    def expected():
        return {
            StoreHourRollup: summed(day=lambda r: r["day"], hour=lambda r: r["hour"]),
            DailyRollup: summed(day=lambda r: r["day"]),
            StaffDailyRollup: summed(staff_id=lambda r: r["staff_id"], day=lambda r: r["day"]),
            MonthHourRollup: summed(
                month=lambda r: r["day"].replace(day=1), hour=lambda r: r["hour"]
            ),
            WeekHourRollup: summed(
                week=lambda r: r["day"] - dt.timedelta(days=r["day"].weekday()),
                hour=lambda r: r["hour"],
            ),
        }

    after_refreshes = {model: table(model) for model in expected()}
    assert after_refreshes == expected()
    month_rows = after_refreshes[MonthHourRollup]
    assert (
        sum(counts[0] for counts in month_rows.values())
        == Answer.objects.filter(kind__in=("nps", "csat", "ces")).count()
    )
    assert {dict(key)["month"] for key in month_rows} == {
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
    }
    # 30 October to 1 November is the week of Monday the 26th; the 2nd starts the next.
    assert {dict(key)["week"] for key in after_refreshes[WeekHourRollup]} == {
        dt.date(2026, 10, 26),
        dt.date(2026, 11, 2),
    }

    choice_days = defaultdict(lambda: [0, 0, 0, 0])
    for row in ChoiceRollup.objects.values():
        key = tuple(row[k] for k in ("location_id", "touchpoint_id", "question", "choice", "day"))
        for i, name in enumerate(("promoters", "passives", "detractors", "unrated")):
            choice_days[key][i] += row[name]
    assert {
        tuple(r[:5]): list(r[5:])
        for r in ChoiceDailyRollup.objects.values_list(
            "location_id",
            "touchpoint_id",
            "question",
            "choice",
            "day",
            "promoters",
            "passives",
            "detractors",
            "unrated",
        )
    } == dict(choice_days)

    finest = (table(HourlyRollup), table(ChoiceRollup), table(ChoiceDailyRollup))
    services.rebuild_rollups()
    assert (table(HourlyRollup), table(ChoiceRollup), table(ChoiceDailyRollup)) == finest
    assert {model: table(model) for model in expected()} == after_refreshes


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        (dt.date(2026, 10, 1), dt.date(2026, 11, 30)),  # two whole months
        (dt.date(2026, 10, 31), dt.date(2026, 11, 1)),  # two partial months
        (dt.date(2026, 9, 15), dt.date(2026, 11, 1)),  # a partial, a whole, a partial
        (dt.date(2026, 11, 2), dt.date(2026, 11, 2)),  # one day
        (dt.date(2026, 10, 26), dt.date(2026, 11, 8)),  # two whole weeks across a month's end
        (dt.date(2026, 10, 29), dt.date(2026, 11, 9)),  # days, a whole week, a day
        (dt.date(2026, 10, 28), dt.date(2026, 11, 3)),  # a week's worth of days, no whole week
    ],
)
def test_hour_of_day_figures_equal_those_of_the_raw_answers_whatever_the_months_covered(
    answered_across_two_months, date_from, date_to
):
    head = MembershipFactory(
        organization=answered_across_two_months.organization, role=Role.HEAD_OFFICE
    ).user
    query = selectors.ScoreQuery(date_from=date_from, date_to=date_to, group_by="hour")

    results = selectors.scores_by_group(head, query)

    low = {"nps": 0, "csat": 1, "ces": 1}
    raw = defaultdict(lambda: [0] * 11)
    for hour, question, score in Answer.objects.filter(
        response__local_day__gte=date_from,
        response__local_day__lte=date_to,
        kind__in=("nps", "csat", "ces"),
    ).values_list("response__local_hour", "question", "score"):
        raw[(hour, question)][score - low[question]] += 1
    thresholds = selectors.thresholds_for(Location.objects.all())
    expected = defaultdict(dict)
    for (hour, question), bins in raw.items():
        size = {"nps": 11, "csat": 5, "ces": 7}[question]
        expected[hour][question] = summarize(question, bins[:size], thresholds)
    assert {r["group"]["hour"]: r["questions"] for r in results} == expected


def test_a_year_of_hours_reads_whole_months_then_whole_weeks_then_a_few_days():
    parts = selectors._hour_of_day_parts(dt.date(2025, 12, 5), dt.date(2026, 12, 4))

    def days(first, last):
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    assert parts == [
        (MonthHourRollup, "month", [dt.date(2026, month, 1) for month in range(1, 12)]),
        (WeekHourRollup, "week", [dt.date(2025, 12, day) for day in (8, 15, 22)]),
        (
            StoreHourRollup,
            "day",
            [
                *days(dt.date(2025, 12, 5), dt.date(2025, 12, 7)),  # Friday to Sunday
                *days(dt.date(2025, 12, 29), dt.date(2025, 12, 31)),
                *days(dt.date(2026, 12, 1), dt.date(2026, 12, 4)),  # Tuesday to Friday
            ],
        ),
    ]


def test_staff_figures_come_from_the_daily_staff_tier_and_match_the_hourly_one(
    answered_across_two_months,
):
    head = MembershipFactory(
        organization=answered_across_two_months.organization, role=Role.HEAD_OFFICE
    ).user
    query = selectors.ScoreQuery(
        date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 11, 30), group_by="staff"
    )

    by_staff = {
        r["group"]["staff"]: r["questions"]["nps"]["n"]
        for r in selectors.scores_by_group(head, query)
    }

    direct = dict(
        HourlyRollup.objects.filter(question="nps")
        .values_list("staff__code")
        .annotate(Sum("n"))
        .order_by()
    )
    assert by_staff == direct
    assert None in by_staff  # answers that named nobody are a group of their own


def test_upgrading_fills_the_week_tier_from_the_hours_already_rolled_up(
    answered_across_two_months,
):
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    migration = importlib.import_module("metrics.migrations.0005_week_hours")
    refreshed = table(WeekHourRollup)
    WeekHourRollup.objects.all().delete()  # as before the upgrade

    # What the migration uses of its schema editor (SQLite allows no real one in a test).
    editor = SimpleNamespace(connection=connection, execute=connection.cursor().execute)
    migration.fill_from_store_hours(None, editor)

    assert table(WeekHourRollup) == refreshed


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_of_every_store_leaves_the_tiers_vacuumed_for_index_only_reads(kiosk_client):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("VACUUM is PostgreSQL's")
    with time_machine.travel(NOW, tick=False):
        answer = {"id": str(uuid.uuid4()), "submitted_at": "2026-11-22T09:00:00+07:00"}
        posted = kiosk_client.post(URL, {**answer, "answers": {"nps": 9}}, format="json")
        assert posted.status_code == 201

    services.rebuild_rollups()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname LIKE 'metrics_%%rollup' "
            "AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
        )
        vacuumed = {row[0] for row in cursor.fetchall()}
    assert vacuumed == {model._meta.db_table for model in rollup_sql.ROLLUP_MODELS}
