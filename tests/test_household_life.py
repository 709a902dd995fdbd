"""Three households' lives end to end, through the API as the people who live them:

1. a household in monitoring whose risk changes: the monthly visit notices it, the village
   proposes an adjustment, the township confirms it, the case keeps its clocks and aid;
2. a household whose sick member dies: 自然消除 with its evidence and the procedure;
3. a household cleared, named by the medical-insurance list during its follow-up year, and
   identified again as 返贫 with the link to its earlier case.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.choices import Role
from accounts.models import User
from households.models import Household
from households.services import income_record_save
from monitor.choices import NotificationKind
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.models import Case, Clue, ClueTransition, Department, Notification
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import MemberFactory, make_id_number
from tests.monitor.test_case_walkthrough import _record_procedure
from tests.monitor.test_domain_workflow import D0, Walker, _at, _household

pytestmark = pytest.mark.django_db


def _measure(client, case_id, category, start_on):
    response = client.post(
        f"/api/cases/{case_id}/measures/",
        {
            "category": category,
            "description": "帮扶",
            "department": "县农业农村局",
            "start_on": start_on.isoformat(),
            "amount": "2000",
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_household_adjusted_while_in_monitoring(api, users, lines):
    walk = Walker(api)
    household = _household(921)
    case_id = walk.identified(household)
    cadre, township = walk.clients["village_cadre"], walk.clients["township_reviewer"]
    day = D0 + timedelta(days=20)
    with _at(day):
        _measure(cadre, case_id, "health", day)
        visit = cadre.post(
            f"/api/cases/{case_id}/monthly-visits/",
            {
                "visited_on": day.isoformat(),
                "visitors": "李书记",
                "findings": "户主务工途中受伤，住院治疗",
                "risk_changed": True,
            },
            format="json",
        )
        assert visit.status_code == 201, visit.content
        asked = cadre.get("/api/notifications/").json()["results"]
        assert any(n["kind"] == NotificationKind.RISK_CHANGE for n in asked)

        proposal = cadre.post(
            f"/api/cases/{case_id}/adjustments/",
            {
                "category": "sudden",
                "risk_codes": ["01", "05"],
                "main_risk": "05",
                "reason": "务工受伤，医疗支出大",
                "monthly_visit": visit.json()["id"],
            },
            format="json",
        )
        assert proposal.status_code == 201, proposal.content
        deadlines_before = cadre.get(f"/api/cases/{case_id}/").json()["deadlines"]
        confirmed = township.post(
            f"/api/cases/{case_id}/transitions/",
            {"action": "adjustment_confirm", "comment": "情况属实"},
            format="json",
        )
        assert confirmed.status_code == 200, confirmed.content

    case = cadre.get(f"/api/cases/{case_id}/").json()
    assert (case["status"], case["category"], case["main_risk"]) == ("monitoring", "sudden", "05")
    assert sorted(case["risk_codes"]) == ["01", "05"]
    assert case["deadlines"] == deadlines_before
    assert len(cadre.get(f"/api/cases/{case_id}/measures/").json()) == 1
    history = cadre.get(f"/api/cases/{case_id}/adjustments/").json()
    assert len(history) == 1
    assert history[0]["status"] == "confirmed"
    assert history[0]["before"]["category"] == "unstable"
    trail = cadre.get(f"/api/cases/{case_id}/transitions/").json()
    assert trail[-1]["action"] == "adjustment_confirm"
    assert trail[-1]["from_status"] == trail[-1]["to_status"] == "monitoring"
    assert trail[-1]["actor"] == "reviewer_1"


def test_a_natural_clearance_after_the_death_of_the_sick_member(api, users, lines):
    walk = Walker(api)
    household = _household(931)
    sick = MemberFactory(
        household=household,
        name="李老汉",
        relation="parent",
        labour="none",
        health="serious",
        id_number=make_id_number(birth=date(1950, 5, 1), sequence=933),
    )
    case_id = walk.identified(household)
    cadre = walk.clients["village_cadre"]
    died_on = date(2026, 5, 10)
    with _at(date(2026, 5, 20)):
        died = cadre.post(
            f"/api/members/{sick.pk}/life-status/",
            {"status": "deceased", "on": died_on.isoformat(), "evidence": "死亡医学证明"},
            format="json",
        )
        assert died.status_code == 200, died.content
        # The head is still in the register: the household and its case go on.
        assert Case.objects.get(pk=case_id).status == "monitoring"
        _record_procedure(cadre, case_id, "clearance", date(2026, 5, 12), date(2026, 5, 13))
        natural = {
            "clearance_kind": "natural",
            "natural_reason": "member_died",
            "natural_member_id": sick.pk,
            "natural_evidence": "致险成员李老汉 2026-05-10 病故，死亡医学证明已核验",
            "comment": "风险自然消除",
        }
        walk.step(case_id, "propose_clearance", "clearance_proposed", **natural)
        walk.step(case_id, "township_approve_clearance", "clearance_township_approved")
        cleared = walk.step(case_id, "county_approve_clearance", "cleared")
    # Not six months in monitoring, no measure, no income test: not the aid conditions.
    assert cleared["clearance_kind"] == "natural"
    case = Case.objects.get(pk=case_id)
    assert case.natural_member_id == sick.pk
    assert case.follow_up_until is not None
    assert not Household.objects.get(pk=household.pk).is_monitored


def test_a_household_cleared_hit_in_its_follow_up_and_identified_again_as_relapse(
    api, users, family
):
    walk = Walker(api)
    cadre = walk.clients["village_cadre"]
    county = walk.clients["county_approver"]
    case_id = walk.identified(family)
    with _at(D0 + timedelta(days=6)):
        for category in ("industry", "health"):
            _measure(cadre, case_id, category, D0 + timedelta(days=6))
    cleared_on = date(2026, 10, 12)
    with _at(cleared_on):
        for period_end in (date(2026, 3, 31), date(2026, 9, 30)):
            income_record_save(
                household=family, year=2026, period_end=period_end, wage_income=Decimal("30000")
            )
        Household.objects.filter(pk=family.pk).update(housing_safe=True, water_safe=True)
        family.members.update(medical_insurance=True)
        _record_procedure(cadre, case_id, "clearance", date(2026, 9, 28), date(2026, 10, 1))
        walk.step(case_id, "propose_clearance", "clearance_proposed", clearance_kind="assisted")
        walk.step(case_id, "township_approve_clearance", "clearance_township_approved")
        walk.step(case_id, "county_approve_clearance", "cleared")
    cleared = Case.objects.get(pk=case_id)
    # Twelve months counting the clearance day: followed up to 2027-10-11 inclusive.
    assert cleared.follow_up_until == date(2027, 10, 11)

    # Five weeks later the medical-insurance list names the head: a clue marked 返贫风险.
    hit_day = date(2026, 11, 18)
    account = User.objects.create_user(username="yibao", password="x", role=Role.DEPARTMENT)
    department = Department.objects.create(
        name="县医保局", kind=DepartmentKind.MEDICAL_INSURANCE, region_id=COUNTY, account=account
    )
    head = family.members.get(relation="head")
    with _at(hit_day):
        received = receive_json(
            department=department,
            batch_key="医保-2026-11",
            rows=[
                {
                    "姓名": head.name,
                    "身份证号": make_id_number(sequence=700),
                    "预警类型": "高额医疗自付",
                    "金额": "46000",
                }
            ],
        )
        assert process_batch(received.batch.pk, today=hit_day) == "done"
    clue = Clue.objects.get(household=family)
    assert clue.relapse_of_id == case_id
    assert clue.status == "pending_dispatch"
    # The county is told first (it sends clues down by hand); the village once it can act.
    arrived = Notification.objects.get(kind=NotificationKind.CLUES_ARRIVED, region_id=COUNTY)
    assert "返贫风险 1 条" in arrived.message
    relapse_notes = Notification.objects.filter(
        kind=NotificationKind.RELAPSE_RISK, region_id=VILLAGE_A
    )
    assert not relapse_notes.exists()
    shown = cadre.get(f"/api/clues/{clue.pk}/")
    assert shown.status_code == 200
    assert shown.json()["relapse_of"] == case_id

    # The county sends the round down; the village verifies at home and files the case.
    with _at(hit_day + timedelta(days=1)):
        round_id = county.get("/api/dispatch-rounds/").json()["results"][0]["id"]
        sent = county.post(f"/api/dispatch-rounds/{round_id}/dispatch/", format="json")
        assert sent.status_code == 200, sent.content
        assert relapse_notes.count() == 1
        income_record_save(
            household=family,
            year=2026,
            period_end=hit_day,
            wage_income=Decimal("30000"),
            medical_expense=Decimal("46000"),
        )
        verified = cadre.post(
            f"/api/clues/{clue.pk}/verify/",
            {
                "outcome": "identify",
                "note": "户主住院，自付医疗费用 4.6 万元",
                "category": "sudden",
                "risk_codes": ["01"],
            },
            format="json",
        )
        assert verified.status_code == 200, verified.content
    again = Case.objects.get(household=family, status="draft")
    assert again.relapse_of_id == case_id
    # Back in identification: the follow-up ended the day before the filing.
    assert Case.objects.get(pk=case_id).follow_up_until == hit_day
    listed = cadre.get("/api/cases/", {"is_relapse": "true"}).json()["results"]
    assert [row["id"] for row in listed] == [again.pk]
    assert list(
        ClueTransition.objects.filter(clue=clue).values_list("action", "actor__username")
    ) == [("dispatch", "approver"), ("verify", "cadre_a")]
