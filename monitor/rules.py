"""Business rules of cases: consistency at filing, preconditions of report and clearance.

Each function returns the list of unmet conditions in Chinese (empty = satisfied), so a
refusal names every condition at once rather than one per attempt.
"""

from dataclasses import dataclass
from datetime import date

from django.conf import settings

from households.choices import ABLE_TO_WORK, HouseholdKind
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
    Stage,
)
from monitor.models import Appraisal, Case, Consent, HomeVisit, PublicNotice


def _setting(name: str) -> int:
    return settings.MONITOR[name]


def latest_income(household: Household) -> IncomeRecord | None:
    return household.income_records.order_by("-period_end").first()


def can_anyone_work(household: Household) -> bool:
    return household.members.filter(labour__in=ABLE_TO_WORK).exists()


def filing_problems(
    *, household: Household, category: str, risk_codes: list[str], found_on: date, today: date
) -> list[str]:
    """Consistency of a new or edited case (DOMAIN.md section 4)."""
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
    if found_on > today:
        problems.append("发现风险日期不能晚于今天")
    if category == Category.UNSTABLE and household.kind != HouseholdKind.LIFTED:
        problems.append("脱贫不稳定户只能是脱贫户；一般农户请选择边缘易致贫户或突发严重困难户")
    if category == Category.MARGINAL and household.kind != HouseholdKind.ORDINARY:
        problems.append("边缘易致贫户只能是一般农户；脱贫户请选择脱贫不稳定户或突发严重困难户")
    if category in (Category.UNSTABLE, Category.MARGINAL):
        income = latest_income(household)
        if income is not None:
            line = monitoring_line_for(village_code=household.village_id, year=income.year)
            if line is None:
                problems.append(f"未设置 {income.year} 年的监测范围，无法判断收入是否在监测范围内")
            elif income.per_capita_net_income > line.amount:
                problems.append(
                    f"{income.year}年人均纯收入 {income.per_capita_net_income} 元高于监测范围 "
                    f"{line.amount} 元；收入高于范围但因突发事件生活困难的，请选择突发严重困难户"
                )
    if Case.objects.open().filter(household=household).exists():
        problems.append("该户已有未办结的监测案例（一户只能有一个）")
    return problems


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
    visit = _latest(HomeVisit, case, stage, "visited_on")
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
    """What the village report needs: the procedure, and the filing rules again."""
    filing = filing_problems_for_report(case, today)
    checks = procedure_checks(case, Stage.IDENTIFICATION, today)
    checks += [Check("filing", "登记信息符合认定条件", False, problem) for problem in filing]
    if not filing:
        checks.append(Check("filing", "登记信息符合认定条件", True, "类别、风险类型与收入相符"))
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


def clearance_checks(case: Case, today: date) -> list[Check]:
    """DOMAIN.md section 9, with the thresholds from settings.MONITOR."""
    checks = []
    household = case.household
    months = _setting("CLEARANCE_MIN_MONTHS")
    long_enough = case.identified_on is not None and add_months(case.identified_on, months) <= today
    since = f"（{case.identified_on:%Y-%m-%d} 纳入）" if case.identified_on else ""
    checks.append(
        Check(
            "months",
            f"纳入监测满 {months} 个月",
            long_enough,
            f"纳入监测未满 {months} 个月{since}" if not long_enough else f"已满{since}",
        )
    )
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
    checks.append(_income_check(case, household))
    checks += procedure_checks(case, Stage.CLEARANCE, today)
    return checks


def _income_check(case: Case, household: Household) -> Check:
    label = "收入稳定高于监测范围"
    income = latest_income(household)
    if income is None or (case.identified_on and income.period_end <= case.identified_on):
        # Figures from before identification say nothing about whether the aid worked.
        return Check(
            "income",
            label,
            False,
            "未登记纳入监测以来的收支情况，无法判断收入是否稳定高于监测范围",
        )
    line = monitoring_line_for(village_code=household.village_id, year=income.year)
    if line is None:
        return Check("income", label, False, f"未设置 {income.year} 年的监测范围")
    if income.per_capita_net_income <= line.amount:
        return Check(
            "income",
            label,
            False,
            f"{income.year}年人均纯收入 {income.per_capita_net_income} 元未高于监测范围 "
            f"{line.amount} 元",
        )
    return Check(
        "income",
        label,
        True,
        f"{income.year}年人均纯收入 {income.per_capita_net_income} 元，监测范围 {line.amount} 元",
    )


def clearance_problems(case: Case, today: date) -> list[str]:
    return unmet(clearance_checks(case, today))
