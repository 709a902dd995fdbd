"""PostgreSQL restarted while the application serves requests: it recovers by itself.

gunicorn keeps its database connections between requests (CONN_MAX_AGE). A restart cuts
them all; each kept connection is checked before it is used again (CONN_HEALTH_CHECKS), so
the first request after the restart reconnects instead of failing on a dead connection. A
request caught while the server is down gets a 503 with the reason in Chinese (JSON under
/api/), never a server error page.

A throwaway cluster of the test's own (initdb into a temporary folder, on a free port): the
machine's shared PostgreSQL is never restarted."""

import json
import re
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from tests.conftest import DEMO_DIR, VILLAGE_A
from tests.faults.services import REPO, AppServer, PostgresCluster, app_env, request

SETUP = """
import json
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
from households.services import regions_load_csv
regions_load_csv(text=open({regions!r}, encoding="utf-8").read())
cadre = User.objects.create_user(
    username="cadre", password="Cadre-pw-2026", role="village_cadre", region_id={village!r}
)
session = SessionStore()
session[SESSION_KEY] = str(cadre.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = cadre.get_session_auth_hash()
session.create()
print("SESSION=" + session.session_key)
"""


@pytest.fixture
def cluster():
    server = PostgresCluster()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def _manage(env, *args, stdin=None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


class Cadre:
    """A signed-in village cadre's browser, reading and writing households."""

    def __init__(self, server: AppServer, session_key: str):
        secret = "c" * 32
        self.server, self.numbers = server, iter(range(1, 100000))
        self.headers = {
            "Cookie": f"sessionid={session_key}; csrftoken={secret}",
            "X-CSRFToken": secret,
        }

    def read(self):
        return request("GET", f"{self.server.url}/api/households/", headers=self.headers)

    def write(self):
        number = f"{VILLAGE_A}{next(self.numbers):05d}"
        body = json.dumps(
            {"number": number, "village": VILLAGE_A, "kind": "ordinary", "address": "一社"}
        ).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        status, headers, body = request(
            "POST", f"{self.server.url}/api/households/", body=body, headers=headers
        )
        return status, headers, body, number


def _is_clear_refusal(status: int, body: bytes) -> bool:
    return status == 503 and json.loads(body)["detail"].startswith("服务暂时不可用")


def test_the_application_recovers_by_itself_after_postgresql_restarts(tmp_path, cluster):
    env = app_env(
        tmp_path, database_url=cluster.create_database("fanpin"), redis_url="", queue="celery"
    )
    _manage(env, "migrate", "--noinput")
    setup = SETUP.format(regions=str(DEMO_DIR / "regions.csv"), village=VILLAGE_A)
    session_key = re.search(r"SESSION=(\w+)", _manage(env, "shell", stdin=setup)).group(1)
    server = AppServer(tmp_path, env, workers=2)
    cadre = Cadre(server, session_key)
    try:
        # Every gunicorn worker holds a kept connection; the restart cuts them all.
        assert {cadre.read()[0] for _ in range(8)} == {200}
        cluster.restart()
        after = [cadre.read()[:1] + cadre.write()[:1] for _ in range(6)]
        written = [cadre.write() for _ in range(3)]

        # Again, with requests arriving while it restarts.
        during, running = [], threading.Event()

        def traffic():
            while not running.is_set():
                status, _, body = cadre.read()
                during.append((status, body))
                status, _, body, _ = cadre.write()
                during.append((status, body))
                time.sleep(0.02)

        client = threading.Thread(target=traffic)
        client.start()
        try:
            time.sleep(0.5)
            cluster.restart()
            time.sleep(0.5)
        finally:
            running.set()
            client.join(timeout=60)
        again = [cadre.read()[:1] + cadre.write()[:1] for _ in range(4)]
    finally:
        server.stop()

    # After the restart, every request succeeds: no worker is left on a dead connection.
    assert after == [(200, 201)] * 6
    assert [answer[0] for answer in written] == [201, 201, 201]
    # While it restarted: served, or refused clearly — never a server error.
    unexpected = [
        (status, body[:200])
        for status, body in during
        if status not in (200, 201) and not _is_clear_refusal(status, body)
    ]
    assert unexpected == []
    assert len(during) > 4
    assert again == [(200, 201)] * 4
    with psycopg.connect(cluster.url("fanpin")) as conn:
        stored = {
            row[0]
            for row in conn.execute(
                "SELECT number FROM households_household WHERE number = ANY(%s)",
                [[answer[3] for answer in written]],
            )
        }
    assert stored == {answer[3] for answer in written}
    assert "Internal Server Error" not in (tmp_path / "gunicorn.log").read_text(errors="replace")
