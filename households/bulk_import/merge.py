"""From the staged rows to the registry, set-based (PostgreSQL).

Households, after the stage:
1. Classify, in one statement into a narrow table: a row refused on its own stays refused;
   a row repeating the 户编号 of an earlier row that passed every row check is a duplicate
   (found by the first such row per number); the others are kept, with the stored household
   of that number if there is one.
2. A kept row whose stored household lies outside the importer's region is refused.
3. One INSERT … SELECT … ON CONFLICT (number) DO UPDATE writes the kept rows: blank address
   and safety cells keep the stored values; a stored row that would not change is not
   rewritten.

Members, after the stage:
1. Classify, in one statement: the household by 户编号 (unknown or outside the region, closed)
   before the row's own problems, and the member stored under the ID hash.
2. Duplicates in the file, taken in file order: an ID number already accepted on an earlier
   row, a second 户主 of one household. Only rows whose ID hash or household head occurs more
   than once can be either; the stage's pieces tell the importing process which
   (rows.RepeatCandidates), and those few are fetched in file order and walked once.
3. A member stored in a household outside the region is refused; a 户主 row is refused when
   the household's stored head (before this import) is someone else.
4. One INSERT … SELECT … ON CONFLICT (id_number_hash) DO UPDATE writes the kept rows in ID
   hash order (the unique index and its twin are then filled page by page instead of at
   random); a blank phone cell keeps the stored phone, an unchanged phone keeps its
   ciphertext, and a stored row that would not change is not rewritten.

Created and updated are counted from the classification (whether a row of that key was
stored), as the ORM path counts them. Refused rows are counted in SQL; only the first
MAX_STORED_ERRORS are fetched, in file order, and worded by the same functions as the ORM
path's.
"""

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.utils import timezone

from households.bulk_import import set_aside
from households.bulk_import.rows import ID_KEY_DIGITS, RepeatCandidates
from households.choices import LifeStatus, Relation
from households.importing.rules import (
    COLUMN_LABEL,
    HOUSEHOLD_OPTIONAL,
    HOUSEHOLD_OUTSIDE_REASON,
    MAX_STORED_ERRORS,
    MEMBER_OPTIONAL,
    MEMBER_OUTSIDE_REASON,
    OTHER_HEAD_REASON,
    ImportReport,
    closed_reason,
    duplicate_head_reason,
    duplicate_id_reason,
    duplicate_number_reason,
    unregistered_reason,
)
from households.models import RegistryImport

HOUSEHOLD_STAGE = "registry_stage_h"
MEMBER_STAGE = "registry_stage_m"

# The keys are in byte order, as their registry columns are (households migration 0006): the
# sorts by them before writing, and the joins, compare bytes instead of calling strcoll.
CREATE_HOUSEHOLD_STAGE = f"""CREATE TEMP TABLE {HOUSEHOLD_STAGE} (
    seq bigint, number text COLLATE "C", village text, err_stage smallint, err_field text,
    err_reason text, kind text, address text, housing_safe boolean, water_safe boolean,
    civil_affairs_status text) ON COMMIT DROP"""
CREATE_MEMBER_STAGE = f"""CREATE TEMP TABLE {MEMBER_STAGE} (
    seq bigint, hh_number text COLLATE "C", err_early boolean, err_field text, err_reason text,
    is_head boolean, name text, relation text, health text, disability_level smallint,
    labour text, schooling text, work_status text, medical_insurance boolean,
    id_encrypted text, id_hash text COLLATE "C", id_masked text, birth_date date, sex text,
    phone_encrypted text, phone_hash text COLLATE "C", phone_masked text, phone_blank boolean)
    ON COMMIT DROP"""

RowOf = Callable[[int], int]
logger = logging.getLogger("households.bulk_import")


class Clock:
    """Seconds per step of one import, logged at the end: where a province's load goes."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def mark(self, step: str) -> None:
        now = time.perf_counter()
        self.steps.append((step, now - self._last))
        self._last = now

    def log(self, kind: str, rows: int) -> None:
        steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in self.steps)
        logger.info("registry import of %d %s: %s", rows, kind, steps)


def create_stage(name: str, create_sql: str) -> None:
    with connection.cursor() as cursor:
        # A second import in the same transaction (tests) finds the first one's table.
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(create_sql)


def _scope_filter(column: str, scope_prefix: str | None) -> tuple[str, list]:
    """SQL that is true when `column` (a region code) lies outside the scope."""
    if scope_prefix is None:
        return "false", []
    return f"left({column}, %s) <> %s", [len(scope_prefix), scope_prefix]


def _fetch_errors(cursor, report: ImportReport, sql: str, wording, row_of: RowOf) -> None:
    cursor.execute(sql, [MAX_STORED_ERRORS])
    for seq, *rest in cursor.fetchall():
        label, reason = wording(*rest)
        report.keep_error(row_of(seq), label, reason)


# --- Households -----------------------------------------------------------------------------

_CLASSIFY_HOUSEHOLDS = f"""
CREATE TEMP TABLE registry_class_h ON COMMIT DROP AS
SELECT s.seq, s.err_field, s.err_reason, f.first_seq AS ref, h.id AS household_id,
    h.village_id AS stored_village,
    CASE WHEN s.err_stage = 1 THEN 'row'
         WHEN f.first_seq < s.seq THEN 'duplicate'
         WHEN s.err_stage = 2 THEN 'row'
         ELSE 'ok' END AS outcome
FROM {HOUSEHOLD_STAGE} s
LEFT JOIN (SELECT number, min(seq) AS first_seq FROM {HOUSEHOLD_STAGE}
           WHERE err_stage IS NULL GROUP BY number) f ON f.number = s.number
LEFT JOIN households_household h ON s.err_stage IS NULL AND h.number = s.number
"""  # noqa: S608 - constant SQL

_HOUSEHOLD_SETS = {
    "address": (
        "address = CASE WHEN EXCLUDED.address = '' THEN households_household.address "
        "ELSE EXCLUDED.address END",
        "(EXCLUDED.address <> '' AND EXCLUDED.address <> households_household.address)",
    ),
    "housing_safe": (
        "housing_safe = COALESCE(EXCLUDED.housing_safe, households_household.housing_safe)",
        "(EXCLUDED.housing_safe IS NOT NULL "
        "AND EXCLUDED.housing_safe IS DISTINCT FROM households_household.housing_safe)",
    ),
    "water_safe": (
        "water_safe = COALESCE(EXCLUDED.water_safe, households_household.water_safe)",
        "(EXCLUDED.water_safe IS NOT NULL "
        "AND EXCLUDED.water_safe IS DISTINCT FROM households_household.water_safe)",
    ),
    "civil_affairs_status": (
        "civil_affairs_status = EXCLUDED.civil_affairs_status",
        "EXCLUDED.civil_affairs_status IS DISTINCT FROM households_household.civil_affairs_status",
    ),
}


def merge_households(*, columns: list[str], scope_prefix: str | None, row_of: RowOf, clock: Clock):
    report = ImportReport(kind=RegistryImport.Kind.HOUSEHOLDS)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {HOUSEHOLD_STAGE}")
        cursor.execute("DROP TABLE IF EXISTS registry_class_h")
        cursor.execute(_CLASSIFY_HOUSEHOLDS)
        clock.mark("classify")
        outside, params = _scope_filter("stored_village", scope_prefix)
        if scope_prefix is not None:
            sql = "UPDATE registry_class_h SET outcome = 'outside' WHERE outcome = 'ok' "
            cursor.execute(sql + f"AND household_id IS NOT NULL AND {outside}", params)
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'ok'), "
            "count(*) FILTER (WHERE outcome = 'ok' AND household_id IS NULL) "
            "FROM registry_class_h"
        )
        total, kept, created = cursor.fetchone()
        clock.mark("scope")
        present = [name for name in HOUSEHOLD_OPTIONAL if name in columns]
        sets = ["village_id = EXCLUDED.village_id", "kind = EXCLUDED.kind"]
        sets += ["updated_at = EXCLUDED.updated_at"] + [_HOUSEHOLD_SETS[n][0] for n in present]
        changed = [
            "households_household.village_id IS DISTINCT FROM EXCLUDED.village_id",
            "households_household.kind IS DISTINCT FROM EXCLUDED.kind",
        ] + [_HOUSEHOLD_SETS[n][1] for n in present]
        cursor.execute(
            f"""
            INSERT INTO households_household (number, village_id, kind, civil_affairs_status,
                address, housing_safe, water_safe, is_monitored, closed_reason, created_at,
                updated_at)
            SELECT s.number, s.village, s.kind, s.civil_affairs_status, s.address,
                s.housing_safe, s.water_safe, false, '', %s, %s
            FROM registry_class_h c JOIN {HOUSEHOLD_STAGE} s ON s.seq = c.seq
            WHERE c.outcome = 'ok'
            ORDER BY s.number
            ON CONFLICT (number) DO UPDATE SET {", ".join(sets)}
            WHERE {" OR ".join(changed)}
            """,  # noqa: S608 - column names from constants; values are parameters
            [now, now],
        )
        clock.mark("upsert")

        def wording(outcome, ref, field, reason):
            if outcome == "duplicate":
                return COLUMN_LABEL["number"], duplicate_number_reason(row_of(ref))
            if outcome == "outside":
                return COLUMN_LABEL["number"], HOUSEHOLD_OUTSIDE_REASON
            return field, reason

        _fetch_errors(
            cursor,
            report,
            "SELECT seq, outcome, ref, err_field, err_reason FROM registry_class_h "
            "WHERE outcome <> 'ok' ORDER BY seq LIMIT %s",
            wording,
            row_of,
        )
    report.rows_total, report.rejected = total, total - kept
    report.created, report.updated = created, kept - created
    return report


# --- Members --------------------------------------------------------------------------------

_CLASSIFY_MEMBERS = f"""
CREATE TEMP TABLE registry_class_m ON COMMIT DROP AS
SELECT s.seq, s.id_hash, s.is_head, h.id AS household_id, m.id AS member_id,
    m.household_id AS stored_household, s.hh_number, s.err_field, s.err_reason,
    NULL::bigint AS ref,
    -- The stored phone, kept when the row's phone cell is blank.
    CASE WHEN s.phone_blank THEN m.phone_encrypted END AS stored_phone_encrypted,
    CASE WHEN s.phone_blank THEN m.phone_hash END AS stored_phone_hash,
    CASE WHEN s.phone_blank THEN m.phone_masked END AS stored_phone_masked,
    -- A stored member the row would not change is left alone (not rewritten, not re-indexed).
    m.id IS NOT NULL AND ({{stored}}) IS NOT DISTINCT FROM ({{proposed}}) AS unchanged,
    CASE WHEN s.err_early THEN 'row'
         WHEN h.id IS NULL OR {{outside}} THEN 'unregistered'
         WHEN h.closed_on IS NOT NULL THEN 'closed'
         WHEN s.err_field IS NOT NULL THEN 'row'
         ELSE 'ok' END AS outcome
FROM {MEMBER_STAGE} s
LEFT JOIN households_household h ON NOT s.err_early AND h.number = s.hh_number
LEFT JOIN households_member m ON s.err_field IS NULL AND m.id_number_hash = s.id_hash
"""  # noqa: S608 - constant SQL

# Rows that may be a duplicate ID number or a second head of their household in the file:
# those whose ID hash (by its first digits) or head's 户编号 the stage's pieces showed
# repeating (rows.RepeatCandidates), a superset found without grouping a million hashes.
_CANDIDATE_CONFLICTS = f"""
SELECT seq, id_hash, household_id, is_head FROM registry_class_m
WHERE outcome = 'ok' AND (left(id_hash, {ID_KEY_DIGITS}) = ANY(%s)
                          OR (is_head AND hh_number = ANY(%s)))
ORDER BY seq
"""  # noqa: S608 - constant SQL


def _refuse_in_file_duplicates(cursor, candidates: RepeatCandidates) -> None:
    """The ORM path's walk (first_seen, head_row), over the few rows that can be caught."""
    if not candidates.ids and not candidates.heads:
        return  # no ID hash and no household's head occurs twice in the file
    params = [candidates.id_prefixes(), list(candidates.heads)]
    first_seen: dict[str, int] = {}
    head_row: dict[int, int] = {}
    refused: list[tuple[int, str, int]] = []
    with connection.connection.cursor(name="registry_conflicts") as conflicts:
        conflicts.itersize = 10000
        conflicts.execute(_CANDIDATE_CONFLICTS, params)
        for seq, id_hash, household_id, is_head in conflicts:
            if id_hash in first_seen:
                refused.append((seq, "duplicate", first_seen[id_hash]))
            elif is_head and household_id in head_row:
                refused.append((seq, "head_in_file", head_row[household_id]))
            else:
                first_seen[id_hash] = seq
                if is_head:
                    head_row[household_id] = seq
    if not refused:
        return
    cursor.execute("DROP TABLE IF EXISTS registry_refused")
    cursor.execute(
        "CREATE TEMP TABLE registry_refused (seq bigint, outcome text, ref bigint) ON COMMIT DROP"
    )
    with cursor.cursor.copy("COPY registry_refused (seq, outcome, ref) FROM STDIN") as copy:
        for row in refused:
            copy.write_row(row)
    cursor.execute(
        "UPDATE registry_class_m c SET outcome = r.outcome, ref = r.ref "
        "FROM registry_refused r WHERE c.seq = r.seq"
    )


def merge_members(
    *,
    columns: list[str],
    scope_prefix: str | None,
    row_of: RowOf,
    clock: Clock,
    candidates: RepeatCandidates,
    province_load: bool = False,
):
    """`province_load`: an operator's command, which may set the member table's indexes
    aside for a first load (set_aside.py). `candidates`: what the stage saw repeating in the
    file."""
    report = ImportReport(kind=RegistryImport.Kind.MEMBERS)
    now = timezone.now()
    with connection.cursor() as cursor:
        if province_load:
            # No member may be written by anyone else between the classification below and
            # the insert: a new row found new must still be new (readers are not held up).
            cursor.execute("LOCK TABLE households_member IN SHARE MODE")
        cursor.execute(f"ANALYZE {MEMBER_STAGE}")
        cursor.execute("DROP TABLE IF EXISTS registry_class_m")
        outside, params = _scope_filter("h.village_id", scope_prefix)
        stored, proposed = _member_compared(columns)
        classify = _CLASSIFY_MEMBERS.format(
            outside=outside,
            stored=", ".join(f"m.{name}" for name in stored),
            proposed=", ".join(proposed),
        )
        cursor.execute(classify, params)
        cursor.execute("ANALYZE registry_class_m")
        clock.mark("classify")
        _refuse_in_file_duplicates(cursor, candidates)
        clock.mark("duplicates")
        if scope_prefix is not None:
            outside, params = _scope_filter("h.village_id", scope_prefix)
            sql = "UPDATE registry_class_m c SET outcome = 'outside' FROM households_household h "
            cursor.execute(
                sql + f"WHERE c.outcome = 'ok' AND h.id = c.stored_household AND {outside}", params
            )
        cursor.execute(
            """UPDATE registry_class_m c SET outcome = 'other_head'
            WHERE c.outcome = 'ok' AND c.is_head AND EXISTS (
                SELECT 1 FROM households_member m WHERE m.household_id = c.household_id
                AND m.relation = %s AND m.id_number_hash <> c.id_hash)""",
            [Relation.HEAD.value],
        )
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'ok'), "
            "count(*) FILTER (WHERE outcome = 'ok' AND member_id IS NULL) "
            "FROM registry_class_m"
        )
        total, kept, created = cursor.fetchone()
        clock.mark("scope and heads")
        if province_load and set_aside.worth_it("households_member", created):
            cursor.execute(*_member_upsert(columns, now, rows="stored"))
            with set_aside.indexes_set_aside("households_member"):
                cursor.execute(*_member_upsert(columns, now, rows="new"))
                clock.mark("insert, indexes set aside")
            clock.mark("indexes and keys built again")
        else:
            cursor.execute(*_member_upsert(columns, now))
            clock.mark("upsert")

        def wording(outcome, ref, field, reason, number):
            if outcome == "unregistered":
                return COLUMN_LABEL["household"], unregistered_reason(number)
            if outcome == "closed":
                return COLUMN_LABEL["household"], closed_reason(number)
            if outcome == "duplicate":
                return COLUMN_LABEL["id_number"], duplicate_id_reason(row_of(ref))
            if outcome == "head_in_file":
                return COLUMN_LABEL["relation"], duplicate_head_reason(row_of(ref))
            if outcome == "outside":
                return COLUMN_LABEL["id_number"], MEMBER_OUTSIDE_REASON
            if outcome == "other_head":
                return COLUMN_LABEL["relation"], OTHER_HEAD_REASON
            return field, reason

        _fetch_errors(
            cursor,
            report,
            "SELECT seq, outcome, ref, err_field, err_reason, hh_number FROM registry_class_m "
            "WHERE outcome <> 'ok' ORDER BY seq LIMIT %s",
            wording,
            row_of,
        )
    report.rows_total, report.rejected = total, total - kept
    report.created, report.updated = created, kept - created
    return report


def _member_compared(columns: list[str]) -> tuple[list[str], list[str]]:
    """The stored columns an import may change, and what the staged row proposes for each."""
    stored = ["household_id", "name", "relation"]
    stored += [name for name in MEMBER_OPTIONAL if name in columns]
    proposed = ["h.id"] + [f"s.{name}" for name in stored[1:]]
    if "phone" in columns:
        stored.append("phone_hash")
        proposed.append("CASE WHEN s.phone_blank THEN m.phone_hash ELSE s.phone_hash END")
    return stored, proposed


def _member_upsert(columns: list[str], now, rows: str = "all") -> tuple[str, list]:
    """The statement writing the kept rows: `rows` "all" (the upsert), "stored" (rows of
    members already stored) or "new" (the others, by a plain INSERT: there is nothing to
    conflict with, and no unique index to find it with while they are set aside)."""
    compared, _ = _member_compared(columns)
    sets = [f"{name} = EXCLUDED.{name}" for name in compared if name != "phone_hash"]
    sets.append("updated_at = EXCLUDED.updated_at")
    phone_select = "s.phone_encrypted, s.phone_hash, s.phone_masked"
    if "phone" in columns:
        # A blank phone cell keeps the stored phone; a phone that did not change keeps its
        # ciphertext (a fresh one would decrypt the same, but rewrite the row for nothing).
        phone_select = (
            "COALESCE(c.stored_phone_encrypted, s.phone_encrypted), "
            "COALESCE(c.stored_phone_hash, s.phone_hash), "
            "COALESCE(c.stored_phone_masked, s.phone_masked)"
        )
        sets += [
            "phone_encrypted = CASE WHEN households_member.phone_hash = EXCLUDED.phone_hash "
            "THEN households_member.phone_encrypted ELSE EXCLUDED.phone_encrypted END",
            "phone_hash = EXCLUDED.phone_hash",
            "phone_masked = EXCLUDED.phone_masked",
        ]
    if rows == "new":
        return _new_member_insert(), [LifeStatus.IN_REGISTER.value, now, now]
    stored = ", ".join(f"households_member.{name}" for name in compared)
    proposed = ", ".join(f"EXCLUDED.{name}" for name in compared)
    # Unchanged rows were found while classifying; the WHERE below still guards a row that a
    # concurrent transaction inserted meanwhile.
    sql = f"""
        INSERT INTO households_member (household_id, name, id_number_encrypted, id_number_hash,
            id_number_masked, birth_date, sex, relation, health, disability_level, labour,
            schooling, work_status, medical_insurance, life_status, life_status_evidence,
            phone_encrypted, phone_hash, phone_masked, created_at, updated_at)
        SELECT c.household_id, s.name, s.id_encrypted, s.id_hash, s.id_masked, s.birth_date,
            s.sex, s.relation, s.health, s.disability_level, s.labour, s.schooling,
            s.work_status, s.medical_insurance, %s, '', {phone_select}, %s, %s
        FROM registry_class_m c JOIN {MEMBER_STAGE} s ON s.seq = c.seq
        WHERE c.outcome = 'ok' AND NOT c.unchanged {ROWS_WANTED[rows]}
        ORDER BY s.id_hash
        ON CONFLICT (id_number_hash) DO UPDATE SET {", ".join(sets)}
        WHERE ({stored}) IS DISTINCT FROM ({proposed})
    """  # noqa: S608 - column names from constants; values are parameters
    return sql, [LifeStatus.IN_REGISTER.value, now, now]


ROWS_WANTED = {"all": "", "stored": "AND c.member_id IS NOT NULL"}


def _new_member_insert() -> str:
    """The kept rows of members not stored, by a plain INSERT (nothing to conflict with, and
    no unique index to find it with while the indexes are set aside), in file order: sorting
    a million wide rows first costs more than the indexes built afterwards save.

    On a first load nearly every staged row is one; instead of joining a million of them to
    the classification row by row, the few rows that are not (refused, or of a stored
    member) are left out, and the household is found again by its number, as classifying
    found it (the member table is locked, the household's number unique)."""
    return f"""
        INSERT INTO households_member (household_id, name, id_number_encrypted, id_number_hash,
            id_number_masked, birth_date, sex, relation, health, disability_level, labour,
            schooling, work_status, medical_insurance, life_status, life_status_evidence,
            phone_encrypted, phone_hash, phone_masked, created_at, updated_at)
        SELECT h.id, s.name, s.id_encrypted, s.id_hash, s.id_masked, s.birth_date, s.sex,
            s.relation, s.health, s.disability_level, s.labour, s.schooling, s.work_status,
            s.medical_insurance, %s, '', s.phone_encrypted, s.phone_hash, s.phone_masked, %s, %s
        FROM {MEMBER_STAGE} s JOIN households_household h ON h.number = s.hh_number
        WHERE NOT s.err_early AND s.err_field IS NULL AND NOT EXISTS (
            SELECT 1 FROM registry_class_m c
            WHERE c.seq = s.seq AND (c.outcome <> 'ok' OR c.member_id IS NOT NULL))
    """  # noqa: S608 - constant SQL
