"""The rows of the work sheets (台账) exported to Excel: the ledger of cases as of a day and
the registry of members, for a region given by its code prefix.

Rows are read in chunks of about 2,000: one streamed query for the chunk's main rows, then a
handful of set-based queries for what each row gathers (trail, risks, measures, head of the
household, family size), never a query per row, so memory stays flat however large the
region. Selectors only: nothing here writes, and nothing here decides who may read (the
export service asks the policy before it calls them).

The ledger reads each case as it stood at the end of the day, from dated facts, like the
report figures (monitor/reports/figures.py): a step taken after the day is not shown and
does not move the status; category, risks and main risk are today's unless a 动态调整
confirmed after the day changed them (then the values it kept as `before`); the family is
the members born by the day and not gone from the register by it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice

from django.db import connection
from django.db.models import Count, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from households import pii
from households.choices import (
    DisabilityLevel,
    Health,
    HouseholdKind,
    Labour,
    LifeStatus,
    Relation,
    Schooling,
    WorkStatus,
)
from households.models import Member, Region
from interventions.models import MeasureCategory, MeasureRecord
from monitor.choices import (
    RISK_TYPE_LABELS,
    AdjustmentStatus,
    Category,
    Channel,
    ClearanceKind,
    Status,
)
from monitor.models import Case, CaseAdjustment, CaseRisk, CaseTransition
from monitor.workflow import STEP_BY_ACTION
from sheets.writing import Column

CHUNK = 2000

# The steps whose day the ledger shows, in the order of the procedure.
STEP_COLUMNS = (
    ("accept", "乡镇受理"),
    ("report", "村级上报"),
    ("township_approve", "乡镇审核"),
    ("county_approve", "县级审定纳入监测"),
    ("propose_clearance", "村级提出风险消除"),
    ("township_approve_clearance", "乡镇审核风险消除"),
    ("county_approve_clearance", "县级审定风险消除"),
)
# The steps that end a case without clearance (不予受理/不予纳入/撤销/销户终止).
CLOSING_ACTIONS = frozenset(
    {"decline", "withdraw", "township_reject", "county_reject", "household_closed"}
)
CLEARED_ACTION = "county_approve_clearance"


@dataclass(frozen=True)
class SheetSpec:
    """What an export writes: the sheet's title and columns, how many rows it will have
    (for the progress bar) and the rows themselves, chunk by chunk."""

    title: str
    columns: list[Column]
    count: Callable[[], int]
    chunks: Callable[[], Iterator[list[list]]]


def day_end(day: date) -> datetime:
    """The first instant after `day` in the installation's time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _chunked(rows, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _among(field: str, ids) -> Q:
    """`field` is one of these ids. On PostgreSQL the ids travel as one array parameter:
    a chunk's 2,000 placeholders, each compiled by Django and each bound by the driver, cost
    more than the query itself."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", (ids,))})
    return Q(**{f"{field}__in": ids})


def _labels(choices) -> dict:
    return dict(choices.choices)


def region_names(prefix: str) -> dict[str, str]:
    """code → name of every region inside the prefix and of the regions above it (a
    village's ledger still names its township and county): one query."""
    above = set()
    code = prefix.ljust(12, "0")
    while code is not None:
        above.add(code)
        code = Region.parent_code_of(code)
    rows = Region.objects.filter(Q(code__startswith=prefix) | Q(code__in=above)).values_list(
        "code", "name"
    )
    return dict(rows)


def _township_code(village: str) -> str:
    return village[:9] + "000"


def _county_code(village: str) -> str:
    return village[:6] + "000000"


class _Id:
    """An ID or phone number as the export shows it: the masked copy, or the number itself
    (decrypted here, only for an export asked for with full numbers)."""

    def __init__(self, full: bool):
        self.full = full

    def id_number(self, masked: str, encrypted: str | None) -> str:
        if self.full and encrypted:
            return pii.decrypt(encrypted, field="id_number")
        return masked

    def phone(self, masked: str, encrypted: str | None) -> str:
        if self.full and encrypted:
            return pii.decrypt(encrypted, field="phone")
        return masked


# --- the ledger (监测对象台账) ---------------------------------------------------------------


def ledger_columns(categories: list[tuple[int, str]]) -> list[Column]:
    return [
        Column("户编号", 18, text=True),
        Column("县", 10),
        Column("乡镇", 10),
        Column("村", 10),
        Column("户主姓名", 10),
        Column("户主身份证号", 21, text=True),
        Column("户类型", 9),
        Column("家庭人口", 8),
        Column("监测对象类别", 14),
        Column("风险类型", 20),
        Column("主要风险", 12),
        Column("发现渠道", 13),
        Column("是否返贫", 8),
        Column("发现日期", 11),
        *(Column(label, 11) for _, label in STEP_COLUMNS),
        Column("办结方式", 12),
        Column("办结日期", 11),
        Column("办结理由", 24),
        Column("状态", 14),
        *(Column(name, 8) for _, name in categories),
        Column("消除方式", 9),
        Column("消除日期", 11),
    ]


def ledger_cases(prefix: str, as_of: date):
    """The cases of the ledger: found on or before the day in the region."""
    return Case.objects.inside(prefix).filter(found_on__lte=as_of)


def ledger(
    prefix: str, as_of: date, *, full_ids: bool = False, chunk: int | None = None
) -> SheetSpec:
    categories = list(
        MeasureCategory.objects.order_by("sort_order", "code").values_list("id", "name")
    )

    def chunks() -> Iterator[list[list]]:
        return ledger_rows(
            prefix, as_of, categories=categories, full_ids=full_ids, chunk=chunk or CHUNK
        )

    return SheetSpec(
        title="监测对象台账",
        columns=ledger_columns(categories),
        count=lambda: ledger_cases(prefix, as_of).count(),
        chunks=chunks,
    )


def ledger_rows(
    prefix: str,
    as_of: date,
    *,
    categories: list[tuple[int, str]],
    full_ids: bool = False,
    chunk: int = CHUNK,
) -> Iterator[list[list]]:
    """The ledger's rows in chunks, ordered by village, household number and finding."""
    names = region_names(prefix)
    ids = _Id(full_ids)
    cut = day_end(as_of)
    labels = {
        "kind": _labels(HouseholdKind),
        "category": _labels(Category),
        "channel": _labels(Channel),
        "status": _labels(Status),
        "clearance": _labels(ClearanceKind),
    }
    category_ids = [category_id for category_id, _ in categories]
    main = (
        ledger_cases(prefix, as_of)
        .order_by("household__village_id", "household__number", "found_on", "id")
        .values_list(
            "id",
            "household_id",
            "household__number",
            "household__village_id",
            "household__kind",
            "category",
            "main_risk",
            "channel",
            "relapse_of_id",
            "found_on",
            "status",
            "clearance_kind",
        )
    )
    for cases in _chunked(main.iterator(chunk_size=chunk), chunk):
        case_ids = [row[0] for row in cases]
        household_ids = {row[1] for row in cases}
        trails = _trails(case_ids, as_of)
        risks = _risks(case_ids)
        before = _values_before_later_adjustments(case_ids, cut)
        measures = _measure_counts(case_ids, as_of)
        heads = _heads(household_ids, full_ids)
        family = _family_sizes(household_ids, as_of)
        rows = []
        for (
            case_id,
            household_id,
            number,
            village,
            kind,
            category,
            main_risk,
            channel,
            relapse_of,
            found_on,
            status,
            clearance_kind,
        ) in cases:
            trail = trails.get(case_id)
            codes = risks.get(case_id, [])
            kept = before.get(case_id)
            if kept is not None:
                category = kept.get("category", category)
                main_risk = kept.get("main_risk", main_risk)
                codes = list(kept.get("risk_codes", codes))
            days = trail.days if trail else {}
            status_then = trail.status_on_day(status) if trail else status
            head = heads.get(household_id)
            counts = measures.get(case_id, {})
            cleared_on = days.get(CLEARED_ACTION)
            closing = trail.closing if trail else None
            rows.append(
                [
                    number,
                    names.get(_county_code(village), ""),
                    names.get(_township_code(village), ""),
                    names.get(village, ""),
                    head.name if head else "",
                    ids.id_number(head.masked, head.encrypted) if head else "",
                    labels["kind"].get(kind, kind),
                    family.get(household_id, 0),
                    labels["category"].get(category, category),
                    "、".join(RISK_TYPE_LABELS.get(code, code) for code in sorted(codes)),
                    RISK_TYPE_LABELS.get(main_risk, main_risk),
                    labels["channel"].get(channel, channel),
                    "是" if relapse_of is not None else "否",
                    found_on,
                    *(days.get(action) for action, _ in STEP_COLUMNS),
                    closing.label if closing else "",
                    closing.day if closing else None,
                    closing.reason if closing else "",
                    labels["status"].get(status_then, status_then),
                    # A category without measures is left blank, as on the paper ledgers.
                    *(counts.get(category_id) or None for category_id in category_ids),
                    labels["clearance"].get(clearance_kind, "") if cleared_on else "",
                    cleared_on,
                ]
            )
        yield rows


@dataclass
class _Closing:
    label: str
    day: date
    reason: str


class _Trail:
    """A case's trail read against the day: the local day of the last occurrence of each
    step up to the day, the status the day ended in, and the closing step if any."""

    __slots__ = ("closing", "days", "first_status", "last_status")

    def __init__(self):
        self.days: dict[str, date] = {}
        self.first_status: str | None = None
        self.last_status: str | None = None
        self.closing: _Closing | None = None

    def status_on_day(self, current: str) -> str:
        # No step by the day: the status the case started in, which its first step left
        # (draft, or applied for a paper self-application); no step at all: today's.
        return self.last_status or self.first_status or current


def _trails(case_ids: list[int], as_of: date) -> dict[int, _Trail]:
    trails: dict[int, _Trail] = {}
    # The local day of each step, computed by the database (in the installation's time
    # zone): converting a quarter of a million timestamps in Python cost seconds.
    rows = (
        CaseTransition.objects.filter(_among("case_id", case_ids))
        .annotate(day=TruncDate("at"))
        .order_by("case_id", "at", "id")
        .values_list("case_id", "action", "from_status", "to_status", "day", "comment")
    )
    for case_id, action, from_status, to_status, day, comment in rows:
        trail = trails.get(case_id)
        if trail is None:
            trail = trails[case_id] = _Trail()
            trail.first_status = from_status
        if day > as_of:
            continue
        trail.days[action] = day
        trail.last_status = to_status
        if action in CLOSING_ACTIONS:
            step = STEP_BY_ACTION.get(action)
            # Free text typed by staff: a number typed into it is masked like everywhere.
            reason = pii.mask_pii_in_text(comment) if comment else ""
            trail.closing = _Closing(step.label if step else action, day, reason)
    return trails


def _risks(case_ids: list[int]) -> dict[int, list[str]]:
    risks: dict[int, list[str]] = defaultdict(list)
    rows = (
        CaseRisk.objects.filter(_among("case_id", case_ids))
        .order_by()
        .values_list("case_id", "code")
    )
    for case_id, code in rows:
        risks[case_id].append(code)
    return risks


def _values_before_later_adjustments(case_ids: list[int], cut: datetime) -> dict[int, dict]:
    """动态调整 confirmed after the day: the first of them kept the values of the day."""
    kept: dict[int, dict] = {}
    rows = (
        CaseAdjustment.objects.filter(
            _among("case_id", case_ids), status=AdjustmentStatus.CONFIRMED, decided_at__gte=cut
        )
        .order_by("case_id", "decided_at", "id")
        .values_list("case_id", "before")
    )
    for case_id, before in rows:
        if case_id not in kept and isinstance(before, dict):
            kept[case_id] = before
    return kept


def _measure_counts(case_ids: list[int], as_of: date) -> dict[int, dict[int, int]]:
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    rows = (
        MeasureRecord.objects.filter(_among("case_id", case_ids), start_on__lte=as_of)
        .values("case_id", "category_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("case_id", "category_id", "n")
    )
    for case_id, category_id, n in rows:
        counts[case_id][category_id] = n
    return counts


@dataclass
class _Head:
    name: str
    masked: str
    encrypted: str | None
    in_register: bool


def _heads(household_ids, full_ids: bool) -> dict[int, _Head]:
    """Each household's head (户主): the one on the register if there are several (a head
    who died stays a member with his relation until the register is corrected)."""
    fields = ["household_id", "name", "id_number_masked", "life_status"]
    if full_ids:
        fields.append("id_number_encrypted")
    rows = (
        Member.objects.filter(_among("household_id", household_ids), relation=Relation.HEAD)
        .order_by("household_id", "id")
        .values_list(*fields)
    )
    heads: dict[int, _Head] = {}
    for row in rows:
        household_id, name, masked, life_status = row[:4]
        held = heads.get(household_id)
        if held is not None and (life_status != LifeStatus.IN_REGISTER or held.in_register):
            continue
        in_register = life_status == LifeStatus.IN_REGISTER
        heads[household_id] = _Head(name, masked, row[4] if full_ids else None, in_register)
    return heads


def _family_sizes(household_ids, as_of: date) -> dict[int, int]:
    """Members on the register at the end of the day: born by it, not gone from the
    register by it."""
    gone = Q(life_status_on__lte=as_of) & ~Q(life_status=LifeStatus.IN_REGISTER)
    rows = (
        Member.objects.filter(_among("household_id", household_ids), birth_date__lte=as_of)
        .exclude(gone)
        .values("household_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("household_id", "n")
    )
    return dict(rows)


# --- the registry (农户成员花名册) ------------------------------------------------------------

REGISTRY_COLUMNS = [
    Column("户编号", 18, text=True),
    Column("村", 10),
    Column("户类型", 9),
    Column("是否户主", 8),
    Column("姓名", 10),
    Column("身份证号", 21, text=True),
    Column("性别", 5),
    Column("出生日期", 11),
    Column("与户主关系", 10),
    Column("健康状况", 10),
    Column("残疾等级", 8),
    Column("劳动技能", 16),
    Column("在校生状况", 16),
    Column("务工状况", 12),
    Column("参加医保", 8),
    Column("成员状态", 8),
    Column("联系电话", 14, text=True),
    Column("监测对象", 8),
]


def registry_members(prefix: str):
    return Member.objects.inside(prefix)


def registry(prefix: str, *, full_ids: bool = False, chunk: int | None = None) -> SheetSpec:
    return SheetSpec(
        title="农户成员花名册",
        columns=REGISTRY_COLUMNS,
        count=lambda: registry_members(prefix).count(),
        chunks=lambda: registry_rows(prefix, full_ids=full_ids, chunk=chunk or CHUNK),
    )


def registry_rows(prefix: str, *, full_ids: bool = False, chunk: int = CHUNK):
    """Every member of the region's households as the register holds them today (the
    dead and the moved out included, with their status), by village and household."""
    names = region_names(prefix)
    ids = _Id(full_ids)
    labels = {
        "kind": _labels(HouseholdKind),
        "relation": _labels(Relation),
        "health": _labels(Health),
        "disability": _labels(DisabilityLevel),
        "labour": _labels(Labour),
        "schooling": _labels(Schooling),
        "work": _labels(WorkStatus),
        "life": _labels(LifeStatus),
    }
    sexes = {"M": "男", "F": "女"}
    insured = {True: "是", False: "否", None: ""}
    fields = [
        "household__number",
        "household__village_id",
        "household__kind",
        "household__is_monitored",
        "relation",
        "name",
        "id_number_masked",
        "sex",
        "birth_date",
        "health",
        "disability_level",
        "labour",
        "schooling",
        "work_status",
        "medical_insurance",
        "life_status",
        "phone_masked",
    ]
    if full_ids:
        fields += ["id_number_encrypted", "phone_encrypted"]
    members = (
        registry_members(prefix)
        .order_by("household__village_id", "household__number", "household_id", "id")
        .values_list(*fields)
    )
    for rows in _chunked(members.iterator(chunk_size=chunk), chunk):
        out = []
        for row in rows:
            (
                number,
                village,
                kind,
                monitored,
                relation,
                name,
                masked_id,
                sex,
                birth_date,
                health,
                disability,
                labour,
                schooling,
                work,
                insurance,
                life,
                masked_phone,
            ) = row[:17]
            id_cipher, phone_cipher = row[17:19] if full_ids else (None, None)
            out.append(
                [
                    number,
                    names.get(village, ""),
                    labels["kind"].get(kind, kind),
                    "是" if relation == Relation.HEAD else "否",
                    name,
                    ids.id_number(masked_id, id_cipher),
                    sexes.get(sex, sex),
                    birth_date,
                    labels["relation"].get(relation, relation),
                    labels["health"].get(health, health),
                    labels["disability"].get(disability, "") if disability else "",
                    labels["labour"].get(labour, labour),
                    labels["schooling"].get(schooling, schooling),
                    labels["work"].get(work, work),
                    insured.get(insurance, ""),
                    labels["life"].get(life, life),
                    ids.phone(masked_phone, phone_cipher),
                    "是" if monitored else "否",
                ]
            )
        yield out
