"""Business rules of cases: consistency at filing, preconditions of report and clearance.

Each function returns the list of unmet conditions in Chinese (empty = satisfied), so a
refusal names every condition at once rather than one per attempt.
"""

from datetime import date

from django.conf import settings

from households.choices import ABLE_TO_WORK, HouseholdKind
from households.models import Household, IncomeRecord
from households.services import monitoring_line_for
from interventions.catalogue import ILLNESS_COVER_CATEGORIES
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


def procedure_problems(case: Case, stage: str, today: date) -> list[str]:
    """Home visit, consent (identification only), appraisal and a finished public notice."""
    problems = []
    visit = _latest(HomeVisit, case, stage, "visited_on")
    if visit is None:
        problems.append("未登记入户核实")
    if stage == Stage.IDENTIFICATION and _latest(Consent, case, stage, "signed_on") is None:
        problems.append("未上传农户签字的承诺授权书")
    appraisal = _latest(Appraisal, case, stage, "held_on")
    if appraisal is None:
        problems.append("未登记民主评议")
    elif appraisal.result != AppraisalResult.PASSED:
        problems.append("民主评议未通过")
    elif visit is not None and appraisal.held_on < visit.visited_on:
        problems.append("民主评议应在入户核实之后")
    notice = _latest(PublicNotice, case, stage, "end_on")
    minimum = _setting("NOTICE_MIN_DAYS")
    if notice is None:
        problems.append("未登记公示")
    else:
        if notice.days < minimum:
            problems.append(f"公示期为 {notice.days} 天，不少于 {minimum} 天")
        if notice.end_on >= today:
            problems.append(f"公示至 {notice.end_on:%Y-%m-%d} 结束，公示期满后方可上报")
        if not notice.objections_resolved:
            problems.append("公示有未处理的异议")
        if appraisal is not None and notice.start_on < appraisal.held_on:
            problems.append("公示应在民主评议之后")
    return problems


def report_problems(case: Case, today: date) -> list[str]:
    problems = procedure_problems(case, Stage.IDENTIFICATION, today)
    problems += filing_problems_for_report(case, today)
    return problems


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


def clearance_problems(case: Case, today: date) -> list[str]:
    """DOMAIN.md section 9, with the thresholds from settings.MONITOR."""
    problems = []
    household = case.household
    months = _setting("CLEARANCE_MIN_MONTHS")
    if case.identified_on is None or add_months(case.identified_on, months) > today:
        since = f"（{case.identified_on:%Y-%m-%d} 纳入）" if case.identified_on else ""
        problems.append(f"纳入监测未满 {months} 个月{since}")
    measures = MeasureRecord.objects.filter(case=case)
    minimum = _setting("CLEARANCE_MIN_MEASURES")
    if measures.count() < minimum:
        problems.append(f"未落实帮扶措施（至少 {minimum} 项）")
    able = can_anyone_work(household)
    if not able:
        problems.append("家中无劳动能力成员，暂不标注风险消除，继续落实综合保障措施")
    elif not measures.filter(category__developmental=True).exists():
        problems.append(
            "有劳动能力的家庭须至少落实一项开发式帮扶措施（产业、就业、金融或公益性岗位）"
        )
    if (
        case.risks.filter(code=RISK_ILLNESS).exists()
        and not measures.filter(category__code__in=ILLNESS_COVER_CATEGORIES).exists()
    ):
        problems.append("因病致险须落实健康帮扶、社会帮扶或综合保障措施")
    income = latest_income(household)
    if income is None or (case.identified_on and income.period_end <= case.identified_on):
        # Figures from before identification say nothing about whether the aid worked.
        problems.append("未登记纳入监测以来的收支情况，无法判断收入是否稳定高于监测范围")
    else:
        line = monitoring_line_for(village_code=household.village_id, year=income.year)
        if line is None:
            problems.append(f"未设置 {income.year} 年的监测范围")
        elif income.per_capita_net_income <= line.amount:
            problems.append(
                f"{income.year}年人均纯收入 {income.per_capita_net_income} 元未高于监测范围 "
                f"{line.amount} 元"
            )
    problems += procedure_problems(case, Stage.CLEARANCE, today)
    return problems
