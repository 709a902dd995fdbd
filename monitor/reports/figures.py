"""The figures of a region as of a day (DOMAIN.md section 10), in households and in people.

Everything is read as it stood at the end of `as_of`, from dated facts, never from today's
statuses:
- a case entered monitoring at its `county_approve` step, left it at a step to a closed
  status (风险消除 or 销户终止); both are read from the transition trail (流程留痕), so a
  case cleared after the day still counts as monitored on it;
- category, main risk and risk types as of the day: today's values, unless a 动态调整
  confirmed after the day changed them — then the values that adjustment kept as `before`;
- people: the household's members born by the day and not gone from the register by it
  (a member who died or moved out later still counts; one added later for a birth does not);
- measures started by the day; deadlines due before the day and not met by it; clues raised
  by the day and verified by it.

Households: a household with two cases (返贫: cleared, then a new case) is counted once, by
its latest case identified by the day: so 累计识别 = 风险消除 + 监测中 + 销户终止, and the
clearance rate (风险消除率) = households whose latest case was cleared by the day ÷ every
household ever identified by the day; in people the same with the people of those
households. Stated on the page with the figures.

The cases come from the report facts (monitor.reports.facts: one row per case, refreshed
before each reading, held parsed in the process by FACTS); adjustments, deadlines and clues
are read live. Counting is one pass in Python: a province's 60,000 cases.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from households.choices import PREFIX_LENGTH, RegionLevel
from households.models import Region
from interventions.models import MeasureCategory
from monitor.choices import (
    RISK_TYPE_LABELS,
    Category,
    Channel,
    ClearanceKind,
    ClueChannel,
    ClueOutcome,
)
from monitor.models import (
    CaseAdjustment,
    Clue,
    Deadline,
    DispatchRound,
    SelfApplication,
)
from monitor.reports.facts import FACTS, case_facts_refresh
from monitor.rules import add_months

DEFINITIONS = {
    "as_of": "所有数字均为统计截止日当天结束时的情况，依据案例及其流程留痕的日期计算，"
    "不受此后的审核、消除或调整影响。",
    "households": "户数按农户计：同一农户先后两次纳入监测（返贫）只计一户，"
    "以截止日前最近一次纳入监测的案例为准。",
    "people": "人数为截止日在册的家庭成员数（截止日前已死亡或迁出的不计，截止日后出生的不计）。",
    "ever": "累计识别：截止日前经县级审定纳入过监测的农户，"
    "等于风险消除、监测中、销户终止三项之和。",
    "clearance_rate": "风险消除率 = 截止日前风险已消除的户数（人数）÷ 累计识别的户数（人数）。"
    "户数与人数分别计算。",
    "measures": "落实帮扶措施：截止日前已开始实施的措施；各类措施户数按累计识别的农户统计，"
    "一户有多项同类措施计一户。",
    "identification_days": "识别用时：从发现风险到县级审定纳入监测的天数，"
    "统计本年度纳入监测的案例；90% 分位数即九成案例不超过的天数。",
    "overdue": "超期：截止日前应办结而截止日仍未办结的环节，按责任层级统计。",
    "yield": "线索转化率 = 核实结果为“纳入监测”的线索 ÷ 已核实反馈的线索。",
}

LEVEL_LABELS = {
    RegionLevel.COUNTY: "县级",
    RegionLevel.TOWNSHIP: "乡镇级",
    RegionLevel.VILLAGE: "村级",
}


def day_end(day: date) -> datetime:
    """The first instant after `day` in the installation's time zone: facts stamped before
    it happened on or before the day."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


@dataclass(slots=True)
class CaseAsOf:
    """One case as it stood at the end of the day."""

    id: int
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
    closed_before_identification: bool
    risks: list[str] = field(default_factory=list)
    measures: set[str] = field(default_factory=set)

    @property
    def monitored(self) -> bool:
        return (
            self.identified_on is not None
            and self.cleared_on is None
            and self.terminated_on is None
        )

    @property
    def identifying(self) -> bool:
        return self.identified_on is None and not self.closed_before_identification


def _case_facts(prefix: str, as_of: date) -> tuple[list[CaseAsOf], dict[int, int]]:
    """The cases of the region found by the day, as they stood at its end, and the people of
    each of their households on it — from the report facts (monitor.reports.facts)."""
    facts, people_of = [], {}
    for row in FACTS.inside(prefix):
        if row.found_on > as_of:
            continue
        identified = row.identified_on
        if identified is not None and identified > as_of:
            identified = None
        terminated = row.terminated_on
        if terminated is not None and terminated > as_of:
            terminated = None
        cleared = row.cleared_on
        if cleared is not None and cleared > as_of:
            cleared = None
        dropped = row.dropped_on is not None and row.dropped_on <= as_of
        # Positional, in the field order of CaseAsOf: 60,000 of them per province report.
        facts.append(
            CaseAsOf(
                row.case_id,
                row.household_id,
                row.village,
                row.category,
                row.main_risk,
                row.channel,
                row.found_on,
                row.relapse,
                row.clearance_kind,
                identified,
                cleared,
                terminated,
                identified is None and (dropped or terminated is not None),
                list(row.risks),
                {code for code, first in row.measures if first <= as_of}
                if identified is not None
                else set(),
            )
        )
        if row.household_id not in people_of:
            people = row.people_fixed
            for born, left in row.people_dated:
                if born <= as_of and (left is None or left > as_of):
                    people += 1
            people_of[row.household_id] = people
    return facts, people_of


def _apply_adjustments(facts: dict[int, CaseAsOf], prefix: str, as_of: date) -> None:
    """动态调整 confirmed after the day: the first of them kept the values of the day."""
    later = (
        CaseAdjustment.objects.filter(
            case__village__code__startswith=prefix,
            status="confirmed",
            decided_at__gte=day_end(as_of),
        )
        .order_by("case_id", "decided_at", "id")
        .values_list("case_id", "before")
    )
    seen = set()
    for case_id, before in later:
        if case_id in seen or case_id not in facts:
            continue
        seen.add(case_id)
        fact = facts[case_id]
        fact.category = before.get("category", fact.category)
        fact.main_risk = before.get("main_risk", fact.main_risk)
        fact.risks = list(before.get("risk_codes", fact.risks))


class Tally:
    """Households and people counted together; a household is counted once."""

    def __init__(self, people_of: dict[int, int]):
        self.people_of = people_of
        self.households: set[int] = set()
        self.people = 0

    def add(self, household_id: int) -> None:
        if household_id not in self.households:
            self.households.add(household_id)
            self.people += self.people_of.get(household_id, 0)

    def as_dict(self) -> dict:
        return {"households": len(self.households), "people": self.people}


def _tallies(keys, people_of) -> dict:
    return {key: Tally(people_of) for key in keys}


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _p90(values: list[int]) -> int | None:
    """Nearest-rank 90th percentile: the smallest value that 90% of the values do not pass."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-len(ordered) * 9 // 10)  # ceil(0.9 n)
    return ordered[rank - 1]


def _latest_by_household(facts: list[CaseAsOf]) -> dict[int, CaseAsOf]:
    """Each household's latest case identified by the day."""
    latest: dict[int, CaseAsOf] = {}
    for fact in facts:
        if fact.identified_on is None:
            continue
        held = latest.get(fact.household_id)
        if held is None or (fact.identified_on, fact.id) > (held.identified_on, held.id):
            latest[fact.household_id] = fact
    return latest


def _stock_figures(
    facts: list[CaseAsOf],
    people_of: dict[int, int],
    as_of: date,
    measure_categories: list[tuple[str, str]],
) -> dict:
    """The figures that are counts over the cases of one region."""
    month_start, year_start = as_of.replace(day=1), as_of.replace(month=1, day=1)
    latest = _latest_by_household(facts)
    categories = Category.values
    ever, cleared, monitored, terminated = (Tally(people_of) for _ in range(4))
    cleared_kind = _tallies(ClearanceKind.values, people_of)
    ever_by_category = _tallies(categories, people_of)
    monitored_by_category = _tallies(categories, people_of)
    by_main_risk: dict[str, Tally] = defaultdict(lambda: Tally(people_of))
    by_risk: dict[str, Tally] = defaultdict(lambda: Tally(people_of))
    by_channel = _tallies(Channel.values, people_of)
    measure_households: dict[str, set[int]] = defaultdict(set)
    with_any_measure: set[int] = set()
    without_measure = Tally(people_of)
    relapse_monitored = Tally(people_of)
    for household_id, fact in latest.items():
        ever.add(household_id)
        ever_by_category[fact.category].add(household_id)
        if fact.cleared_on is not None:
            cleared.add(household_id)
            # A clearance recorded before the kind was asked is one through aid.
            cleared_kind[fact.clearance_kind or ClearanceKind.ASSISTED].add(household_id)
        elif fact.terminated_on is not None:
            terminated.add(household_id)
        else:
            monitored.add(household_id)
            monitored_by_category[fact.category].add(household_id)
            by_channel[fact.channel].add(household_id)
            if fact.main_risk:
                by_main_risk[fact.main_risk].add(household_id)
            for code in fact.risks:
                by_risk[code].add(household_id)
            if fact.relapse:
                relapse_monitored.add(household_id)
            if fact.measures:
                with_any_measure.add(household_id)
            else:
                without_measure.add(household_id)
    # Measures per category over every household ever identified (the Haidong table counts
    # them so), from any of the household's identified cases.
    for fact in facts:
        if fact.identified_on is not None:
            for code in fact.measures:
                measure_households[code].add(fact.household_id)
    new_month, new_year = Tally(people_of), Tally(people_of)
    relapse_month, relapse_year = Tally(people_of), Tally(people_of)
    cleared_month, cleared_year = Tally(people_of), Tally(people_of)
    days_to_identify = []
    identifying = Tally(people_of)
    for fact in facts:
        if fact.identifying:
            identifying.add(fact.household_id)
        if fact.identified_on is not None and fact.identified_on >= year_start:
            new_year.add(fact.household_id)
            days_to_identify.append((fact.identified_on - fact.found_on).days)
            if fact.relapse:
                relapse_year.add(fact.household_id)
            if fact.identified_on >= month_start:
                new_month.add(fact.household_id)
                if fact.relapse:
                    relapse_month.add(fact.household_id)
        if fact.cleared_on is not None and fact.cleared_on >= year_start:
            cleared_year.add(fact.household_id)
            if fact.cleared_on >= month_start:
                cleared_month.add(fact.household_id)
    ever_d, cleared_d = ever.as_dict(), cleared.as_dict()
    monitored_d = monitored.as_dict()
    return {
        "monitored": {
            **monitored_d,
            "by_category": _rows(monitored_by_category, dict(Category.choices)),
            "by_main_risk": _rows(by_main_risk, RISK_TYPE_LABELS, ordered=True),
            "by_risk": _rows(by_risk, RISK_TYPE_LABELS, ordered=True),
            "by_channel": _rows(by_channel, dict(Channel.choices)),
            "relapse": relapse_monitored.as_dict(),
        },
        "identifying": identifying.as_dict(),
        "new": {
            "month": new_month.as_dict(),
            "year": new_year.as_dict(),
            "relapse_month": relapse_month.as_dict(),
            "relapse_year": relapse_year.as_dict(),
        },
        "ever": {**ever_d, "by_category": _rows(ever_by_category, dict(Category.choices))},
        "cleared": {
            **cleared_d,
            "by_kind": _rows(cleared_kind, dict(ClearanceKind.choices)),
            "month": cleared_month.as_dict(),
            "year": cleared_year.as_dict(),
        },
        "terminated": terminated.as_dict(),
        "remaining": monitored_d,
        "clearance_rate": {
            "households": _rate(cleared_d["households"], ever_d["households"]),
            "people": _rate(cleared_d["people"], ever_d["people"]),
        },
        "measures": {
            "by_category": [
                {"code": code, "label": name, "households": len(measure_households.get(code, ()))}
                for code, name in measure_categories
            ],
            "monitored_with_any": len(with_any_measure),
            "monitored_without": without_measure.as_dict(),
            "all_monitored_have_measure": monitored_d["households"] > 0
            and not without_measure.households,
        },
        "identification_days": {
            "cases": len(days_to_identify),
            "average": round(sum(days_to_identify) / len(days_to_identify), 1)
            if days_to_identify
            else None,
            "p90": _p90(days_to_identify),
        },
    }


def _rows(tallies: dict, labels: dict, ordered: bool = False) -> list[dict]:
    keys = [key for key in labels if key in tallies] if ordered else list(labels)
    rows = []
    for key in keys:
        tally = tallies.get(key)
        counted = tally.as_dict() if tally is not None else {"households": 0, "people": 0}
        rows.append({"code": key, "label": labels[key], **counted})
    return rows


def _measure_categories() -> list[tuple[str, str]]:
    return list(MeasureCategory.objects.order_by("sort_order", "code").values_list("code", "name"))


def _overdue(prefix: str, as_of: date) -> dict:
    """Steps due before the day and not done by it, by the level responsible for them; and
    clues whose verification was due before the day and not fed back by it (the village's)."""
    late_steps = (
        Deadline.objects.filter(
            case__village__code__startswith=prefix,
            due_on__lt=as_of,
            case__found_on__lte=as_of,
        )
        .filter(Q(met_on__isnull=True) | Q(met_on__gt=as_of))
        .values("responsible_level")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["responsible_level"]: row["n"] for row in late_steps}
    late_clues = (
        Clue.objects.inside(prefix)
        .filter(raised_on__lte=as_of, due_on__lt=as_of)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=day_end(as_of)))
        .count()
    )
    return {
        "by_level": [
            {"level": int(level), "label": label, "count": counts.get(int(level), 0)}
            for level, label in LEVEL_LABELS.items()
        ],
        "clues": late_clues,
    }


def _feeds(prefix: str, as_of: date, identified: dict[int, date | None]) -> dict:
    """Department rounds and clues, verified, and what they became; self-applications."""
    cut = day_end(as_of)
    year_start = as_of.replace(month=1, day=1)
    clues = Clue.objects.inside(prefix).filter(raised_on__lte=as_of)
    figures = clues.aggregate(
        raised=Count("id"),
        raised_year=Count("id", filter=Q(raised_on__gte=year_start)),
        department=Count("id", filter=Q(channel=ClueChannel.DEPARTMENT)),
        screening=Count("id", filter=Q(channel=ClueChannel.DATA_SCREENING)),
        self_application=Count("id", filter=Q(channel=ClueChannel.SELF_APPLICATION)),
        verified=Count("id", filter=Q(closed_at__lt=cut)),
        identified=Count("id", filter=Q(closed_at__lt=cut, outcome=ClueOutcome.IDENTIFY)),
        **{
            f"outcome_{outcome}": Count("id", filter=Q(closed_at__lt=cut, outcome=outcome))
            for outcome in ClueOutcome.values
        },
    )
    # A county's rounds whose lists raised clues inside the region (a township or village
    # sees the rounds that reached it).
    rounds = DispatchRound.objects.filter(
        dispatched_at__lt=cut,
        county__code__startswith=prefix[:6],
    ).filter(Exists(clues.filter(source_batch_id=OuterRef("batch_id"))))
    round_figures = rounds.aggregate(
        total=Count("id"),
        year=Count("id", filter=Q(dispatched_at__gte=day_end(year_start - timedelta(days=1)))),
    )
    applications = SelfApplication.objects.filter(
        village__code__startswith=prefix, submitted_at__lt=cut
    ).annotate(case_ref=Coalesce("case_id", "clue__case_id"))
    submitted = 0
    admitted = 0
    for case_ref in applications.values_list("case_ref", flat=True).iterator(chunk_size=5000):
        submitted += 1
        if case_ref is not None and identified.get(case_ref) is not None:
            admitted += 1
    return {
        "rounds": {"total": round_figures["total"], "year": round_figures["year"]},
        "clues": {
            "raised": figures["raised"],
            "raised_year": figures["raised_year"],
            "by_channel": [
                {
                    "code": ClueChannel.DEPARTMENT,
                    "label": ClueChannel.DEPARTMENT.label,
                    "count": figures["department"],
                },
                {
                    "code": ClueChannel.DATA_SCREENING,
                    "label": ClueChannel.DATA_SCREENING.label,
                    "count": figures["screening"],
                },
                {
                    "code": ClueChannel.SELF_APPLICATION,
                    "label": ClueChannel.SELF_APPLICATION.label,
                    "count": figures["self_application"],
                },
            ],
            "verified": figures["verified"],
            "by_outcome": [
                {"code": outcome, "label": label, "count": figures[f"outcome_{outcome}"]}
                for outcome, label in ClueOutcome.choices
            ],
            "identified": figures["identified"],
            "yield": _rate(figures["identified"], figures["verified"]),
        },
        "self_applications": {"submitted": submitted, "admitted": admitted},
    }


def _flow(facts: list[CaseAsOf], as_of: date, months: int = 12) -> list[dict]:
    """Households newly identified and cleared per month, the last `months` months."""
    first = add_months(as_of.replace(day=1), -(months - 1))
    new: Counter = Counter()
    cleared: Counter = Counter()
    for fact in facts:
        if fact.identified_on is not None and fact.identified_on >= first:
            new[(fact.identified_on.year, fact.identified_on.month)] += 1
        if fact.cleared_on is not None and fact.cleared_on >= first:
            cleared[(fact.cleared_on.year, fact.cleared_on.month)] += 1
    flow = []
    for offset in range(months):
        day = add_months(first, offset)
        key = (day.year, day.month)
        flow.append({"month": f"{day:%Y-%m}", "identified": new[key], "cleared": cleared[key]})
    return flow


def child_level(level: int) -> RegionLevel | None:
    return None if level >= RegionLevel.VILLAGE else RegionLevel(level + 1)


def _children(region: Region, facts: list[CaseAsOf], people_of: dict[int, int], as_of: date):
    """A few figures of each region one level down, in one pass over the cases (the full
    set of figures is one click away, on the child's own page)."""
    level = child_level(region.level)
    if level is None:
        return []
    width = PREFIX_LENGTH[level]
    month_start = as_of.replace(day=1)
    keys = ("monitored", "ever", "cleared", "new_month", "identifying", "without")
    sets: dict[str, dict[str, set]] = defaultdict(lambda: {key: set() for key in keys})
    by_category: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for household_id, fact in _latest_by_household(facts).items():
        child = sets[fact.village[:width]]
        child["ever"].add(household_id)
        if fact.cleared_on is not None:
            child["cleared"].add(household_id)
        elif fact.terminated_on is None:
            child["monitored"].add(household_id)
            by_category[fact.village[:width]][fact.category].add(household_id)
            if not fact.measures:
                child["without"].add(household_id)
    for fact in facts:
        child = sets[fact.village[:width]]
        if fact.identifying:
            child["identifying"].add(fact.household_id)
        if fact.identified_on is not None and fact.identified_on >= month_start:
            child["new_month"].add(fact.household_id)

    def tally(households: set) -> dict:
        return {
            "households": len(households),
            "people": sum(people_of.get(h, 0) for h in households),
        }

    rows = []
    for child in Region.objects.filter(parent=region).order_by("code"):
        found = sets[child.code[:width]]
        ever, cleared = tally(found["ever"]), tally(found["cleared"])
        categories = by_category[child.code[:width]]
        rows.append(
            {
                "code": child.code,
                "name": child.name,
                "retired": child.retired,
                "monitored": tally(found["monitored"]),
                "by_category": [
                    {"code": code, "label": label, **tally(categories.get(code, set()))}
                    for code, label in Category.choices
                ],
                "ever": ever,
                "cleared": cleared,
                "clearance_rate": {
                    "households": _rate(cleared["households"], ever["households"]),
                    "people": _rate(cleared["people"], ever["people"]),
                },
                "new_month": tally(found["new_month"]),
                "identifying": tally(found["identifying"]),
                "monitored_without_measure": tally(found["without"]),
            }
        )
    return rows


def region_figures(region: Region, as_of: date, *, with_children: bool = True) -> dict:
    """Every figure of the region as of the end of `as_of`, as plain data (JSON-ready: the
    monthly report keeps it as it was)."""
    prefix = region.prefix
    case_facts_refresh()
    facts, people_of = _case_facts(prefix, as_of)
    _apply_adjustments({fact.id: fact for fact in facts}, prefix, as_of)
    measure_categories = _measure_categories()
    figures = {
        "region": {
            "code": region.code,
            "name": region.name,
            "level": region.level,
            "level_label": RegionLevel(region.level).label,
        },
        "as_of": as_of.isoformat(),
        **_stock_figures(facts, people_of, as_of, measure_categories),
        "overdue": _overdue(prefix, as_of),
        **_feeds(prefix, as_of, {fact.id: fact.identified_on for fact in facts}),
        "flow": _flow(facts, as_of),
        "definitions": DEFINITIONS,
    }
    if with_children:
        figures["children"] = _children(region, facts, people_of, as_of)
    return figures
