"""The alert path end to end on real processes: a detractor posted over HTTP to gunicorn, its
alert checked, e-mailed and delivered to a webhook receiver by a Celery worker on Redis."""

import shutil

import pytest

from locations.models import Role
from surveys import recovery
from surveys.models import Alert, Case, WebhookDelivery, WebhookEndpoint
from tests.factories import LocationFactory, MembershipFactory, a_response, make_kiosk
from tests.stack import stack_on_test_database, wait_for
from tests.surveys.test_recovery import Receiver

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


@pytest.fixture
def stack(tmp_path):
    with stack_on_test_database(tmp_path) as running:
        running.env |= {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        }
        yield running


def test_a_detractor_over_http_reaches_the_manager_and_the_webhook_through_the_worker(
    stack, tmp_path
):
    store = LocationFactory(code="HCM-01")
    recovery.create_default_rules(store.organization)
    manager = MembershipFactory(
        organization=store.organization, role=Role.STORE_MANAGER, location=store
    ).user
    endpoint = WebhookEndpoint.objects.create(organization=store.organization, url="http://x")
    receiver = Receiver(endpoint.secret, statuses=[500])  # the first attempt fails
    endpoint.url = receiver.url
    endpoint.save(update_fields=["url"])
    _, token = make_kiosk(store, registered_days_ago=5)
    stack.start_web()
    stack.start_worker()
    try:
        body = a_response(nps=2, comment="Chờ lâu quá")
        assert stack.client(token).post("/api/v1/kiosk/responses/", json=body).status_code == 201

        wait_for(
            lambda: WebhookDelivery.objects.filter(delivered_at__isnull=False).exists(),
            timeout=60,
            message="the webhook delivered after a retry",
        )
        alert = Alert.objects.get()
        assert str(alert.response_id) == body["id"]
        assert Case.objects.filter(response_id=body["id"]).exists()
        assert [signed for signed, _ in receiver.received] == [True, True]
        mails = list((tmp_path / "mail").iterdir())
        assert len(mails) == 1
        assert manager.email in mails[0].read_text()
    finally:
        receiver.close()
