"""The set-based registry import for PostgreSQL: a province's list in one transaction.

    file ─ pieces ─▶ workers (check, encrypt, hash: households.importing's row checks)
                          │ COPY-ready bytes, in order
                          ▼
         COPY into a temporary stage ─▶ classify ─▶ one INSERT … ON CONFLICT DO UPDATE

reading.py cuts the file and reads each piece as sheets.reading would; staging.py runs the
pieces on every core and COPYs them; merge.py applies the rules that need the whole file or
the database. The result is the ORM path's result (households.importing): same totals, same
row errors, same stored values. Called by households.importing inside its transaction.
"""

from datetime import date

from django.db import connection

from households.bulk_import import staging
from households.bulk_import.merge import (
    CREATE_HOUSEHOLD_STAGE,
    CREATE_MEMBER_STAGE,
    HOUSEHOLD_STAGE,
    MEMBER_STAGE,
    Clock,
    create_stage,
    merge_households,
    merge_members,
)
from households.bulk_import.reading import (
    Fallback,
    Source,
    head_layout,
    piece_offsets,
    pieces,
    whole_records,
)
from households.bulk_import.rows import (
    HOUSEHOLD_STAGE_COLUMNS,
    MEMBER_STAGE_COLUMNS,
    HouseholdLines,
    MemberLines,
    RepeatCandidates,
)
from households.bulk_import.staging import (
    Job,
    Runner,
    copy_pieces,
    row_batches,
)
from households.importing.rules import (
    ALL_COLUMNS,
    KIND_COLUMNS,
    KIND_REQUIRED,
    ImportReport,
    current_villages,
    kind_of_columns,
)
from households.models import RegistryImport
from sheets.reading import read_table

__all__ = ["Source", "bulk_import"]


def bulk_import(
    source: Source,
    *,
    kind: str | None,
    scope_prefix: str | None,
    today: date,
    max_bytes: int,
    max_xlsx_uncompressed: int | None,
    use_workers: bool,
) -> ImportReport:
    """Import one file into the registry; runs inside the caller's transaction. Raises
    TabularError, exactly as sheets.reading would, when the file as a whole cannot be read.

    `use_workers`: check the rows of a large file in a pool of forked processes, one per
    core. Only for a process of our own (the management command): a web server's worker may
    run threads, and forking those is asking for a lock held forever."""
    clock = Clock()
    if source.size > max_bytes:
        # sheets.reading checks the size before anything else: its own words for the limit.
        read_table(source.data, aliases={}, max_bytes=max_bytes)
    kind = kind or _detect_kind(source, max_bytes, max_xlsx_uncompressed)
    aliases, required = KIND_COLUMNS[kind], KIND_REQUIRED[kind]
    if kind == RegistryImport.Kind.MEMBERS:
        stage, create_sql, stage_columns = MEMBER_STAGE, CREATE_MEMBER_STAGE, MEMBER_STAGE_COLUMNS
        merge = merge_members

        def lines_for(positions):
            return MemberLines(positions, today)
    else:
        stage, create_sql = HOUSEHOLD_STAGE, CREATE_HOUSEHOLD_STAGE
        stage_columns, merge = HOUSEHOLD_STAGE_COLUMNS, merge_households
        villages = current_villages()

        def lines_for(positions):
            return HouseholdLines(positions, villages, scope_prefix)

    def new_candidates():
        return RepeatCandidates() if kind == RegistryImport.Kind.MEMBERS else None

    def collector(candidates):
        return None if candidates is None else candidates.add

    parallel = use_workers and source.size >= staging.PARALLEL_MIN_BYTES
    with connection.cursor() as cursor:
        # The joins and the sort of a province's rows stay in memory instead of spilling to
        # disk in 4 MB runs; for this transaction only.
        cursor.execute("SET LOCAL work_mem = '256MB'")
    create_stage(stage, create_sql)
    try:
        layout, head_rows = head_layout(source, aliases, required, max_bytes)
        job = Job(source.data, layout, lines_for(layout.positions))
        tasks = pieces(source.data, layout, head_rows)
        candidates = new_candidates()
        with Runner(job, parallel=parallel) as runner:
            records = copy_pieces(stage, stage_columns, runner, tasks, collector(candidates))
        columns, offsets = layout.columns, piece_offsets(layout, records)
    except Fallback:
        create_stage(stage, create_sql)
        columns, positions, rows = whole_records(
            source, aliases, required, max_bytes, max_xlsx_uncompressed
        )
        job = Job(None, None, lines_for(positions))
        candidates = new_candidates()
        with Runner(job, parallel=parallel) as runner:
            records = copy_pieces(
                stage, stage_columns, runner, row_batches(rows), collector(candidates)
            )
        offsets = dict.fromkeys(records, 0)

    clock.mark("read, check, encrypt, COPY")

    def row_of(seq: int) -> int:
        return offsets[seq >> 32] + (seq & 0xFFFFFFFF)

    # Only members have candidates (households find their repeats in the classification).
    extra = {} if candidates is None else {"province_load": use_workers, "candidates": candidates}
    report = merge(columns=columns, scope_prefix=scope_prefix, row_of=row_of, clock=clock, **extra)
    clock.mark("errors")
    clock.log(kind, report.rows_total)
    return report


def _detect_kind(source: Source, max_bytes: int, max_xlsx_uncompressed: int | None) -> str:
    """households.importing.detect_kind on the head of a CSV file, or on the whole file."""
    try:
        layout, _ = head_layout(source, ALL_COLUMNS, [], max_bytes)
        return kind_of_columns(layout.columns)
    except Fallback:
        pass
    extra = (
        {} if max_xlsx_uncompressed is None else {"max_xlsx_uncompressed": max_xlsx_uncompressed}
    )
    table = read_table(
        source.whole(), filename=source.name, aliases=ALL_COLUMNS, max_bytes=max_bytes, **extra
    )
    table.rows.close()
    return kind_of_columns(table.columns)
