"""Processing a stored warning batch, set-based.

1. Stage: the rows are normalised one by one (a generator, so a million-row list is never
   all in memory) and written in one COPY on PostgreSQL, in bulk inserts on SQLite.
2. Match: a handful of UPDATE … FROM / INSERT … SELECT statements over the whole batch —
   duplicates in the batch, hits on registered members, hits on households with an open
   case (evidence attaches to the case), hits merged into an open clue, and one new clue per
   remaining household. No query per row.

The whole batch is one transaction: a worker killed half-way leaves nothing behind, and the
batch, still marked received, is redone whole by the retry or the sweep.
"""

from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from households import pii
from monitor.choices import CLOSED_STATUSES, BatchStatus, ClueChannel, ClueStatus, RowOutcome
from monitor.deadlines import add_workdays
from monitor.feeds.intake import PAYLOAD_FIELD
from monitor.feeds.rows import COPY_COLUMNS, FeedFormatError, normalise, payload_rows
from monitor.feeds.screening import stage_screening
from monitor.models import WarningBatch, WarningRow

STAGE_CHUNK = 5000


def _stage_postgres(batch_id: int, rows) -> None:
    table = WarningRow._meta.db_table
    columns = ", ".join(COPY_COLUMNS)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row.as_copy_tuple(batch_id))


def _stage_orm(batch_id: int, rows) -> None:
    chunk = []
    for row in rows:
        chunk.append(
            WarningRow(
                batch_id=batch_id,
                **{
                    name: value
                    for name, value in zip(
                        COPY_COLUMNS[1:], row.as_copy_tuple(batch_id)[1:], strict=True
                    )
                },
            )
        )
        if len(chunk) >= STAGE_CHUNK:
            WarningRow.objects.bulk_create(chunk)
            chunk = []
    WarningRow.objects.bulk_create(chunk)


def _run(statements: list[tuple[str, list]]) -> None:
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def _match(batch_id: int, today: date, channel: str) -> None:
    """The set-based part; the SQL runs unchanged on PostgreSQL and SQLite (3.33+)."""
    _run(_statements(batch_id, today, channel))


def _statements(batch_id: int, today: date, channel: str) -> list[tuple[str, list]]:
    """Every value is a bound parameter."""
    due = add_workdays(today, settings.MONITOR["CLUE_VERIFICATION_WORKDAYS"])
    now = timezone.now()
    closed = sorted(CLOSED_STATUSES)
    assert len(closed) == 3, "the NOT IN below lists three closed statuses"
    b, pending, closed_clue = batch_id, RowOutcome.PENDING.value, ClueStatus.CLOSED.value
    statements = [
        # The same person with the same indicator twice in one list: the first row counts.
        (
            """UPDATE monitor_warningrow SET outcome = %s,
                   reason = '与第 ' || firsts.first_row || ' 行重复'
               FROM (SELECT id, row_number, MIN(row_number) OVER (
                         PARTITION BY id_number_hash, indicator) AS first_row
                     FROM monitor_warningrow WHERE batch_id = %s AND outcome = %s) firsts
               WHERE monitor_warningrow.id = firsts.id
                 AND firsts.row_number > firsts.first_row""",
            [RowOutcome.DUPLICATE.value, b, pending],
        ),
        (
            """UPDATE monitor_warningrow SET household_id = m.household_id
               FROM households_member m
               WHERE monitor_warningrow.batch_id = %s AND monitor_warningrow.outcome = %s
                 AND m.id_number_hash = monitor_warningrow.id_number_hash""",
            [b, pending],
        ),
        (
            """UPDATE monitor_warningrow SET outcome = %s
               WHERE batch_id = %s AND outcome = %s AND household_id IS NULL""",
            [RowOutcome.NOT_FOUND.value, b, pending],
        ),
        # A household with an open case: the hit is more evidence for that case.
        (
            """UPDATE monitor_warningrow SET outcome = %s, case_id = c.id
               FROM monitor_case c
               WHERE monitor_warningrow.batch_id = %s AND monitor_warningrow.outcome = %s
                 AND c.household_id = monitor_warningrow.household_id
                 AND c.status NOT IN (%s, %s, %s)""",
            [RowOutcome.ATTACHED_TO_CASE.value, b, pending, *closed],
        ),
        # A household with an open clue: merge, keeping this row as more evidence.
        (
            """UPDATE monitor_warningrow SET outcome = %s, clue_id = cl.id
               FROM monitor_clue cl
               WHERE monitor_warningrow.batch_id = %s AND monitor_warningrow.outcome = %s
                 AND cl.household_id = monitor_warningrow.household_id
                 AND NOT (cl.status = %s)""",
            [RowOutcome.MERGED.value, b, pending, closed_clue],
        ),
        # One new clue per remaining household. ON CONFLICT: another batch may have raised
        # a clue for the same household a moment ago; the rows then join that one. The
        # predicate repeats the partial unique index's own, which both databases require.
        (
            """INSERT INTO monitor_clue (household_id, village_id, channel, status, raised_on,
                   due_on, outcome, outcome_note, created_at)
               SELECT DISTINCT w.household_id, h.village_id, %s, %s, %s, %s, '', '', %s
               FROM monitor_warningrow w JOIN households_household h ON h.id = w.household_id
               WHERE w.batch_id = %s AND w.outcome = %s
               ON CONFLICT (household_id)
                   WHERE (household_id IS NOT NULL AND NOT (status = 'closed')) DO NOTHING""",
            [channel, ClueStatus.VERIFYING.value, today, due, now, b, pending],
        ),
        (
            """UPDATE monitor_warningrow SET outcome = %s, clue_id = cl.id
               FROM monitor_clue cl
               WHERE monitor_warningrow.batch_id = %s AND monitor_warningrow.outcome = %s
                 AND cl.household_id = monitor_warningrow.household_id
                 AND NOT (cl.status = %s)""",
            [RowOutcome.NEW_CLUE.value, b, pending, closed_clue],
        ),
    ]
    return statements


# The first steps find the household of each row; screening rows know it already.
IDENTITY_STEPS = 3


def match_known_households(batch_id: int, today: date, channel: str) -> None:
    """Rows whose household is already known (screening): attach to an open case, merge
    into an open clue, or raise one new clue per household."""
    _run(_statements(batch_id, today, channel)[IDENTITY_STEPS:])


COUNT_FIELDS = {
    RowOutcome.INVALID: "rows_invalid",
    RowOutcome.DUPLICATE: "rows_duplicate",
    RowOutcome.NOT_FOUND: "rows_not_found",
    RowOutcome.NEW_CLUE: "rows_new_clue",
    RowOutcome.MERGED: "rows_merged",
    RowOutcome.ATTACHED_TO_CASE: "rows_attached",
}


def _count(batch: WarningBatch) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT outcome, COUNT(*) FROM monitor_warningrow WHERE batch_id = %s GROUP BY outcome",
            [batch.pk],
        )
        counts = dict(cursor.fetchall())
    batch.rows_total = sum(counts.values())
    for outcome, name in COUNT_FIELDS.items():
        setattr(batch, name, counts.get(outcome.value, 0))


def _stage_list(batch: WarningBatch, today: date) -> None:
    """Decrypt the upload and stream its normalised rows into the table."""
    data = pii.decrypt_bytes(batch.payload, field=PAYLOAD_FIELD)
    source = payload_rows(data, batch.file_format, batch.file_name, max_bytes=len(data) + 1)
    rows = (normalise(number, values, today) for number, values in source)
    if connection.vendor == "postgresql":
        _stage_postgres(batch.pk, rows)
    else:
        _stage_orm(batch.pk, rows)


def _fault_injection_point(batch_id: int) -> None:
    """For the crash test only (FEEDS_FAULT_DIR unset in every real deployment): announce
    that the rows are staged, then wait to be killed or released."""
    folder = settings.FEEDS_FAULT_DIR
    if not folder:
        return
    import time
    from pathlib import Path

    Path(folder, f"staged-{batch_id}").touch()
    deadline = time.monotonic() + 60
    while not Path(folder, "release").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def process_batch(batch_id: int, today: date | None = None) -> str:
    """Returns the batch's status afterwards, or 'skipped' when there was nothing to do (the
    batch is done, or another worker holds it)."""
    today = today or timezone.localdate()
    with transaction.atomic():
        batch = (
            WarningBatch.objects.select_for_update(skip_locked=True)
            .filter(pk=batch_id, status=BatchStatus.RECEIVED)
            .first()
        )
        if batch is None:
            return "skipped"
        WarningRow.objects.filter(batch=batch).delete()
        if batch.source == WarningBatch.Source.SCREENING:
            stage_screening(batch, today)
            _fault_injection_point(batch.pk)
            match_known_households(batch.pk, today, ClueChannel.DATA_SCREENING)
        else:
            try:
                _stage_list(batch, today)
            except FeedFormatError as exc:
                # Rows staged before the bad spot go; the batch stays, marked failed.
                WarningRow.objects.filter(batch=batch).delete()
                batch.status, batch.error = BatchStatus.FAILED, exc.reason[:300]
                batch.processed_at = timezone.now()
                batch.save(update_fields=["status", "error", "processed_at"])
                return batch.status
            _fault_injection_point(batch.pk)
            _match(batch.pk, today, ClueChannel.DEPARTMENT)
        _count(batch)
        batch.status, batch.processed_at = BatchStatus.DONE, timezone.now()
        batch.save()
    return batch.status
