"""A province's first load: the member table's secondary indexes and its unique and foreign
keys set aside while the rows go in, then built again — as PostgreSQL's own advice for
populating a database has it, and as pg_restore does.

Inserting a million rows one index entry at a time into btrees of random 64-character
hashes, and checking a foreign key row by row at commit, costs PostgreSQL about four times
what writing the bare rows and then sorting each index once does. The price is a lock: while
the indexes are away the table is locked against readers as well, until the import commits
(some seconds). So only an operator's command takes this path, and only when the new rows
are at least as many as those already stored — a first load, not a monthly re-import.

Everything happens in the import's transaction: if any step fails, PostgreSQL rolls the
dropped indexes and constraints back with the rows.
"""

from contextlib import contextmanager

from django.db import connection

# Below this many new rows the ordinary upsert is as quick and locks nobody out.
MIN_NEW_ROWS = 200_000
# Memory for sorting each index being built, for this transaction only.
INDEX_BUILD_MEMORY = "512MB"


def worth_it(table: str, new_rows: int) -> bool:
    if new_rows < MIN_NEW_ROWS:
        return False
    # Counted, up to one more than the new rows (the planner's estimate, pg_class.reltuples,
    # is written in place by ANALYZE and outlives a rolled-back load, so it can be off by
    # the whole table either way). An empty table answers at once; the most it reads is the
    # new rows' number of stored ones.
    rows = f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({rows}) AS stored", [new_rows + 1])  # noqa: S608
        stored = cursor.fetchone()[0]
    return new_rows >= stored


def _definitions(cursor, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The table's unique and foreign-key constraints (name, definition) and the CREATE
    INDEX statements of its other indexes; the primary key stays."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
        "  AND c.conrelid = i.indrelid) "
        "ORDER BY i.indexrelid",
        [table],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    return constraints, indexes


def _index_names(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid"
        "  AND k.conrelid = i.indrelid)",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


@contextmanager
def indexes_set_aside(table: str):
    """Inside an atomic block: lock the table, drop what the loop inside would otherwise
    maintain row by row, and build it again from its saved definitions on the way out."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {quote(table)} IN ACCESS EXCLUSIVE MODE")
        # Foreign-key checks this transaction has queued for commit (rows written before)
        # are run now: PostgreSQL alters no table with checks pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        constraints, indexes = _definitions(cursor, table)
        for name, _ in constraints:
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for name in _index_names(cursor, table):
            cursor.execute(f"DROP INDEX {quote(name)}")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
        # Unique constraints first: their indexes serve the foreign keys' checks of other
        # tables, and a duplicate that slipped through fails here, rolling everything back.
        ordered = sorted(constraints, key=lambda item: not item[1].startswith("UNIQUE"))
        for name, definition in ordered:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
        for statement in indexes:
            cursor.execute(statement)
        # Django's foreign keys are checked at commit again (DEFERRABLE INITIALLY DEFERRED).
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
