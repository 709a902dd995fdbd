"""The SQLite demo under concurrent writes (issue 11, item 6): two approvals of one case at
the same moment give one 200 and one 409, as on PostgreSQL, never a 500; a lock still held
when the wait runs out is a 503 with Retry-After (JSON under /api/, a page elsewhere).

The scenes run in a process of their own on a real SQLite file (tests/faults/sqlite_scenes.py),
reached through a `sqlite:///` DATABASE_URL — the configuration that lost the busy timeout."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _scene(*args: str, database, debug: bool = False, timeout: float | None = None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    url = f"sqlite:///{database}" + (f"?timeout={timeout}" if timeout else "")
    env.update(
        DATABASE_URL=url,
        DJANGO_DEBUG="1" if debug else "0",
        DJANGO_ALLOWED_HOSTS="testserver",
        DJANGO_VAR_DIR=str(database.parent),
        CELERY_BROKER_URL="",
        **extra,
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.sqlite_scenes", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Migrated once for the module; each test works on its own copy."""
    database = tmp_path_factory.mktemp("sqlite-seed") / "db.sqlite3"
    case = _scene("seed", database=database, debug=True)["case"]
    return database, case


@pytest.fixture
def database(seeded, tmp_path):
    template, case = seeded
    copy = tmp_path / "db.sqlite3"
    shutil.copyfile(template, copy)
    return copy, case


def test_two_approvals_at_once_give_200_and_409_never_500(database):
    path, case = database
    # DJANGO_DEBUG=1 as in the demo: the answer must not depend on the 500 handler.
    outcome = _scene("race", str(case), database=path, debug=True)
    answers = outcome["answers"]
    assert len(answers) == 2, outcome
    statuses = sorted(answer["status"] for answer in answers.values())
    assert statuses == [200, 409], answers
    loser = next(answer for answer in answers.values() if answer["status"] == 409)
    assert loser["type"].startswith("application/json")
    assert "乡镇已审核" in json.loads(loser["body"])["detail"]
    assert outcome["case_status"] == "township_approved"
    assert outcome["transitions"] == 1


def test_a_lock_held_past_the_wait_is_a_503_with_retry_after(database):
    path, case = database
    # The scene asks the API in debug mode (as the demo runs) and the pages without it.
    # Every request saves the session (config/sessions.py), so a page's save meets the lock.
    outcome = _scene("held", str(case), database=path, timeout=1, DJANGO_SESSION_TOUCH_SECONDS="0")
    results = outcome["results"]

    api = results["api_write"]
    assert api["status"] == 503, api
    assert api["type"].startswith("application/json")
    assert json.loads(api["body"])["detail"].startswith("服务繁忙")
    assert api["retry_after"] == "5"

    for page in ("page_write", "page_session_save", "page_read"):
        answer = results[page]
        assert answer["status"] == 503, (page, answer)
        assert answer["type"].startswith("text/html")
        assert "服务繁忙" in answer["body"]
        assert answer["retry_after"] == "5"

    # Nothing was half-written while locked, and the next try goes through.
    assert results["after"]["status"] == 200, results["after"]
    assert outcome["case_status"] == "township_approved"
    assert outcome["transitions"] == 1
