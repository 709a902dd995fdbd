"""Services of the fault tests' own: a Redis server and a PostgreSQL cluster started for the
test and thrown away after it (the machine's shared ones are never stopped: other runs use
them), and the project's processes — gunicorn, a Celery worker — pointed at them.

Every process is started in a session of its own, so stopping it stops its children too
(a worker's pool processes and feed helpers) and nothing else."""

import base64
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from tests.conftest import require_service

REPO = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what} within {timeout:.0f} s\n{tail}")
        time.sleep(0.1)


def start(command: list[str], *, env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(  # our own services, fixed arguments
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop a process we started, then anything left in its session. SIGTERM goes to the
    process alone (a worker's warm shutdown lets its running task finish); SIGKILL to the
    whole session at once, as a crash takes everything."""
    if process.poll() is None:
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Children left behind by a killed parent (a pool process, a feed helper).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


# --- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """A Redis of the test's own on a free port, in memory only: stopping it loses whatever
    it held, as a crashed broker does."""

    def __init__(self, folder: Path):
        binary = shutil.which("redis-server")
        require_service("redis-server", binary is not None, "apt-get install redis-server")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.log = folder / "redis.log"
        self.process = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.process = start(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            env=dict(os.environ),
            log=self.log,
        )
        wait_until(self.ping, timeout=15, what="redis-server did not answer", log=self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, sig=signal.SIGKILL)
            self.process = None
        wait_until(lambda: not self.ping(), timeout=10, what="redis-server did not stop")


# --- PostgreSQL -----------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    found.sort(key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PostgresCluster:
    """A throwaway cluster (initdb into a temporary folder) on a free port. PostgreSQL will
    not run as root: under root it runs as the `postgres` user, in a folder that user owns."""

    def __init__(self):
        binaries = postgres_bin()
        require_service(
            "PostgreSQL server binaries",
            binaries is not None and (binaries / "initdb").exists(),
            "apt-get install postgresql",
        )
        self.user = None
        if os.geteuid() == 0:
            require_service(
                "runuser and a postgres account",
                shutil.which("runuser") is not None and _has_user("postgres"),
                "PostgreSQL refuses to run as root",
            )
            self.user = "postgres"
        self.bin, self.port = binaries, free_port()
        # Not under pytest's tmp_path: its parents are private to root.
        self.folder = Path(tempfile.mkdtemp(prefix="fanpin-faults-pg-"))
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        if self.user:
            shutil.chown(self.folder, self.user)
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )

    def _run(self, command: list[str]) -> None:
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{command[-8:]}\n{done.stdout}\n{done.stderr}"

    def _pg_ctl(self, *action: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
        self._run([*pg_ctl, "-w", "-t", "60", "-o", options, *action])

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        # Fast: every open connection is cut, as a crash or an upgrade restart does.
        self._pg_ctl("-m", "fast", "restart")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- the project's processes ----------------------------------------------------------------


def app_env(folder: Path, *, database_url: str, redis_url: str, queue: str, **extra) -> dict:
    """The environment of a production-like process (no debug) of this project, with this
    test run's secrets named outright: manage.py would otherwise fill missing ones from
    var/demo.env, and a session or a ciphertext made by one process would not open in
    another."""
    from django.conf import settings

    def key(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode()

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CELERY_BROKER_URL", "DJANGO_DEBUG", "FEEDS_FAULT_DIR")
    }
    env.update(
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        PII_ENCRYPTION_KEY=",".join(key(raw) for raw in settings.PII_ENCRYPTION_KEYS),
        PII_HMAC_KEY=key(settings.PII_HMAC_KEY),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SSL_REDIRECT="0",
        DJANGO_VAR_DIR=str(folder / "var"),
        DJANGO_MEDIA_ROOT=str(folder / "media"),
    )
    env.update(extra)
    return env


class AppServer:
    """gunicorn serving the project, as in production (sync workers, no debug)."""

    def __init__(self, folder: Path, env: dict, *, workers: int = 2):
        self.port, self.log = free_port(), folder / "gunicorn.log"
        self.process = start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "120",
            ],
            env=env,
            log=self.log,
        )
        wait_until(self._up, timeout=60, what="gunicorn did not answer", log=self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as answer:
                return answer.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def stop(self) -> None:
        stop(self.process)


def start_worker(folder: Path, env: dict, *, pool: str = "solo", name: str = "worker"):
    """A Celery worker on the environment's queue; its log in the test's folder."""
    log = folder / f"{name}.log"
    process = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            "1",
            "-Q",
            env["CELERY_TASK_DEFAULT_QUEUE"],
            "-n",
            f"{name}-{os.getpid()}@%h",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        log=log,
    )
    process.log = log
    return process


def request(
    method: str, url: str, *, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    """One HTTP request; an error status is an answer, not an exception."""
    call = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(call, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
