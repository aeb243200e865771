"""The dashboards in a real browser: the kiosk tests' chromium (through Playwright) against
one seeded demo chain per module, served by a live server of the module's own.

Why not pytest-django's `live_server`: a test that uses it runs as a transactional test, and
the database is flushed after each one; the demo chain would have to be seeded again for
every test. Here the chain is seeded once, the server reads it for the whole module, and the
database is flushed once at the end, as a transactional test would have left it."""

from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from cxhub.celery import app as celery_app
from locations.models import Region
from surveys import recovery
from surveys.demo import seed_demo
from surveys.demo_data import VIETNAM
from surveys.models import SurveyResponse

# The kiosk's real browser (Debian's chromium through Playwright) serves these tests too.
from tests.kiosk.conftest import browser  # noqa: F401

# Enough for the default period (the last 30 days) and the one before it to have answers in
# every store, reasons, comments and staff scores (a barista passes the privacy threshold
# over the period, and week by week); few enough to seed in a few seconds.
DAYS = 60
PER_DAY = 8
# As tests/conftest.py's fast_password_hashing.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass(frozen=True)
class Chain:
    url: str  # the live server's origin
    slug: str
    vietnam: int  # the region the regional manager runs


@pytest.fixture(scope="module")
def chain(request, django_db_setup, django_db_blocker):
    """The demo chain, seeded once and served at `chain.url` until the module ends."""
    # The demo's passwords are hashed, and checked for the whole module (by fixtures set up
    # before any test's own settings), with the hasher every test signs in with.
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True  # the rollups refresh as the seeding commits
        try:
            organization = seed_demo(days=DAYS, per_day=PER_DAY).organization
        finally:
            celery_app.conf.task_always_eager = eager
        vietnam = Region.objects.get(organization=organization, name=VIETNAM)
        # However the seed's scores fell, the store manager's store has a case to act on.
        latest = SurveyResponse.objects.filter(location__code="HCM-01").latest("submitted_at")
        recovery.open_case(latest)
        server = LiveServer(request.config.getvalue("liveserver") or "localhost")
        server._live_server_modified_settings.enable()
        try:
            yield Chain(url=server.url, slug=organization.slug, vietnam=vietnam.pk)
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
            call_command("flush", interactive=False, verbosity=0)
