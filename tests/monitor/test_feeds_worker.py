"""The feed pipeline with real parts: HTTP to a live server, Redis as the broker, a Celery
worker in its own process, PostgreSQL. Skipped without PostgreSQL and Redis; under CI both
are there and these run."""

import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from accounts.choices import Role
from accounts.models import ApiToken, User
from config import celery_app
from config.localrun import post_file, start_celery_worker
from households.importing import registry_import
from monitor.feeds.intake import sweep_waiting
from monitor.models import Clue, Department, DispatchRound, WarningBatch, WarningRow
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, sample_path

WORKER_LOG = Path(tempfile.gettempdir()) / "fanpin-test-worker.log"

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue():
    """A queue of this test's own, so stale messages of earlier runs are never picked up."""
    name = f"test-feeds-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = previous


def _database_url() -> str:
    s = connection.settings_dict
    return (
        f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )


def _start_worker(queue: str, **extra_env) -> subprocess.Popen:
    return start_celery_worker(queue, {**os.environ, "DATABASE_URL": _database_url(), **extra_env})


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _post_file(base_url: str, token: str, key: str, path) -> dict:
    status, body = post_file(
        f"{base_url}/api/feeds/batches/",
        token,
        {"batch_key": key},
        path.name,
        path.read_bytes(),
        timeout=30,
    )
    assert status == 202
    return json.loads(body)


def _wait_done(batch_id: int, timeout: float = 60) -> WarningBatch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = WarningBatch.objects.get(pk=batch_id)
        if batch.status != "received":
            return batch
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} not processed within {timeout}s")


@pytest.fixture
def civil(regions):
    for name in ("registry_households.csv", "registry_members.csv"):
        registry_import(data=sample_path(name).read_bytes(), filename=name, scope_prefix=None)
    account = User.objects.create_user(username="minzheng", password="x", role=Role.DEPARTMENT)
    Department.objects.create(
        name="县民政局", kind=DepartmentKind.CIVIL_AFFAIRS, region_id=COUNTY, account=account
    )
    return ApiToken.issue(user=account, name="推送")[1]


def _snapshot() -> tuple:
    rows = tuple(
        WarningRow.objects.order_by("row_number").values_list(
            "row_number", "outcome", "household_id", "reason"
        )
    )
    clues = tuple(sorted(Clue.objects.values_list("household_id", "status", "due_on")))
    rounds = tuple(sorted(DispatchRound.objects.values_list("county_id", "clue_count")))
    return rows, clues, rounds


def test_a_real_worker_matches_the_gbk_sample_pushed_over_http(live_server, civil, queue):
    worker = _start_worker(queue)
    try:
        sent = _post_file(
            live_server.url, civil, "2026-10-civil", sample_path("warnings_civil_affairs_gbk.csv")
        )
        batch = _wait_done(sent["id"])
    finally:
        _stop(worker)
    assert batch.status == "done"
    assert batch.rows_total == 60
    assert (
        batch.rows_new_clue
        + batch.rows_merged
        + batch.rows_not_found
        + batch.rows_invalid
        + batch.rows_duplicate
        + batch.rows_attached
        == 60
    )
    assert batch.rows_new_clue > 0 and batch.rows_not_found > 0
    matched = set(
        WarningRow.objects.filter(batch=batch, clue__isnull=False).values_list(
            "household_id", flat=True
        )
    )
    assert set(Clue.objects.values_list("household_id", flat=True)) == matched


def test_a_worker_killed_mid_batch_leaves_it_to_be_redone_whole(
    live_server, civil, queue, tmp_path
):
    path = sample_path("warnings_civil_affairs_gbk.csv")
    # Undisturbed run, for comparison.
    worker = _start_worker(queue)
    try:
        first = _wait_done(_post_file(live_server.url, civil, "calm", path)["id"])
    finally:
        _stop(worker)
    undisturbed = _snapshot()
    DispatchRound.objects.all().delete()
    WarningBatch.objects.all().delete()
    Clue.objects.all().delete()

    # The same list again; the worker stops after staging the rows and is killed there.
    doomed = _start_worker(queue, FEEDS_FAULT_DIR=str(tmp_path))
    try:
        batch_id = _post_file(live_server.url, civil, "crash", path)["id"]
        marker = tmp_path / f"staged-{batch_id}"
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, WORKER_LOG.read_text()[-2000:]
            time.sleep(0.1)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=20)
    finally:
        _stop(doomed)
    assert WarningBatch.objects.get(pk=batch_id).status == "received"
    assert WarningRow.objects.count() == 0 and Clue.objects.count() == 0
    assert not DispatchRound.objects.exists()  # the rounds went with the rest

    restarted = _start_worker(queue)
    try:
        assert sweep_waiting(older_than_seconds=0) == 1
        redone = _wait_done(batch_id)
    finally:
        _stop(restarted)
    assert redone.status == "done"
    assert _snapshot() == undisturbed
    assert redone.rows_new_clue == first.rows_new_clue
