"""Processing a stored warning batch, set-based.

1. Stage: the rows are normalised one by one (a generator, so a million-row list is never
   all in memory) into a temporary staging table — one COPY on PostgreSQL, batched inserts
   on SQLite. Only the keyed hash of an ID number is staged, never the number.
2. Find: one statement joins the staged rows to the members by ID hash and marks duplicates
   within the list, into a narrow temporary table (row, household, first row of its group).
3. Match, in two statements over the whole batch: one INSERT … SELECT raises a clue for each
   household found that has neither an open case nor an open clue; one INSERT … SELECT
   writes every row with its outcome — invalid, duplicate in the batch, not in the registry,
   attached to the household's open case, merged into its open clue, or new clue — and its
   links. No query per row, no UPDATE passes over the rows.

The whole batch is one transaction: a worker killed half-way leaves nothing behind, and the
batch, still marked received, is redone whole by the retry or the sweep. The SQL runs
unchanged on PostgreSQL and SQLite (3.33+); every value is a bound parameter.
"""

import logging
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from monitor.choices import CLOSED_STATUSES, BatchStatus, ClueChannel, ClueStatus, RowOutcome
from monitor.deadlines import add_workdays
from monitor.feeds.intake import open_payload
from monitor.feeds.rows import STAGE_COLUMNS, FeedFormatError, RowNormaliser, payload_rows
from monitor.feeds.screening import stage_screening
from monitor.models import WarningBatch, WarningRow

logger = logging.getLogger(__name__)
STAGE = "feed_stage"
STAGE_CHUNK = 5000
_CREATE_STAGE = f"""CREATE TEMP TABLE {STAGE} (
    row_number integer, name varchar(50), id_number_hash varchar(64),
    id_number_masked varchar(18), indicator varchar(100), amount numeric(14, 2),
    occurred_on date, detail varchar(500), outcome varchar(20), reason varchar(300),
    household_id bigint)"""


def create_stage() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(_CREATE_STAGE)


def _stage_rows(rows) -> None:
    create_stage()
    with connection.cursor() as cursor:
        columns = ", ".join(STAGE_COLUMNS)
        if connection.vendor == "postgresql":
            # psycopg's own cursor: Django's wrapper has no copy().
            with cursor.cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"ANALYZE {STAGE}")
            return
        marks = ", ".join(["%s"] * len(STAGE_COLUMNS))
        sql = f"INSERT INTO {STAGE} ({columns}) VALUES ({marks})"  # noqa: S608 - constant
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= STAGE_CHUNK:
                cursor.executemany(sql, chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)


# Each row's household — through the member's ID hash (department lists) or given directly
# (screening rows carry their household) — and the first row of its group of duplicates.
# Narrow on purpose: the row's own columns stay in the stage and are read once, at the end.
_FOUND = f"""
    SELECT s.row_number, COALESCE(s.household_id, m.household_id) AS found_household,
        MIN(s.row_number) OVER (PARTITION BY s.id_number_hash COLLATE {{binary}},
                                s.indicator COLLATE {{binary}}, s.household_id) AS first_row
    FROM {STAGE} s
    LEFT JOIN households_member m
        ON s.household_id IS NULL AND s.outcome = %s AND m.id_number_hash = s.id_number_hash
    WHERE s.outcome = %s
"""  # noqa: S608 - constant SQL; every value is a bound parameter

_NEW_CLUES = """
    INSERT INTO monitor_clue (household_id, village_id, channel, status, raised_on, due_on,
        outcome, outcome_note, created_at, source_batch_id)
    SELECT DISTINCT f.found_household, h.village_id, %s, %s, %s, %s, '', '', %s, %s
    FROM feed_found f
    JOIN households_household h ON h.id = f.found_household
    WHERE f.row_number = f.first_row
      AND NOT EXISTS (SELECT 1 FROM monitor_case c WHERE c.household_id = f.found_household
                      AND c.status NOT IN ({closed_marks}))
    ON CONFLICT (household_id)
        WHERE (household_id IS NOT NULL AND NOT (status = 'closed')) DO NOTHING
"""

_ROWS = f"""
    INSERT INTO monitor_warningrow (batch_id, row_number, name, id_number_hash,
        id_number_masked, indicator, amount, occurred_on, detail, outcome, reason,
        household_id, clue_id, case_id)
    SELECT %s, s.row_number, s.name, s.id_number_hash, s.id_number_masked, s.indicator,
        s.amount, s.occurred_on, s.detail,
        CASE WHEN f.row_number IS NULL THEN s.outcome
             WHEN f.row_number > f.first_row THEN %s
             WHEN f.found_household IS NULL THEN %s
             WHEN c.id IS NOT NULL THEN %s
             WHEN cl.source_batch_id = %s THEN %s
             ELSE %s END,
        CASE WHEN f.row_number > f.first_row
             THEN '与第 ' || f.first_row || ' 行重复' ELSE s.reason END,
        CASE WHEN f.row_number = f.first_row THEN f.found_household END,
        CASE WHEN f.row_number = f.first_row AND c.id IS NULL THEN cl.id END,
        CASE WHEN f.row_number = f.first_row THEN c.id END
    FROM {STAGE} s
    LEFT JOIN feed_found f ON f.row_number = s.row_number
    LEFT JOIN monitor_case c ON c.household_id = f.found_household
        AND c.status NOT IN ({{closed_marks}})
    LEFT JOIN monitor_clue cl ON cl.household_id = f.found_household
        AND NOT (cl.status = 'closed') AND c.id IS NULL
    -- Clue ids were handed out in household order too, so both link indexes are filled
    -- left to right instead of at random pages (a third off a million-row insert).
    ORDER BY f.found_household
"""  # noqa: S608 - constant SQL; every value is a bound parameter


_MATERIALISE = "CREATE TEMP TABLE feed_found AS " + _FOUND


def _find_households() -> None:
    """The members join and the duplicate window, once: both inserts read the result."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS feed_found")
        pending = RowOutcome.PENDING.value
        # Grouping needs equality only: bytewise order sorts a million hashes several times
        # faster than the database's locale.
        binary = '"C"' if connection.vendor == "postgresql" else "BINARY"
        cursor.execute(_MATERIALISE.format(binary=binary), [pending, pending])
        if connection.vendor == "postgresql":
            # Without statistics the planner takes the temp table for one row and walks the
            # households index a hundred thousand times.
            cursor.execute("ANALYZE feed_found")


def _lock_households() -> None:
    """Lock the open clues and cases of the households found, so a village closing one of
    them at this moment waits: a row is never labelled "merged" into a clue that closed
    between the two statements. (SQLite has one writer at a time already.)"""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, open_only in (
            ("monitor_clue", "AND NOT (status = 'closed')"),
            ("monitor_case", ""),
        ):
            cursor.execute(
                f"SELECT id FROM {table} WHERE household_id IN "  # noqa: S608 - constants
                f"(SELECT found_household FROM feed_found) {open_only} ORDER BY id FOR UPDATE"
            )


def match_staged(batch_id: int, today: date, channel: str) -> None:
    """The two set-based statements over the found rows (the partial unique indexes keep
    each household to one open case and one open clue, so the joins never fan out)."""
    due = add_workdays(today, settings.MONITOR["CLUE_VERIFICATION_WORKDAYS"])
    closed = sorted(CLOSED_STATUSES)
    marks = ", ".join(["%s"] * len(closed))
    with connection.cursor() as cursor:
        cursor.execute(
            _NEW_CLUES.replace("{closed_marks}", marks),
            [channel, ClueStatus.VERIFYING.value, today, due, timezone.now(), batch_id, *closed],
        )
        cursor.execute(
            _ROWS.replace("{closed_marks}", marks),
            [
                batch_id,
                RowOutcome.DUPLICATE.value,
                RowOutcome.NOT_FOUND.value,
                RowOutcome.ATTACHED_TO_CASE.value,
                batch_id,
                RowOutcome.NEW_CLUE.value,
                RowOutcome.MERGED.value,
                *closed,
            ],
        )
        cursor.execute(f"DROP TABLE {STAGE}")
        cursor.execute("DROP TABLE feed_found")


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


def _list_rows(batch: WarningBatch, today: date):
    """Open the stored upload and yield its normalised rows. The sealed copy is read here
    and dropped once opened."""
    sealed = WarningBatch.objects.filter(pk=batch.pk).values_list("payload", flat=True).get()
    data = open_payload(sealed)
    del sealed
    source = payload_rows(data, batch.file_format, batch.file_name, max_bytes=len(data) + 1)
    normalise = RowNormaliser(today)
    return (normalise(*cells) for cells in source)


def _fault_injection_point(batch_id: int) -> None:
    """For the crash test only (FEEDS_FAULT_DIR unset in every real deployment): announce
    that the rows are staged, then wait to be killed or released."""
    folder = settings.FEEDS_FAULT_DIR
    if not folder:
        return
    Path(folder, f"staged-{batch_id}").touch()
    deadline = time.monotonic() + 60
    while not Path(folder, "release").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


PROCESSING_FAILED = "名单处理出错，已记录；请检查名单内容后以新的批次号重新推送，或联系系统管理员"


def _work(batch: WarningBatch, today: date) -> None:
    if connection.vendor == "postgresql":
        # The duplicate window and the hash joins sort and hash a whole list at once; the
        # default 4 MB sends them to disk. LOCAL: for this transaction only.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
    if batch.source == WarningBatch.Source.SCREENING:
        create_stage()
        stage_screening(batch, STAGE, today)
        channel = ClueChannel.DATA_SCREENING
    else:
        _stage_rows(_list_rows(batch, today))
        channel = ClueChannel.DEPARTMENT
    _fault_injection_point(batch.pk)
    _find_households()
    _lock_households()
    match_staged(batch.pk, today, channel)
    _count(batch)


def process_batch(batch_id: int, today: date | None = None) -> str:
    """Returns the batch's status afterwards, or 'skipped' when there was nothing to do (the
    batch is done, or another worker holds it). A batch that cannot be processed is marked
    failed with a reason, never left waiting for ever; a lost database connection is raised
    for the task's retry."""
    today = today or timezone.localdate()
    with transaction.atomic():
        batch = (
            WarningBatch.objects.select_for_update(skip_locked=True)
            .filter(pk=batch_id, status=BatchStatus.RECEIVED)
            .defer("payload")
            .first()
        )
        if batch is None:
            return "skipped"
        WarningRow.objects.filter(batch=batch).delete()
        try:
            # A savepoint: whatever goes wrong leaves nothing of the batch staged.
            with transaction.atomic():
                _work(batch, today)
        except FeedFormatError as exc:
            reason = exc.reason
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            logger.exception("warning batch %s could not be processed", batch.pk)
            reason = PROCESSING_FAILED
        else:
            batch.status, batch.processed_at = BatchStatus.DONE, timezone.now()
            # Named fields: a plain save() would write the whole stored upload back.
            batch.save(
                update_fields=["status", "processed_at", "rows_total", *COUNT_FIELDS.values()]
            )
            return batch.status
        batch.status, batch.error = BatchStatus.FAILED, reason[:300]
        batch.processed_at = timezone.now()
        batch.save(update_fields=["status", "error", "processed_at"])
    return batch.status
