"""Identification as the counties do it: the cross-check against the negative list, the
income test of the 12 months before the finding, the main risk, township and county home
visits, the county's spot check, the announcement after the county's decision and the
self-applicant's lookup of the result — through the services and the API, with their
refusals and their audit rows."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from households.services import income_record_save
from monitor.choices import Category, Channel, NotificationKind, Stage, Status, VisitLevel
from monitor.feeds.applications import self_application_lookup, self_application_submit
from monitor.identification import (
    SPOT_CHECK_UNMET,
    cross_check_record,
    official_visit_record,
    spot_check_draw,
)
from monitor.models import (
    Announcement,
    Appraisal,
    Case,
    Clue,
    Consent,
    CrossCheck,
    CrossCheckItem,
    HomeVisit,
    Notification,
    PublicNotice,
    RegionPolicy,
    SelfApplication,
)
from monitor.rules import income_check, procedure_problems, report_checks, unmet
from monitor.services import case_create, home_visit_record
from monitor.workflow import case_transition
from tests.conftest import COUNTY, PDF, TOWNSHIP_1, VILLAGE_A
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

FOUND = date(2026, 3, 2)  # the draft_case fixture's finding
DAY = date(2026, 3, 3)
REPORT_DAY = date(2026, 3, 20)  # the notice (3-5 … 3-11) has ended
ITEMS = ["public_payroll", "vehicle", "commercial_housing", "business_registration"]


def _clear(**overrides) -> list[dict]:
    rows = {code: {"item": code, "result": "clear"} for code in _active_codes()}
    rows.update({code: {"item": code, **finding} for code, finding in overrides.items()})
    return list(rows.values())


def _active_codes() -> list[str]:
    return list(CrossCheckItem.objects.filter(active=True).values_list("code", flat=True))


def _procedure(case, day: date = DAY) -> None:
    """The village's four records of identification (set-up: their own tests are elsewhere)."""
    HomeVisit.objects.create(case=case, visited_on=day, visitors="村干部", findings="属实")
    Consent.objects.create(case=case, signed_on=day, scan=ContentFile(PDF, name="consent.pdf"))
    Appraisal.objects.create(case=case, held_on=day + timedelta(1), result="passed")
    PublicNotice.objects.create(case=case, start_on=day + timedelta(2), end_on=day + timedelta(8))


def _checks(case, today: date = REPORT_DAY) -> dict:
    return {check.code: check for check in report_checks(case, today)}


# --- 信息比对 ----------------------------------------------------------------------------


def test_the_negative_list_is_seeded_as_data(api):
    items = api("cadre_a").get("/api/cross-check-items/").json()
    assert [item["name"] for item in items] == ["财政供养人员", "机动车", "商品房", "工商注册"]
    assert sorted(item["code"] for item in items) == sorted(_active_codes())


def test_a_cross_check_records_one_finding_per_item_and_the_report_asks_for_it(
    api, draft_case, users
):
    _procedure(draft_case)
    assert _checks(draft_case)["cross_check"].detail == "未登记信息比对"
    assert "未登记信息比对" in unmet(report_checks(draft_case, REPORT_DAY))
    codes = _active_codes()
    response = api("cadre_a").post(
        f"/api/cases/{draft_case.pk}/cross-checks/",
        {
            "checked_on": "2026-03-04",
            "note": "县乡村振兴局数据比对",
            "findings": [{"item": code, "result": "clear"} for code in codes],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["recorded_by"] == "cadre_a" and body["stage"] == "identification"
    assert [f["item_name"] for f in body["findings"]] == [
        "财政供养人员",
        "机动车",
        "商品房",
        "工商注册",
    ]
    listed = api("reviewer_1").get(f"/api/cases/{draft_case.pk}/cross-checks/").json()
    assert [row["id"] for row in listed] == [body["id"]]
    assert _checks(draft_case)["cross_check"].met
    assert (
        report_checks(draft_case, REPORT_DAY) and unmet(report_checks(draft_case, REPORT_DAY)) == []
    )
    moved = case_transition(
        case_id=draft_case.pk, action="report", by=users["cadre_a"], today=REPORT_DAY
    )
    assert moved.status == Status.REPORTED


@pytest.mark.parametrize(
    ("findings", "named"),
    [
        (lambda: _clear()[1:], "缺少以下比对事项的结果：财政供养人员"),
        (lambda: [*_clear(), {"item": "yacht", "result": "clear"}], "未知的比对事项：yacht"),
        (lambda: [*_clear(), {"item": "vehicle", "result": "clear"}], "比对事项「机动车」重复填写"),
        (
            lambda: _clear(vehicle={"result": "found"}),
            "比对事项「机动车」为「发现」时须填写情况说明",
        ),
        (
            lambda: _clear(commercial_housing={"result": "unavailable", "note": " "}),
            "比对事项「商品房」为「无法比对」时须填写情况说明",
        ),
        (
            lambda: _clear(vehicle={"result": "maybe"}),
            "比对事项「机动车」的比对结果应为：未发现、发现或无法比对",
        ),
    ],
    ids=["missing", "unknown", "duplicate", "found-without-note", "unavailable-blank", "result"],
)
def test_a_cross_check_names_each_wrong_item(draft_case, users, findings, named):
    with pytest.raises(ValidationError) as caught:
        cross_check_record(
            case=draft_case, by=users["cadre_a"], checked_on=DAY, findings=findings()
        )
    assert named in caught.value.message_dict["findings"]
    assert not CrossCheck.objects.exists()


def test_the_api_answers_bad_findings_with_400_on_the_field(api, draft_case):
    response = api("cadre_a").post(
        f"/api/cases/{draft_case.pk}/cross-checks/",
        {"checked_on": "2026-03-04", "findings": [{"item": "vehicle", "result": "found"}]},
        format="json",
    )
    assert response.status_code == 400
    problems = response.json()["errors"]["findings"]
    assert "比对事项「机动车」为「发现」时须填写情况说明" in problems
    assert any(p.startswith("缺少以下比对事项的结果：财政供养人员") for p in problems)
    future = api("cadre_a").post(
        f"/api/cases/{draft_case.pk}/cross-checks/",
        {"checked_on": "2099-01-01", "findings": _clear()},
        format="json",
    )
    assert future.status_code == 400 and "晚于今天" in str(future.json())


def test_only_the_village_records_a_cross_check_of_its_draft_case(api, draft_case):
    url = f"/api/cases/{draft_case.pk}/cross-checks/"
    payload = {"checked_on": "2026-03-04", "findings": _clear()}
    assert api("reviewer_1").post(url, payload, format="json").status_code == 403
    assert api("cadre_b").post(url, payload, format="json").status_code == 404
    assert api("approver_other").get(url).status_code == 404
    Case.objects.filter(pk=draft_case.pk).update(status=Status.REPORTED)
    refused = api("cadre_a").post(url, payload, format="json")
    assert refused.status_code == 400 and "村级核实中" in str(refused.json())


def test_a_hit_on_the_negative_list_stops_the_report_naming_item_and_note(draft_case, users):
    _procedure(draft_case)
    cross_check_record(
        case=draft_case,
        by=users["cadre_a"],
        checked_on=DAY,
        findings=_clear(
            vehicle={"result": "found", "note": "名下小型轿车一辆（2024年购）"},
            commercial_housing={"result": "unavailable", "note": "住建部门数据暂未接入"},
        ),
    )
    problems = unmet(report_checks(draft_case, REPORT_DAY))
    assert problems == ["信息比对发现机动车：名下小型轿车一辆（2024年购）（该户命中负面清单）"]
    unavailable = [c for c in report_checks(draft_case, REPORT_DAY) if c.code.endswith("able")]
    assert [(c.met, c.detail) for c in unavailable] == [
        (True, "商品房无法比对：住建部门数据暂未接入")
    ]
    with pytest.raises(Exception) as caught:
        case_transition(
            case_id=draft_case.pk, action="report", by=users["cadre_a"], today=REPORT_DAY
        )
    assert "该户命中负面清单" in str(caught.value)


def test_the_report_asks_for_every_item_in_use_now(draft_case, users):
    _procedure(draft_case)
    cross_check_record(case=draft_case, by=users["cadre_a"], checked_on=DAY, findings=_clear())
    CrossCheckItem.objects.create(code="boat", name="船舶", sort_order=99)
    assert unmet(report_checks(draft_case, REPORT_DAY)) == [
        "2026-03-03 的信息比对未包含：船舶，请重新比对"
    ]
    # Stopped again by the administrator: no longer asked.
    CrossCheckItem.objects.filter(code="boat").update(active=False)
    assert unmet(report_checks(draft_case, REPORT_DAY)) == []
    with pytest.raises(ValidationError) as caught:
        cross_check_record(
            case=draft_case,
            by=users["cadre_a"],
            checked_on=DAY,
            findings=[*_clear(), {"item": "boat", "result": "clear"}],
        )
    assert "比对事项「船舶」已停用，无需填写" in caught.value.message_dict["findings"]


def test_the_negative_list_is_kept_by_the_administrator_alone_and_audited(api):
    created = api("admin").post(
        "/api/cross-check-items/",
        {"code": "boat", "name": "船舶", "description": "海事部门登记", "sort_order": 50},
        format="json",
    )
    assert created.status_code == 201, created.content
    item = created.json()
    for name in ("approver", "cadre_a", "auditor"):
        refused = api(name).post(
            "/api/cross-check-items/", {"code": "x1", "name": "某项"}, format="json"
        )
        assert refused.status_code == 403, name
    stopped = api("admin").patch(
        f"/api/cross-check-items/{item['id']}/", {"active": False}, format="json"
    )
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    renamed = api("admin").patch(
        f"/api/cross-check-items/{item['id']}/", {"code": "ship"}, format="json"
    )
    assert renamed.status_code == 400 and "不能修改" in str(renamed.json())
    duplicate = api("admin").post(
        "/api/cross-check-items/", {"code": "vehicle", "name": "车辆"}, format="json"
    )
    assert duplicate.status_code == 400
    assert list(
        AuditEvent.objects.filter(object_type="monitor.crosscheckitem")
        .order_by("id")
        .values_list("action", "actor_name")
    ) == [("create", "admin"), ("update", "admin")]
    assert api("department").get("/api/cross-check-items/").status_code == 200
    assert APIClient().get("/api/cross-check-items/").status_code in (401, 403)


# --- 收入测算 ----------------------------------------------------------------------------


@pytest.fixture
def ordinary(users, lines):
    """A 一般农户 of two, no income on record."""
    household = HouseholdFactory(village_id=VILLAGE_A, kind="ordinary")
    MemberFactory(household=household, relation="head", id_number=make_id_number(sequence=610))
    MemberFactory(household=household, relation="spouse", id_number=make_id_number(sequence=612))
    return household


def _file(household, users, category=Category.MARGINAL, **extra):
    return case_create(
        household=household,
        category=category,
        channel=Channel.CADRE_SCREENING,
        risk_codes=extra.pop("risk_codes", ["01"]),
        found_on=FOUND,
        by=users["cadre_a"],
        today=FOUND,
        **extra,
    )


def test_no_income_on_record_files_the_case_but_stops_the_report(ordinary, users):
    case = _file(ordinary, users)
    check = _checks(case)["income_missing"]
    assert not check.met
    assert check.detail == "未登记发现风险前12个月的收支情况，无法判断收入是否在监测范围内"


def test_only_an_older_record_is_too_old(ordinary, users):
    income_record_save(household=ordinary, year=2024, wage_income=Decimal("6000"))
    case = _file(ordinary, users)  # filed: an old record refuses nothing
    check = _checks(case)["income_missing"]
    assert check.detail.startswith("未登记发现风险前12个月的收支情况")
    # The stale record is named by its period end, with the earliest one that answers.
    assert "2024-12-31" in check.detail and "2025-12-02" in check.detail


def test_a_record_ending_more_than_three_months_before_the_finding_is_stale(ordinary, users):
    """A finding on 2026-12-15 with only the 2025 calendar-year record: that record covers
    two weeks of the 12 months before the finding, so the income is not known (it used to
    pass, the record ending within 12 months of the finding)."""
    income_record_save(household=ordinary, year=2025, wage_income=Decimal("12000"))
    found = date(2026, 12, 15)
    check = income_check(ordinary, Category.MARGINAL, found, found)
    assert (check.code, check.met) == ("income_missing", False)
    assert check.detail == (
        "未登记发现风险前12个月的收支情况：最近一次收支统计（2025年）截止于 2025-12-31，"
        "早于 2026-09-15（发现风险前 3 个月），已过时，请重新测算"
    )
    # A quarterly update of the ledger answers for it.
    income_record_save(
        household=ordinary, year=2026, period_end=date(2026, 9, 30), wage_income=Decimal("12000")
    )
    assert income_check(ordinary, Category.MARGINAL, found, found).met


@pytest.mark.parametrize(
    ("found", "answers"),
    [
        (date(2026, 3, 2), True),  # the fixtures' finding: the 2025 record is current
        (date(2026, 3, 31), True),  # three months to the day
        (date(2026, 4, 1), False),  # a day more
    ],
)
def test_the_calendar_year_record_answers_for_findings_to_the_end_of_march(
    ordinary, users, found, answers
):
    income_record_save(household=ordinary, year=2025, wage_income=Decimal("12000"))
    check = income_check(ordinary, Category.MARGINAL, found, found)
    assert (check.code == "income", check.met) == (answers, answers)


def test_a_record_above_the_line_refuses_the_filing_and_one_below_meets_the_report(ordinary, users):
    income_record_save(household=ordinary, year=2025, wage_income=Decimal("20000"))
    with pytest.raises(ValidationError) as caught:
        _file(ordinary, users)
    assert "2025年人均纯收入 10000.00 元高于监测范围 7800.00 元" in caught.value.messages[0]
    income_record_save(household=ordinary, year=2025, wage_income=Decimal("12000"))
    case = _file(ordinary, users)
    check = _checks(case)["income"]
    assert check.met and "2025年人均纯收入 6000.00 元，不高于监测范围 7800.00 元" in check.detail
    # At report the latest record up to the report day is read: a richer one refuses.
    income_record_save(
        household=ordinary, year=2026, period_end=date(2026, 3, 15), wage_income=Decimal("30000")
    )
    assert not _checks(case)["income"].met
    assert "2026年人均纯收入 15000.00 元高于监测范围 8000.00 元" in _checks(case)["income"].detail


def test_a_sudden_hardship_is_tested_on_the_income_left_after_rigid_expenses(ordinary, users):
    # 15,000 a head, 4,000 a head once the hospital is paid.
    income_record_save(
        household=ordinary,
        year=2025,
        wage_income=Decimal("30000"),
        medical_expense=Decimal("22000"),
    )
    case = _file(ordinary, users, category=Category.SUDDEN)
    check = income_check(ordinary, Category.SUDDEN, FOUND, REPORT_DAY)
    assert check.met and "扣除刚性支出后人均纯收入 4000.00 元" in check.detail
    assert not income_check(ordinary, Category.MARGINAL, FOUND, REPORT_DAY).met
    Case.objects.filter(pk=case.pk).update(status=Status.CANCELLED)
    income_record_save(
        household=ordinary, year=2025, wage_income=Decimal("30000"), medical_expense=Decimal("4000")
    )
    with pytest.raises(ValidationError) as caught:
        _file(ordinary, users, category=Category.SUDDEN)
    assert "扣除刚性支出后人均纯收入 13000.00 元高于监测范围" in caught.value.messages[0]


def test_a_year_without_a_line_cannot_be_judged_at_report(ordinary, users):
    income_record_save(household=ordinary, year=2026, period_end=FOUND, wage_income=Decimal("1"))
    from households.models import MonitoringLine

    MonitoringLine.objects.filter(year=2026).delete()
    case = _file(ordinary, users)  # filed: nothing fails yet
    assert _checks(case)["income_line_missing"].detail.startswith("未设置 2026 年的监测范围")


# --- 主要风险 ----------------------------------------------------------------------------


def test_the_main_risk_is_the_first_given_unless_chosen_among_the_case_risks(api, family):
    payload = {
        "household": family.pk,
        "category": "unstable",
        "channel": "cadre_screening",
        "risk_codes": ["05", "01"],
        "found_on": "2026-03-02",
    }
    wrong = api("cadre_a").post("/api/cases/", {**payload, "main_risk": "03"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json()["errors"]["main_risk"] == ["主要风险须是本案例所选的风险类型之一"]
    created = api("cadre_a").post("/api/cases/", payload, format="json")
    assert created.status_code == 201, created.content
    case = created.json()
    assert (case["main_risk"], case["main_risk_display"]) == ("05", "因意外事故")
    chosen = api("cadre_a").patch(f"/api/cases/{case['id']}/", {"main_risk": "01"}, format="json")
    assert chosen.json()["main_risk"] == "01"
    # The main risk dropped from the risks: the first of the new ones.
    moved = api("cadre_a").patch(
        f"/api/cases/{case['id']}/", {"risk_codes": ["09", "05"]}, format="json"
    )
    assert moved.json()["main_risk"] == "09"
    bad = api("cadre_a").patch(
        f"/api/cases/{case['id']}/", {"risk_codes": ["09"], "main_risk": "05"}, format="json"
    )
    assert bad.status_code == 400 and "main_risk" in bad.json()["errors"]
    listed = api("approver").get("/api/cases/", {"main_risk": "09"}).json()["results"]
    assert [row["id"] for row in listed] == [case["id"]]
    assert api("approver").get("/api/cases/", {"main_risk": "05"}).json()["results"] == []
    assert api("approver").get("/api/cases/", {"main_risk": "zz"}).status_code == 400


def test_a_verified_clue_files_its_case_with_the_first_suggested_risk_as_main(family, users):
    from monitor.feeds.clues import clue_verify

    clue = Clue.objects.create(
        household=family,
        village_id=family.village_id,
        channel="department_warning",
        status="verifying",
        raised_on=FOUND,
        due_on=FOUND + timedelta(days=7),
    )
    clue_verify(
        clue_id=clue.pk,
        by=users["cadre_a"],
        outcome="identify",
        note="入户核实属实",
        category="unstable",
        risk_codes=["09", "01"],
        today=FOUND,
    )
    assert Case.objects.get(household=family).main_risk == "09"


# --- 乡村两级入户 / 县级复核 --------------------------------------------------------------


def _visit(by, case, **extra):
    return home_visit_record(
        case=case,
        by=by,
        visited_on=extra.pop("visited_on", DAY),
        visitors="复核人员",
        findings="复核属实",
        **extra,
    )


def test_township_and_county_visits_take_the_level_of_their_recorder(draft_case, users, api):
    with pytest.raises(ValidationError) as caught:
        _visit(users["reviewer_1"], draft_case)  # still with the village
    assert "乡镇/县级入户核实须在" in str(caught.value)
    Case.objects.filter(pk=draft_case.pk).update(status=Status.REPORTED)
    township = _visit(users["reviewer_1"], draft_case)
    assert (township.level, township.stage) == (VisitLevel.TOWNSHIP, Stage.IDENTIFICATION)
    Case.objects.filter(pk=draft_case.pk).update(status=Status.TOWNSHIP_APPROVED)
    county = api("approver").post(
        f"/api/cases/{draft_case.pk}/home-visits/",
        {
            "visited_on": "2026-03-05",
            "visitors": "县乡村振兴局",
            "findings": "复核属实",
            "level": 5,
        },
        format="json",
    )
    assert county.status_code == 201, county.content
    assert (county.json()["level"], county.json()["level_display"]) == (3, "县级复核")
    # The village no longer records in these states; other regions never see the case.
    visit = {"visited_on": "2026-03-05", "visitors": "某", "findings": "x"}
    url = f"/api/cases/{draft_case.pk}/home-visits/"
    assert api("cadre_a").post(url, visit, format="json").status_code == 400
    assert api("approver_other").post(url, visit, format="json").status_code == 404
    assert api("reviewer_2").post(url, visit, format="json").status_code == 404


def test_a_visit_to_a_monitored_case_belongs_to_clearance(draft_case, users):
    Case.objects.filter(pk=draft_case.pk).update(
        status=Status.MONITORING, identified_on=date(2026, 3, 10)
    )
    draft_case.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        _visit(users["reviewer_1"], draft_case, stage=Stage.IDENTIFICATION, visited_on=DAY)
    assert "不能早于纳入监测" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        _visit(users["reviewer_1"], draft_case, visited_on=date(2026, 3, 12))
    assert caught.value.message_dict["stage"][0].endswith("（stage=clearance）")
    visit = official_visit_record(
        case=draft_case,
        by=users["approver"],
        visited_on=date(2026, 3, 12),
        visitors="县",
        findings="稳定",
    )
    assert (visit.level, visit.stage) == (VisitLevel.COUNTY, Stage.CLEARANCE)


def test_the_village_procedure_reads_only_the_village_visit(draft_case, users):
    HomeVisit.objects.create(case=draft_case, visited_on=DAY, visitors="村", findings="属实")
    Appraisal.objects.create(case=draft_case, held_on=date(2026, 3, 4), result="passed")
    # A township visit after the appraisal does not move the village's order.
    HomeVisit.objects.create(
        case=draft_case,
        visited_on=date(2026, 3, 9),
        visitors="乡镇",
        findings="复核",
        level=VisitLevel.TOWNSHIP,
    )
    assert "民主评议应在入户核实之后" not in procedure_problems(
        draft_case, Stage.IDENTIFICATION, REPORT_DAY
    )


# --- 县级抽查 ----------------------------------------------------------------------------


def _reported_cases(users, lines, count: int) -> list[Case]:
    cases = []
    for index in range(count):
        household = HouseholdFactory(village_id=VILLAGE_A, kind="ordinary")
        MemberFactory(
            household=household, relation="head", id_number=make_id_number(sequence=300 + index * 2)
        )
        case = case_create(
            household=household,
            category=Category.SUDDEN,
            channel=Channel.CADRE_SCREENING,
            risk_codes=["05"],
            found_on=FOUND,
            by=users["cadre_a"],
            today=FOUND,
        )
        Case.objects.filter(pk=case.pk).update(
            status=Status.REPORTED if index % 2 else Status.TOWNSHIP_APPROVED
        )
        cases.append(case)
    return cases


def test_the_county_draws_its_share_at_random_rounded_up(users, lines, api):
    cases = _reported_cases(users, lines, 5)
    RegionPolicy.objects.create(
        region_id=COUNTY, year=timezone.localdate().year, spot_check_percent=30
    )
    response = api("approver").post("/api/spot-checks/", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["percent"], body["candidates"], body["drawn"]) == (30, 5, 2)  # ceil(1.5)
    drawn = set(body["case_ids"])
    assert drawn <= {case.pk for case in cases}
    assert (
        set(Case.objects.filter(spot_check_drawn_at__isnull=False).values_list("pk", flat=True))
        == drawn
    )
    notes = Notification.objects.filter(kind=NotificationKind.SPOT_CHECK)
    assert {(n.region_id, n.role, n.case_id) for n in notes} == {
        (COUNTY, "county_approver", pk) for pk in drawn
    }
    event = AuditEvent.objects.get(action="spot_check.draw")
    assert event.actor_name == "approver"
    assert event.detail == body
    # A second draw samples only the cases not drawn before.
    again = spot_check_draw(by=users["approver"], today=date(2026, 3, 20))
    assert again["candidates"] == 3 and not set(again["case_ids"]) & drawn


def test_only_a_county_approver_draws_and_only_in_its_county(users, lines, api):
    _reported_cases(users, lines, 2)
    assert api("reviewer_1").post("/api/spot-checks/").status_code == 403
    assert api("cadre_a").post("/api/spot-checks/").status_code == 403
    assert api("admin").post("/api/spot-checks/").status_code == 403
    other = api("approver_other").post("/api/spot-checks/")
    assert other.status_code == 200 and other.json()["candidates"] == 0
    RegionPolicy.objects.create(region_id=COUNTY, year=2026, spot_check_percent=0)
    assert spot_check_draw(by=users["approver"], today=date(2026, 3, 20))["drawn"] == 0


def test_a_drawn_case_needs_a_county_visit_before_approval(users, lines, api):
    case = _reported_cases(users, lines, 1)[0]
    Case.objects.filter(pk=case.pk).update(
        status=Status.TOWNSHIP_APPROVED, spot_check_drawn_at="2026-03-18T10:00:00+08:00"
    )
    refused = api("approver").post(
        f"/api/cases/{case.pk}/transitions/", {"action": "county_approve"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["unmet"] == [SPOT_CHECK_UNMET]
    # A township visit is not the county's.
    _visit(users["reviewer_1"], case)
    assert api("approver").post(
        f"/api/cases/{case.pk}/transitions/", {"action": "county_approve"}, format="json"
    ).json()["unmet"] == [SPOT_CHECK_UNMET]
    _visit(users["approver"], case)
    approved = api("approver").post(
        f"/api/cases/{case.pk}/transitions/", {"action": "county_approve"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["spot_check_drawn_at"] is not None


# --- 公告 --------------------------------------------------------------------------------


def test_county_approval_announces_and_tells_village_and_township(family, users, api):
    family.members.update(phone_masked="139****5678")
    case = case_create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=FOUND,
        by=users["cadre_a"],
        today=FOUND,
    )
    Case.objects.filter(pk=case.pk).update(status=Status.TOWNSHIP_APPROVED)
    case_transition(
        case_id=case.pk, action="county_approve", by=users["approver"], today=REPORT_DAY
    )
    announcement = Announcement.objects.get(case=case)
    assert (announcement.stage, announcement.announced_on) == (Stage.IDENTIFICATION, REPORT_DAY)
    assert announcement.announced_by == users["approver"]
    assert family.number in announcement.text and "东关村" in announcement.text
    assert "脱贫不稳定户" in announcement.text and "纳入防止返贫监测对象" in announcement.text
    head_id = make_id_number(sequence=700)
    for secret in (head_id, head_id[-4:], "王大山", "139", "因病"):
        assert secret not in announcement.text
    notes = Notification.objects.filter(kind=NotificationKind.ANNOUNCED, case=case)
    assert {(n.region_id, n.role) for n in notes} == {
        (VILLAGE_A, "village_cadre"),
        (TOWNSHIP_1, "township_reviewer"),
    }
    cadre_inbox = api("cadre_a").get("/api/notifications/", {"kind": "announced"}).json()
    assert [n["case"] for n in cadre_inbox["results"]] == [case.pk]


def test_county_clearance_is_announced_too(draft_case, users, monkeypatch):
    import monitor.rules

    monkeypatch.setattr(monitor.rules, "clearance_problems", lambda case, today: [])
    Case.objects.filter(pk=draft_case.pk).update(
        status=Status.CLEARANCE_TOWNSHIP_APPROVED,
        identified_on=date(2025, 6, 1),
        clearance_kind="assisted",
    )
    cleared = case_transition(
        case_id=draft_case.pk,
        action="county_approve_clearance",
        by=users["approver"],
        today=REPORT_DAY,
    )
    assert cleared.status == Status.CLEARED
    announcement = Announcement.objects.get(case=draft_case)
    assert announcement.stage == Stage.CLEARANCE and "标注风险消除" in announcement.text
    assert Notification.objects.filter(kind=NotificationKind.ANNOUNCED).count() == 2


def test_announcements_are_listed_in_scope_and_filtered(draft_case, users, api):
    Case.objects.filter(pk=draft_case.pk).update(status=Status.TOWNSHIP_APPROVED)
    case_transition(
        case_id=draft_case.pk, action="county_approve", by=users["approver"], today=REPORT_DAY
    )
    rows = api("reviewer_1").get("/api/announcements/").json()["results"]
    assert [(r["case"], r["stage"], r["announced_on"]) for r in rows] == [
        (draft_case.pk, "identification", "2026-03-20")
    ]
    assert api("reviewer_2").get("/api/announcements/").json()["results"] == []
    assert api("approver_other").get("/api/announcements/").json()["results"] == []
    query = api("approver").get
    assert query("/api/announcements/", {"stage": "clearance"}).json()["results"] == []
    assert (
        len(query("/api/announcements/", {"announced_from": "2026-03-20"}).json()["results"]) == 1
    )
    assert query("/api/announcements/", {"announced_to": "2026-03-19"}).json()["results"] == []
    assert query("/api/announcements/", {"announced_from": "三月"}).status_code == 400
    assert api("auditor").get("/api/announcements/").status_code == 403


# --- 查询办理结果 -------------------------------------------------------------------------

PHONE = "13912345678"


@pytest.fixture
def applicant(family):
    """王大山's own application: his household is in the registry (the family)."""
    return self_application_submit(
        name="王大山",
        phone=PHONE,
        id_number=make_id_number(sequence=700),
        difficulty="户主住院，医疗费用高",
        village=VILLAGE_A,
        risk_type="01",
    )


def _lookup(reference, phone=PHONE):
    return APIClient().post(
        "/api/self-applications/lookup/", {"reference": reference, "phone": phone}, format="json"
    )


def test_the_applicant_follows_the_application_to_its_announcement(applicant, users):
    assert SelfApplication.objects.get().phone_hash  # kept: the lookup compares hashes
    pending = _lookup(applicant.reference.lower())
    assert pending.status_code == 200, pending.content
    assert (pending.json()["progress"], pending.json()["progress_display"]) == (
        "pending_acceptance",
        "待乡镇受理",
    )
    from monitor.feeds.clues import clue_accept, clue_verify

    clue_accept(clue_id=applicant.clue_id, by=users["reviewer_1"])
    assert _lookup(applicant.reference).json()["progress"] == "verifying"
    Clue.objects.filter(pk=applicant.clue_id).update(raised_on=FOUND)
    clue_verify(
        clue_id=applicant.clue_id,
        by=users["cadre_a"],
        outcome="identify",
        note="入户核实属实",
        category="unstable",
        today=FOUND,
    )
    assert _lookup(applicant.reference).json()["progress"] == "verifying"  # the case: draft
    case = Case.objects.get(household=applicant.clue.household)
    Case.objects.filter(pk=case.pk).update(status=Status.TOWNSHIP_APPROVED)
    assert _lookup(applicant.reference).json()["progress"] == "in_review"
    case_transition(
        case_id=case.pk, action="county_approve", by=users["approver"], today=REPORT_DAY
    )
    answer = _lookup(f" {applicant.reference} ", phone="139 1234 5678").json()
    assert answer["progress"] == "identified" and answer["announced_on"] == "2026-03-20"
    assert "2026年3月20日" in answer["message"]
    text = str(answer)
    for personal in ("王大山", PHONE, "139****5678", make_id_number(sequence=700)[-6:], "因病"):
        assert personal not in text
    assert set(answer) == {"reference", "progress", "progress_display", "announced_on", "message"}


@pytest.mark.parametrize(
    ("outcome", "progress"),
    [
        ("not_eligible", "not_eligible"),
        ("unverifiable", "unverifiable"),
    ],
)
def test_the_village_finding_is_the_answer(applicant, users, outcome, progress):
    from monitor.feeds.clues import clue_accept, clue_verify

    clue_accept(clue_id=applicant.clue_id, by=users["reviewer_1"])
    clue_verify(clue_id=applicant.clue_id, by=users["cadre_a"], outcome=outcome, note="入户核实")
    answer = self_application_lookup(reference=applicant.reference, phone=PHONE)
    assert answer["progress"] == progress


def test_an_application_joining_a_monitored_case_is_already_monitored(family, users):
    case = case_create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=FOUND,
        by=users["cadre_a"],
        today=FOUND,
    )
    Case.objects.filter(pk=case.pk).update(status=Status.MONITORING, identified_on=FOUND)
    application = self_application_submit(
        name="王大山",
        phone=PHONE,
        id_number=make_id_number(sequence=700),
        difficulty="医疗费用高",
        village=VILLAGE_A,
        risk_type="01",
    )
    answer = self_application_lookup(reference=application.reference, phone=PHONE)
    assert answer["progress_display"] == "已是监测对象"


def test_a_wrong_phone_reads_exactly_like_an_unknown_reference(applicant):
    wrong_phone = _lookup(applicant.reference, phone="13900000000")
    unknown = _lookup("SQ20990101000000")
    assert wrong_phone.status_code == unknown.status_code == 404
    assert wrong_phone.json() == unknown.json()
    assert "未查到" in unknown.json()["detail"]
    bad = _lookup("SQ-<script>", phone="电话")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"reference", "phone"}
    assert _lookup("", phone="").status_code == 400


def test_the_lookup_is_rate_limited_per_client(applicant):
    answers = [_lookup("SQ20990101000000").status_code for _ in range(11)]
    assert answers[:10] == [404] * 10 and answers[10] == 429


# --- the schema of the evidence endpoints -------------------------------------------------

# path → (what POST takes, what it answers and GET lists)
EVIDENCE_SCHEMAS = {
    "home-visits": ("HomeVisitRequest", "HomeVisit"),
    "consents": ("ConsentRequest", "Consent"),
    "cross-checks": ("CrossCheckRequest", "CrossCheck"),
    "appraisals": ("AppraisalRequest", "Appraisal"),
    "notices": ("PublicNoticeRequest", "PublicNotice"),
    "monthly-visits": ("MonthlyVisitRequest", "MonthlyVisit"),
    "measures": ("MeasureRecordRequest", "MeasureRecord"),
    "follow-up-visits": ("FollowUpVisitRequest", "FollowUpVisit"),
    "adjustments": ("AdjustmentProposalRequest", "CaseAdjustment"),
}


def test_the_schema_documents_each_evidence_endpoints_own_record_not_a_case(api):
    """POST /api/cases/{id}/cross-checks/ takes a cross-check and answers 201 with it (or
    400/403/404); GET lists them as a plain array, without the case list's filters."""
    paths = api("cadre_a").get("/api/schema/", {"format": "json"}).json()["paths"]
    ref = "#/components/schemas/"
    for path, (taken, answered) in EVIDENCE_SCHEMAS.items():
        operations = paths[f"/api/cases/{{id}}/{path}/"]
        post = operations["post"]
        request = {media["schema"]["$ref"] for media in post["requestBody"]["content"].values()}
        assert request == {ref + taken}, path
        assert {"201", "400", "403", "404"} <= set(post["responses"]), path
        created = post["responses"]["201"]["content"]["application/json"]["schema"]
        assert created == {"$ref": ref + answered}, path
        listed = operations["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert listed == {"type": "array", "items": {"$ref": ref + answered}}, path
        assert [p["name"] for p in operations["get"].get("parameters", [])] == ["id"], path
