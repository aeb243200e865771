"""Real processes for integration tests: a private Redis, gunicorn and Celery, all on
127.0.0.1 and on free ports, so a test may stop or kill them without touching the
machine's shared services."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class Redis:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: _answers(self.port), 10, message="redis")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Stack:
    """gunicorn and a Celery worker (and beat when asked) sharing one database and Redis."""

    def __init__(self, database_url: str, redis: Redis, tmp_path):
        self.redis = redis
        self.tmp = tmp_path
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "DJANGO_DEBUG": "false",
            "PATH": f"{BIN}:{os.environ['PATH']}",
            # A killed worker's task goes back to the queue quickly in tests.
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "ROLLUP_SWEEP_SECONDS": "1",
            "KIOSK_RATE": "100000/min",
        }
        self.web = self.worker = self.beat = None
        self._logs = []

    def _log(self, name):
        handle = (self.tmp / f"{name}.log").open("ab")
        self._logs.append(handle)
        return handle

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start_web(self):
        self.web = subprocess.Popen(
            [BIN / "gunicorn", "-c", "gunicorn.conf.py", "cxhub.wsgi"],
            cwd=ROOT,
            env={**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": "2"},
            stdout=subprocess.DEVNULL,
            stderr=self._log("web"),
        )
        wait_for(lambda: _answers(self.port), 30, message="gunicorn")

    def start_worker(self):
        self.worker = subprocess.Popen(
            [
                BIN / "celery",
                "-A",
                "cxhub",
                "worker",
                "--concurrency=1",
                "--loglevel=INFO",
                "-n",
                f"test-{self.port}@localhost",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log("worker"),
            start_new_session=True,
        )

    def kill_worker(self):
        """SIGKILL the worker and its pool children at once: no clean shutdown, no acks."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def start_beat(self):
        self.beat = subprocess.Popen(
            [
                BIN / "celery",
                "-A",
                "cxhub",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(self.tmp / "beat-schedule"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log("beat"),
            start_new_session=True,
        )

    def stop(self):
        for process in (self.beat, self.worker, self.web):
            if process and process.poll() is None:
                process.terminate()
        for process in (self.beat, self.worker, self.web):
            if process:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        for handle in self._logs:
            handle.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
