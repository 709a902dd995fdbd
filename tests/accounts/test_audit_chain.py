"""The audit log (等保 level 3): append-only, each row chained to the one before by a hash,
verified by `manage.py audit_verify`, kept at least 185 days."""

import itertools
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.audit import audit_prune, audit_record, audit_verify
from accounts.choices import AuditAction
from accounts.models import (
    GENESIS_HASH,
    AuditChainHead,
    AuditEvent,
    AuditLogIsAppendOnly,
    audit_hash,
)

pytestmark = pytest.mark.django_db
TABLE = AuditEvent._meta.db_table


def _write(count: int, **fields) -> list[AuditEvent]:
    return [
        audit_record(
            actor=None,
            action=AuditAction.UPDATE,
            object_type="households.household",
            object_id=str(number),
            object_label=f"农户 {number}",
            detail={"fields": ["address"], "n": number, **fields},
        )
        for number in range(count)
    ]


def _verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def _broken() -> str:
    with pytest.raises(CommandError) as failed:
        _verify()
    return str(failed.value)


def _raw(sql: str, params=()) -> None:
    """Tampering as someone with the database in hand: on PostgreSQL a superuser first
    switches the trigger that refuses him off (replica mode fires no ordinary trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def test_each_row_is_chained_to_the_one_before(users):
    events = _write(5)
    rows = list(AuditEvent.objects.order_by("seq"))
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS_HASH
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.row_hash
    last = AuditEvent.objects.get(pk=events[-1].pk)
    assert last.row_hash == audit_hash(last.prev_hash, last.hashed_fields())
    head = AuditChainHead.objects.get()
    assert (head.length, head.last_hash) == (last.seq, last.row_hash)
    report = audit_verify()
    assert report.broken is None and report.checked == len(rows)
    assert f"共 {len(rows)} 条" in _verify()


def test_a_changed_row_is_found_by_audit_verify(users):
    events = _write(6)
    target = events[2]
    _raw(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["改过的事由", target.pk])  # noqa: S608
    message = _broken()
    assert f"第 {target.seq} 条（编号 {target.pk}）" in message and "内容与摘要不符" in message
    # Rewriting its hash too only moves the break to the next row.
    changed = AuditEvent.objects.get(pk=target.pk)
    new_hash = audit_hash(changed.prev_hash, changed.hashed_fields())
    _raw(f"UPDATE {TABLE} SET row_hash = %s WHERE id = %s", [new_hash, target.pk])  # noqa: S608
    message = _broken()
    assert f"第 {target.seq + 1} 条" in message and "前一条摘要" in message


def test_each_hashed_field_is_covered(users):
    for column, value in (
        ("actor_name", "someone"),
        ("action", "login"),
        ("object_id", "999"),
        ("object_label", "别的农户"),
        ("ip", "10.0.0.9"),
        ("at", timezone.now() - timedelta(days=3)),
    ):
        event = _write(1)[0]
        _raw(f"UPDATE {TABLE} SET {column} = %s WHERE id = %s", [value, event.pk])  # noqa: S608
        assert f"第 {event.seq} 条" in _broken(), column
        _raw(f"DELETE FROM {TABLE} WHERE id = %s", [event.pk])  # noqa: S608
        # Put the chain back: the next row starts from the head as it was.
        AuditChainHead.objects.filter(pk=1).update(length=event.seq - 1, last_hash=event.prev_hash)
        assert audit_verify().broken is None


def test_a_removed_row_is_found(users):
    events = _write(5)
    _raw(f"DELETE FROM {TABLE} WHERE id = %s", [events[1].pk])  # noqa: S608
    message = _broken()
    assert f"第 {events[2].seq} 条" in message and "缺失" in message


def test_a_removed_last_row_is_found(users):
    events = _write(3)
    _raw(f"DELETE FROM {TABLE} WHERE id = %s", [events[-1].pk])  # noqa: S608
    assert "末尾记录缺失" in _broken()


def test_the_orm_has_no_update_or_delete_path(users):
    event = _write(1)[0]
    event.reason = "改"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(reason="改")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.bulk_create([AuditEvent(action="login")])
    assert AuditEvent.objects.get(pk=event.pk).reason == ""
    assert audit_verify().broken is None


def test_sign_in_attempts_with_unstorable_names_are_still_recorded(users):
    # NUL and a lone surrogate (a name as a client sent it, a key read from a broken
    # file): PostgreSQL refuses both in text; the event keeps the rest.
    for name in ("bad\x00name", "bad\ud800name"):
        audit_record(
            actor=None,
            action=AuditAction.LOGIN_FAILED,
            object_label="odd\x00label",
            detail={"username": name, "bad\x00key": ["\x00"]},
        )
    failed = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).order_by("seq")
    details = list(failed.values_list("detail", flat=True))
    assert [row["username"] for row in details] == ["bad\ufffdname", "bad?name"]
    assert details[0]["bad\ufffdkey"] == ["\ufffd"]
    assert failed.last().object_label == "odd\ufffdlabel"
    assert audit_verify().broken is None


def test_details_read_back_as_they_were_hashed(users):
    audit_record(
        actor=users["cadre_a"],
        action=AuditAction.EXPORT,
        detail={"big": 1e16, "ratio": 0.1, "whole": 3.0, "nested": {"b": [1, 2], "a": None}},
        request=type("R", (), {"META": {"REMOTE_ADDR": "::ffff:10.1.2.3"}})(),
    )
    assert audit_verify().broken is None


# --- retention -------------------------------------------------------------------------


def _history(ages: list[int]) -> list[AuditEvent]:
    """Rows written `ages` days ago, in this order, each chained to the one before (as if
    the log had been kept that long)."""
    events = [_write(1, k=number)[0] for number in range(len(ages))]
    now = timezone.now()
    previous = events[0].prev_hash
    for event, days in zip(events, ages, strict=True):
        at = connection.ops.adapt_datetimefield_value(now - timedelta(days=days))
        _raw(f"UPDATE {TABLE} SET at = %s WHERE id = %s", [at, event.pk])  # noqa: S608
        row = AuditEvent.objects.get(pk=event.pk)
        row_hash = audit_hash(previous, row.hashed_fields())
        _raw(
            f"UPDATE {TABLE} SET prev_hash = %s, row_hash = %s WHERE id = %s",  # noqa: S608
            [previous, row_hash, event.pk],
        )
        previous = row_hash
    AuditChainHead.objects.filter(pk=1).update(last_hash=previous)
    assert audit_verify().broken is None
    return events


def test_pruning_keeps_185_days_and_the_chain_verifiable():
    events = _history([200, 200, 190, 186, 100, 0, 0])
    with pytest.raises(CommandError):
        call_command("audit_prune", "--older-than-days", "30", stdout=StringIO())
    last_old = AuditEvent.objects.get(pk=events[3].pk)
    out = StringIO()
    call_command("audit_prune", stdout=out)
    assert "已清理 4 条" in out.getvalue()
    # The four rows older than 185 days went; the row of 100 days ago and later stayed.
    remaining = set(AuditEvent.objects.values_list("pk", flat=True))
    assert not remaining & {event.pk for event in events[:4]}
    assert {event.pk for event in events[4:]} < remaining  # with the pruning's own event
    head = AuditChainHead.objects.get()
    assert (head.pruned_through, head.pruned_hash) == (last_old.seq, last_old.row_hash)
    pruned = AuditEvent.objects.get(action=AuditAction.AUDIT_PRUNE)
    assert pruned.detail["removed"] == 4 and pruned.detail["through_seq"] == events[3].seq
    assert audit_verify().broken is None
    assert audit_prune(older_than_days=185) == 0  # nothing more is old enough
    # Removing a kept row by hand still shows.
    _raw(f"DELETE FROM {TABLE} WHERE id = %s", [events[4].pk])  # noqa: S608
    assert f"第 {events[5].seq} 条" in _broken()


def test_pruning_stops_at_the_first_young_row():
    # A row of today between old ones ends the run: the old rows after it stay, so what
    # is kept is one chain from its first row.
    events = _history([400, 0, 400, 400])
    with pytest.raises(ValueError):
        audit_prune(older_than_days=184)
    assert audit_prune(older_than_days=185) == 1
    assert set(AuditEvent.objects.values_list("pk", flat=True)) >= {e.pk for e in events[1:]}
    assert audit_verify().broken is None


# --- PostgreSQL: the table refuses UPDATE and DELETE, and the chain never forks ----------


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_even_in_raw_sql(users):
    event = _write(1)[0]
    for sql in (
        f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s",  # noqa: S608
        f"DELETE FROM {TABLE} WHERE id = %s",  # noqa: S608
    ):
        with (
            pytest.raises(DatabaseError) as refused,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
        assert "审计日志只能追加" in str(refused.value)
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


@pytest.mark.postgres
def test_postgresql_lets_only_the_pruning_delete_only_old_rows():
    events = _history([400, 400, 0])
    with connection.cursor() as cursor:
        # The pruning's switch does not open young rows...
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute("SET LOCAL fanpin.audit_prune = 'on'")
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [events[-1].pk])  # noqa: S608
        # ... and without the switch, not even old ones.
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [events[0].pk])  # noqa: S608
    assert AuditEvent.objects.filter(pk__in=[events[0].pk, events[-1].pk]).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    from django.db import connections

    errors = []

    def writer(number):
        try:
            for index in range(10):
                with transaction.atomic():
                    audit_record(
                        actor=None,
                        action=AuditAction.LOGIN_FAILED,
                        detail={"writer": number, "index": index},
                    )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 61))
    report = audit_verify()
    assert report.broken is None and report.checked == 60
