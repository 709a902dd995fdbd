"""Demo cases for `manage.py load_demo`: a few households in different steps, made through
the same services and workflow the users go through, dated relative to today."""

from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import User
from households.choices import ABLE_TO_WORK, HouseholdKind
from households.models import Household
from interventions.models import MeasureCategory
from interventions.services import aid_plan_save, measure_record_create
from monitor import services
from monitor.choices import AppraisalResult, Category, Channel
from monitor.deadlines import mark_overdue
from monitor.models import Case
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
    lines.append(f"{household.number} 脱贫不稳定户 监测帮扶中")

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
    mark_overdue(today)
    return lines


def demo_feed_load() -> str | None:
    """The sample medical-insurance list, pushed as the demo department would push it."""
    from pathlib import Path

    from monitor.feeds.intake import receive_file
    from monitor.feeds.matching import process_batch
    from monitor.models import Department, WarningBatch

    department = Department.objects.first()
    if department is None or WarningBatch.objects.exists():
        return None
    path = (
        Path(__file__).resolve().parents[1]
        / "households"
        / "fixtures"
        / "demo"
        / ("warnings_medical.csv")
    )
    received = receive_file(
        department=department,
        batch_key="演示-医保-2026-10",
        data=path.read_bytes(),
        file_name=path.name,
        max_bytes=10 * 1024 * 1024,
    )
    # Processed here and now, broker or not (a queued copy of the work finds it done).
    process_batch(received.batch.pk)
    batch = WarningBatch.objects.get(pk=received.batch.pk)
    return (
        f"{department.name} 推送 {batch.rows_total} 行：新线索 {batch.rows_new_clue}，"
        f"并入 {batch.rows_merged + batch.rows_attached}，未在登记库 {batch.rows_not_found}，"
        f"无效 {batch.rows_invalid}"
    )
