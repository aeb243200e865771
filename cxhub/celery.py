import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxhub.settings")

app = Celery("cxhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def refuse_unsafe_secret_key(**kwargs):
    # A worker or beat without a real key is a production process misconfigured. Celery
    # logs and ignores exceptions from signal handlers, so leave with SystemExit.
    from django.conf import settings

    if settings.SECRET_KEY_PROBLEM:
        raise SystemExit(settings.SECRET_KEY_PROBLEM)
