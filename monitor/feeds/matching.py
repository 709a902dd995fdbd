"""Processing a stored warning batch, set-based.

1. Stage: the rows are normalised one by one (a generator, so a million-row list is never
   all in memory) into a temporary staging table — one COPY on PostgreSQL, batched inserts
   on SQLite. A large CSV list on PostgreSQL is normalised on every core instead, by helper
   processes that read it in chunks with the same reader and normaliser (parallel.py); any
   doubt sends it back to this path. Only the keyed hash of an ID number is staged, never
   the number.
2. Find: one statement joins the staged rows to the members by ID hash — members still in
   the register (在册) of households not closed (销户) only — and marks duplicates within the
   list, into a narrow temporary table (row, household, first row of its group).
3. Match, in two statements over the whole batch: one INSERT … SELECT raises a clue for each
   household found that has neither an open case nor an open clue; one INSERT … SELECT
   writes every row with its outcome — invalid, duplicate in the batch, not in the registry,
   attached to the household's open case, merged into its open clue, or new clue — and its
   links, and counts the outcomes as it writes (RETURNING, on PostgreSQL). No query per
   row, no UPDATE passes over the rows.
   A new clue waits for its county's dispatch (待县级下发), or goes straight to the village
   where the county's local rule is automatic dispatch: a CASE on the village's county,
   computed from the few counties whose rules differ from the installation's. A household
   cleared of its risk and still in its follow-up period (消除后跟踪) gets its clue marked
   返贫风险 with the cleared case (a join on the few cases in follow-up).
4. Tell, from the new clues only (an index range above the highest clue id before the
   insert): one INSERT … SELECT writes the batch's rounds (下发批次) per county, then the
   notifications — the county approver of each round waiting for dispatch (with how many
   of its clues are 返贫风险), the villages of clues dispatched automatically, the village
   of each 返贫风险 clue dispatched automatically (a clue waiting for the county is
   announced to its village when the county sends it down), and the village of each
   monitored household the list hit (evidence attached to its case). Clues dispatched
   automatically get their audit row (ClueTransition, by the system) in one statement.

The whole batch is one transaction: a worker killed half-way leaves nothing behind, and the
batch, still marked received, is redone whole by the retry or the sweep. The SQL runs
unchanged on PostgreSQL and SQLite (3.33+); every value is a bound parameter.
"""

import logging
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from accounts.choices import Role
from households.choices import PREFIX_LENGTH, LifeStatus
from households.models import Region
from monitor.choices import (
    CLOSED_STATUSES,
    BatchStatus,
    ClueChannel,
    ClueStatus,
    NotificationKind,
    RowOutcome,
    Status,
)
from monitor.deadlines import add_workdays
from monitor.feeds import parallel
from monitor.feeds.dispatch import (
    COUNTY_DIGITS,
    CountyRules,
    county_clue_rules,
    round_dispatch_audit,
    sql_now,
)
from monitor.feeds.intake import open_payload
from monitor.feeds.rows import STAGE_COLUMNS, FeedFormatError, staged_rows
from monitor.feeds.screening import stage_screening
from monitor.models import Department, DispatchRound, WarningBatch, WarningRow
from sheets.reading import TabularError, decode_csv_bytes

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
# Only a member still in the register (在册) of a household not closed (销户) is found: a list
# naming someone who died or moved away raises nothing. Such a row is "not found", and `gone`
# says why for its receipt (1: the member is gone, 2: the household is closed; else NULL).
# A department finds only the members of its own region ({scope}): anyone registered outside
# it is not joined at all, so the row reads exactly like an unknown person's — no `gone`
# reason, no household — and the receipt tells nothing of what lies elsewhere.
# Narrow on purpose: the row's own columns stay in the stage and are read once, at the end.
_FOUND = f"""
    SELECT s.row_number,
        COALESCE(s.household_id, CASE WHEN m.life_status = %s AND h.id IS NULL
                                      THEN m.household_id END) AS found_household,
        CASE WHEN m.life_status <> %s THEN 1 WHEN h.id IS NOT NULL THEN 2 END AS gone,
        MIN(s.row_number) OVER (PARTITION BY s.id_number_hash COLLATE {{binary}},
                                s.indicator COLLATE {{binary}}, s.household_id) AS first_row
    FROM {STAGE} s
    LEFT JOIN households_member m
        ON s.household_id IS NULL AND s.outcome = %s AND m.id_number_hash = s.id_number_hash
        {{scope}}
    -- Only the closed households: a handful, hashed once, not a join on every household.
    LEFT JOIN households_household h ON h.id = m.household_id AND h.closed_on IS NOT NULL
    WHERE s.outcome = %s
"""  # noqa: S608 - constant SQL; every value is a bound parameter

# The households of the department's region, hashed once (a county's: a few index pages).
_IN_SCOPE = "AND m.household_id IN (SELECT id FROM households_household WHERE village_id LIKE %s)"

_NEW_CLUES = """
    INSERT INTO monitor_clue (household_id, village_id, channel, status, raised_on, due_on,
        outcome, outcome_note, created_at, source_batch_id, relapse_of_id)
    SELECT DISTINCT f.found_household, h.village_id, %s, {status}, %s, {due}, '', '', %s, %s,
        fu.case_id
    FROM feed_found f
    JOIN households_household h ON h.id = f.found_household
    -- 消除后跟踪: the household's latest cleared case whose follow-up runs until today or
    -- later (cases are filed one after the other, so the latest has the highest id).
    LEFT JOIN (SELECT household_id, MAX(id) AS case_id FROM monitor_case
               WHERE status = %s AND follow_up_until >= %s GROUP BY household_id) fu
        ON fu.household_id = f.found_household
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
             -- The household's first row raised this batch's clue; its other rows (another
             -- member, another indicator) are merged into it, so the counts equal the clues.
             WHEN cl.source_batch_id = %s AND f.row_number = f.household_first THEN %s
             ELSE %s END,
        CASE WHEN f.row_number > f.first_row THEN '与第 ' || f.first_row || ' 行重复'
             WHEN f.gone = 1 THEN %s WHEN f.gone = 2 THEN %s ELSE s.reason END,
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
    -- left to right instead of at random pages (a third off a million-row insert); the rows
    -- that found no one come last in list order, filling the receipt's own key index page
    -- by page.
    ORDER BY f.found_household, s.row_number
"""  # noqa: S608 - constant SQL; every value is a bound parameter


# The receipt's reason for a row naming someone no longer to be matched.
GONE_MEMBER = "该成员已登记为死亡或户籍迁出，不在册"
CLOSED_HOUSEHOLD = "该户已销户"

# `household_first`: the household's first row in the list (never a duplicate: a duplicate's
# first row names the same person, so the same household, and comes earlier).
_MATERIALISE = (
    "CREATE TEMP TABLE feed_found AS SELECT x.*, "
    "MIN(x.row_number) OVER (PARTITION BY x.found_household) AS household_first "
    "FROM (" + _FOUND + ") x"
)


def department_scope(batch: WarningBatch) -> str | None:
    """The region code prefix a department's list is matched within (its Department.region:
    a county's department matches its county, a province's its province); None when nothing
    needs excluding — a screening run (its rows name their households, inside its scope) or
    a department whose region holds every village on record, where the join is skipped."""
    if batch.source == WarningBatch.Source.SCREENING:
        return None
    region_id = Department.objects.filter(pk=batch.department_id).values_list(
        "region_id", flat=True
    )[0]
    prefix = Region.prefix_of_code(region_id)
    # A household lies in a region below its department's or beside it, never in one of the
    # department's own ancestors (the province, the city): when no other region lies outside
    # the prefix, no household can, and there is nothing to exclude.
    ancestors = [prefix[:n].ljust(12, "0") for n in sorted(set(PREFIX_LENGTH.values()))]
    outside = Region.objects.exclude(code__startswith=prefix).exclude(code__in=ancestors)
    return prefix if outside.exists() else None


def _find_households(scope: str | None = None) -> None:
    """The members join and the duplicate window, once: both inserts read the result."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS feed_found")
        pending = RowOutcome.PENDING.value
        # Grouping needs equality only: bytewise order sorts a million hashes several times
        # faster than the database's locale.
        binary = '"C"' if connection.vendor == "postgresql" else "BINARY"
        in_register = LifeStatus.IN_REGISTER.value
        scope_sql, scope_params = (_IN_SCOPE, [scope + "%"]) if scope is not None else ("", [])
        cursor.execute(
            _MATERIALISE.format(binary=binary, scope=scope_sql),
            [in_register, in_register, pending, *scope_params, pending],
        )
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


def by_county(column: str, default, values: dict) -> tuple[str, list]:
    """An SQL expression of the county of `column` (a village code): `default`, except for
    the counties listed with another value. A constant when they all agree."""
    groups = defaultdict(list)
    for county, value in values.items():
        if value != default:
            groups[value].append(county)
    if not groups:
        return "%s", [default]
    sql, params = "CASE", []
    for value, counties in groups.items():
        marks = ", ".join(["%s"] * len(counties))
        sql += f" WHEN substr({column}, 1, 6) IN ({marks}) THEN %s"
        params += [*sorted(counties), value]
    return sql + " ELSE %s END", [*params, default]


def _status_by_county(column: str, rules: CountyRules) -> tuple[str, list]:
    def status(auto: bool) -> str:
        return (ClueStatus.VERIFYING if auto else ClueStatus.PENDING_DISPATCH).value

    values = {county: status(auto) for county, (auto, _) in rules.exceptions.items()}
    return by_county(column, status(rules.default_auto), values)


# The receipt counted as it is written: reading a million rows back costs more.
_ROWS_COUNTED = """WITH written AS ({rows} RETURNING outcome)
    SELECT outcome, COUNT(*) FROM written GROUP BY outcome"""


def match_staged(
    batch_id: int, today: date, channel: str, rules: CountyRules | None = None
) -> dict[str, int]:
    """The two set-based statements over the found rows (the partial unique indexes keep
    each household to one open case and one open clue, so the joins never fan out). Returns
    the number of rows of each outcome."""
    rules = rules or county_clue_rules(today.year)
    status_sql, status_params = _status_by_county("h.village_id", rules)
    # Waiting for the county, the deadline is provisional: the dispatch sets it anew.
    due_sql, due_params = by_county(
        "h.village_id",
        add_workdays(today, rules.default_workdays),
        {county: add_workdays(today, days) for county, (_, days) in rules.exceptions.items()},
    )
    closed = sorted(CLOSED_STATUSES)
    marks = ", ".join(["%s"] * len(closed))
    with connection.cursor() as cursor:
        cursor.execute(
            _NEW_CLUES.replace("{closed_marks}", marks).format(status=status_sql, due=due_sql),
            [
                channel,
                *status_params,
                today,
                *due_params,
                sql_now(),
                batch_id,
                Status.CLEARED.value,
                today,
                *closed,
            ],
        )
        rows = _ROWS.replace("{closed_marks}", marks)
        if connection.vendor == "postgresql":
            rows = _ROWS_COUNTED.format(rows=rows)
        cursor.execute(
            rows,
            [
                batch_id,
                RowOutcome.DUPLICATE.value,
                RowOutcome.NOT_FOUND.value,
                RowOutcome.ATTACHED_TO_CASE.value,
                batch_id,
                RowOutcome.NEW_CLUE.value,
                RowOutcome.MERGED.value,
                GONE_MEMBER,
                CLOSED_HOUSEHOLD,
                *closed,
            ],
        )
        if connection.vendor != "postgresql":
            # SQLite has no INSERT inside WITH.
            cursor.execute(
                "SELECT outcome, COUNT(*) FROM monitor_warningrow WHERE batch_id = %s "
                "GROUP BY outcome",
                [batch_id],
            )
        counts = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {STAGE}")
        cursor.execute("DROP TABLE feed_found")
    return counts


def _last_clue_id() -> int:
    """The highest clue id before the batch's insert: the batch's own clues lie above it (ids
    are handed out in order), so they are read back by an index range, not a table scan."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM monitor_clue")
        return cursor.fetchone()[0]


_FEED_NEW = """
    CREATE TEMP TABLE feed_new AS
    SELECT village_id, COUNT(*) AS clues,
        SUM(CASE WHEN relapse_of_id IS NULL THEN 0 ELSE 1 END) AS relapses
    FROM monitor_clue WHERE id > %s AND source_batch_id = %s GROUP BY village_id
"""

_ROUNDS = """
    INSERT INTO monitor_dispatchround (county_id, batch_id, clue_count, created_at,
        dispatched_at, dispatched_by_id)
    SELECT substr(n.village_id, 1, 6) || '000000', %s, SUM(n.clues), %s, {dispatched}, NULL
    FROM feed_new n
    GROUP BY substr(n.village_id, 1, 6)
"""

# The county approver of each round that waits for the county's dispatch, with how many of
# its clues are 返贫风险 (their villages are told when the county sends them down).
_TELL_COUNTIES = """
    INSERT INTO monitor_notification (region_id, role, case_id, kind, message, "key", created_at)
    SELECT r.county_id, %s, NULL, %s, %s || CAST(r.clue_count AS varchar) || %s
        || CASE WHEN x.relapses > 0 THEN %s || CAST(x.relapses AS varchar) || %s ELSE '' END,
        %s || CAST(r.id AS varchar), %s
    FROM monitor_dispatchround r
    JOIN (SELECT substr(village_id, 1, 6) AS county, SUM(relapses) AS relapses
          FROM feed_new GROUP BY substr(village_id, 1, 6)) x
        ON x.county = substr(r.county_id, 1, 6)
    WHERE r.batch_id = %s AND r.dispatched_at IS NULL
    ON CONFLICT ("key") DO NOTHING
"""

# Each village whose clues went straight down (its county dispatches automatically).
_TELL_VILLAGES = """
    INSERT INTO monitor_notification (region_id, role, case_id, kind, message, "key", created_at)
    SELECT n.village_id, %s, NULL, %s, %s || CAST(n.clues AS varchar) || %s,
        %s || n.village_id, %s
    FROM feed_new n WHERE {status} = %s
    ON CONFLICT ("key") DO NOTHING
"""

# 返贫风险: the village of each new clue of a household in its follow-up period that went
# straight down (automatic dispatch). A clue waiting for the county is not the village's to
# act on yet: its village is told when the county dispatches it (monitor/feeds/dispatch.py).
_TELL_RELAPSES = """
    INSERT INTO monitor_notification (region_id, role, case_id, kind, message, "key", created_at)
    SELECT cl.village_id, %s, cl.relapse_of_id, %s, %s || h.number || %s,
        %s || CAST(cl.id AS varchar), %s
    FROM monitor_clue cl JOIN households_household h ON h.id = cl.household_id
    WHERE cl.id > %s AND cl.source_batch_id = %s AND cl.relapse_of_id IS NOT NULL
      AND cl.status = %s
    ON CONFLICT ("key") DO NOTHING
"""

# A monitored household on the list: its village, once per case and batch.
_TELL_HITS = """
    INSERT INTO monitor_notification (region_id, role, case_id, kind, message, "key", created_at)
    SELECT h.village_id, %s, r.case_id, %s,
        %s || h.number || %s || CAST(COUNT(*) AS varchar) || %s,
        %s || CAST(r.case_id AS varchar), %s
    FROM monitor_warningrow r JOIN households_household h ON h.id = r.household_id
    WHERE r.batch_id = %s AND r.outcome = %s AND r.case_id IS NOT NULL
    GROUP BY r.case_id, h.village_id, h.number
    ON CONFLICT ("key") DO NOTHING
"""


# The audit row of each clue that went straight down (a county whose rule is automatic
# dispatch): taken by the system, not by a person — no actor.
_AUTO_TRAIL = """
    INSERT INTO monitor_cluetransition (clue_id, action, from_status, to_status, actor_id,
        actor_role, actor_region, at, comment)
    SELECT id, %s, %s, %s, NULL, %s, '', %s, %s FROM monitor_clue
    WHERE id > %s AND source_batch_id = %s AND status = %s
"""
AUTO_ROLE = "system"
AUTO_COMMENT = "按本县规则自动下发"


def record_auto_dispatch(batch: WarningBatch, rules: CountyRules, last_clue: int) -> None:
    """One statement: a dispatch row (待县级下发 → 待村级核实) for every new clue of the batch
    that its county's rule sent straight to the village."""
    if not (batch.rows_new_clue and rules.any_auto()):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _AUTO_TRAIL,
            [
                "dispatch",
                ClueStatus.PENDING_DISPATCH.value,
                ClueStatus.VERIFYING.value,
                AUTO_ROLE,
                sql_now(),
                AUTO_COMMENT,
                last_clue,
                batch.pk,
                ClueStatus.VERIFYING.value,
            ],
        )


def _audit_automatic_rounds(cursor, batch: WarningBatch) -> None:
    """The audit event of each round of the batch that its county's rule sent straight
    down (by nobody): one per round, as a county's own dispatch is."""
    cursor.execute("SELECT substr(village_id, 1, 6), COUNT(*) FROM feed_new GROUP BY 1")
    villages_in = dict(cursor.fetchall())
    sent = (
        DispatchRound.objects.filter(batch=batch, dispatched_at__isnull=False)
        .select_related("batch__department")
        .defer("batch__payload")
        .order_by("county_id")
    )
    for dispatch_round in sent:
        villages = villages_in.get(dispatch_round.county_id[:COUNTY_DIGITS], 0)
        round_dispatch_audit(
            dispatch_round, by=None, clues=dispatch_round.clue_count, villages=int(villages)
        )


def raise_rounds_and_tell(batch: WarningBatch, rules: CountyRules, last_clue: int) -> None:
    """The batch's rounds (下发批次), one per county of its new clues, and the notifications
    they and the list's hits call for; set-based, from the new clues and the receipt."""
    source = batch.department.name if batch.department_id else "数据筛查"
    now = sql_now()
    village, county = Role.VILLAGE_CADRE.value, Role.COUNTY_APPROVER.value
    with connection.cursor() as cursor:
        if batch.rows_new_clue:
            cursor.execute("DROP TABLE IF EXISTS feed_new")
            cursor.execute(_FEED_NEW, [last_clue, batch.pk])
            dispatched_sql, dispatched_params = by_county(
                "n.village_id",
                now if rules.default_auto else None,
                {c: now if auto else None for c, (auto, _) in rules.exceptions.items()},
            )
            cursor.execute(
                _ROUNDS.format(dispatched=dispatched_sql),
                [batch.pk, now, *dispatched_params],
            )
            cursor.execute(
                _TELL_COUNTIES,
                [
                    county,
                    NotificationKind.CLUES_ARRIVED.value,
                    f"{source}名单：",
                    " 条预警线索待下发",
                    "（其中返贫风险 ",
                    " 条：消除后跟踪期内的农户）",
                    "round:",
                    now,
                    batch.pk,
                ],
            )
            if rules.any_auto():
                _audit_automatic_rounds(cursor, batch)
                status_sql, status_params = _status_by_county("n.village_id", rules)
                cursor.execute(
                    _TELL_VILLAGES.format(status=status_sql),
                    [
                        village,
                        NotificationKind.CLUES_DISPATCHED.value,
                        f"{source}预警线索 ",
                        " 条已下发到本村，请按期入户核实并反馈",
                        f"auto:{batch.pk}:",
                        now,
                        *status_params,
                        ClueStatus.VERIFYING.value,
                    ],
                )
            cursor.execute("SELECT COALESCE(SUM(relapses), 0) FROM feed_new")
            # Only clues sent straight down: the others' villages hear at the dispatch.
            if cursor.fetchone()[0] and rules.any_auto():
                cursor.execute(
                    _TELL_RELAPSES,
                    [
                        village,
                        NotificationKind.RELAPSE_RISK.value,
                        "返贫风险：消除后跟踪期内的农户 ",
                        f" 出现在{source}预警名单中，已生成预警线索，请及时入户核实",
                        "relapse:",
                        now,
                        last_clue,
                        batch.pk,
                        ClueStatus.VERIFYING.value,
                    ],
                )
            cursor.execute("DROP TABLE feed_new")
        if batch.rows_attached:
            cursor.execute(
                _TELL_HITS,
                [
                    village,
                    NotificationKind.WARNING_HIT.value,
                    "监测户 ",
                    f" 出现在{source}预警名单中（",
                    " 条），已并入监测档案，请核查风险变化",
                    f"hit:{batch.pk}:",
                    now,
                    batch.pk,
                    RowOutcome.ATTACHED_TO_CASE.value,
                ],
            )


COUNT_FIELDS = {
    RowOutcome.INVALID: "rows_invalid",
    RowOutcome.DUPLICATE: "rows_duplicate",
    RowOutcome.NOT_FOUND: "rows_not_found",
    RowOutcome.NEW_CLUE: "rows_new_clue",
    RowOutcome.MERGED: "rows_merged",
    RowOutcome.ATTACHED_TO_CASE: "rows_attached",
}


def _count(batch: WarningBatch, counts: dict[str, int]) -> None:
    batch.rows_total = sum(counts.values())
    for outcome, name in COUNT_FIELDS.items():
        setattr(batch, name, counts.get(outcome.value, 0))


def _stage_list(batch: WarningBatch, today: date) -> None:
    """Open the stored upload and stage its normalised rows: a large CSV list on every core
    (parallel.py) where the database is PostgreSQL, otherwise in this process. The sealed copy
    is read here and dropped once opened."""
    sealed = WarningBatch.objects.filter(pk=batch.pk).values_list("payload", flat=True).get()
    data = open_payload(sealed)
    del sealed
    if (
        connection.vendor == "postgresql"
        and batch.file_format == "csv"
        and parallel.wanted(len(data))
        and _stage_in_parallel(data, today)
    ):
        return
    _stage_rows(
        staged_rows(data, batch.file_format, batch.file_name, max_bytes=len(data) + 1, today=today)
    )


# The helpers' rows come as CSV with every value quoted; an empty value is NULL only here.
_COPY_CSV = (
    f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN "
    "WITH (FORMAT csv, FORCE_NULL (amount, occurred_on, household_id))"
)


def _stage_in_parallel(data: bytes, today: date) -> bool:
    """False when the list is better read in one process; what was staged is then gone."""
    try:
        text, _ = decode_csv_bytes(data)
        layout = parallel.plan(text)
    except TabularError:
        return False  # the single-process reader gives the reason
    except parallel.Fallback as reason:
        logger.info("list read in one process: %s", reason)
        return False
    try:
        # A savepoint: a fallback half-way drops the stage with the rows already copied.
        with transaction.atomic(), connection.cursor() as cursor:
            create_stage()
            with cursor.cursor.copy(_COPY_CSV) as copy:
                for staged in parallel.staged_chunks(layout, text, today):
                    copy.write(staged)
            cursor.execute(f"ANALYZE {STAGE}")
    except parallel.Fallback as reason:
        logger.info("list read in one process: %s", reason)
        return False
    logger.info(
        "list staged by %d helpers in %d chunks", parallel.helper_count(), len(layout.chunks)
    )
    return True


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
        _stage_list(batch, today)
        channel = ClueChannel.DEPARTMENT
    _fault_injection_point(batch.pk)
    _find_households(department_scope(batch))
    _lock_households()
    rules = county_clue_rules(today.year)
    last_clue = _last_clue_id()
    _count(batch, match_staged(batch.pk, today, channel, rules))
    record_auto_dispatch(batch, rules, last_clue)
    raise_rounds_and_tell(batch, rules, last_clue)


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
