"""docker-compose.yml describes production; no Docker engine runs here, so we check what it
says and run its web and worker commands exactly as written, against the real services."""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from django.db import connection

from tests.factories import a_response, make_kiosk

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
BIN = Path(sys.executable).parent


def command_of(service):
    return shlex.split(COMPOSE["services"][service]["command"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_compose_runs_web_worker_beat_postgresql_and_redis():
    services = COMPOSE["services"]

    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(services)
    assert command_of("web")[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert command_of("worker")[:4] == ["celery", "-A", "cxhub", "worker"]
    assert command_of("beat")[:4] == ["celery", "-A", "cxhub", "beat"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("db", "redis"):
        assert "healthcheck" in services[name]


def test_every_variable_compose_sets_is_one_the_settings_read():
    settings_text = (ROOT / "cxhub/settings.py").read_text()
    app_env = COMPOSE["x-app"]["environment"]

    for name in app_env:
        assert re.search(rf'"{name}"', settings_text), name


def _db_url():
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_web_command_serves_the_api_under_gunicorn(store):
    _, token = make_kiosk(store, registered_days_ago=1)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "PATH": f"{BIN}:{os.environ['PATH']}",
        # As in production: plain HTTP is redirected unless the TLS proxy vouches for it.
        "SECURE_SSL_REDIRECT": "true",
    }
    server = subprocess.Popen(command_of("web"), cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/schema/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
        healthcheck = COMPOSE["services"]["web"]["healthcheck"]["test"][1:]
        healthcheck[-1] = healthcheck[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")

        r = httpx.post(f"{base}/api/v1/kiosk/responses/", json=a_response(nps=10), headers=headers)
        plain = httpx.post(f"{base}/api/v1/kiosk/responses/", json=a_response(nps=10))
        probe = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)

        assert r.status_code == 201, r.text
        assert plain.status_code == 301
        assert plain.headers["Location"].startswith("https://")
        assert (
            httpx.get(f"{base}/api/docs/", headers={"X-Forwarded-Proto": "https"}).status_code
            == 200
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)")
def test_the_worker_command_starts_a_celery_worker_that_answers_on_redis(tmp_path):
    node = f"compose-check-{os.getpid()}@localhost"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    worker = subprocess.Popen(
        [*command_of("worker"), "-n", node, "--pool=solo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answered = ""
        for _ in range(30):
            ping = subprocess.run(
                [BIN / "celery", "-A", "cxhub", "inspect", "ping", "-d", node, "-t", "1"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            answered = ping.stdout
            if "pong" in answered:
                break
            time.sleep(0.5)
        assert "pong" in answered
    finally:
        worker.terminate()
        worker.wait(20)
