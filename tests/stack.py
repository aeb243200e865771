"""Real processes for integration tests: a private PostgreSQL and Redis, gunicorn and
Celery, all on 127.0.0.1 and on free ports, so a test may stop or kill them without
touching the machine's shared services."""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

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


def children(pid: int) -> set[int]:
    """The live child processes of pid, read from /proc (no psutil)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces and parentheses: fields follow the last ")".
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


class Stack:
    """gunicorn and a Celery worker (and beat when asked) sharing one database and Redis."""

    def __init__(self, database_url: str, redis: Redis, tmp_path):
        self.redis = redis
        self.tmp = tmp_path
        self.port = free_port()
        # Never a replica from the caller's environment: it would point at a real database.
        inherited = {k: v for k, v in os.environ.items() if k != "DATABASE_REPLICA_URL"}
        self.env = {
            **inherited,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "DJANGO_DEBUG": "false",
            # Production settings, reached over plain HTTP on loopback: no TLS proxy here.
            "SECURE_SSL_REDIRECT": "false",
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

    def web_workers(self) -> set[int]:
        """The pids of gunicorn's worker processes (children of its master)."""
        return children(self.web.pid)

    def booted_web_workers(self, timeout=30) -> set[int]:
        """The two workers start_web asks for, once both are up (the master listens first)."""
        return wait_for(
            lambda: len(workers := self.web_workers()) == 2 and workers,
            timeout,
            message="2 gunicorn workers",
        )

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


@contextlib.contextmanager
def stack_on_test_database(tmp_path):
    """A private Redis and a Stack on the test run's own PostgreSQL database (committed rows:
    the test must be transactional), stopped afterwards whatever happened."""
    from django.db import connection

    s = connection.settings_dict
    redis = Redis(tmp_path)
    redis.start()
    running = Stack(f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}", redis, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        redis.stop()


def _postgres_bin() -> Path | None:
    """The directory of initdb and pg_ctl: on PATH, else Debian's versioned directory."""
    found = shutil.which("pg_ctl")
    if found:
        # Resolved: a symlink on PATH may come without its siblings (createdb, psql).
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1 and a free port, so a test may stop and
    restart it without touching the machine's shared server.

    initdb refuses to run as root: as root the cluster belongs to the `postgres` OS user and
    every PostgreSQL command runs as that user. The data directory lives in its own
    directory under the system temp dir, because pytest's tmp_path (under a 0700 directory
    of root's) is out of that user's reach.
    """

    OS_USER = "postgres"

    def __init__(self):
        self.bin = _postgres_bin()
        if self.bin is None or not (self.bin / "initdb").exists():
            pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl)")
        self.as_user = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(self.OS_USER)
            except KeyError:
                pytest.skip(f"needs an OS user {self.OS_USER!r} to run PostgreSQL as root")
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("needs runuser to run PostgreSQL as its own user")
            self.as_user = [runuser, "-u", self.OS_USER, "--"]
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="cxhub-postgres-"))
        if self.as_user:
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._initialized = False

    def url(self, database="cxhub") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command, timeout=60):
        result = subprocess.run(
            [*self.as_user, *map(str, command)],
            cwd=self.dir,  # the postgres user may not read the caller's working directory
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode:
            raise AssertionError(
                f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self.logs()}"
            )
        return result.stdout

    def init(self):
        self._run(
            self.bin / "initdb",
            "--pgdata",
            self.data,
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": self.port,
            "unix_socket_directories": f"'{self.dir}'",
            # A throwaway cluster: durability against a power cut is not what is tested.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": 50,
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._initialized = True

    def start(self):
        if not self._initialized:
            self.init()
        self._run(self.bin / "pg_ctl", "--pgdata", self.data, "--log", self.log, "-w", "start")
        wait_for(lambda: _answers(self.port), 10, message="postgres")

    def stop(self, mode="fast"):
        """`fast` ends every session at once (as a restart does); `immediate` is a crash."""
        self._run(self.bin / "pg_ctl", "--pgdata", self.data, "-m", mode, "-w", "stop")

    def restart(self, mode="fast"):
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def createdb(self, name="cxhub"):
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", name)

    def psql(self, sql: str, database="cxhub") -> str:
        """Run one statement; rows come back tab-separated, one a line."""
        return self._run(
            self.bin / "psql",
            "-h",
            "127.0.0.1",
            "-p",
            self.port,
            "-U",
            "postgres",
            "-d",
            database,
            "-X",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        )

    def logs(self) -> str:
        try:
            return f"--- postgres\n{self.log.read_text(errors='replace')[-3000:]}"
        except OSError:
            return "--- postgres: no log"

    def destroy(self):
        if self.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def manage(database_url: str, *args, redis_url: str | None = None) -> str:
    """Run `manage.py ARGS` as an operator would, against DATABASE_URL (and REDIS_URL, or no
    Redis at all: never the machine's shared one); return the last line printed, where
    every command puts what a script needs."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=database_url, DJANGO_DEBUG="false", PATH=f"{BIN}:{env['PATH']}")
    if redis_url:
        env["REDIS_URL"] = redis_url
    result = subprocess.run(
        [sys.executable, "manage.py", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise AssertionError(
            f"manage.py {' '.join(map(str, args))} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


class Chain:
    """What an operator sets up on a fresh database with the commands of API.md: one chain,
    one store with its kiosks, and a head-office reader with a personal API token."""

    slug = "faults"
    location = "HCM-01"
    timezone = "Asia/Ho_Chi_Minh"
    reader = "head.office@example.com"

    def __init__(self, database_url: str, tmp_path: Path, kiosks=1, redis_url=None):
        def run(*args):
            return manage(database_url, *args, redis_url=redis_url)

        run("migrate", "--noinput")
        run("create_organization", "Fault Test Chain", "--slug", self.slug)
        stores = tmp_path / "stores.csv"
        stores.write_text(
            f"code,name,region,timezone\n{self.location},Store One,South,{self.timezone}\n"
        )
        # Commands that do not need each other's rows run side by side: each spends most of
        # its time starting Django.
        with ThreadPoolExecutor() as pool:
            chain = ("--organization", self.slug)
            imported = pool.submit(run, "import_locations", *chain, stores)
            invited = pool.submit(run, "invite_user", self.reader, *chain, "--role", "head_office")
            imported.result()
            kiosk_tokens = [
                pool.submit(run, "create_kiosk", "--location", self.location, "--name", f"#{n}")
                for n in range(1, kiosks + 1)
            ]
            invited.result()
            api_token = pool.submit(run, "create_api_token", self.reader)
            self.kiosk_tokens = [token.result() for token in kiosk_tokens]
            self.api_token = api_token.result()
        self.kiosk_token = self.kiosk_tokens[0]
