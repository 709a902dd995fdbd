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

The cases come from the report facts (monitor.reports.facts: one row per case with its
dated parts, refreshed before each reading) and are counted by the database: one query
reduces a region's cases to one row per household as of the day (its latest identified case
by a window function, its people, whether any of its cases was new this month or year) and
groups those by everything the figures are broken down by; Python only adds up the groups,
a few thousand rows for a province. Deadlines and clues are read from their own tables.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncMonth
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
    CaseFact,
    CaseFactMeasure,
    CaseFactPerson,
    CaseFactVersion,
    Clue,
    Deadline,
    DispatchRound,
    SelfApplication,
)
from monitor.reports.facts import case_facts_refresh
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


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# One row per household of the region that had a case found by the day, reduced to what the
# figures break it down by, then grouped. `fact` is each case as it stood at the end of the
# day (steps after it undone, the values a later 动态调整 replaced put back, people counted
# by birth and leaving day, `latest` if it is the household's latest case identified by the
# day); `household` takes the latest case's values and whether any of the household's cases
# was new, relapsed, cleared in the month or year, or is being identified. Two hash
# aggregations, no window over the households, portable to the SQLite demo.
HOUSEHOLD_GROUPS = """
WITH dated AS (
    -- a few rows a case, for the whole installation: cheaper read whole than joined
    SELECT p.fact_id, COUNT(*) AS n
    FROM {person} p
    WHERE p.born <= %(day)s AND (p.left_on IS NULL OR p.left_on > %(day)s)
    GROUP BY p.fact_id
), earlier AS (
    SELECT v.fact_id, v.category, v.main_risk, v.risk_codes,
        ROW_NUMBER() OVER (PARTITION BY v.fact_id ORDER BY v.sequence) AS n
    FROM {version} v JOIN {fact} cf ON cf.case_id = v.fact_id
    WHERE cf.village_id LIKE %(prefix)s AND cf.found_on <= %(day)s AND v.until > %(day)s
), fact AS (
    SELECT cf.household_id, SUBSTR(cf.village_id, 1, {width}) AS child,
        cf.people_fixed + COALESCE(d.n, 0) AS people,
        CASE WHEN cf.identified_on <= %(day)s
            AND (cf.superseded_on IS NULL OR cf.superseded_on > %(day)s) THEN 1 ELSE 0 END
            AS latest,
        COALESCE(e.category, cf.category) AS category,
        COALESCE(e.main_risk, cf.main_risk) AS main_risk,
        COALESCE(e.risk_codes, cf.risk_codes) AS risk_codes,
        cf.channel, cf.relapse, cf.clearance_kind,
        CASE WHEN cf.identified_on <= %(day)s THEN cf.identified_on END AS identified_on,
        CASE WHEN cf.cleared_on <= %(day)s THEN cf.cleared_on END AS cleared_on,
        CASE WHEN cf.terminated_on <= %(day)s THEN 1 ELSE 0 END AS terminated,
        CASE WHEN cf.dropped_on <= %(day)s THEN 1 ELSE 0 END AS dropped,
        CASE WHEN cf.first_measure_on <= %(day)s THEN 1 ELSE 0 END AS measured
    FROM {fact} cf
    LEFT JOIN dated d ON d.fact_id = cf.case_id
    LEFT JOIN earlier e ON e.fact_id = cf.case_id AND e.n = 1
    WHERE cf.village_id LIKE %(prefix)s AND cf.found_on <= %(day)s
), household AS (
    -- The latest case's values in one string (one aggregate instead of nine), split again
    -- by Python: state|category|kind or state|category|channel|main risk|risks|relapse.
    SELECT MAX(child) AS child, MAX(people) AS people,
        MAX(CASE WHEN latest = 1 THEN
            CASE WHEN cleared_on IS NOT NULL THEN 'cleared|' || category || '|'
                    || COALESCE(clearance_kind, '')
                WHEN terminated = 1 THEN 'terminated|' || category
                ELSE 'monitored|' || category || '|' || channel || '|'
                    || COALESCE(main_risk, '') || '|' || COALESCE(risk_codes, '') || '|'
                    || CASE WHEN relapse THEN '1' ELSE '0' END || '|'
                    || CASE WHEN measured = 1 THEN '1' ELSE '0' END
                END
            END) AS latest,
        MAX(CASE WHEN identified_on IS NULL AND dropped = 0 AND terminated = 0
            THEN 1 ELSE 0 END) AS identifying,
        MAX(CASE WHEN identified_on >= %(year)s THEN 1 ELSE 0 END) AS new_year,
        MAX(CASE WHEN identified_on >= %(month)s THEN 1 ELSE 0 END) AS new_month,
        MAX(CASE WHEN identified_on >= %(year)s AND relapse THEN 1 ELSE 0 END) AS relapse_year,
        MAX(CASE WHEN identified_on >= %(month)s AND relapse THEN 1 ELSE 0 END)
            AS relapse_month,
        MAX(CASE WHEN cleared_on >= %(year)s THEN 1 ELSE 0 END) AS cleared_year,
        MAX(CASE WHEN cleared_on >= %(month)s THEN 1 ELSE 0 END) AS cleared_month
    FROM fact GROUP BY household_id
)
SELECT child, COALESCE(latest, ''),
    identifying + 2 * new_year + 4 * new_month + 8 * relapse_year + 16 * relapse_month
        + 32 * cleared_year + 64 * cleared_month,
    COUNT(*), SUM(people)
FROM household
GROUP BY 1, 2, 3
"""
# The household flags, packed into one grouping key above (bit values).
FLAGS = (
    "identifying",
    "new_year",
    "new_month",
    "relapse_year",
    "relapse_month",
    "cleared_year",
    "cleared_month",
)
# The analytic query hashes some 60,000 rows per province twice; PostgreSQL's default 4 MB
# of work memory would spill them to disk and sort instead.
WORK_MEM = "64MB"


class Group(NamedTuple):
    """Households alike in everything the figures break them down by, and their people."""

    child: str
    state: str  # of the latest case identified by the day; "" when none was
    category: str
    kind: str
    channel: str
    main_risk: str
    risk_codes: str
    relapse: bool
    measured: bool
    identifying: int
    new_year: int
    new_month: int
    relapse_year: int
    relapse_month: int
    cleared_year: int
    cleared_month: int
    households: int
    people: int


def _household_groups(prefix: str, as_of: date, width: int) -> list[Group]:
    adapt = connection.ops.adapt_datefield_value
    sql = HOUSEHOLD_GROUPS.format(
        fact=_table(CaseFact),
        person=_table(CaseFactPerson),
        version=_table(CaseFactVersion),
        width=int(width),
    )
    params = {
        "prefix": f"{prefix}%",
        "day": adapt(as_of),
        "month": adapt(as_of.replace(day=1)),
        "year": adapt(as_of.replace(month=1, day=1)),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    groups = []
    for child, latest, bits, households, people in rows:
        state, category, *rest = latest.split("|") if latest else ("", "")
        kind = rest[0] if state == "cleared" else ""
        channel, main_risk, risk_codes, relapse, measured = (
            rest if state == "monitored" else ("", "", "", "0", "0")
        )
        flags = [(bits >> position) & 1 for position in range(len(FLAGS))]
        groups.append(
            Group(
                child,
                state,
                category,
                kind,
                channel,
                main_risk,
                risk_codes,
                relapse == "1",
                measured == "1",
                *flags,
                households,
                int(people or 0),
            )
        )
    return groups


class Tally:
    """Households and people, added up from groups that count each household once."""

    __slots__ = ("households", "people")

    def __init__(self):
        self.households = 0
        self.people = 0

    def add(self, group: Group) -> None:
        self.households += group.households
        self.people += group.people

    def as_dict(self) -> dict:
        return {"households": self.households, "people": self.people}


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _p90(values: list[int]) -> int | None:
    """Nearest-rank 90th percentile: the smallest value that 90% of the values do not pass."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-len(ordered) * 9 // 10)  # ceil(0.9 n)
    return ordered[rank - 1]


def _inside(prefix: str, as_of: date):
    """The report facts of the region's cases found by the day."""
    return CaseFact.objects.filter(village_id__startswith=prefix, found_on__lte=as_of)


def _measure_households(prefix: str, as_of: date) -> dict[str, int]:
    """Households ever identified by the day with a measure of each category started by it,
    from any of their identified cases (the Haidong table counts them so): one row per
    household and category carries the day it counts from (facts.py)."""
    found = (
        CaseFactMeasure.objects.filter(
            fact__village_id__startswith=prefix, household_counted_on__lte=as_of
        )
        .values("category_code")
        .annotate(households=Count("pk"))
        .order_by()
    )
    return {row["category_code"]: row["households"] for row in found}


def _identification_days(prefix: str, as_of: date) -> list[int]:
    """Days from finding to identification of each case identified this year by the day."""
    pairs = (
        _inside(prefix, as_of)
        .filter(identified_on__gte=as_of.replace(month=1, day=1), identified_on__lte=as_of)
        .values_list("identified_on", "found_on")
        .order_by()
    )
    return [(identified - found).days for identified, found in pairs]


def _stock_figures(
    groups: list[Group],
    measure_households: dict[str, int],
    days_to_identify: list[int],
    measure_categories: list[tuple[str, str]],
) -> dict:
    """The figures that are counts over the households of one region."""
    ever, cleared, monitored, terminated = Tally(), Tally(), Tally(), Tally()
    identifying, without_measure, relapse_monitored = Tally(), Tally(), Tally()
    new_month, new_year, relapse_month, relapse_year = Tally(), Tally(), Tally(), Tally()
    cleared_month, cleared_year = Tally(), Tally()
    keyed = {
        name: defaultdict(Tally)
        for name in ("cleared_kind", "ever_category", "category", "main_risk", "risk", "channel")
    }
    with_any_measure = 0
    for group in groups:
        flagged = (
            (group.identifying, identifying),
            (group.new_year, new_year),
            (group.new_month, new_month),
            (group.relapse_year, relapse_year),
            (group.relapse_month, relapse_month),
            (group.cleared_year, cleared_year),
            (group.cleared_month, cleared_month),
        )
        for flag, tally in flagged:
            if flag:
                tally.add(group)
        if not group.state:
            continue
        ever.add(group)
        keyed["ever_category"][group.category].add(group)
        if group.state == "cleared":
            cleared.add(group)
            # A clearance recorded before the kind was asked is one through aid.
            keyed["cleared_kind"][group.kind or ClearanceKind.ASSISTED].add(group)
        elif group.state == "terminated":
            terminated.add(group)
        else:
            monitored.add(group)
            keyed["category"][group.category].add(group)
            keyed["channel"][group.channel].add(group)
            if group.main_risk:
                keyed["main_risk"][group.main_risk].add(group)
            for code in filter(None, group.risk_codes.split(",")):
                keyed["risk"][code].add(group)
            if group.relapse:
                relapse_monitored.add(group)
            if group.measured:
                with_any_measure += group.households
            else:
                without_measure.add(group)
    ever_d, cleared_d = ever.as_dict(), cleared.as_dict()
    monitored_d = monitored.as_dict()
    categories, channels = dict(Category.choices), dict(Channel.choices)
    return {
        "monitored": {
            **monitored_d,
            "by_category": _rows(keyed["category"], categories),
            "by_main_risk": _rows(keyed["main_risk"], RISK_TYPE_LABELS, ordered=True),
            "by_risk": _rows(keyed["risk"], RISK_TYPE_LABELS, ordered=True),
            "by_channel": _rows(keyed["channel"], channels),
            "relapse": relapse_monitored.as_dict(),
        },
        "identifying": identifying.as_dict(),
        "new": {
            "month": new_month.as_dict(),
            "year": new_year.as_dict(),
            "relapse_month": relapse_month.as_dict(),
            "relapse_year": relapse_year.as_dict(),
        },
        "ever": {**ever_d, "by_category": _rows(keyed["ever_category"], categories)},
        "cleared": {
            **cleared_d,
            "by_kind": _rows(keyed["cleared_kind"], dict(ClearanceKind.choices)),
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
                {"code": code, "label": name, "households": measure_households.get(code, 0)}
                for code, name in measure_categories
            ],
            "monitored_with_any": with_any_measure,
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
    """Rows in the labels' order: every label, or (`ordered`) those counted."""
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


def _feeds(prefix: str, as_of: date) -> dict:
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
    # Admitted: the application's case (its own, or else its clue's) identified by the day.
    identified = _inside(prefix, as_of).filter(identified_on__lte=as_of).values("case_id")
    applications = SelfApplication.objects.filter(
        village__code__startswith=prefix, submitted_at__lt=cut
    ).aggregate(
        submitted=Count("id"),
        admitted=Count(
            "id",
            filter=Q(case_id__in=identified)
            | Q(case_id__isnull=True, clue__case_id__in=identified),
        ),
    )
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
        "self_applications": {
            "submitted": applications["submitted"],
            "admitted": applications["admitted"],
        },
    }


def _flow(prefix: str, as_of: date, months: int = 12) -> list[dict]:
    """Cases newly identified and cleared per month, the last `months` months."""
    first = add_months(as_of.replace(day=1), -(months - 1))
    facts = _inside(prefix, as_of)

    def by_month(field_name: str) -> dict[tuple[int, int], int]:
        found = (
            facts.filter(**{f"{field_name}__gte": first, f"{field_name}__lte": as_of})
            .annotate(month=TruncMonth(field_name))
            .values("month")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return {(row["month"].year, row["month"].month): row["n"] for row in found}

    new, cleared = by_month("identified_on"), by_month("cleared_on")
    flow = []
    for offset in range(months):
        day = add_months(first, offset)
        key = (day.year, day.month)
        flow.append(
            {"month": f"{day:%Y-%m}", "identified": new.get(key, 0), "cleared": cleared.get(key, 0)}
        )
    return flow


def child_level(level: int) -> RegionLevel | None:
    return None if level >= RegionLevel.VILLAGE else RegionLevel(level + 1)


def _children(region: Region, groups: list[Group]) -> list[dict]:
    """A few figures of each region one level down, from the same groups (the full set of
    figures is one click away, on the child's own page)."""
    keys = ("monitored", "ever", "cleared", "new_month", "identifying", "without")
    tallies: dict[str, dict[str, Tally]] = defaultdict(lambda: {key: Tally() for key in keys})
    by_category: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for group in groups:
        child = tallies[group.child]
        if group.identifying:
            child["identifying"].add(group)
        if group.new_month:
            child["new_month"].add(group)
        if not group.state:
            continue
        child["ever"].add(group)
        if group.state == "cleared":
            child["cleared"].add(group)
        elif group.state == "monitored":
            child["monitored"].add(group)
            by_category[group.child][group.category].add(group)
            if not group.measured:
                child["without"].add(group)
    rows = []
    empty = Tally()
    for region_child in Region.objects.filter(parent=region).order_by("code"):
        width = PREFIX_LENGTH[region_child.level]
        found = tallies.get(region_child.code[:width]) or {key: empty for key in keys}
        categories = by_category.get(region_child.code[:width], {})
        ever, cleared = found["ever"].as_dict(), found["cleared"].as_dict()
        rows.append(
            {
                "code": region_child.code,
                "name": region_child.name,
                "retired": region_child.retired,
                "monitored": found["monitored"].as_dict(),
                "by_category": [
                    {"code": code, "label": label, **categories.get(code, empty).as_dict()}
                    for code, label in Category.choices
                ],
                "ever": ever,
                "cleared": cleared,
                "clearance_rate": {
                    "households": _rate(cleared["households"], ever["households"]),
                    "people": _rate(cleared["people"], ever["people"]),
                },
                "new_month": found["new_month"].as_dict(),
                "identifying": found["identifying"].as_dict(),
                "monitored_without_measure": found["without"].as_dict(),
            }
        )
    return rows


def region_figures(region: Region, as_of: date, *, with_children: bool = True) -> dict:
    """Every figure of the region as of the end of `as_of`, as plain data (JSON-ready: the
    monthly report keeps it as it was)."""
    prefix = region.prefix
    case_facts_refresh()
    level = child_level(region.level) if with_children else None
    width = PREFIX_LENGTH[level] if level is not None else len(prefix)
    groups = _household_groups(prefix, as_of, width)
    figures = {
        "region": {
            "code": region.code,
            "name": region.name,
            "level": region.level,
            "level_label": RegionLevel(region.level).label,
        },
        "as_of": as_of.isoformat(),
        **_stock_figures(
            groups,
            _measure_households(prefix, as_of),
            _identification_days(prefix, as_of),
            _measure_categories(),
        ),
        "overdue": _overdue(prefix, as_of),
        **_feeds(prefix, as_of),
        "flow": _flow(prefix, as_of),
        "definitions": DEFINITIONS,
    }
    if with_children:
        figures["children"] = _children(region, groups) if level is not None else []
    return figures
