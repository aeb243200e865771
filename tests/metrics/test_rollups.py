"""Rollups are recomputed from raw rows: exact, idempotent, and in each store's local time."""

import datetime as dt
import uuid
from collections import Counter

import pytest
import time_machine

from metrics import services
from metrics.models import ChoiceRollup, DailyRollup, DirtyBucket, HourlyRollup
from surveys.models import Answer, SurveyResponse
from tests.factories import LocationFactory, StaffMemberFactory, make_kiosk

URL = "/api/v1/kiosk/responses/"
BATCH_URL = "/api/v1/kiosk/responses/batch/"
NOW = dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC)  # 12:00 in Hồ Chí Minh City and Bangkok


def body(submitted_at, staff=None, **answers):
    return {
        "id": str(uuid.uuid4()),
        "submitted_at": submitted_at,
        "staff": staff,
        "answers": answers,
    }


def rollup_snapshot():
    """Every rollup row as plain values, to compare states exactly."""

    def rows(model, exclude=("id",)):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
        return sorted(tuple(str(v) for v in row) for row in model.objects.values_list(*fields))

    return rows(HourlyRollup), rows(DailyRollup), rows(ChoiceRollup)


@pytest.fixture
def submit(kiosk_client, django_capture_on_commit_callbacks):
    def post(payload, url=URL):
        with django_capture_on_commit_callbacks(execute=True):
            r = kiosk_client.post(url, payload, format="json")
        assert r.status_code in (200, 201), r.content
        return r

    return post


@time_machine.travel(NOW, tick=False)
def test_a_recorded_response_lands_in_its_hour_staff_and_touchpoint_histograms(submit, staff):
    submit(body("2026-11-22T11:05:00+07:00", staff="NV-014", nps=9, csat=4))
    submit(body("2026-11-22T11:40:00+07:00", nps=3, ces=2, reason=["wait_time", "price"]))

    nps_rows = HourlyRollup.objects.filter(question="nps")
    assert sorted(
        ((r.staff_id, r.hour, r.n, r.b9, r.b3) for r in nps_rows), key=lambda row: row[0] is None
    ) == [
        (staff.pk, 11, 1, 1, 0),
        (None, 11, 1, 0, 1),
    ]
    daily = DailyRollup.objects.get(question="nps")
    assert (daily.day, daily.n, daily.b9, daily.b3) == (dt.date(2026, 11, 22), 2, 1, 1)
    assert DailyRollup.objects.get(question="csat").b3 == 1  # CSAT 4 is the fourth bin
    reasons = {r.choice: (r.detractors, r.promoters) for r in ChoiceRollup.objects.all()}
    assert reasons == {"wait_time": (1, 0), "price": (1, 0)}
    assert not DirtyBucket.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_refreshing_twice_or_after_a_duplicate_changes_nothing(submit, staff):
    first = body("2026-11-22T09:00:00+07:00", staff="NV-014", nps=10, csat=5, ces=7)
    submit(first)
    submit(body("2026-11-22T09:30:00+07:00", nps=2, reason=["staff"]))
    before = rollup_snapshot()

    submit(first)  # the kiosk's retry
    submit({"responses": [first]}, url=BATCH_URL)
    services.mark_dirty([(staff.location_id, dt.date(2026, 11, 22), 9)])
    services.refresh_buckets([(staff.location_id, dt.date(2026, 11, 22), 9)])
    services.refresh_buckets([(staff.location_id, dt.date(2026, 11, 22), 9)])
    services.rebuild_rollups()
    services.rebuild_rollups()

    assert rollup_snapshot() == before
    assert SurveyResponse.objects.count() == 2


@time_machine.travel(NOW, tick=False)
def test_a_late_response_changes_only_the_day_it_was_answered(submit, store):
    submit(body("2026-11-20T10:00:00+07:00", nps=9))
    submit(body("2026-11-22T10:00:00+07:00", nps=9))
    today_before = list(DailyRollup.objects.filter(day="2026-11-22").values_list("n", "b9"))

    # A kiosk that was offline since the 20th flushes its queue two days later.
    submit({"responses": [body("2026-11-20T15:00:00+07:00", nps=0)]}, url=BATCH_URL)

    assert list(DailyRollup.objects.filter(day="2026-11-22").values_list("n", "b9")) == today_before
    late = DailyRollup.objects.get(day="2026-11-20", question="nps")
    assert (late.n, late.b9, late.b0) == (2, 1, 1)


@time_machine.travel(NOW, tick=False)
def test_a_response_commits_with_its_bucket_marked_and_the_sweep_refreshes_it(kiosk_client, store):
    # No on-commit hook runs here: as if the broker had been down when it committed.
    kiosk_client.post(URL, body("2026-11-22T08:00:00+07:00", nps=7), format="json")
    assert DirtyBucket.objects.filter(location=store, day="2026-11-22", hour=8).exists()
    assert not HourlyRollup.objects.exists()

    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        services.sweep_dirty_buckets()

    assert HourlyRollup.objects.get().b7 == 1
    assert not DirtyBucket.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_the_sweep_leaves_a_fresh_mark_to_the_refresh_queued_for_it(kiosk_client, store):
    kiosk_client.post(URL, body("2026-11-22T08:00:00+07:00", nps=7), format="json")

    assert services.sweep_dirty_buckets() == 0  # marked a moment ago: its refresh is coming
    with time_machine.travel(NOW + dt.timedelta(seconds=11), tick=False):
        assert services.sweep_dirty_buckets() == 1  # that refresh never came

    assert HourlyRollup.objects.get().b7 == 1


@time_machine.travel(NOW, tick=False)
def test_a_second_sweep_while_one_runs_does_nothing(kiosk_client, store):
    from django.core.cache import cache

    kiosk_client.post(URL, body("2026-11-22T08:00:00+07:00", nps=7), format="json")
    cache.add(services.SWEEP_LOCK, 1)  # a sweep is running

    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        assert services.sweep_dirty_buckets() == 0

    assert DirtyBucket.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_even_a_lost_mark_is_healed_by_the_nightly_reconciliation(kiosk_client, store):
    kiosk_client.post(URL, body("2026-11-22T08:00:00+07:00", nps=7), format="json")
    DirtyBucket.objects.all().delete()  # say, restored from a backup taken mid-write

    services.reconcile_recent()

    assert HourlyRollup.objects.get().b7 == 1


def test_a_bucket_marked_again_during_its_refresh_stays_dirty(store):
    day = dt.date(2026, 11, 22)
    services.mark_dirty([(store.pk, day, 8)])
    generation = DirtyBucket.objects.get().generation

    services.mark_dirty([(store.pk, day, 8)])  # a response recorded while refreshing
    DirtyBucket.objects.filter(generation=generation).delete()  # what the refresh removes

    assert DirtyBucket.objects.get().generation == generation + 1


@time_machine.travel(NOW, tick=False)
def test_rollups_match_a_direct_count_of_the_raw_answers(submit, store):
    members = [StaffMemberFactory(location=store, code=f"NV-{i}") for i in range(3)]
    for i in range(60):
        staff = members[i % 4].code if i % 4 < 3 else None
        submitted = f"2026-11-2{i % 3}T{7 + i % 12:02d}:15:00+07:00"
        submit(body(submitted, staff=staff, nps=i % 11, csat=1 + i % 5))

    for question, low in (("nps", 0), ("csat", 1)):
        raw = Counter(
            Answer.objects.filter(question=question).values_list(
                "response__local_day", "response__local_hour", "response__staff_id", "score"
            )
        )
        rolled = Counter()
        for row in HourlyRollup.objects.filter(question=question):
            for i in range(11):
                if getattr(row, f"b{i}"):
                    rolled[(row.day, row.hour, row.staff_id, low + i)] += getattr(row, f"b{i}")
        assert rolled == raw


@time_machine.travel(NOW, tick=False)
def test_stores_in_different_zones_bucket_the_same_instant_in_their_own_local_hour(db):
    from rest_framework.test import APIClient

    instant = "2026-11-21T17:30:00Z"  # 00:30 on the 22nd in Hồ Chí Minh City, 12:30 on the 21st in New York
    placed = {}
    for zone in ("Asia/Ho_Chi_Minh", "America/New_York"):
        location = LocationFactory(timezone=zone)
        _, token = make_kiosk(location, registered_days_ago=5)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.post(URL, body(instant, nps=8), format="json")
        services.rebuild_rollups(location_ids=[location.pk])
        row = HourlyRollup.objects.get(location=location)
        placed[zone] = (str(row.day), row.hour)

    assert placed == {"Asia/Ho_Chi_Minh": ("2026-11-22", 0), "America/New_York": ("2026-11-21", 12)}


def test_rebuild_removes_rollups_whose_responses_are_gone(submit, store):
    with time_machine.travel(NOW, tick=False):
        submit(body("2026-11-22T10:00:00+07:00", nps=9))
    SurveyResponse.objects.all().delete()

    services.rebuild_rollups()

    assert not HourlyRollup.objects.exists()
    assert not DailyRollup.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_one_refresh_is_queued_at_a_time_and_the_next_once_it_starts(submit, store, monkeypatch):
    from metrics import tasks

    queued = []
    monkeypatch.setattr(
        tasks.refresh_marked_task, "apply_async", lambda countdown: queued.append(countdown)
    )
    submit(body("2026-11-22T10:05:00+07:00", nps=9))
    submit(body("2026-11-22T10:50:00+07:00", nps=7))
    submit(body("2026-11-22T11:05:00+07:00", nps=8))
    # Each waits a moment, so that the responses right behind it share its refresh.
    assert queued == [2.0]

    assert tasks.refresh_marked_task.run() == 2  # the worker refreshes both marked hours
    submit(body("2026-11-22T10:55:00+07:00", nps=10))

    assert queued == [2.0, 2.0]
    assert HourlyRollup.objects.get(hour=10, question="nps").n == 2
    assert HourlyRollup.objects.get(hour=11, question="nps").n == 1
    assert list(DirtyBucket.objects.values_list("hour", flat=True)) == [10]


@time_machine.travel(NOW, tick=False)
def test_one_refresh_recomputes_buckets_of_many_stores_and_days_exactly(db):
    from rest_framework.test import APIClient

    expected = Counter()
    for zone in ("Asia/Ho_Chi_Minh", "Asia/Bangkok", "America/New_York"):
        location = LocationFactory(timezone=zone)
        _, token = make_kiosk(location, registered_days_ago=5)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        for i in range(12):
            submitted = f"2026-11-{19 + i % 3}T{(7 + 5 * i) % 24:02d}:15:00+07:00"
            reason = {"reason": ["price"]} if i % 11 <= 6 else {}
            answered = client.post(URL, body(submitted, nps=i % 11, **reason), format="json")
            assert answered.status_code == 201, answered.content
            expected[location.pk] += 1
    assert DirtyBucket.objects.count() == 36  # 12 distinct local hours in each of 3 stores

    assert services.refresh_marked() == 36
    assert not DirtyBucket.objects.exists()
    before = rollup_snapshot()
    services.rebuild_rollups()
    assert rollup_snapshot() == before
    by_store = Counter()
    for row in DailyRollup.objects.filter(question="nps"):
        by_store[row.location_id] += row.n
    assert by_store == expected


def test_a_refresh_leaves_a_bucket_marked_again_while_it_computed(store, monkeypatch):
    from metrics import rollup_sql

    day = dt.date(2026, 11, 22)
    services.mark_dirty([(store.pk, day, 8), (store.pk, day, 9)])
    fill_all = rollup_sql.fill_all

    def a_response_commits_meanwhile(span, *args):
        services.mark_dirty([(store.pk, day, 9)])
        return fill_all(span, *args)

    monkeypatch.setattr(rollup_sql, "fill_all", a_response_commits_meanwhile)
    services.refresh_buckets([(store.pk, day, 8), (store.pk, day, 9)])

    assert list(DirtyBucket.objects.values_list("hour", "generation")) == [(9, 2)]
