"""Demo cases for `manage.py load_demo`: a few households in different steps, made through
the same services and workflow the users go through, dated relative to today."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import User
from households.choices import ABLE_TO_WORK, HouseholdKind
from households.models import Household
from households.services import income_record_save
from interventions.models import MeasureCategory
from interventions.services import aid_plan_save, measure_record_create
from monitor import services
from monitor.adjustments import adjustment_propose
from monitor.choices import AppraisalResult, Category, Channel, CrossCheckResult
from monitor.deadlines import mark_overdue
from monitor.demo_history import demo_history_load
from monitor.identification import cross_check_record
from monitor.models import Case, CaseTransition, CrossCheckItem
from monitor.workflow import case_transition

SCAN = b"%PDF-1.4\n% demo consent scan\n"


def _household(village: str, kind: str) -> Household:
    """A household of the village, of that kind, with someone able to work and no case."""
    return (
        Household.objects.filter(
            village_id=village, kind=kind, cases__isnull=True, members__labour__in=ABLE_TO_WORK
        )
        .order_by("number")
        .first()
    )


def _procedure(case: Case, cadre: User, day) -> None:
    services.home_visit_record(
        case=case,
        by=cadre,
        visited_on=day,
        visitors="村两委、驻村工作队",
        findings="入户核实，情况属实",
    )
    services.consent_record(
        case=case, by=cadre, signed_on=day, scan=ContentFile(SCAN, name="consent.pdf")
    )
    # 收入测算 of the 12 months before the finding (sudden cases: heavy medical bills) and
    # 信息比对 against the negative list: both asked by the report.
    size = case.household.members.count()
    income_record_save(
        household=case.household,
        year=case.found_on.year,
        period_end=case.found_on,
        by=cadre,
        wage_income=Decimal(4000 * size),
        medical_expense=Decimal(3000 * size),
    )
    cross_check_record(
        case=case,
        by=cadre,
        checked_on=day,
        findings=[
            {"item": code, "result": CrossCheckResult.CLEAR}
            for code in CrossCheckItem.objects.filter(active=True).values_list("code", flat=True)
        ],
        note="县乡村振兴局比对财政供养、车辆、房产、工商登记数据",
    )
    services.appraisal_record(
        case=case,
        by=cadre,
        held_on=day + timedelta(days=1),
        result=AppraisalResult.PASSED,
        participants=21,
    )
    services.notice_record(
        case=case, by=cadre, start_on=day + timedelta(days=1), end_on=day + timedelta(days=5)
    )


def _stamp_trail(case: Case, day) -> None:
    moment = timezone.make_aware(datetime.combine(day, time(10, 0)))
    CaseTransition.objects.filter(case=case).update(at=moment)


def demo_cases_load() -> list[str]:
    if Case.objects.exists():
        return []
    today = timezone.localdate()
    cadre = User.objects.get(username="cun_dongguan")
    township = User.objects.get(username="zhen_qiaotou")
    county = User.objects.get(username="xian_datong")
    lines = []

    found = today - timedelta(days=40)
    household = _household("630121100201", HouseholdKind.LIFTED)
    case = services.case_create(
        household=household,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=found,
        by=cadre,
        description="户主患大病，医疗支出大",
        today=found,
    )
    _procedure(case, cadre, found + timedelta(days=1))
    for action, user in (
        ("report", cadre),
        ("township_approve", township),
        ("county_approve", county),
    ):
        case = case_transition(
            case_id=case.pk, action=action, by=user, comment="同意", today=found + timedelta(days=8)
        )
    # The trail is stamped when it is written; a demo dated in the past stamps it on the day
    # it pretends, as the reports read the day of each step from the trail.
    _stamp_trail(case, found + timedelta(days=8))
    for code, text in (("health", "大病专项救治、医疗救助"), ("industry", "发展肉牛养殖")):
        measure_record_create(
            case=case,
            by=cadre,
            category=MeasureCategory.objects.get(code=code),
            description=text,
            department="县乡村振兴局",
            start_on=found + timedelta(days=9),
            amount=3000,
        )
    aid_plan_save(
        case=case, by=cadre, summary="健康帮扶兜底，产业帮扶增收", responsible_person="驻村第一书记"
    )
    # 动态调整 waiting for the township: the monthly visit found the spouse now cares for
    # the sick head full time.
    adjustment_propose(
        case=case,
        by=cadre,
        category=Category.UNSTABLE,
        risk_codes=["01", "04"],
        main_risk="01",
        reason="月排查走访发现配偶需全职照料户主，家中缺劳动力",
    )
    lines.append(f"{household.number} 脱贫不稳定户 监测帮扶中（动态调整待乡镇确认）")

    found = today - timedelta(days=3)
    household = _household("630121100201", HouseholdKind.ORDINARY)
    case = services.case_create(
        household=household,
        category=Category.MARGINAL,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["05"],
        found_on=found,
        by=cadre,
        description="家庭成员意外受伤",
    )
    lines.append(f"{household.number} 边缘易致贫户 村级核实中")

    found = today - timedelta(days=12)
    household = _household("630121100201", HouseholdKind.ORDINARY)
    case = services.case_create(
        household=household,
        category=Category.SUDDEN,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["0201"],
        found_on=found,
        by=cadre,
        green_channel=True,
        description="洪涝冲毁住房",
        today=found,
    )
    _procedure(case, cadre, found + timedelta(days=1))
    lines.append(f"{household.number} 突发严重困难户（绿色通道） 村级核实中")

    # Waiting for the township (reported) and for the county (passed by the township), so
    # that every role's home page opens on a real queue.
    for days_ago, steps, risk, text in (
        (10, [("report", cadre)], "05", "务工途中遭遇车祸，医疗费用高"),
        (
            13,
            [("report", cadre), ("township_approve", township)],
            "03",
            "家庭主要劳动力因伤致残",
        ),
    ):
        found = today - timedelta(days=days_ago)
        household = _household("630121100201", HouseholdKind.ORDINARY)
        case = services.case_create(
            household=household,
            category=Category.SUDDEN,
            channel=Channel.CADRE_SCREENING,
            risk_codes=[risk],
            found_on=found,
            by=cadre,
            description=text,
            today=found,
        )
        _procedure(case, cadre, found + timedelta(days=1))
        for action, user in steps:
            case = case_transition(case_id=case.pk, action=action, by=user, comment="同意")
        lines.append(f"{household.number} 突发严重困难户 {case.get_status_display()}")

    found = today - timedelta(days=2)
    household = _household("630121101201", HouseholdKind.ORDINARY)
    services.case_create(
        household=household,
        category=Category.MARGINAL,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=found,
        by=User.objects.get(username="cun_xiangyang"),
        description="户主患慢性病，长期服药",
    )
    lines.append(f"{household.number} 边缘易致贫户 村级核实中（向阳村）")

    found = today - timedelta(days=4)
    household = _household("630121100203", HouseholdKind.LIFTED)
    services.case_create(
        household=household,
        category=Category.UNSTABLE,
        channel=Channel.SELF_APPLICATION,
        risk_codes=["09"],
        found_on=found,
        by=township,
        description="子女上大学费用高（农户书面申请，乡镇代录）",
        awaiting_acceptance=True,
    )
    lines.append(f"{household.number} 农户自主申报 待乡镇受理（已超期）")
    lines += _demo_insurance(today, county, township)
    lines += demo_history_load(today)
    mark_overdue(today)
    return lines


def _demo_insurance(today, county: User, township: User) -> list[str]:
    """防贫保险: the county's policy of the year, every 脱贫户 and monitored household
    enrolled, and one claim paid to the monitored household of 东关村."""
    from households.models import Region
    from interventions.insurance import (
        insurance_claim_pay,
        insurance_claim_record,
        insurance_enrol,
        insurance_policy_save,
    )
    from interventions.models import InsuranceCoverage, InsuranceEnrolment

    insurance = insurance_policy_save(
        by=county,
        region=Region.objects.get(code="630121000000"),
        year=today.year,
        insurer="中国人民财产保险股份有限公司大通支公司",
        coverage=InsuranceCoverage.LIFTED_AND_MONITORED,
        trigger_line=Decimal("8000"),
        premium_per_person=Decimal("50"),
        note="县财政统一投保",
    )
    enrolled = insurance_enrol(policy=insurance, by=county)
    enrolment = (
        InsuranceEnrolment.objects.filter(
            policy=insurance, household__village_id="630121100201", household__is_monitored=True
        )
        .order_by("household__number")
        .first()
    )
    paid = 0
    if enrolment is not None:
        claim = insurance_claim_record(
            enrolment=enrolment,
            by=township,
            claimed_on=max(today - timedelta(days=20), today.replace(month=1, day=1)),
            reason="户主住院，医疗自付后家庭人均纯收入低于理赔触发线",
        )
        insurance_claim_pay(claim=claim, by=township, amount_paid=Decimal("5000"), paid_on=today)
        paid = 1
    return [f"防贫保险 {insurance.insurer}：参保 {enrolled} 户，赔付 {paid} 笔"]


def demo_feed_load() -> str | None:
    """The sample medical-insurance list, pushed as the demo department would push it, in
    two monthly lists: the county has sent the first list's clues down to the villages
    (下发批次), the second waits for its dispatch."""
    from pathlib import Path

    from monitor.feeds.dispatch import round_dispatch
    from monitor.feeds.intake import receive_file
    from monitor.feeds.matching import process_batch
    from monitor.models import Department, DispatchRound, WarningBatch

    department = Department.objects.first()
    keys = ("演示-医保-2026-09", "演示-医保-2026-10")
    # The history's earlier lists (monitor/demo_history/feeds.py) are not these two.
    if department is None or WarningBatch.objects.filter(batch_key__in=keys).exists():
        return None
    path = (
        Path(__file__).resolve().parents[1]
        / "households"
        / "fixtures"
        / "demo"
        / ("warnings_medical.csv")
    )
    header, *rows = path.read_text("utf-8").splitlines()
    half = len(rows) // 2
    batches = []
    for key, part in ((keys[0], rows[:half]), (keys[1], rows[half:])):
        received = receive_file(
            department=department,
            batch_key=key,
            data=("\n".join([header, *part]) + "\n").encode("utf-8"),
            file_name=path.name,
            max_bytes=10 * 1024 * 1024,
        )
        # Processed here and now, broker or not (a queued copy of the work finds it done).
        process_batch(received.batch.pk)
        batches.append(WarningBatch.objects.defer("payload").get(pk=received.batch.pk))
    county = User.objects.get(username="xian_datong")
    first = DispatchRound.objects.filter(batch=batches[0], county_id=county.region_id).first()
    sent = round_dispatch(round_id=first.pk, by=county).sent if first else 0
    waiting = DispatchRound.objects.filter(batch=batches[1], dispatched_at__isnull=True)
    counts = ("rows_total", "rows_new_clue", "rows_merged", "rows_attached", "rows_not_found")
    total = {name: sum(getattr(batch, name) for batch in batches) for name in counts}
    total["rows_invalid"] = sum(batch.rows_invalid for batch in batches)
    return (
        f"{department.name} 推送 {total['rows_total']} 行（两批）：新线索 "
        f"{total['rows_new_clue']}，并入 {total['rows_merged'] + total['rows_attached']}，"
        f"未在登记库 {total['rows_not_found']}，无效 {total['rows_invalid']}；"
        f"第一批 {sent} 条线索已由县级下发到村，第二批 "
        f"{sum(r.clue_count for r in waiting)} 条待县级下发"
    )
