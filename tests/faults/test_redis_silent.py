"""A Redis that accepts connections and never answers — hung, or a connection left half-open
by a failover — as cache and as Celery broker. Unlike a closed port (test_cache_down.py),
nothing refuses: without socket timeouts a request waits as long as Redis stays silent.
With the project's settings every request is answered within seconds, as for Redis down.

The cache and broker settings are read from config/settings.py itself, run again with
REDIS_URL naming the silent server: the test judges the configuration, not a copy of it."""

import json
import runpy
import socket
import threading
import time

import pytest
from django.test import Client

from config import celery_app
from monitor.models import WarningBatch
from tests.conftest import REPO
from tests.faults.conftest import education_rows

# Committed for real: the department's list is queued when its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

# Per request: a cache call may take the socket timeout (2 s) before it is answered as Redis
# down; a publish about twice that (kombu tries the connection again). Redis-py's own
# default (5 s a call) does not fit, nor kombu's (no timeout: the publish never returns).
CACHE_BOUND = 4.5
PUBLISH_BOUND = 10.0


class SilentServer:
    """Accepts TCP connections and keeps them open without reading or writing a byte."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self):
        # A client still waiting gets end-of-file now; a new one is refused.
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def silent_redis(settings, monkeypatch):
    """Call it to point the cache and the Celery app at the silent server (the requests
    before that warm up, with the tests' own in-process cache and eager tasks)."""
    server = SilentServer()
    conf = celery_app.conf
    names = ("broker_url", "broker_transport_options", "task_always_eager")
    saved = {name: conf[name] for name in names}

    def silence() -> SilentServer:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{server.port}/0")
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
        configured = runpy.run_path(str(REPO / "config" / "settings.py"))
        settings.CACHES = configured["CACHES"]
        # The Celery app as a process started with that REDIS_URL would configure it.
        conf.broker_url = configured["CELERY_BROKER_URL"]
        conf.broker_transport_options = configured.get("CELERY_BROKER_TRANSPORT_OPTIONS", {})
        conf.task_always_eager = False
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        return server

    try:
        yield silence
    finally:
        server.close()
        for name, value in saved.items():
            conf[name] = value
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def _empty_cache():
    """Overrides tests/conftest.py's: the cache here never answers."""


def _timed(server: SilentServer, call, bound: float):
    """The answer and how long it took. A request still waiting past twice its bound is
    released by closing the server (the request then fails on its duration, instead of the
    test run hanging)."""
    watchdog = threading.Timer(2 * bound, server.close)
    watchdog.start()
    started = time.monotonic()
    try:
        response = call()
    finally:
        watchdog.cancel()
    return response, time.monotonic() - started


def test_a_silent_redis_holds_no_request_for_long(users, civil_key, silent_redis):
    cadre = Client(raise_request_exception=False)
    cadre.force_login(users["cadre_a"])
    department = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {civil_key}")

    def list_households():
        return cadre.get("/api/households/")

    def sign_in():
        return Client(raise_request_exception=False).post(
            "/login/", {"username": "cadre_b", "password": "pw-cadre_b"}
        )

    def push(body):
        return department.post("/api/feeds/batches/", json.dumps(body), "application/json")

    # Each path once while the cache works, so that what is timed below is the wait for
    # Redis, not the first request's imports on a busy machine.
    assert list_households().status_code == 200
    assert sign_in().status_code == 302
    assert push({"batch_key": "warm-up", "rows": "not a list"}).status_code == 400
    server = silent_redis()

    # The general rate limit cannot count: let through, after the cache's timeout.
    listed, seconds = _timed(server, list_households, CACHE_BOUND)
    assert listed.status_code == 200, listed.content
    assert seconds < CACHE_BOUND, seconds

    # The sign-in lockout cannot count: refused clearly, after the same timeout.
    signing_in, seconds = _timed(server, sign_in, CACHE_BOUND)
    assert signing_in.status_code == 503
    assert "服务暂时不可用" in signing_in.content.decode()
    assert seconds < CACHE_BOUND, seconds

    # A department's list is stored as received although it could not be queued.
    body = {"batch_key": "silent-redis", "rows": education_rows()}
    pushed, seconds = _timed(server, lambda: push(body), PUBLISH_BOUND)
    assert pushed.status_code == 202, pushed.content
    assert seconds < PUBLISH_BOUND, seconds
    batch = WarningBatch.objects.get(batch_key="silent-redis")
    assert batch.status == "received" and batch.enqueued_at is None
