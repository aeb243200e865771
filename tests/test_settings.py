"""Settings come from the environment only, and production refuses an unsafe secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    # Only what a production process would have: no test-run leftovers (the browser tests
    # set DJANGO_ALLOW_ASYNC_UNSAFE in this process, which a deploy check rightly refuses).
    dropped = {
        "SECRET_KEY",
        "DJANGO_DEBUG",
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "SECURE_SSL_REDIRECT",
    }
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "secret",
    [None, "", "short", "change-me-please-to-something-long-and-random-0123"],
    ids=["missing", "empty", "too short", "the example placeholder"],
)
def test_production_refuses_to_start_without_a_real_secret_key(secret):
    env = {"DJANGO_DEBUG": "false"}
    if secret is not None:
        env["SECRET_KEY"] = secret

    deploy_check = manage("check", "--deploy", **env)
    web = subprocess.run(
        [sys.executable, "-c", "import cxhub.wsgi"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "SECRET_KEY"}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert deploy_check.returncode != 0
    assert "SECRET_KEY must be set" in deploy_check.stderr
    assert web.returncode != 0
    assert "SECRET_KEY must be set" in web.stderr


def test_commands_that_serve_nothing_need_no_secret():
    result = manage("makemigrations", "--check", "--dry-run", DJANGO_DEBUG="false")

    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_production_starts_with_a_real_secret_key():
    result = manage("check", "--deploy", DJANGO_DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50))

    assert result.returncode == 0, result.stderr


def test_without_a_database_url_it_runs_on_sqlite_with_tasks_in_process():
    script = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='cxhub.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "DJANGO_DEBUG": "true"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert out == ["django.db.backends.sqlite3", "True", "memory://"]


def test_with_database_and_redis_urls_it_uses_postgresql_and_real_workers():
    script = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='cxhub.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)"
    )
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/cxhub",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert out == ["django.db.backends.postgresql", "False", "redis://127.0.0.1:6379/0"]


def test_every_variable_the_settings_read_is_listed_in_env_example():
    import re

    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (ROOT / "cxhub/settings.py").read_text()))
    listed = set(re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))

    assert read - listed == set()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)")
def test_a_worker_refuses_to_start_without_a_real_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    worker = subprocess.run(
        [Path(sys.executable).parent / "celery", "-A", "cxhub", "worker", "--pool=solo"],
        cwd=ROOT,
        env={**env, "DJANGO_DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert worker.returncode != 0
    assert "SECRET_KEY must be set" in worker.stderr
