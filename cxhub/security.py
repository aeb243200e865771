"""Production refuses to start without a real SECRET_KEY.

The check runs where serving starts — the WSGI application, the Celery worker and beat —
and as a deploy check (`manage.py check --deploy`), not at settings import, so commands
that serve nothing (makemigrations, collectstatic in a build) work without secrets.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def refuse_unsafe_secret_key() -> None:
    if settings.SECRET_KEY_PROBLEM:
        raise ImproperlyConfigured(settings.SECRET_KEY_PROBLEM)


@checks.register(checks.Tags.security, deploy=True)
def secret_key_check(app_configs, **kwargs):
    if settings.SECRET_KEY_PROBLEM:
        return [checks.Error(settings.SECRET_KEY_PROBLEM, id="cxhub.E001")]
    return []
