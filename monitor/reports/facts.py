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
costs a day's delay, never a wrong figure for ever. The read side (figures.py) still takes
adjustments, deadlines and clues from their own tables: they are small.
"""

import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from households.choices import LifeStatus
from households.models import Member
from interventions.models import MeasureRecord
from monitor.choices import Status
from monitor.models import Case, CaseFact, CaseRisk

# Members born before this day and never gone count on every day a report can be asked
# for (monitor.reports.selectors.EARLIEST_AS_OF): a number, not a list.
FIXED_BEFORE = date(2016, 1, 1)
CHUNK = 2000
# Writes still in flight when a refresh starts may carry an update time a little before it:
# each refresh looks this far back past the last build.
MARGIN = timedelta(minutes=5)


def _local_day(moment: datetime | None) -> date | None:
    return None if moment is None else timezone.localtime(moment).date()


def _people(household_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    fixed: dict[int, int] = defaultdict(int)
    dated: dict[int, list[str]] = defaultdict(list)
    rows = Member.objects.filter(household_id__in=household_ids).values_list(
        "household_id", "birth_date", "life_status", "life_status_on"
    )
    for household_id, birth, status, left_on in rows.order_by():
        if status != LifeStatus.IN_REGISTER:
            if left_on is None:
                continue  # gone on an unknown day: not counted on any
            dated[household_id].append(f"{birth:%Y%m%d}-{left_on:%Y%m%d}")
        elif birth >= FIXED_BEFORE:
            dated[household_id].append(f"{birth:%Y%m%d}-")
        else:
            fixed[household_id] += 1
    return {h: (fixed.get(h, 0), ",".join(dated.get(h, ()))) for h in {*fixed, *dated}}


def _build(case_ids: list[int], built_at: datetime) -> list[CaseFact]:
    steps = (
        Case.objects.filter(pk__in=case_ids)
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
    risks: dict[int, list[str]] = defaultdict(list)
    for case_id, code in (
        CaseRisk.objects.filter(case_id__in=case_ids).values_list("case_id", "code").order_by()
    ):
        risks[case_id].append(code)
    measures: dict[int, list[str]] = defaultdict(list)
    firsts = (
        MeasureRecord.objects.filter(case_id__in=case_ids)
        .values("case_id", "category__code")
        .annotate(first=Min("start_on"))
        .order_by()
        .values_list("case_id", "category__code", "first")
    )
    for case_id, code, first in firsts:
        measures[case_id].append(f"{code}:{first:%Y%m%d}")
    rows = list(steps)
    people = _people({row[2] for row in rows})
    facts = []
    for row in rows:
        fixed, dated = people.get(row[2], (0, ""))
        facts.append(
            CaseFact(
                case_id=row[0],
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
                risk_codes=",".join(sorted(risks.get(row[0], ()))),
                measure_starts=";".join(sorted(measures.get(row[0], ()))),
                people_fixed=fixed,
                people_dated=dated,
                built_at=built_at,
            )
        )
    return facts


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
        facts = _build(chunk, built_at)
        with transaction.atomic():
            CaseFact.objects.bulk_create(
                facts,
                update_conflicts=True,
                unique_fields=["case"],
                update_fields=FACT_FIELDS,
            )
            CaseFact.objects.filter(case_id__in=chunk, stale_since__lt=built_at).update(
                stale_since=None
            )
        written += len(facts)
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
    return sorted(changed)


def case_facts_refresh(*, full: bool = False) -> int:
    """Bring the facts up to date with their sources; only the changed rows unless `full`.
    Returns the rows rebuilt."""
    started = timezone.now()
    return case_facts_build(_stale_case_ids(full), built_at=started)


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


# --- the read side: the facts parsed once per process --------------------------------------


class ParsedFact(NamedTuple):
    case_id: int
    household_id: int
    village: str
    category: str
    main_risk: str
    channel: str
    found_on: date
    relapse: bool
    clearance_kind: str
    identified_on: date | None
    cleared_on: date | None
    terminated_on: date | None
    dropped_on: date | None
    risks: tuple[str, ...]
    # (category code, first start) of each measure category
    measures: tuple[tuple[str, date], ...]
    people_fixed: int
    # (born, left or None) of the members counted only on some days
    people_dated: tuple[tuple[date, date | None], ...]
    built_at: datetime


READ_COLUMNS = [
    "case_id",
    "household_id",
    "village_id",
    "category",
    "main_risk",
    "channel",
    "found_on",
    "relapse",
    "clearance_kind",
    "identified_on",
    "cleared_on",
    "terminated_on",
    "dropped_on",
    "risk_codes",
    "measure_starts",
    "people_fixed",
    "people_dated",
    "built_at",
]


def _ymd(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _parse(row) -> ParsedFact:
    measures = tuple((item[:-9], _ymd(item[-8:])) for item in row[14].split(";") if item)
    dated = tuple(
        (_ymd(pair[:8]), _ymd(pair[9:]) if len(pair) > 9 else None)
        for pair in row[16].split(",")
        if pair
    )
    risks = tuple(row[13].split(",")) if row[13] else ()
    return ParsedFact(*row[:13], risks, measures, row[15], dated, row[17])


class FactStore:
    """The report facts of the installation, parsed once and kept in the process: a report
    then costs a pass over tuples in memory instead of fetching and parsing 60,000 rows.
    Before each use the store asks the table for its signature (row count, last build, sum
    of case ids — one aggregate over the table); rows built since the store's last look are
    fetched and parsed, and if the signature still differs (a row deleted, a transaction
    rolled back) everything is read again. Correct by construction, fast when warm."""

    def __init__(self):
        self.rows: dict[int, ParsedFact] = {}
        self.signature: tuple | None = None
        self.lock = threading.Lock()

    @staticmethod
    def _table_signature() -> tuple:
        found = CaseFact.objects.aggregate(n=Count("pk"), last=Max("built_at"), ids=Sum("pk"))
        return (found["n"], found["last"], found["ids"] or 0)

    def _own_signature(self) -> tuple:
        if not self.rows:
            return (0, None, 0)
        return (
            len(self.rows),
            max(row.built_at for row in self.rows.values()),
            sum(self.rows),
        )

    def _read(self, queryset) -> None:
        for row in queryset.values_list(*READ_COLUMNS).order_by().iterator(chunk_size=20000):
            self.rows[row[0]] = _parse(row)

    def sync(self) -> None:
        with self.lock:
            table = self._table_signature()
            if table == self.signature:
                return
            if self.signature is not None and self.signature[1] is not None:
                self._read(CaseFact.objects.filter(built_at__gte=self.signature[1]))
                if self._own_signature() == table:
                    self.signature = table
                    return
            self.rows = {}
            self._read(CaseFact.objects.all())
            self.signature = self._own_signature()

    def inside(self, prefix: str) -> list[ParsedFact]:
        self.sync()
        rows = self.rows.values()
        return list(rows) if not prefix else [row for row in rows if row.village.startswith(prefix)]


FACTS = FactStore()
