"""A synthetic province at full scale, written by COPY: the data to benchmark reports and
exports on (issue 10, "Province scale"). Used by `manage.py generate_province`.

Province 98 is made up (no real code starts with 98; the benchmark commands use 99). In one
transaction, on PostgreSQL only:

1. regions (~8 cities, ~40 counties, townships, a village per ~300 households) and staff;
2. households and members, county by county in worker processes (households.pii encryption
   and the Python that draws each person are the cost), each county's rows COPYed as soon
   as it is ready, into tables whose secondary indexes and constraints are built again
   afterwards (provincegen.registry, sqlio.loading_bare);
3. the cases planned in Python over the registry's summary — states, trails through
   monitor.workflow.STEPS, adjustments (provincegen.casefacts, timeline), then COPYed with
   their risks, trail, clocks and aid measures (provincegen.evidence);
4. the departments' monthly lists, the county's rounds, the clues and the farmers' own
   applications (provincegen.feeds, feedrows);
5. a few set-based statements for what needs the stored rows: the deceased member of a
   自然消除, the beneficiaries of measures, the applicant's protected numbers, the monitored
   flag of households.

Then ANALYZE. The same seed and `until` give the same province (only the ciphertexts, whose
nonces are random, differ). Ids are reserved from each table's sequence (sqlio.reserve_ids),
so the application's next insert gets the next id.
"""

import multiprocessing
import random
import time
from array import array
from bisect import bisect_right
from collections import Counter
from datetime import date, datetime, timedelta

from django.db import connection, connections, transaction

from accounts.models import User
from households.models import Household, Region
from monitor.choices import MONITORED_STATUSES
from monitor.provincegen import evidence, feedrows, feeds, geography, registry, sqlio
from monitor.provincegen.casefacts import DAY
from monitor.provincegen.timeline import Planner

HISTORY_DAYS = 730
CASE_SHARE = 0.06
PREFIX = geography.PREFIX
ANALYZED = (
    "households_region",
    "accounts_user",
    "households_household",
    "households_member",
    "monitor_case",
    "monitor_caserisk",
    "monitor_casetransition",
    "monitor_deadline",
    "monitor_caseadjustment",
    "interventions_measurerecord",
    "interventions_measurerecord_beneficiaries",
    "monitor_department",
    "monitor_warningbatch",
    "monitor_dispatchround",
    "monitor_clue",
    "monitor_cluetransition",
    "monitor_selfapplication",
)


def province_exists() -> bool:
    return (
        Region.objects.filter(code__startswith=PREFIX).exists()
        or Household.objects.filter(number__startswith=PREFIX).exists()
        or User.objects.filter(region__code__startswith=PREFIX).exists()
    )


def province_remove() -> dict[str, int]:
    """Everything of province 98, and everything that refers to it, set-based."""
    with transaction.atomic():
        return sqlio.remove_tree(connection, "households_region", "code LIKE %s", [PREFIX + "%"])


class _Stages:
    def __init__(self, out):
        self.out, self.times = out, {}
        self.started = self.last = time.perf_counter()

    def done(self, name: str, detail: str = "") -> None:
        now = time.perf_counter()
        self.times[name] = now - self.last
        self.out(f"{name}：{now - self.last:.1f} s {detail}".rstrip())
        self.last = now


_INHERITED = []


def _detach_database() -> None:
    """In a forked worker: never touch the parent's database connection. Closing it from
    here would end the parent's session, so the child keeps the object and forgets it."""
    for wrapper in connections.all(initialized_only=True):
        _INHERITED.append(wrapper.connection)
        wrapper.connection = None


def _ordered(pool, function, tasks, window: int):
    """Results in task order, at most `window` tasks ahead (each is tens of megabytes)."""
    pending = []
    for task in tasks:
        pending.append(pool.apply_async(function, (task,)))
        if len(pending) >= window:
            yield pending.pop(0).get()
    while pending:
        yield pending.pop(0).get()


def province_generate(
    *, households: int, seed: int, until: date, workers: int = 2, out=print
) -> dict:
    rng = random.Random(f"{seed}:province")  # noqa: S311 - synthetic data
    start = until - timedelta(days=HISTORY_DAYS)
    origin = datetime(start.year, start.month, start.day)

    def moment(minutes: int) -> datetime:
        return sqlio.aware(origin + timedelta(minutes=minutes))

    stages = _Stages(out)
    layout = geography.layout_plan(households, rng)
    tasks_pool = None
    if workers > 1 and len(layout.counties) > 1:
        # Forked before the transaction opens: the workers never use the database.
        tasks_pool = multiprocessing.get_context("fork").Pool(workers, initializer=_detach_database)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            geography.regions_write(cursor, layout)
            users = geography.staff_write(cursor, layout, rng, origin + timedelta(hours=9))
            stages.done(
                "行政区划与人员",
                f"（{len(layout.counties)} 县 {len(layout.townships)} 乡镇 "
                f"{len(layout.villages)} 村，{users} 个账号）",
            )
            first_household = sqlio.reserve_ids(cursor, "households_household", households)
            summary, members, detail = _registry(
                cursor, layout, seed, start, first_household, tasks_pool, workers, out
            )
            stages.done("农户与家庭成员", f"（{households} 户，{members} 人；{detail}）")
            result = _cases_and_feeds(
                cursor, layout, summary, seed, start, first_household, moment, stages
            )
        stages.done("提交（其余表的外键检查）")
    finally:
        if tasks_pool is not None:
            tasks_pool.close()
            tasks_pool.join()
    with connection.cursor() as cursor:
        for table in ANALYZED:
            cursor.execute(f"ANALYZE {table}")
    stages.done("ANALYZE")
    result["seconds"] = stages.times
    result["households"], result["members"] = households, members
    return result


def _registry(cursor, layout, seed, start, first_household, pool, workers, out):
    tasks = [
        registry.CountyTask(
            seed=seed,
            county=county.index,
            county_code=county.code[:6],
            villages=tuple(
                (v.code, v.name, v.first, v.count)
                for v in (layout.villages[i] for i in county.villages)
            ),
            first_household_id=first_household,
            start=start,
            days=HISTORY_DAYS,
        )
        for county in layout.counties
    ]
    results = (
        _ordered(pool, registry.county_registry, tasks, workers + 1)
        if pool is not None
        else map(registry.county_registry, tasks)
    )
    summary = registry.Summary(array("b"), array("B"), array("h"), array("h"))
    members = 0
    expected = layout.households * 4
    waited = copied = 0.0
    clock = time.perf_counter()
    with (
        sqlio.loading_bare(cursor, "households_household", layout.households),
        sqlio.loading_bare(cursor, "households_member", expected),
    ):
        for task, (household_text, member_text, packed) in zip(tasks, results, strict=True):
            waited += time.perf_counter() - clock
            clock = time.perf_counter()
            sqlio.copy_text(
                cursor, "households_household", registry.HOUSEHOLD_COLUMNS, [household_text]
            )
            sqlio.copy_text(cursor, "households_member", registry.MEMBER_COLUMNS, [member_text])
            members += member_text.count(b"\n")
            part = registry.unpack_summary(packed, sum(v[3] for v in task.villages))
            for name in ("kind", "flags", "created", "closed"):
                getattr(summary, name).extend(getattr(part, name))
            done = task.county + 1
            if len(tasks) >= 10 and done % (len(tasks) // 10) == 0 and done < len(tasks):
                out(f"  已写入 {done}/{len(tasks)} 个县：{len(summary.kind)} 户，{members} 人")
            copied += time.perf_counter() - clock
            clock = time.perf_counter()
    rebuilt = time.perf_counter() - clock
    detail = f"等待工作进程 {waited:.1f} s，COPY {copied:.1f} s，重建索引与外键 {rebuilt:.1f} s"
    return summary, members, detail


def _cases_and_feeds(cursor, layout, summary, seed, start, first_household, moment, stages):
    firsts = [v.first for v in layout.villages]

    def village_of(index: int) -> tuple[int, int, int]:
        village = layout.villages[bisect_right(firsts, index) - 1]
        return village.index, village.township, village.county

    def county_range(county: int) -> tuple[int, int]:
        villages = [layout.villages[i] for i in layout.counties[county].villages]
        return villages[0].first, villages[-1].first + villages[-1].count

    def household_id(index: int) -> int:
        return first_household + index

    calendar = feeds.BatchCalendar(layout, start, HISTORY_DAYS, seed)
    planner = Planner(
        summary=summary,
        villages=village_of,
        start=start,
        days=HISTORY_DAYS,
        batches=calendar,
        seed=seed,
    )
    plans = planner.plan_all(round(len(summary.kind) * CASE_SHARE))
    evidence.plan_adjustments(planner, plans, seed)
    first_case = sqlio.reserve_ids(cursor, "monitor_case", len(plans))
    for offset, plan in enumerate(plans):
        plan.id = first_case + offset
    feed_plan = feeds.FeedPlanner(planner, calendar, layout, county_range).plan(plans)
    stages.done("监测对象与线索规划", f"（{len(plans)} 个案例）")

    sqlio.copy_rows(
        cursor,
        "monitor_case",
        evidence.CASE_COLUMNS,
        evidence.case_rows(planner, layout, plans, household_id, moment),
    )
    sqlio.copy_rows(cursor, "monitor_caserisk", ("case_id", "code"), evidence.risk_rows(plans))
    steps = sqlio.copy_rows(
        cursor,
        "monitor_casetransition",
        evidence.TRAIL_COLUMNS,
        evidence.trail_rows(layout, plans, moment),
    )
    sqlio.copy_rows(
        cursor,
        "monitor_deadline",
        evidence.DEADLINE_COLUMNS,
        evidence.deadline_rows(planner, plans),
    )
    sqlio.copy_rows(
        cursor,
        "monitor_caseadjustment",
        evidence.ADJUSTMENT_COLUMNS,
        evidence.adjustment_rows(layout, plans, moment),
    )
    cursor.execute("SELECT code, id FROM interventions_measurecategory")
    categories = dict(cursor.fetchall())
    measures = sqlio.copy_rows(
        cursor,
        "interventions_measurerecord",
        evidence.MEASURE_COLUMNS,
        evidence.measure_rows(planner, layout, plans, categories, moment, seed),
    )
    last_case = first_case + len(plans) - 1
    _after_cases(cursor, planner, plans, first_case, last_case, household_id, moment)
    stages.done("案例、留痕、时限、帮扶措施", f"（{steps} 条留痕，{measures} 条措施）")

    feedrows.batch_ids(
        calendar, sqlio.reserve_ids(cursor, "monitor_warningbatch", len(calendar.batches))
    )
    first_clue = sqlio.reserve_ids(cursor, "monitor_clue", len(feed_plan.clues))
    clue_rows = feedrows.clue_rows(feed_plan, layout, first_clue, household_id, moment)
    sqlio.copy_rows(cursor, "monitor_clue", feedrows.CLUE_COLUMNS, clue_rows)
    sqlio.copy_rows(
        cursor,
        "monitor_warningbatch",
        feedrows.BATCH_COLUMNS,
        feedrows.batch_rows(calendar, layout, moment),
    )
    sqlio.copy_rows(
        cursor,
        "monitor_cluetransition",
        feedrows.CLUE_TRAIL_COLUMNS,
        feedrows.clue_trail(feed_plan, layout, moment),
    )
    sqlio.copy_rows(
        cursor,
        "monitor_dispatchround",
        feedrows.ROUND_COLUMNS,
        feedrows.round_rows(calendar, feed_plan, layout, moment),
    )
    applications = _applications(cursor, feed_plan, layout, household_id, moment, seed)
    stages.done(
        "部门名单、线索与自主申报",
        f"（{len(calendar.batches)} 批名单，{len(clue_rows)} 条线索，{applications} 份申报）",
    )
    return {
        "cases": Counter(str(plan.status) for plan in plans),
        "measures": measures,
        "clues": len(clue_rows),
    }


def _after_cases(cursor, planner, plans, first_case, last_case, household_id, moment):
    """What needs the stored rows: the monitored flag, the deceased member of a 自然消除
    (致险成员去世), the beneficiary of each measure (the head of household)."""
    cursor.execute(
        "UPDATE households_household h SET is_monitored = true FROM monitor_case c "
        "WHERE c.household_id = h.id AND c.id BETWEEN %s AND %s AND c.status = ANY(%s)",
        [first_case, last_case, sorted(MONITORED_STATUSES)],
    )
    deaths = [
        (plan.id, household_id(plan.household), planner.date(plan.natural_dies_on))
        for plan in plans
        if plan.natural_dies_on is not None and plan.natural_reason == "member_died"
    ]
    cursor.execute(
        "CREATE TEMP TABLE gen_death (case_id bigint, household_id bigint, died_on date) "
        "ON COMMIT DROP"
    )
    sqlio.copy_rows(cursor, "gen_death", ("case_id", "household_id", "died_on"), deaths)
    # The member who died: a founding member other than the head, the sick first.
    cursor.execute(
        "CREATE TEMP TABLE gen_dead ON COMMIT DROP AS "
        "SELECT DISTINCT ON (d.case_id) d.case_id, m.id AS member_id, d.died_on "
        "FROM gen_death d JOIN households_member m ON m.household_id = d.household_id "
        "AND m.relation <> 'head' AND m.life_status = 'in_register' "
        "AND (m.created_at AT TIME ZONE %s)::date < d.died_on "
        "ORDER BY d.case_id, m.health IN ('serious', 'chronic') DESC, m.birth_date",
        [sqlio.LOCAL.key],
    )
    cursor.execute(
        "UPDATE households_member m SET life_status = 'deceased', life_status_on = d.died_on, "
        "life_status_evidence = '死亡证明', "
        "updated_at = (d.died_on + time '10:00') AT TIME ZONE %s "
        "FROM gen_dead d WHERE m.id = d.member_id",
        [sqlio.LOCAL.key],
    )
    cursor.execute(
        "UPDATE monitor_case c SET natural_member_id = d.member_id FROM gen_dead d "
        "WHERE c.id = d.case_id"
    )
    cursor.execute(
        "INSERT INTO interventions_measurerecord_beneficiaries (measurerecord_id, member_id) "
        "SELECT r.id, m.id FROM interventions_measurerecord r "
        "JOIN monitor_case c ON c.id = r.case_id "
        "JOIN households_member m ON m.household_id = c.household_id AND m.relation = 'head' "
        "WHERE r.case_id BETWEEN %s AND %s",
        [first_case, last_case],
    )


def _applications(cursor, feed_plan, layout, household_id, moment, seed) -> int:
    """一键申报: the applicant is the head of household, whose protected numbers (the same
    ciphertext, keyed hash and mask, bound to the same field names) are copied over."""
    cursor.execute(
        "CREATE TEMP TABLE gen_application (household_id bigint, village_id varchar(12), "
        "difficulty text, risk_code varchar(4), submitted_at timestamptz, "
        "reference varchar(20), case_id bigint, clue_id bigint) ON COMMIT DROP"
    )
    rng = random.Random(f"{seed}:applications")  # noqa: S311 - synthetic data
    sqlio.copy_rows(
        cursor,
        "gen_application",
        (
            "household_id",
            "village_id",
            "difficulty",
            "risk_code",
            "submitted_at",
            "reference",
            "case_id",
            "clue_id",
        ),
        feedrows.application_rows(feed_plan, layout, household_id, moment, rng),
    )
    cursor.execute(
        "INSERT INTO monitor_selfapplication (name, id_number_encrypted, id_number_hash, "
        "id_number_masked, phone_encrypted, phone_hash, phone_masked, difficulty, risk_code, "
        "submitted_at, reference, case_id, clue_id, village_id) "
        "SELECT m.name, m.id_number_encrypted, m.id_number_hash, m.id_number_masked, "
        "m.phone_encrypted, m.phone_hash, m.phone_masked, a.difficulty, a.risk_code, "
        "a.submitted_at, a.reference, a.case_id, a.clue_id, a.village_id "
        "FROM gen_application a JOIN households_member m "
        "ON m.household_id = a.household_id AND m.relation = 'head' ORDER BY a.submitted_at"
    )
    return cursor.rowcount


def province_totals() -> dict:
    """The figures of province 98 as stored (printed at the end of a run)."""
    like = PREFIX + "%"
    queries = {
        "households": "SELECT count(*) FROM households_household WHERE village_id LIKE %s",
        "members": "SELECT count(*) FROM households_member m JOIN households_household h "
        "ON h.id = m.household_id WHERE h.village_id LIKE %s",
        "measures": "SELECT count(*) FROM interventions_measurerecord r JOIN monitor_case c "
        "ON c.id = r.case_id JOIN households_household h ON h.id = c.household_id "
        "WHERE h.village_id LIKE %s",
        "clues": "SELECT count(*) FROM monitor_clue WHERE village_id LIKE %s",
    }
    totals = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, [like])
            totals[name] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT c.status, count(*) FROM monitor_case c JOIN households_household h "
            "ON h.id = c.household_id WHERE h.village_id LIKE %s GROUP BY c.status",
            [like],
        )
        totals["cases"] = dict(cursor.fetchall())
        cursor.execute("SELECT pg_database_size(current_database())")
        totals["database_bytes"] = cursor.fetchone()[0]
    return totals


__all__ = ["DAY", "province_exists", "province_generate", "province_remove", "province_totals"]
