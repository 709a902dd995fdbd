"""The report facts (统计事实, monitor.models.CaseFact): one narrow row per case holding
what the figures read, derived from the case, its trail, risks, measures and household
members — built incrementally, as DHIS2 builds its analytics tables, so that a province's
figures as of any day read 60,000 rows of one table, not 300,000 steps and 3.5 million
members.

When a row is rebuilt:
- its case changed since the row was built (every step, adjustment and edit saves the
  case, so `Case.updated_at` moves): found by the indexed update time;
- one of its measures changed since (`MeasureRecord.updated_at`, indexed);
- its household's members changed (born into the register, died, moved out, re-imported):
  the member services and the registry import mark the household's rows stale
  (`case_facts_mark_households`), because scanning millions of members for changes on every
  report would cost what the table saves.

`case_facts_refresh()` runs before every report read and rebuilds only those rows; beat
rebuilds everything each night as well (`full=True`), so a write path that forgot to mark
costs a day's delay, never a wrong figure for ever.

What depends on the day asked for is kept in narrow rows beside the fact — members counted
only on some days (CaseFactPerson), the first start of each measure category
(CaseFactMeasure), the values a later 动态调整 replaced (CaseFactVersion) — so that the
figures are counted by the database with one comparison against the day (figures.py).
Deadlines and clues are read from their own tables.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from households.choices import LifeStatus
from households.models import Member
from interventions.models import MeasureRecord
from monitor.choices import Status
from monitor.models import (
    Case,
    CaseAdjustment,
    CaseFact,
    CaseFactMeasure,
    CaseFactPerson,
    CaseFactVersion,
    CaseRisk,
)

# Members born before this day and never gone count on every day a report can be asked
# for (monitor.reports.selectors.EARLIEST_AS_OF): a number, not a list.
FIXED_BEFORE = date(2016, 1, 1)
CHUNK = 2000
# Writes still in flight when a refresh starts may carry an update time a little before it:
# each refresh looks this far back past the last build.
MARGIN = timedelta(minutes=5)


def _local_day(moment: datetime | None) -> date | None:
    return None if moment is None else timezone.localtime(moment).date()


def _people(household_ids: Iterable[int]) -> dict[int, tuple[int, list[tuple]]]:
    """Each household's members counted on every report day, and the (born, left) of the
    others."""
    fixed: dict[int, int] = defaultdict(int)
    dated: dict[int, list[tuple]] = defaultdict(list)
    rows = Member.objects.filter(household_id__in=household_ids).values_list(
        "household_id", "birth_date", "life_status", "life_status_on"
    )
    for household_id, birth, status, left_on in rows.order_by():
        if status != LifeStatus.IN_REGISTER:
            if left_on is None:
                continue  # gone on an unknown day: not counted on any
            dated[household_id].append((birth, left_on))
        elif birth >= FIXED_BEFORE:
            dated[household_id].append((birth, None))
        else:
            fixed[household_id] += 1
    return {h: (fixed.get(h, 0), dated.get(h, [])) for h in {*fixed, *dated}}


def _versions(case_ids: list[int], current: dict[int, tuple]) -> dict[int, list[tuple]]:
    """(until, category, main risk, risk codes) before each confirmed 动态调整, in order."""
    versions: dict[int, list[tuple]] = defaultdict(list)
    adjustments = (
        CaseAdjustment.objects.filter(case_id__in=case_ids, status="confirmed")
        .exclude(decided_at=None)
        .order_by("case_id", "decided_at", "id")
        .values_list("case_id", "decided_at", "before")
    )
    for case_id, decided_at, before in adjustments:
        category, main_risk, risk_codes = current[case_id]
        if "risk_codes" in before:
            risk_codes = ",".join(sorted(before["risk_codes"]))
        versions[case_id].append(
            (
                _local_day(decided_at),
                before.get("category", category),
                before.get("main_risk", main_risk),
                risk_codes,
            )
        )
    return versions


class Built(NamedTuple):
    facts: list[CaseFact]
    people: list[CaseFactPerson]
    measures: list[CaseFactMeasure]
    versions: list[CaseFactVersion]


def _superseded(rows: list[tuple]) -> dict[int, date]:
    """case -> the day the household's next case (by identification day, then id) was
    identified. A case is its household's latest identified case as of a day it was
    identified by and not superseded by: the figures need no window over the household."""
    identified: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for row in rows:
        if row[9] is not None:
            identified[row[2]].append((_local_day(row[9]), row[0]))
    superseded: dict[int, date] = {}
    for cases in identified.values():
        cases.sort()
        for (_, case_id), (next_day, _) in pairwise(cases):
            superseded[case_id] = next_day
    return superseded


def _measure_counted(rows: list[tuple], measures: dict) -> dict[tuple, tuple[int, date]]:
    """(household, category) -> (case, day): the household counts as having a measure of
    the category as of a day on or after `day` — some case of it found and identified by
    then with a measure of the category started — and the count is carried by that case's
    row alone, so a household with two cases is counted once without a DISTINCT."""
    counted: dict[tuple, tuple[int, date]] = {}
    for row in rows:
        if row[9] is None:
            continue
        identified = _local_day(row[9])
        for code, first in measures.get(row[0], ()):
            day = max(row[6], identified, first)
            key = (row[2], code)
            if key not in counted or (day, row[0]) < (counted[key][1], counted[key][0]):
                counted[key] = (row[0], day)
    return counted


def _counted_here(counted: dict, household_id: int, code: str, case_id: int) -> date | None:
    owner, day = counted.get((household_id, code), (None, None))
    return day if owner == case_id else None


def _build(case_ids: list[int], built_at: datetime) -> Built:
    # The chunk's cases and the other cases of their households (_superseded and
    # _measure_counted read them).
    households = Case.objects.filter(pk__in=case_ids).values("household_id")
    steps = (
        Case.objects.filter(household_id__in=households)
        .annotate(
            entered_at=Min("transitions__at", filter=Q(transitions__action="county_approve")),
            cleared_at=Min("transitions__at", filter=Q(transitions__to_status=Status.CLEARED)),
            terminated_at=Min(
                "transitions__at", filter=Q(transitions__to_status=Status.TERMINATED)
            ),
            dropped_at=Min(
                "transitions__at",
                filter=Q(transitions__to_status__in=[Status.REJECTED, Status.CANCELLED]),
            ),
        )
        .values_list(
            "id",
            "village_id",
            "household_id",
            "category",
            "main_risk",
            "channel",
            "found_on",
            "relapse_of_id",
            "clearance_kind",
            "entered_at",
            "cleared_at",
            "terminated_at",
            "dropped_at",
        )
        .order_by()
    )
    every = list(steps)
    wanted = set(case_ids)
    rows = [row for row in every if row[0] in wanted]
    risks: dict[int, list[str]] = defaultdict(list)
    for case_id, code in (
        CaseRisk.objects.filter(case_id__in=case_ids).values_list("case_id", "code").order_by()
    ):
        risks[case_id].append(code)
    measures: dict[int, list[tuple[str, date]]] = defaultdict(list)
    firsts = (
        MeasureRecord.objects.filter(case_id__in=[row[0] for row in every])
        .values("case_id", "category__code")
        .annotate(first=Min("start_on"))
        .order_by()
        .values_list("case_id", "category__code", "first")
    )
    for case_id, code, first in firsts:
        measures[case_id].append((code, first))
    superseded = _superseded(every)
    counted = _measure_counted(every, measures)
    people = _people({row[2] for row in rows})
    risk_codes = {row[0]: ",".join(sorted(risks.get(row[0], ()))) for row in rows}
    versions = _versions(case_ids, {row[0]: (row[3], row[4], risk_codes[row[0]]) for row in rows})
    built = Built([], [], [], [])
    for row in rows:
        case_id = row[0]
        fixed, dated = people.get(row[2], (0, []))
        starts = measures.get(case_id, [])
        built.facts.append(
            CaseFact(
                case_id=case_id,
                village_id=row[1],
                household_id=row[2],
                category=row[3],
                main_risk=row[4],
                channel=row[5],
                found_on=row[6],
                relapse=row[7] is not None,
                clearance_kind=row[8],
                identified_on=_local_day(row[9]),
                cleared_on=_local_day(row[10]),
                terminated_on=_local_day(row[11]),
                dropped_on=_local_day(row[12]),
                risk_codes=risk_codes[case_id],
                first_measure_on=min((first for _, first in starts), default=None),
                superseded_on=superseded.get(case_id),
                people_fixed=fixed,
                built_at=built_at,
            )
        )
        built.people.extend(
            CaseFactPerson(fact_id=case_id, born=born, left_on=left) for born, left in dated
        )
        built.measures.extend(
            CaseFactMeasure(
                fact_id=case_id,
                category_code=code,
                first_on=first,
                household_counted_on=_counted_here(counted, row[2], code, case_id),
            )
            for code, first in starts
        )
        built.versions.extend(
            CaseFactVersion(
                fact_id=case_id,
                sequence=sequence,
                until=until,
                category=category,
                main_risk=main_risk,
                risk_codes=codes,
            )
            for sequence, (until, category, main_risk, codes) in enumerate(
                versions.get(case_id, ())
            )
        )
    return built


# `stale_since` is left to the clearing below: a mark made while the row was being built
# must survive the write.
FACT_FIELDS = [
    field.name
    for field in CaseFact._meta.concrete_fields
    if field.name not in {"case", "stale_since"} and not field.primary_key
]


def case_facts_build(case_ids: list[int], built_at: datetime | None = None) -> int:
    """(Re)build the rows of these cases. Returns how many were written."""
    built_at = built_at or timezone.now()
    written = 0
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start : start + CHUNK]
        built = _build(chunk, built_at)
        with transaction.atomic():
            # The upsert locks the fact rows first: a refresh running at the same time in
            # another process waits here, so the parts below are never written twice.
            CaseFact.objects.bulk_create(
                built.facts,
                update_conflicts=True,
                unique_fields=["case"],
                update_fields=FACT_FIELDS,
            )
            for part, rows in (
                (CaseFactPerson, built.people),
                (CaseFactMeasure, built.measures),
                (CaseFactVersion, built.versions),
            ):
                part.objects.filter(fact_id__in=chunk).delete()
                part.objects.bulk_create(rows, batch_size=5000)
            CaseFact.objects.filter(case_id__in=chunk, stale_since__lt=built_at).update(
                stale_since=None
            )
        written += len(built.facts)
    return written


def _stale_case_ids(full: bool) -> list[int]:
    if full:
        return list(Case.objects.order_by("pk").values_list("pk", flat=True))
    last = CaseFact.objects.aggregate(last=Max("built_at"))["last"]
    if last is None:
        return list(Case.objects.order_by("pk").values_list("pk", flat=True))
    since = last - MARGIN
    changed = set(Case.objects.filter(updated_at__gte=since).values_list("pk", flat=True))
    changed |= set(
        MeasureRecord.objects.filter(updated_at__gte=since).values_list("case_id", flat=True)
    )
    changed |= set(
        CaseFact.objects.filter(stale_since__isnull=False).values_list("case_id", flat=True)
    )
    # A case without a row yet (created before the table existed, or written by COPY): the
    # anti-join only when the counts say there is one.
    if Case.objects.count() != CaseFact.objects.count():
        changed |= set(Case.objects.filter(fact__isnull=True).values_list("pk", flat=True))
    # A row also holds what its household's other cases decide (superseded_on, and which
    # case carries a measure category's count): rebuild those cases with it.
    seeds = sorted(changed)
    for start in range(0, len(seeds), CHUNK):
        chunk = seeds[start : start + CHUNK]
        households = Case.objects.filter(pk__in=chunk).values("household_id")
        changed |= set(
            Case.objects.filter(household_id__in=households).values_list("pk", flat=True)
        )
    return sorted(changed)


def case_facts_refresh(*, full: bool = False) -> int:
    """Bring the facts up to date with their sources; only the changed rows unless `full`.
    Returns the rows rebuilt."""
    started = timezone.now()
    written = case_facts_build(_stale_case_ids(full), built_at=started)
    if full and connection.vendor == "postgresql":
        # Every row was rewritten: the planner's row counts for the report query (hash
        # aggregates sized by them) should not wait for autovacuum.
        with connection.cursor() as cursor:
            tables = (CaseFact, CaseFactPerson, CaseFactMeasure, CaseFactVersion)
            names = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in tables)
            cursor.execute(f"ANALYZE {names}")
    return written


def case_facts_mark_households(household_ids: Iterable[int]) -> int:
    """The members of these households changed: their cases' rows are rebuilt at the next
    refresh (called by the member services and the registry import)."""
    ids = list(household_ids)
    marked = 0
    for start in range(0, len(ids), CHUNK):
        marked += CaseFact.objects.filter(household_id__in=ids[start : start + CHUNK]).update(
            stale_since=timezone.now()
        )
    return marked


def case_facts_mark_members_since(moment: datetime) -> int:
    """After a registry import: mark the households whose members were written since
    `moment` (one set-based UPDATE, whatever the size of the import)."""
    touched = Member.objects.filter(updated_at__gte=moment).values("household_id")
    return CaseFact.objects.filter(household_id__in=touched).update(stale_since=timezone.now())
