"""风险消除 as the county reports describe it (DOMAIN.md section 9).

帮扶消除: the months in monitoring (the region's own rule), measures, labour and
developmental aid, illness cover, and what this file adds — 两不愁三保障 and drinking water
from the registry, large rigid expenses resolved, income above the line for at least the
last half year. 自然消除: the procedure and the evidence of why the risk went away, not the
aid conditions. Each condition is met once and unmet once, and the unmet one says which."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from households.models import Household
from households.services import income_record_save
from interventions.models import MeasureCategory, MeasureRecord
from monitor.choices import Category, Channel, ClearanceKind, Stage, Status
from monitor.models import Appraisal, Case, CaseRisk, HomeVisit, PublicNotice, RegionPolicy
from monitor.rules import clearance_checks, clearance_problems
from monitor.workflow import WorkflowError, case_transition
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 2)
IDENTIFIED = date(2025, 8, 1)


def monitored(household, *, identified_on=IDENTIFIED, risks=("01",), category=Category.UNSTABLE):
    """Test setup only: a case already in monitoring (identification is tested elsewhere)."""
    case = Case.objects.create(
        household=household,
        category=category,
        channel=Channel.CADRE_SCREENING,
        status=Status.MONITORING,
        found_on=identified_on - timedelta(days=10),
        identified_on=identified_on,
        main_risk=risks[0],
    )
    CaseRisk.objects.bulk_create([CaseRisk(case=case, code=code) for code in risks])
    return case


def measures(case, *codes):
    for code in codes:
        MeasureRecord.objects.create(
            case=case,
            category=MeasureCategory.objects.get(code=code),
            description="帮扶",
            department="县农业农村局",
            start_on=case.identified_on + timedelta(days=1),
        )


def paperwork(case, day=date(2026, 2, 1)):
    HomeVisit.objects.create(
        case=case, stage=Stage.CLEARANCE, visited_on=day, visitors="张", findings="稳定"
    )
    Appraisal.objects.create(case=case, stage=Stage.CLEARANCE, held_on=day, result="passed")
    PublicNotice.objects.create(
        case=case, stage=Stage.CLEARANCE, start_on=day, end_on=day + timedelta(days=4)
    )


INCOME_DAYS = (date(2025, 8, 20), date(2025, 12, 31), date(2026, 2, 28))


def stable_income(household, days=INCOME_DAYS, **amounts):
    amounts = amounts or {"wage_income": Decimal("20000")}
    for day in days:
        income_record_save(household=household, year=day.year, period_end=day, **amounts)


def secured(household):
    Household.objects.filter(pk=household.pk).update(housing_safe=True, water_safe=True)
    household.members.update(medical_insurance=True)
    household.refresh_from_db()


@pytest.fixture
def ready(family):
    """A case in monitoring meeting every condition of 帮扶消除."""
    case = monitored(family)
    measures(case, "industry", "health")
    stable_income(family)
    secured(family)
    paperwork(case)
    return case


def by_code(case, today=TODAY, kind=None):
    return {check.code: check for check in clearance_checks(case, today, kind)}


def test_a_case_meeting_every_condition_has_each_new_one_met(ready):
    checks = by_code(ready)
    for code in (
        "months",
        "measures",
        "labour",
        "developmental",
        "illness_cover",
        "housing",
        "water",
        "schooling",
        "medical_insurance",
        "rigid_expenses",
        "income",
        "home_visit",
        "appraisal",
        "notice_days",
        "notice_ended",
    ):
        assert checks[code].met, (code, checks[code].detail)
    assert clearance_problems(ready, TODAY) == []
    assert "3 次测算均高于监测范围" in checks["income"].detail


def test_housing_and_water_unassessed_or_unsafe_are_each_named(ready):
    Household.objects.filter(pk=ready.household_id).update(housing_safe=None, water_safe=False)
    ready.household.refresh_from_db()
    problems = clearance_problems(ready, TODAY)
    assert problems == ["未登记住房安全评估结果", "饮水不安全，须先解决饮水安全问题"]


def test_a_dropout_and_the_uninsured_are_named_by_name_never_by_id_number(ready):
    child = ready.household.members.get(name="王小山")
    child.schooling, child.medical_insurance = "dropout", False
    child.save()
    head = ready.household.members.get(name="王大山")
    head.medical_insurance = None  # not recorded is not enrolled
    head.save()
    problems = clearance_problems(ready, TODAY)
    assert problems == [
        "有义务教育阶段失学辍学成员：王小山",
        "未参加基本医疗保险（或未登记参保）的成员：王大山、王小山",
    ]
    for member in ready.household.members.all():
        assert member.id_number_masked not in "".join(problems)
        assert member.birth_date.strftime("%Y%m%d") not in "".join(problems)


def test_members_who_left_the_register_no_longer_count(ready):
    child = ready.household.members.get(name="王小山")
    child.schooling, child.medical_insurance, child.life_status = "dropout", False, "deceased"
    child.save()
    assert clearance_problems(ready, TODAY) == []
    head = ready.household.members.get(name="王大山")
    head.life_status = "moved_out"
    head.save()
    # Nobody in the register can work (the child who can't is gone too): no labour, and
    # nobody left to be insured.
    problems = clearance_problems(ready, TODAY)
    assert "家中无劳动能力成员，暂不标注风险消除，继续落实综合保障措施" in problems
    assert "在册成员均已参保" not in problems


def test_large_rigid_expenses_are_resolved_only_above_the_line_after_them(ready):
    income_record_save(
        household=ready.household,
        year=2026,
        period_end=date(2026, 2, 28),
        wage_income=Decimal("20000"),
        medical_expense=Decimal("8000"),
    )
    checks = by_code(ready)
    assert not checks["rigid_expenses"].met
    assert checks["rigid_expenses"].detail == (
        "截至 2026-02-28，扣除合规自付医疗、教育支出后人均纯收入 6000.00 元未高于监测范围 "
        "8000.00 元，大额刚性支出尚未解决"
    )
    assert checks["income"].met  # the net income itself is above the line


def test_one_record_or_records_less_than_half_a_year_apart_are_not_enough(family):
    case = monitored(family)
    family.income_records.all().delete()  # the fixture's yearly record, below the line
    stable_income(family, days=[date(2026, 2, 28)])
    detail = by_code(case)["income"].detail
    assert not by_code(case)["income"].met
    assert "须有间隔不少于半年的两次以上测算均高于监测范围" in detail
    stable_income(family, days=[date(2025, 9, 30)])  # five months before
    assert not by_code(case)["income"].met
    stable_income(family, days=[date(2025, 8, 31)])  # six months before (month ends)
    assert by_code(case)["income"].met


def test_quarter_ends_six_months_apart_count_as_half_a_year(family):
    case = monitored(family)
    family.income_records.all().delete()
    stable_income(family, days=[date(2025, 9, 30), date(2026, 3, 31)])
    assert by_code(case, today=date(2026, 4, 1))["income"].met


def test_a_record_between_the_two_below_the_line_breaks_the_half_year(ready):
    income_record_save(
        household=ready.household,
        year=2025,
        period_end=date(2025, 12, 31),
        wage_income=Decimal("12000"),
    )
    check = by_code(ready)["income"]
    assert not check.met
    assert check.detail == "2025年人均纯收入（截至 2025-12-31）6000.00 元未高于监测范围 7800.00 元"


def test_the_earlier_record_must_be_after_identification_too(family):
    case = monitored(family)
    # 2025-07-31 is six months before the latest, but before identification (2025-08-01).
    stable_income(family, days=[date(2025, 7, 31), date(2026, 2, 28)])
    assert not by_code(case)["income"].met


def test_no_record_since_identification_is_unmet_twice(family):
    case = monitored(family)  # the fixture's 2025 record ends after 2025-08-01 …
    case.identified_on = date(2026, 1, 5)  # … but not after this one
    problems = clearance_problems(case, date(2026, 9, 1))
    assert "未登记纳入监测以来的收支情况，无法判断大额刚性支出是否已解决" in problems
    assert "未登记纳入监测以来的收支情况，无法判断收入是否稳定高于监测范围" in problems


def test_a_year_without_a_monitoring_line_is_said(family):
    case = monitored(family, identified_on=date(2026, 8, 1))
    stable_income(family, days=[date(2026, 8, 31), date(2027, 2, 28)])
    problems = clearance_problems(case, date(2027, 3, 1))
    assert "未设置 2027 年的监测范围" in problems


def test_the_minimum_months_are_the_regions_own_rule(ready):
    assert by_code(ready, today=date(2025, 12, 1))["months"].detail == (
        "纳入监测未满 6 个月（2025-08-01 纳入）"
    )
    RegionPolicy.objects.create(region_id=COUNTY, year=2025, clearance_min_months=3)
    check = by_code(ready, today=date(2025, 12, 1))["months"]
    assert check.met and check.label == "纳入监测满 3 个月"
    # Another year of the same county: the installation's default again.
    assert by_code(ready, today=date(2026, 1, 5))["months"].label == "纳入监测满 6 个月"


def test_illness_cover_and_developmental_aid_are_catalogue_data(family):
    case = monitored(family)
    measures(case, "social_aid")
    stable_income(family)
    secured(family)
    paperwork(case)
    problems = clearance_problems(case, TODAY)
    assert "因病致险须落实健康帮扶或综合保障（医疗救助、低保、特困供养）措施" in problems
    assert any("开发式帮扶" in p for p in problems)
    MeasureCategory.objects.filter(code="social_aid").update(
        covers_illness=True, developmental=True
    )
    assert clearance_problems(case, TODAY) == []


# --- 自然消除 ---------------------------------------------------------------------------


@pytest.fixture
def deceased_case(lines, users):
    """A 因病 case whose sick member has died; no aid conditions met at all."""
    household = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    MemberFactory(household=household, name="李老汉", relation="head", labour="lost")
    MemberFactory(
        household=household,
        name="李大姐",
        relation="spouse",
        labour="ordinary",
        id_number=make_id_number(sequence=620, male=False),
    )
    case = monitored(household, identified_on=date(2026, 1, 10))
    sick = household.members.get(name="李老汉")
    sick.life_status, sick.life_status_on = "deceased", date(2026, 1, 20)
    sick.save()
    paperwork(case)
    return case


def _natural(case, by, **data):
    fields = {
        "clearance_kind": ClearanceKind.NATURAL,
        "natural_reason": "member_died",
        "natural_member_id": case.household.members.get(name="李老汉").pk,
        "natural_evidence": "医院出具的死亡证明（2026年1月20日）",
    }
    fields.update(data)
    return case_transition(
        case_id=case.pk, action="propose_clearance", by=by, today=TODAY, **fields
    )


def test_the_natural_checklist_is_the_procedure_and_its_evidence_not_the_aid(deceased_case):
    before = by_code(deceased_case, kind=ClearanceKind.NATURAL)
    assert set(before) == {
        "home_visit",
        "appraisal",
        "notice_days",
        "notice_ended",
        "notice_objections",
        "notice_order",
        "adjustment_pending",  # the proposal's own: no 动态调整 left waiting
    }
    assert all(check.met for check in before.values())
    assisted = clearance_problems(deceased_case, TODAY, ClearanceKind.ASSISTED)
    assert "纳入监测未满 6 个月（2026-01-10 纳入）" in assisted


def test_a_natural_clearance_after_a_death_is_proposed_with_its_evidence(deceased_case, users):
    case = _natural(deceased_case, users["cadre_a"])
    assert case.status == Status.CLEARANCE_PROPOSED
    assert case.clearance_kind == ClearanceKind.NATURAL
    assert case.natural_reason == "member_died"
    assert case.natural_member.name == "李老汉"
    checks = by_code(case)
    assert checks["natural_member"].detail == "成员李老汉于 2026-01-20 去世"
    assert checks["natural_reason"].detail == "致险成员去世"
    assert "months" not in checks and "income" not in checks


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"natural_reason": ""}, "natural_reason"),
        ({"natural_reason": "lottery"}, "natural_reason"),
        ({"natural_evidence": "证明"}, "natural_evidence"),
        ({"natural_evidence": None}, "natural_evidence"),
        ({"natural_member_id": None}, "natural_member_id"),
        ({"natural_member_id": "abc"}, "natural_member_id"),
        ({"natural_member_id": 10**20}, "natural_member_id"),
    ],
)
def test_a_natural_proposal_is_refused_by_field(deceased_case, users, data, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        _natural(deceased_case, users["cadre_a"], **data)
    assert field in caught.value.message_dict
    assert Case.objects.get(pk=deceased_case.pk).status == Status.MONITORING


def test_a_death_is_of_a_member_of_this_household_recorded_as_deceased(deceased_case, users):
    from django.core.exceptions import ValidationError

    alive = deceased_case.household.members.get(name="李大姐")
    with pytest.raises(ValidationError) as caught:
        _natural(deceased_case, users["cadre_a"], natural_member_id=alive.pk)
    assert caught.value.message_dict["natural_member_id"] == [
        "成员李大姐未登记为死亡，请先在农户页登记成员状态变更"
    ]
    stranger = MemberFactory(household=HouseholdFactory(village_id=VILLAGE_A))
    with pytest.raises(ValidationError) as caught:
        _natural(deceased_case, users["cadre_a"], natural_member_id=stranger.pk)
    assert caught.value.message_dict["natural_member_id"] == ["请选择本户的家庭成员"]


def test_a_natural_proposal_still_needs_the_procedure(deceased_case, users):
    HomeVisit.objects.filter(case=deceased_case).delete()
    with pytest.raises(WorkflowError) as caught:
        _natural(deceased_case, users["cadre_a"])
    assert caught.value.unmet == ["未登记入户核实"]


def test_a_returned_natural_proposal_forgets_its_reason_and_evidence(deceased_case, users):
    case = _natural(deceased_case, users["cadre_a"])
    case = case_transition(
        case_id=case.pk,
        action="township_return_clearance",
        by=users["reviewer_1"],
        comment="请补充火化证明",
        today=TODAY,
    )
    assert case.status == Status.MONITORING
    assert (case.clearance_kind, case.natural_reason, case.natural_evidence) == ("", "", "")
    assert case.natural_member is None


def test_approvals_check_again_with_the_cases_own_kind(deceased_case, users):
    case = _natural(deceased_case, users["cadre_a"])
    # The evidence is lost after the proposal (say, a record corrected by hand): the
    # township's approval reads the natural checks, not the aid conditions.
    Case.objects.filter(pk=case.pk).update(natural_evidence="")
    with pytest.raises(WorkflowError) as caught:
        case_transition(
            case_id=case.pk,
            action="township_approve_clearance",
            by=users["reviewer_1"],
            today=TODAY,
        )
    assert caught.value.unmet == ["未填写自然消除依据（不少于 4 个字）"]


def test_an_assisted_approval_reads_the_registry_again(ready, users):
    case = case_transition(
        case_id=ready.pk,
        action="propose_clearance",
        by=users["cadre_a"],
        today=TODAY,
        clearance_kind=ClearanceKind.ASSISTED,
    )
    Household.objects.filter(pk=case.household_id).update(housing_safe=False)
    with pytest.raises(WorkflowError) as caught:
        case_transition(
            case_id=case.pk,
            action="township_approve_clearance",
            by=users["reviewer_1"],
            today=TODAY,
        )
    assert caught.value.unmet == ["住房不安全，须先解决住房安全问题"]


def test_the_api_documents_and_checks_the_natural_fields(api, deceased_case):
    url = f"/api/cases/{deceased_case.pk}/transitions/"
    with time_machine.travel("2026-03-02 10:00 +0800", tick=False):
        missing = api("cadre_a").post(
            url, {"action": "propose_clearance", "clearance_kind": "natural"}, format="json"
        )
        assert missing.status_code == 400
        assert set(missing.json()["errors"]) == {"natural_reason", "natural_evidence"}
        no_member = api("cadre_a").post(
            url,
            {
                "action": "propose_clearance",
                "clearance_kind": "natural",
                "natural_reason": "member_died",
                "natural_evidence": "死亡证明一份",
            },
            format="json",
        )
        assert set(no_member.json()["errors"]) == {"natural_member_id"}
        alive = deceased_case.household.members.get(name="李大姐")
        wrong = api("cadre_a").post(
            url,
            {
                "action": "propose_clearance",
                "clearance_kind": "natural",
                "natural_reason": "member_died",
                "natural_member_id": alive.pk,
                "natural_evidence": "死亡证明一份",
            },
            format="json",
        )
        assert wrong.status_code == 400
        assert "未登记为死亡" in str(wrong.json()["errors"]["natural_member_id"])
        sick = deceased_case.household.members.get(name="李老汉")
        done = api("cadre_a").post(
            url,
            {
                "action": "propose_clearance",
                "clearance_kind": "natural",
                "natural_reason": "member_died",
                "natural_member_id": sick.pk,
                "natural_evidence": "死亡证明一份",
            },
            format="json",
        )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "clearance_proposed"
    schema = api("cadre_a").get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["TransitionRequestRequest"]["properties"]
    assert {"natural_reason", "natural_member_id", "natural_evidence"} <= set(fields)
