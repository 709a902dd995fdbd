"""The generator's database plumbing: id ranges reserved from the tables' own sequences,
COPY in PostgreSQL's text format, local timestamps, and the set-based removal.

Ids are handed out by reserving a range of the table's identity sequence under a table lock
(`reserve_ids`): the generator then knows every id before it writes a row (cases, clues and
users are referred to by many other rows), and the sequence stands past the range, so the
application's own inserts continue after it.
"""

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.db import models

LOCAL = ZoneInfo(settings.TIME_ZONE)
# From this many rows a load or a delete goes without the table's constraints (see below).
BULK_ROWS = 50_000


def reserve_ids(cursor, table: str, count: int) -> int:
    """The first of `count` consecutive ids of `table`, reserved from its sequence."""
    # SHARE ROW EXCLUSIVE: readers go on, writers wait until we commit. Without the lock an
    # insert of the application between nextval and setval would take an id of the range.
    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute("SELECT nextval(%s)", [sequence])
    first = cursor.fetchone()[0]
    if count > 1:
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def copy_rows(cursor, table: str, columns: Iterable[str], rows: Iterable[tuple]) -> int:
    """COPY rows given as Python values (psycopg adapts them: dates, bytes, None)."""
    count = 0
    names = ", ".join(columns)
    with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def copy_text(cursor, table: str, columns: Iterable[str], chunks: Iterable[bytes]) -> None:
    """COPY rows already written in the text format (by the worker processes)."""
    names = ", ".join(columns)
    with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for chunk in chunks:
            copy.write(chunk)


@contextmanager
def loading_bare(cursor, table: str, incoming: int):
    """Load `table` without its secondary indexes, unique and foreign-key constraints, and
    put them back afterwards, when the rows coming outnumber the rows there.

    Inserting millions of random keys (keyed hashes, names) into b-trees larger than the
    server's buffers costs several times the sorted build; a deferred foreign key is checked
    by one query per row at the commit, where adding it back checks the whole table in one
    join. The definitions are read from the catalogue and restored exactly (deferrable
    foreign keys stay deferrable). All inside the caller's transaction: a failure rolls the
    drops back too. The table stays locked against other sessions until the commit."""
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
    present = max(cursor.fetchone()[0], 0)
    if incoming <= present:
        yield
        return
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype",
        [table],
    )
    constraints = cursor.fetchall()  # foreign keys first: dropped first, added back last
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [table],
    )
    indexes = cursor.fetchall()
    _run_pending_checks(cursor)
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    for _, definition in indexes:
        cursor.execute(definition)
    _run_pending_checks(cursor)
    for name, definition in reversed(constraints):
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _run_pending_checks(cursor) -> None:
    """PostgreSQL alters no table — nor one a foreign key points at — with deferred checks
    still pending on it: those of the rows written so far (regions, staff: a few thousand)
    are run now, and the constraints deferred again."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def aware(moment: datetime) -> datetime:
    """A local wall-clock time of the generated history, as the database stores it."""
    return moment.replace(tzinfo=LOCAL)


def text_timestamp(moment: datetime) -> str:
    return aware(moment).isoformat(sep=" ")


def text_value(value) -> str:
    """One field in COPY's text format. Generated text never holds a tab, a newline or a
    backslash, so only NULL, booleans and dates need spelling out."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return text_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def text_line(values: tuple) -> str:
    return "\t".join(map(text_value, values)) + "\n"


# --- removal ------------------------------------------------------------------------------


def _foreign_keys(connection, cursor, existing: set[str]):
    """(child model, its foreign-key field, parent model) for every concrete foreign key of
    every installed model whose table and column exist — the automatic many-to-many tables
    included (a model changed before its migration ran is taken as the table stands)."""
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.db_table not in existing:
            continue
        keys = [f for f in meta.local_concrete_fields if isinstance(f, models.ForeignKey)]
        if not keys:
            continue
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, meta.db_table)
        }
        for field in keys:
            parent = field.related_model
            if field.column in columns and parent._meta.db_table in existing:
                yield model, field, parent


def remove_tree(connection, root_table: str, root_where: str, params: list) -> dict[str, int]:
    """Delete the rows of `root_table` matching `root_where` and every row that refers to
    them, however indirectly (a foreign key of a foreign key …), set-based.

    The rows to go are gathered first, table by table, into temporary tables of their keys
    until no foreign key adds a row (a fixpoint: each table is scanned again only when a
    table it points to gained rows); then each table is emptied of them in one DELETE. The
    foreign keys are deferred to the commit, so the order of the deletes does not matter.
    A foreign key that sets null on delete is set to null instead, on the rows that stay.
    Going by the foreign keys rather than a list of tables removes also what the
    application wrote later inside the province (notifications, exports, audit rows of
    its users) and what other apps add after this was written."""
    cursor = connection.cursor()
    existing = set(connection.introspection.table_names(cursor))
    # The gathered key sets are hashed, not sorted to disk, for a million households.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    links = list(_foreign_keys(connection, cursor, existing))
    tables = {root_table}
    for child, _field, parent in links:
        tables.update((child._meta.db_table, parent._meta.db_table))
    model_of = {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)}

    def gone(table: str) -> str:
        return f"gone_{table}"

    for table in sorted(tables):
        pk = model_of[table]._meta.pk.column
        cursor.execute(
            f"CREATE TEMP TABLE {gone(table)} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {pk} AS pk FROM {table} WHERE false"
        )
        cursor.execute(f"ALTER TABLE {gone(table)} ADD PRIMARY KEY (pk)")
    root_pk = model_of[root_table]._meta.pk.column
    cursor.execute(
        f"INSERT INTO {gone(root_table)} SELECT {root_pk} FROM {root_table} "  # noqa: S608
        f"WHERE {root_where}",
        params,
    )
    grew = {root_table} if cursor.rowcount else set()
    cascading = [
        (child, field, parent)
        for child, field, parent in links
        if field.remote_field.on_delete is not models.SET_NULL
    ]
    while grew:
        grown = set()
        for child, field, parent in cascading:
            parent_table, child_table = parent._meta.db_table, child._meta.db_table
            if parent_table not in grew:
                continue
            cursor.execute(
                f"INSERT INTO {gone(child_table)} "  # noqa: S608
                f"SELECT c.{child._meta.pk.column} FROM {child_table} c "
                f"WHERE c.{field.column} IN (SELECT pk FROM {gone(parent_table)}) "
                "ON CONFLICT DO NOTHING"
            )
            if cursor.rowcount:
                grown.add(child_table)
        for table in grown:  # the planner's estimates for the next round of joins
            cursor.execute(f"ANALYZE {gone(table)}")
        grew = grown
    for child, field, parent in links:
        if field.remote_field.on_delete is models.SET_NULL:
            child_table = child._meta.db_table
            cursor.execute(
                f"UPDATE {child_table} SET {field.column} = NULL "  # noqa: S608
                f"WHERE {field.column} IN (SELECT pk FROM {gone(parent._meta.db_table)}) "
                f"AND NOT EXISTS (SELECT 1 FROM {gone(child_table)} g "
                f"WHERE g.pk = {child_table}.{child._meta.pk.column})"
            )
    sizes = {}
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {gone(table)}")  # noqa: S608
        sizes[table] = cursor.fetchone()[0]
    # A deferred foreign key checks each deleted row it points at with a query of its own at
    # the commit (millions for a province's members); taken off while deleting and added
    # back, it checks the rows that stay in one join.
    big = [table for table, size in sizes.items() if size >= BULK_ROWS]
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid::regclass::text = ANY(%s)",
        [big],
    )
    pointing = cursor.fetchall()
    _run_pending_checks(cursor)
    for table, name, _ in pointing:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    counts = {}
    for table in sorted(tables):
        if not sizes[table]:
            continue
        cursor.execute(
            f"DELETE FROM {table} WHERE {model_of[table]._meta.pk.column} "  # noqa: S608
            f"IN (SELECT pk FROM {gone(table)})"
        )
        counts[table] = cursor.rowcount
    _run_pending_checks(cursor)
    for table, name, definition in pointing:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for table in tables:
        cursor.execute(f"DROP TABLE {gone(table)}")
    return counts
