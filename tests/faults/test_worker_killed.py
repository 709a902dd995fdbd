"""A Celery worker killed (SIGKILL) in the middle of matching a department list: the list is
matched exactly once after the restart, its outcome the same as an undisturbed run.

What brings the task back: tasks are acknowledged late (CELERY_TASK_ACKS_LATE) and
rejected back to the queue when their process is lost (CELERY_TASK_REJECT_ON_WORKER_LOST),
so a pool process killed under its worker is redelivered at once. A whole worker killed
leaves its message unacknowledged in Redis until the visibility timeout, and beat's sweep
queues the waiting batch meanwhile: then the task arrives twice, and the batch's row lock
and status make the second delivery do nothing. The work is one transaction, so a killed
run leaves nothing half-written.

Our own Redis and a real worker; the test database on PostgreSQL."""

import os
import re
import signal
from datetime import timedelta
from pathlib import Path

import kombu
import pytest
from celery import Celery
from django.utils import timezone

from monitor.feeds import intake
from monitor.feeds.matching import process_batch
from monitor.models import Clue, Department, DispatchRound, WarningBatch, WarningRow
from tests.conftest import sample_path
from tests.faults.conftest import shared_database_url
from tests.faults.services import RedisServer, app_env, children, start_worker, stop, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TASK = "monitor.process_warning_batch"


def _snapshot() -> tuple:
    rows = tuple(
        WarningRow.objects.order_by("row_number").values_list(
            "row_number", "outcome", "household_id", "reason"
        )
    )
    clues = tuple(sorted(Clue.objects.values_list("household_id", "status", "due_on")))
    rounds = tuple(sorted(DispatchRound.objects.values_list("county_id", "clue_count")))
    return rows, clues, rounds


@pytest.fixture(autouse=True)
def _queued_by_the_test(monkeypatch):
    """The lists are queued on the test's own broker (below), not on this process's."""
    monkeypatch.setattr(intake, "enqueue", lambda batch_id: False)


@pytest.fixture
def undisturbed(civil_key) -> tuple:
    """The sample list matched in this process, undisturbed; then everything it made is
    removed again, for the disturbed run to start from the same registry."""
    department = Department.objects.get()
    path = sample_path("warnings_civil_affairs_gbk.csv")
    received = intake.receive_file(
        department=department,
        batch_key="calm",
        data=path.read_bytes(),
        file_name=path.name,
        max_bytes=10**7,
    )
    assert process_batch(received.batch.pk) == "done"
    snapshot = _snapshot()
    assert len(snapshot[0]) == 60 and snapshot[1]
    DispatchRound.objects.all().delete()
    WarningBatch.objects.all().delete()
    Clue.objects.all().delete()
    return snapshot


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _receive(client: Celery, queue: str) -> int:
    """The department's list stored as the API stores it, and queued on our broker."""
    path = sample_path("warnings_civil_affairs_gbk.csv")
    received = intake.receive_file(
        department=Department.objects.get(),
        batch_key="disturbed",
        data=path.read_bytes(),
        file_name=path.name,
        max_bytes=10**7,
    )
    client.send_task(TASK, args=[received.batch.pk], queue=queue)
    WarningBatch.objects.filter(pk=received.batch.pk).update(enqueued_at=timezone.now())
    return received.batch.pk


def _outcomes(log: Path) -> list[str]:
    """What each run of the matching task returned, in the worker's log."""
    succeeded = rf"Task {re.escape(TASK)}\[[^\]]+\] succeeded in [^:]+: '(\w+)'"
    return re.findall(succeeded, log.read_text())


def test_a_pool_process_killed_mid_list_is_redelivered_at_once_and_matches_it_once(
    tmp_path, queue, redis, undisturbed
):
    faults = tmp_path / "faults"
    faults.mkdir()
    env = app_env(
        tmp_path,
        database_url=shared_database_url(),
        redis_url=redis.url(),
        queue=queue,
        FEEDS_FAULT_DIR=str(faults),
    )
    # Production's worker: a pool of processes (here one), the task in a child.
    worker = start_worker(tmp_path, env, pool="prefork")
    try:
        with Celery(broker=redis.url(), set_as_current=False) as client:
            batch_id = _receive(client, queue)
        marker = faults / f"staged-{batch_id}"
        wait_until(marker.exists, timeout=60, what="the list was not staged", log=worker.log)
        [pool_process] = children(worker.pid)
        marker.unlink()
        os.kill(pool_process, signal.SIGKILL)
        # No sweep, no restart by hand: the lost task comes back by itself.
        wait_until(
            marker.exists, timeout=60, what="the killed task was not redelivered", log=worker.log
        )
        assert WarningBatch.objects.get(pk=batch_id).status == "received"
        assert not WarningRow.objects.exists() and not Clue.objects.exists()
        (faults / "release").touch()
        wait_until(
            lambda: WarningBatch.objects.get(pk=batch_id).status != "received",
            timeout=60,
            what="the redelivered task did not finish",
            log=worker.log,
        )
    finally:
        stop(worker)
    assert WarningBatch.objects.get(pk=batch_id).status == "done"
    assert _outcomes(worker.log) == ["done"]
    assert "WorkerLostError" in worker.log.read_text()
    assert _snapshot() == undisturbed


def test_a_worker_killed_mid_list_is_matched_once_though_the_task_comes_twice(
    tmp_path, queue, redis, undisturbed, monkeypatch
):
    faults = tmp_path / "faults"
    faults.mkdir()
    shared = {"database_url": shared_database_url(), "redis_url": redis.url(), "queue": queue}
    doomed = start_worker(
        tmp_path, app_env(tmp_path, **shared, FEEDS_FAULT_DIR=str(faults)), name="doomed"
    )
    try:
        with Celery(broker=redis.url(), set_as_current=False) as client:
            batch_id = _receive(client, queue)
        wait_until(
            (faults / f"staged-{batch_id}").exists,
            timeout=60,
            what="the list was not staged",
            log=doomed.log,
        )
    finally:
        stop(doomed, sig=signal.SIGKILL)
    # The killed run's transaction rolled back: nothing half-written, the batch waits.
    assert WarningBatch.objects.get(pk=batch_id).status == "received"
    assert not WarningRow.objects.exists() and not Clue.objects.exists()

    # Both ways back, queued before the worker restarts so that both reach it: the
    # unacknowledged message once its visibility timeout has passed (made to pass now), and
    # the sweep of batches waiting more than a minute (beat's, every minute).
    with kombu.Connection(redis.url(), transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100)
    WarningBatch.objects.filter(pk=batch_id).update(
        enqueued_at=timezone.now() - timedelta(minutes=2)
    )
    with Celery(broker=redis.url(), set_as_current=False) as client:

        def enqueue_on_our_broker(waiting_id):
            client.send_task(TASK, args=[waiting_id], queue=queue)
            return True

        monkeypatch.setattr(intake, "enqueue", enqueue_on_our_broker)
        assert intake.sweep_waiting() == 1
        with client.connection_for_write() as conn:
            assert conn.default_channel.client.llen(queue) == 2

    restarted = start_worker(tmp_path, app_env(tmp_path, **shared), name="restarted")
    try:
        wait_until(
            lambda: len(_outcomes(restarted.log)) == 2,
            timeout=90,
            what="the task did not come back twice",
            log=restarted.log,
        )
    finally:
        stop(restarted)
    assert sorted(_outcomes(restarted.log)) == ["done", "skipped"]
    assert WarningBatch.objects.get(pk=batch_id).status == "done"
    assert _snapshot() == undisturbed
