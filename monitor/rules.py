"""Business rules of cases: consistency at filing, preconditions of report and clearance.

Each function returns the list of unmet conditions in Chinese (empty = satisfied), so a
refusal names every condition at once rather than one per attempt.
"""

from dataclasses import dataclass
from datetime import date

from django.conf import settings

from households.choices import ABLE_TO_WORK, HouseholdKind, LifeStatus, Schooling
from households.models import Household, IncomeRecord
from households.services import monitoring_line_for
from interventions.models import MeasureRecord
from monitor.choices import (
    MAX_RISK_TYPES,
    RISK_ILLNESS,
    RISK_TYPE_LABELS,
    RISK_UNSTABLE_EMPLOYMENT,
    AppraisalResult,
    Category,
    ClearanceKind,
    CrossCheckResult,
    NaturalReason,
    Stage,
    Status,
    VisitLevel,
)
from monitor.models import (
    Appraisal,
    Case,
    Consent,
    CrossCheck,
    CrossCheckItem,
    HomeVisit,
    PublicNotice,
)
from monitor.regional import local_rule


def _setting(name: str) -> int:
    return settings.MONITOR[name]


def latest_income(household: Household) -> IncomeRecord | None:
    return household.income_records.order_by("-period_end").first()


def members_in_register(household: Household):
    """The members who count: those still in the household register (a member who died or
    moved out stays on file, but no longer works, studies or needs insurance here)."""
    return household.members.filter(life_status=LifeStatus.IN_REGISTER)


def can_anyone_work(household: Household) -> bool:
    return members_in_register(household).filter(labour__in=ABLE_TO_WORK).exists()


def risk_problems(household: Household, risk_codes: list[str]) -> list[str]:
    """One to five known, distinct risk codes, consistent with the household's members."""
    problems = []
    if not risk_codes:
        problems.append("请至少选择一项风险类型")
    if len(risk_codes) > MAX_RISK_TYPES:
        problems.append(f"风险类型最多选择 {MAX_RISK_TYPES} 项")
    unknown = [code for code in risk_codes if code not in RISK_TYPE_LABELS]
    if unknown:
        problems.append("未知的风险类型代码：" + "、".join(unknown))
    if len(set(risk_codes)) != len(risk_codes):
        problems.append("风险类型有重复")
    if RISK_UNSTABLE_EMPLOYMENT in risk_codes and not can_anyone_work(household):
        problems.append("该户无劳动能力成员，不能选择“因务工就业不稳”")
    return problems


def category_problems(household: Household, category: str) -> list[str]:
    """The category against the kind of household (脱贫户 / 一般农户)."""
    problems = []
    if category == Category.UNSTABLE and household.kind != HouseholdKind.LIFTED:
        problems.append("脱贫不稳定户只能是脱贫户；一般农户请选择边缘易致贫户或突发严重困难户")
    if category == Category.MARGINAL and household.kind != HouseholdKind.ORDINARY:
        problems.append("边缘易致贫户只能是一般农户；脱贫户请选择脱贫不稳定户或突发严重困难户")
    return problems


def filing_problems(
    *,
    household: Household,
    category: str,
    risk_codes: list[str],
    found_on: date,
    today: date,
    income: bool = True,
) -> list[str]:
    """Consistency of a new or edited case (DOMAIN.md section 4). `income=False` leaves the
    income test to the caller (the report asks it as a check of its own)."""
    problems = []
    if household.closed_on is not None:
        # 销户: the file is kept, but nothing new is filed on it.
        problems.append("该户已销户，不能登记监测对象")
    problems += risk_problems(household, risk_codes)
    if found_on > today:
        problems.append("发现风险日期不能晚于今天")
    problems += category_problems(household, category)
    if income:
        test = income_check(household, category, found_on, today)
        # At filing only a record that exists and fails refuses: a clue becomes a case
        # before the home visit, when the income is not known yet (the report asks for it).
        if test.code == INCOME_COMPARED and not test.met:
            problems.append(test.detail)
    if Case.objects.open().filter(household=household).exists():
        problems.append("该户已有未办结的监测案例（一户只能有一个）")
    return problems


INCOME_COMPARED = "income"  # a record of the period was compared with the line
INCOME_LABEL = "发现风险前12个月收入在监测范围内"
# How old the income record of a finding may be: its period (12 months) ends no earlier
# than this many months before the finding. Counties update the income ledger at least
# quarterly, so a household's current record is never older than that, and a record
# ending then still covers at least three quarters of the 12 months before the finding.
# (A calendar-year record answers for findings up to the end of March of the next year.)
INCOME_RECORD_MAX_AGE_MONTHS = 3


def income_window_start(found_on: date) -> date:
    """The earliest period end of a record that answers for the finding."""
    return add_months(found_on, -INCOME_RECORD_MAX_AGE_MONTHS)


def income_record_for(household: Household, found_on: date, today: date) -> IncomeRecord | None:
    """The income of the 12 months before the finding (DOMAIN.md section 3): the latest
    record whose period ends between three months before the finding and today."""
    return (
        household.income_records.filter(
            period_end__gte=income_window_start(found_on), period_end__lte=today
        )
        .order_by("-period_end")
        .first()
    )


def income_check(household: Household, category: str, found_on: date, today: date) -> "Check":
    """收入测算: 脱贫不稳定户 and 边缘易致贫户 within the monitoring line by per-capita net
    income; 突发严重困难户 by the income left after the compliant rigid expenses (medical,
    schooling), which is what a sudden event eats into."""
    record = income_record_for(household, found_on, today)
    if record is None:
        start = income_window_start(found_on)
        older = (
            household.income_records.filter(period_end__lt=start).order_by("-period_end").first()
        )
        detail = "未登记发现风险前12个月的收支情况，无法判断收入是否在监测范围内"
        if older is not None:
            detail = (
                f"未登记发现风险前12个月的收支情况：最近一次收支统计（{older.year}年）截止于 "
                f"{older.period_end:%Y-%m-%d}，早于 {start:%Y-%m-%d}（发现风险前 "
                f"{INCOME_RECORD_MAX_AGE_MONTHS} 个月），已过时，请重新测算"
            )
        return Check("income_missing", INCOME_LABEL, False, detail)
    line = monitoring_line_for(village_code=household.village_id, year=record.year)
    if line is None:
        return Check(
            "income_line_missing",
            INCOME_LABEL,
            False,
            f"未设置 {record.year} 年的监测范围，无法判断收入是否在监测范围内",
        )
    if category == Category.SUDDEN:
        what, value = "扣除刚性支出后人均纯收入", record.per_capita_after_rigid
        advice = "，不符合突发严重困难户的收入条件"
    else:
        what, value = "人均纯收入", record.per_capita_net_income
        advice = "；收入高于范围但因突发事件生活困难的，请选择突发严重困难户"
    if value > line.amount:
        return Check(
            INCOME_COMPARED,
            INCOME_LABEL,
            False,
            f"{record.year}年{what} {value} 元高于监测范围 {line.amount} 元{advice}",
        )
    return Check(
        INCOME_COMPARED,
        INCOME_LABEL,
        True,
        f"{record.year}年{what} {value} 元，不高于监测范围 {line.amount} 元"
        f"（统计截止 {record.period_end:%Y-%m-%d}）",
    )


def _latest(model, case: Case, stage: str, order: str):
    return model.objects.filter(case=case, stage=stage).order_by(f"-{order}", "-id").first()


@dataclass(frozen=True)
class Check:
    """One condition of a step: its code, what it asks, whether it is met, and why not (or
    the fact that meets it). The unmet `detail`s are the step's refusal, word for word."""

    code: str
    label: str
    met: bool
    detail: str = ""


def unmet(checks: list[Check]) -> list[str]:
    return [check.detail for check in checks if not check.met]


def procedure_checks(case: Case, stage: str, today: date) -> list[Check]:
    """Home visit, consent (identification only), appraisal and a finished public notice."""
    checks = []
    # The village's own visit: a township or county visit (乡村两级入户, made later in the
    # procedure) is not the village's step and must not move the appraisal's order.
    visit = (
        HomeVisit.objects.filter(case=case, stage=stage, level=VisitLevel.VILLAGE)
        .order_by("-visited_on", "-id")
        .first()
    )
    checks.append(
        Check(
            "home_visit",
            "入户核实",
            visit is not None,
            f"{visit.visited_on:%Y-%m-%d} 已入户核实" if visit else "未登记入户核实",
        )
    )
    if stage == Stage.IDENTIFICATION:
        consent = _latest(Consent, case, stage, "signed_on")
        checks.append(
            Check(
                "consent",
                "农户签字的承诺授权书",
                consent is not None,
                f"{consent.signed_on:%Y-%m-%d} 已签署" if consent else "未上传农户签字的承诺授权书",
            )
        )
    appraisal = _latest(Appraisal, case, stage, "held_on")
    if appraisal is None:
        problem = "未登记民主评议"
    elif appraisal.result != AppraisalResult.PASSED:
        problem = "民主评议未通过"
    elif visit is not None and appraisal.held_on < visit.visited_on:
        problem = "民主评议应在入户核实之后"
    else:
        problem = ""
    checks.append(
        Check(
            "appraisal",
            "民主评议通过",
            not problem,
            problem or f"{appraisal.held_on:%Y-%m-%d} 评议通过",
        )
    )
    notice = _latest(PublicNotice, case, stage, "end_on")
    minimum = _setting("NOTICE_MIN_DAYS")
    if notice is None:
        checks.append(Check("notice", "公示", False, "未登记公示"))
        return checks
    checks.append(
        Check(
            "notice_days",
            f"公示不少于 {minimum} 天",
            notice.days >= minimum,
            f"公示期为 {notice.days} 天，不少于 {minimum} 天"
            if notice.days < minimum
            else f"{notice.start_on:%Y-%m-%d} 至 {notice.end_on:%Y-%m-%d}，共 {notice.days} 天",
        )
    )
    checks.append(
        Check(
            "notice_ended",
            "公示期满",
            notice.end_on < today,
            f"公示至 {notice.end_on:%Y-%m-%d} 结束，公示期满后方可上报"
            if notice.end_on >= today
            else "公示期已满",
        )
    )
    checks.append(
        Check(
            "notice_objections",
            "公示无未处理异议",
            notice.objections_resolved,
            "公示有未处理的异议" if not notice.objections_resolved else "无未处理异议",
        )
    )
    if appraisal is not None:
        ordered = notice.start_on >= appraisal.held_on
        checks.append(
            Check(
                "notice_order",
                "公示在民主评议之后",
                ordered,
                "公示应在民主评议之后" if not ordered else "公示在评议之后",
            )
        )
    return checks


def procedure_problems(case: Case, stage: str, today: date) -> list[str]:
    return unmet(procedure_checks(case, stage, today))


def report_checks(case: Case, today: date) -> list[Check]:
    """What the village report needs: the procedure, the cross-check against the negative
    list, the income of the 12 months before the finding, and the filing rules again."""
    filing = filing_problems_for_report(case, today)
    checks = procedure_checks(case, Stage.IDENTIFICATION, today)
    checks += cross_check_checks(case)
    checks.append(income_check(case.household, case.category, case.found_on, today))
    checks += [Check("filing", "登记信息符合认定条件", False, problem) for problem in filing]
    if not filing:
        checks.append(Check("filing", "登记信息符合认定条件", True, "类别、风险类型与户类型相符"))
    return checks


def cross_check_checks(case: Case) -> list[Check]:
    """信息比对: the latest cross-check of identification covers every item of the negative
    list now in use; an item found is a hit on the list (unmet, naming it and the note); an
    item that could not be checked is met, and says so. Items no longer in use are not
    asked for and do not count."""
    active = list(CrossCheckItem.objects.filter(active=True))
    label = "信息比对（" + "、".join(item.name for item in active) + "）"
    record = (
        CrossCheck.objects.filter(case=case, stage=Stage.IDENTIFICATION)
        .order_by("-checked_on", "-id")
        .prefetch_related("findings")
        .first()
    )
    if record is None:
        return [Check("cross_check", label, False, "未登记信息比对")]
    findings = {finding.item_id: finding for finding in record.findings.all()}
    missing = [item.name for item in active if item.pk not in findings]
    checks = [
        Check(
            "cross_check",
            label,
            not missing,
            f"{record.checked_on:%Y-%m-%d} 的信息比对未包含：{'、'.join(missing)}，请重新比对"
            if missing
            else f"{record.checked_on:%Y-%m-%d} 已比对",
        )
    ]
    for item in active:
        finding = findings.get(item.pk)
        if finding is None or finding.result == CrossCheckResult.CLEAR:
            continue
        if finding.result == CrossCheckResult.FOUND:
            checks.append(
                Check(
                    "cross_check_found",
                    f"信息比对：{item.name}",
                    False,
                    f"信息比对发现{item.name}：{finding.note}（该户命中负面清单）",
                )
            )
        else:
            checks.append(
                Check(
                    "cross_check_unavailable",
                    f"信息比对：{item.name}",
                    True,
                    f"{item.name}无法比对：{finding.note}",
                )
            )
    return checks


def report_problems(case: Case, today: date) -> list[str]:
    return unmet(report_checks(case, today))


def filing_problems_for_report(case: Case, today: date) -> list[str]:
    """The filing rules again at report time: income or members may have changed since."""
    codes = list(case.risks.values_list("code", flat=True))
    problems = filing_problems(
        household=case.household,
        category=case.category,
        risk_codes=codes,
        found_on=case.found_on,
        today=today,
        income=False,  # report_checks asks it as its own check
    )
    # The case itself is the open case of its household: not a conflict here.
    return [p for p in problems if not p.startswith("该户已有未办结")]


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- 风险消除 (DOMAIN.md section 9) ---------------------------------------------------------
# 帮扶消除: the aid conditions and the procedure. 自然消除 (the risk went away by itself):
# the procedure and the evidence of why, not the aid conditions.


def clearance_checks(case: Case, today: date, kind: str | None = None) -> list[Check]:
    """The conditions of a clearance of `kind` (default: the case's own, set by the
    proposal; else 帮扶消除). Approvals read them again with the case's kind."""
    kind = kind or case.clearance_kind or ClearanceKind.ASSISTED
    if kind == ClearanceKind.NATURAL:
        checks = []
        # The reason and its evidence come with the proposal (its form); before it, the
        # checklist is the procedure alone.
        if case.natural_reason or case.status != Status.MONITORING:
            checks += natural_checks(case)
        checks += procedure_checks(case, Stage.CLEARANCE, today)
    else:
        checks = assisted_checks(case, today) + procedure_checks(case, Stage.CLEARANCE, today)
    if case.status == Status.MONITORING:
        checks.append(adjustment_settled_check(case))
    return checks


def adjustment_settled_check(case: Case) -> Check:
    """The proposal: a 动态调整 still waiting for the township would be left behind by a
    case leaving 监测帮扶中 (only a case in monitoring has one decided), so it is decided
    first. Asked when the clearance is proposed; a case past it has none."""
    from monitor.adjustments import pending_adjustment

    pending = pending_adjustment(case)
    return Check(
        "adjustment_pending",
        "无待乡镇确认的动态调整",
        pending is None,
        "有待乡镇确认的动态调整，请先由乡镇确认或退回"
        if pending is not None
        else "无待确认的动态调整",
    )


def clearance_problems(case: Case, today: date, kind: str | None = None) -> list[str]:
    return unmet(clearance_checks(case, today, kind))


def assisted_checks(case: Case, today: date) -> list[Check]:
    """帮扶消除: months in monitoring (the region's own rule), measures, labour and
    developmental aid, illness cover, 两不愁三保障 and water from the registry, large rigid
    expenses resolved, income stably above the line for half a year."""
    household = case.household
    checks = [_months_check(case, household, today)]
    measures = MeasureRecord.objects.filter(case=case)
    minimum = _setting("CLEARANCE_MIN_MEASURES")
    count = measures.count()
    checks.append(
        Check(
            "measures",
            f"至少落实 {minimum} 项帮扶措施",
            count >= minimum,
            f"未落实帮扶措施（至少 {minimum} 项）" if count < minimum else f"已落实 {count} 项",
        )
    )
    able = can_anyone_work(household)
    checks.append(
        Check(
            "labour",
            "家中有劳动能力成员",
            able,
            "家中无劳动能力成员，暂不标注风险消除，继续落实综合保障措施"
            if not able
            else "有劳动能力成员",
        )
    )
    if able:
        # Which categories are developmental is data (MeasureCategory.developmental).
        developmental = measures.filter(category__developmental=True).exists()
        checks.append(
            Check(
                "developmental",
                "落实开发式帮扶措施",
                developmental,
                "有劳动能力的家庭须至少落实一项开发式帮扶措施（产业、就业、金融或公益性岗位）"
                if not developmental
                else "已落实开发式帮扶措施",
            )
        )
    if case.risks.filter(code=RISK_ILLNESS).exists():
        # Which categories count is data (MeasureCategory.covers_illness): 健康帮扶 and
        # 综合保障 as seeded; 社会帮扶, help from society, is not cover.
        covered = measures.filter(category__covers_illness=True).exists()
        checks.append(
            Check(
                "illness_cover",
                "因病致险：落实健康帮扶或综合保障",
                covered,
                "因病致险须落实健康帮扶或综合保障（医疗救助、低保、特困供养）措施"
                if not covered
                else "已落实健康帮扶或综合保障措施",
            )
        )
    checks += registry_checks(household)
    checks += clearance_income_checks(case, household)
    return checks


def _months_check(case: Case, household: Household, today: date) -> Check:
    # The county's own minimum for the year, else the installation's (monitor/regional.py).
    months = local_rule(household.village_id, "clearance_min_months", today)
    long_enough = case.identified_on is not None and add_months(case.identified_on, months) <= today
    since = f"（{case.identified_on:%Y-%m-%d} 纳入）" if case.identified_on else ""
    return Check(
        "months",
        f"纳入监测满 {months} 个月",
        long_enough,
        f"纳入监测未满 {months} 个月{since}" if not long_enough else f"已满{since}",
    )


def _names(members) -> str:
    # Names only: a checklist is read aloud and printed, never with an ID number.
    return "、".join(member.name for member in members)


def registry_checks(household: Household) -> list[Check]:
    """两不愁三保障 and drinking water as the registry records them (住房安全, 饮水安全,
    义务教育, 基本医疗保险). Only members in the register count; an unassessed fact is
    not a secured one."""
    checks = []
    for code, label, value, what in (
        ("housing", "住房安全有保障", household.housing_safe, "住房"),
        ("water", "饮水安全有保障", household.water_safe, "饮水"),
    ):
        if value is True:
            detail = f"{what}安全"
        elif value is False:
            detail = f"{what}不安全，须先解决{what}安全问题"
        else:
            detail = f"未登记{what}安全评估结果"
        checks.append(Check(code, label, value is True, detail))
    members = list(members_in_register(household).only("name", "schooling", "medical_insurance"))
    dropouts = [m for m in members if m.schooling == Schooling.DROPOUT]
    checks.append(
        Check(
            "schooling",
            "义务教育有保障（无失学辍学）",
            not dropouts,
            f"有义务教育阶段失学辍学成员：{_names(dropouts)}" if dropouts else "无失学辍学",
        )
    )
    uninsured = [m for m in members if m.medical_insurance is not True]
    checks.append(
        Check(
            "medical_insurance",
            "基本医疗保险全员参保",
            bool(members) and not uninsured,
            f"未参加基本医疗保险（或未登记参保）的成员：{_names(uninsured)}"
            if uninsured
            else ("在册成员均已参保" if members else "无在册成员"),
        )
    )
    return checks


def clearance_income_checks(case: Case, household: Household) -> list[Check]:
    """大额刚性支出已解决 (the latest income after rigid expenses above the line) and 收入稳定
    高于监测范围: "两次以上收入测算均稳定高于监测范围，且间隔不少于半年" — the latest record
    after identification, the latest one at least six months older (also after
    identification), and every record between them, each above the line of its year."""
    records = household.income_records.order_by("-period_end")
    if case.identified_on:
        # Figures from before identification say nothing about whether the aid worked.
        records = records.filter(period_end__gt=case.identified_on)
    records = list(records)
    if not records:
        return [
            Check(
                "rigid_expenses",
                "大额刚性支出已解决",
                False,
                "未登记纳入监测以来的收支情况，无法判断大额刚性支出是否已解决",
            ),
            Check(
                "income",
                STABLE_INCOME_LABEL,
                False,
                "未登记纳入监测以来的收支情况，无法判断收入是否稳定高于监测范围",
            ),
        ]
    lines: dict[int, object] = {}

    def line_of(year: int):
        if year not in lines:
            lines[year] = monitoring_line_for(village_code=household.village_id, year=year)
        return lines[year]

    latest = records[0]
    return [_rigid_check(latest, line_of(latest.year)), _stable_income_check(records, line_of)]


STABLE_INCOME_LABEL = "收入稳定高于监测范围（不少于半年）"


def _rigid_check(latest: IncomeRecord, line) -> Check:
    label = "大额刚性支出已解决"
    if line is None:
        return Check("rigid_expenses", label, False, f"未设置 {latest.year} 年的监测范围")
    value = latest.per_capita_after_rigid
    if value <= line.amount:
        return Check(
            "rigid_expenses",
            label,
            False,
            f"截至 {latest.period_end:%Y-%m-%d}，扣除合规自付医疗、教育支出后人均纯收入 "
            f"{value} 元未高于监测范围 {line.amount} 元，大额刚性支出尚未解决",
        )
    return Check(
        "rigid_expenses",
        label,
        True,
        f"扣除刚性支出后人均纯收入 {value} 元，监测范围 {line.amount} 元",
    )


def _stable_income_check(records: list[IncomeRecord], line_of) -> Check:
    latest = records[0]
    # Half a year counted forward from the earlier record, so quarter ends (03-31 → 09-30)
    # are six months apart.
    earlier = next(
        (
            record
            for record in records
            if add_months(record.period_end, STABLE_INCOME_MONTHS) <= latest.period_end
        ),
        None,
    )
    if earlier is None:
        return Check(
            "income",
            STABLE_INCOME_LABEL,
            False,
            f"纳入监测以来只有截至 {latest.period_end:%Y-%m-%d} 前半年以内的收入测算，"
            "须有间隔不少于半年的两次以上测算均高于监测范围",
        )
    span = [record for record in records if record.period_end >= earlier.period_end]
    problems = []
    for record in reversed(span):
        line = line_of(record.year)
        if line is None:
            problems.append(f"未设置 {record.year} 年的监测范围")
        elif record.per_capita_net_income <= line.amount:
            problems.append(
                f"{record.year}年人均纯收入（截至 {record.period_end:%Y-%m-%d}）"
                f"{record.per_capita_net_income} 元未高于监测范围 {line.amount} 元"
            )
    if problems:
        return Check("income", STABLE_INCOME_LABEL, False, "；".join(dict.fromkeys(problems)))
    return Check(
        "income",
        STABLE_INCOME_LABEL,
        True,
        f"{earlier.period_end:%Y-%m-%d} 至 {latest.period_end:%Y-%m-%d} 的 {len(span)} 次测算"
        f"均高于监测范围（最近一次人均纯收入 {latest.per_capita_net_income} 元）",
    )


# Income stably above the line for no less than half a year (DOMAIN.md section 9).
STABLE_INCOME_MONTHS = 6
NATURAL_EVIDENCE_MIN = 4


def natural_checks(case: Case) -> list[Check]:
    """自然消除: why the risk went away, with its evidence; for a death, the member whose
    illness was the risk, recorded as deceased in the register."""
    reason = case.natural_reason
    checks = [
        Check(
            "natural_reason",
            "自然消除原因",
            reason in NaturalReason.values,
            NaturalReason(reason).label if reason in NaturalReason.values else "未选择自然消除原因",
        )
    ]
    evidence = (case.natural_evidence or "").strip()
    enough = len(evidence) >= NATURAL_EVIDENCE_MIN
    checks.append(
        Check(
            "natural_evidence",
            "自然消除依据",
            enough,
            evidence if enough else f"未填写自然消除依据（不少于 {NATURAL_EVIDENCE_MIN} 个字）",
        )
    )
    if reason == NaturalReason.MEMBER_DIED:
        member = case.natural_member
        if member is None or member.household_id != case.household_id:
            met, detail = False, "未指明本户已去世的致险成员"
        elif member.life_status != LifeStatus.DECEASED:
            met, detail = False, f"成员{member.name}未登记为死亡（请先在农户页登记成员状态）"
        else:
            met = True
            day = f"于 {member.life_status_on:%Y-%m-%d} " if member.life_status_on else ""
            detail = f"成员{member.name}{day}去世"
        checks.append(Check("natural_member", "致险成员已登记死亡", met, detail))
    return checks


def natural_clearance_input(case: Case, *, reason, evidence, member_id) -> tuple:
    """The input of a 自然消除 proposal, checked by field: a known reason, evidence of at
    least four characters, and for a death the member of this household recorded as
    deceased. Returns (reason, evidence, member)."""
    from django.core.exceptions import ValidationError

    from households.models import Member

    errors = {}
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if reason not in NaturalReason.values:
        errors["natural_reason"] = "请选择自然消除原因"
    evidence = (evidence or "").strip() if isinstance(evidence, str) else ""
    if len(evidence) < NATURAL_EVIDENCE_MIN:
        errors["natural_evidence"] = (
            f"请填写自然消除依据（不少于 {NATURAL_EVIDENCE_MIN} 个字，如死亡证明、康复诊断、"
            "户籍迁出证明）"
        )
    elif len(evidence) > NATURAL_EVIDENCE_MAX or "\x00" in evidence:
        errors["natural_evidence"] = f"自然消除依据不超过 {NATURAL_EVIDENCE_MAX} 个字"
    member = None
    if member_id not in (None, ""):
        text = str(member_id)
        if text.isascii() and text.isdigit() and len(text) <= 18:
            member = Member.objects.filter(pk=int(text), household_id=case.household_id).first()
        if member is None:
            errors["natural_member_id"] = "请选择本户的家庭成员"
    if reason == NaturalReason.MEMBER_DIED and "natural_member_id" not in errors:
        if member is None:
            errors["natural_member_id"] = "致险成员去世的，请选择已去世的成员"
        elif member.life_status != LifeStatus.DECEASED:
            errors["natural_member_id"] = (
                f"成员{member.name}未登记为死亡，请先在农户页登记成员状态变更"
            )
    if errors:
        raise ValidationError(errors)
    return reason, evidence, member


NATURAL_EVIDENCE_MAX = 500
