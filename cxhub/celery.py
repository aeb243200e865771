import logging
import os

from celery import Celery, bootsteps
from celery.signals import (
    beat_init,
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    worker_init,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxhub.settings")

app = Celery("cxhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


@worker_init.connect
@beat_init.connect
def refuse_unsafe_secret_key(**kwargs):
    # A worker or beat without a real key is a production process misconfigured. Celery
    # logs and ignores exceptions from signal handlers, so leave with SystemExit.
    from django.conf import settings

    if settings.SECRET_KEY_PROBLEM:
        raise SystemExit(settings.SECRET_KEY_PROBLEM)


class Heartbeat(bootsteps.StartStopStep):
    """Every worker writes a heartbeat to Redis on its own timer, so /readyz can tell a live
    worker from a dead one without asking workers over the broker (slow, and blocked while
    the worker is busy)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        self.timer_ref = None

    def start(self, worker):
        from . import worker_state

        def beat():
            try:
                worker_state.beat(worker.hostname)
            except Exception:  # Redis away: the broker connection will say so louder
                log.warning("could not write the worker heartbeat", exc_info=True)

        beat()
        self.timer_ref = worker.timer.call_repeatedly(worker_state.HEARTBEAT_SECONDS, beat)

    def stop(self, worker):
        if self.timer_ref:
            self.timer_ref.cancel()
            self.timer_ref = None


app.steps["worker"].add(Heartbeat)


@task_failure.connect
def count_failure(sender=None, **kwargs):
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    from . import worker_state

    try:
        worker_state.record_failure(sender.name)
    except Exception:
        log.warning("could not count a task failure", exc_info=True)


# The request id of the web request that queued a task follows it into the worker's logs.
@before_task_publish.connect
def pass_request_id(headers=None, **kwargs):
    from .logs import request_id_var

    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect
def adopt_request_id(task=None, **kwargs):
    from .logs import new_request_id, request_id_var

    # In-process (eager) tasks run inside the request and keep its id.
    request_id = (
        getattr(task.request, "request_id", None) or request_id_var.get() or new_request_id()
    )
    task.request._cxhub_token = request_id_var.set(request_id)


@task_postrun.connect
def drop_request_id(task=None, **kwargs):
    from .logs import request_id_var

    token = getattr(task.request, "_cxhub_token", None)
    if token is not None:
        request_id_var.reset(token)
