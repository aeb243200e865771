import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import LocationFactory, StaffMemberFactory, make_kiosk


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need what only PostgreSQL does (row locks, real concurrency)."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def own_cache_database(settings, worker_id):
    """Each xdist worker throttles in a Redis database of its own: tests clear the cache,
    and a clear is a FLUSHDB. They count up from REDIS_URL's database (10 in scripts/test),
    so two runs given databases far enough apart do not clear each other's."""
    location = settings.CACHES["default"].get("LOCATION")
    if location and location.startswith("redis://"):
        index = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
        base, _, first = location.rpartition("/")
        database = (int(first or 0) + index) % 16
        settings.CACHES = {
            "default": {**settings.CACHES["default"], "LOCATION": f"{base}/{database}"}
        }


@pytest.fixture(autouse=True)
def fresh_cache(own_cache_database):
    """Throttle windows and queued-refresh guards are keyed by ids a rolled-back test hands
    out again, so each test starts with an empty cache."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The real hasher is slow on purpose; tests sign in often and guard nothing with it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def tasks_in_process(request):
    """Celery tasks run inside the test unless it is marked `worker` (a real worker then)."""
    from cxhub.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = "worker" not in request.keywords
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def store(db):
    return LocationFactory(code="HCM-01", timezone="Asia/Ho_Chi_Minh")


@pytest.fixture
def other_store(db):
    """A store of another organization: nothing of ours may reach it, nor it us."""
    return LocationFactory(code="BKK-01", timezone="Asia/Bangkok")


@pytest.fixture
def staff(store):
    return StaffMemberFactory(location=store, code="NV-014", display_name="Trần Thị Mai")


@pytest.fixture
def kiosk_and_token(store):
    return make_kiosk(store, registered_days_ago=30)


@pytest.fixture
def kiosk(kiosk_and_token):
    return kiosk_and_token[0]


@pytest.fixture
def kiosk_client(kiosk_and_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {kiosk_and_token[1]}")
    return client


@pytest.fixture
def anonymous_client(db):
    return APIClient()


@pytest.fixture
def contact_survey(store):
    """The store's survey with a "contact me" question added and published."""
    from surveys.services import publish_survey

    survey = store.organization.default_survey
    survey.questions = [
        *survey.questions,
        {
            "key": "contact",
            "kind": "contact",
            "text": {"vi": "Liên hệ với tôi", "th": "ติดต่อฉัน", "en": "Contact me"},
        },
    ]
    survey.save()
    return publish_survey(survey=survey)
