"""Queueing a department list races its worker. The worker takes the batch row with SKIP
LOCKED (a batch another worker holds is left to it); the web process used to publish the
message first and mark the row queued after, so a worker that took the message at once
could find the row locked by that mark, skip it, and leave the list waiting for the
sweep — one list in 702 of a load run (manage.py bench_load) did. Now nothing writes the
row once the message has left."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.choices import Role
from accounts.models import User
from monitor.feeds import intake
from monitor.models import Department, WarningBatch
from monitor.models.feeds import DepartmentKind
from monitor.tasks import process_warning_batch
from tests.conftest import COUNTY, sample_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(regions):
    account = User.objects.create_user(username="yibao", password="x", role=Role.DEPARTMENT)
    department = Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    rows = json.loads(sample_path("warnings_education.json").read_text("utf-8"))[:3]
    # Not committed here (no on_commit), so nothing is queued until the test says so.
    return intake.receive_json(department=department, batch_key="k", rows=rows).batch


def _writes_to_batches(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries
        if query["sql"].startswith("UPDATE") and '"monitor_warningbatch"' in query["sql"]
    ]


def test_the_row_is_marked_queued_before_the_message_leaves_and_not_written_after(
    batch, monkeypatch
):
    published = []

    def delay(batch_id):
        published.append((len(queries.captured_queries), WarningBatch.objects.get(pk=batch_id)))

    monkeypatch.setattr(process_warning_batch, "delay", delay)
    with CaptureQueriesContext(connection) as queries:
        assert intake.enqueue(batch.pk) is True
    [(sent_after, seen)] = published
    assert seen.enqueued_at is not None
    assert _writes_to_batches(queries.captured_queries[sent_after:]) == []


def test_a_list_the_broker_refused_is_left_for_the_sweep_at_once(batch, monkeypatch):
    def delay(batch_id):
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(process_warning_batch, "delay", delay)
    assert intake.enqueue(batch.pk) is False
    batch.refresh_from_db()
    assert (batch.status, batch.enqueued_at) == ("received", None)
    sent = []
    monkeypatch.setattr(process_warning_batch, "delay", sent.append)
    assert intake.sweep_waiting() == 1 and sent == [batch.pk]
