"""动态调整: a monitored case's category, risks and main risk change — the village
proposes with a reason, the township confirms or not — with the history kept, the trail's
audit rows, the notifications both ways, and a monthly visit's risk change as the start."""

from datetime import date, timedelta

import pytest
import time_machine

from accounts.choices import Role
from interventions.models import MeasureCategory, MeasureRecord
from monitor.choices import Category, Channel, NotificationKind, Status
from monitor.models import Case, CaseAdjustment, CaseRisk, CaseTransition, Deadline, Notification
from tests.conftest import TOWNSHIP_1, VILLAGE_A

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 1)


def _at(day=TODAY):
    return time_machine.travel(f"{day.isoformat()} 10:00 +0800", tick=False)


@pytest.fixture
def case(family):
    """Test setup only: the family's case in monitoring (因病, 脱贫不稳定户), with a
    measure and a deadline that must stay with it."""
    case = Case.objects.create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        status=Status.MONITORING,
        found_on=date(2026, 3, 2),
        identified_on=date(2026, 3, 10),
        main_risk="01",
    )
    CaseRisk.objects.create(case=case, code="01")
    MeasureRecord.objects.create(
        case=case,
        category=MeasureCategory.objects.get(code="health"),
        description="大病医疗救助",
        department="县医保局",
        start_on=date(2026, 3, 11),
    )
    Deadline.objects.create(
        case=case, step="identification", responsible_level=3, due_on=date(2026, 3, 17)
    )
    return case


PROPOSAL = {
    "category": "sudden",
    "risk_codes": ["01", "05"],
    "main_risk": "05",
    "reason": "走访发现户主务工途中受伤，医疗支出大",
}


def _propose(api, case, who="cadre_a", **changes):
    with _at():
        return api(who).post(
            f"/api/cases/{case.pk}/adjustments/", {**PROPOSAL, **changes}, format="json"
        )


def _decide(api, case, action, who="reviewer_1", comment="同意"):
    with _at():
        return api(who).post(
            f"/api/cases/{case.pk}/transitions/",
            {"action": action, "comment": comment},
            format="json",
        )


def test_a_case_is_adjusted_proposed_then_confirmed_with_its_history(api, case, users):
    proposed = _propose(api, case)
    assert proposed.status_code == 201, proposed.content
    body = proposed.json()
    assert body["status"] == "proposed"
    assert body["before"] == {"category": "unstable", "risk_codes": ["01"], "main_risk": "01"}
    assert body["before_text"] == "脱贫不稳定户；因病（主要：因病）"
    assert body["after_text"] == "突发严重困难户；因病、因意外事故（主要：因意外事故）"
    # Nothing changes before the township confirms.
    assert Case.objects.get(pk=case.pk).category == Category.UNSTABLE
    township_note = Notification.objects.get(kind=NotificationKind.ADJUSTMENT)
    assert (township_note.region_id, township_note.role) == (TOWNSHIP_1, Role.TOWNSHIP_REVIEWER)
    assert "请确认" in township_note.message
    # The township sees the step among its actions; the village does not.
    actions = api("reviewer_1").get(f"/api/cases/{case.pk}/").json()["actions"]
    assert {"adjustment_confirm", "adjustment_reject"} <= {a["action"] for a in actions}
    assert "adjustment_confirm" not in {
        a["action"] for a in api("cadre_a").get(f"/api/cases/{case.pk}/").json()["actions"]
    }

    confirmed = _decide(api, case, "adjustment_confirm", comment="情况属实，同意调整")
    assert confirmed.status_code == 200, confirmed.content
    moved = confirmed.json()
    assert moved["status"] == "monitoring"
    assert moved["category"] == "sudden"
    assert moved["risk_codes"] == ["01", "05"]
    assert moved["main_risk"] == "05"
    # Deadlines and measures follow the case: nothing moved, nothing lost.
    assert case.deadlines.count() == 1 and case.measures.count() == 1
    trail = CaseTransition.objects.get(case=case)
    assert (trail.action, trail.from_status, trail.to_status, trail.actor.username) == (
        "adjustment_confirm",
        "monitoring",
        "monitoring",
        "reviewer_1",
    )
    assert trail.comment == "情况属实，同意调整"
    history = api("cadre_a").get(f"/api/cases/{case.pk}/adjustments/").json()
    assert [(h["status"], h["decided_by"], h["decision_note"]) for h in history] == [
        ("confirmed", "reviewer_1", "情况属实，同意调整")
    ]
    village_note = Notification.objects.get(key=f"adjustment-decided:{history[0]['id']}")
    assert (village_note.region_id, village_note.role) == (VILLAGE_A, Role.VILLAGE_CADRE)
    assert "乡镇已确认动态调整" in village_note.message
    # The next proposal starts from the adjusted case.
    again = _propose(api, case, category="unstable", risk_codes=["05"], main_risk="05")
    assert again.json()["before"] == {
        "category": "sudden",
        "risk_codes": ["01", "05"],
        "main_risk": "05",
    }


def test_a_rejected_proposal_changes_nothing_and_needs_a_reason(api, case):
    assert _propose(api, case).status_code == 201
    no_reason = _decide(api, case, "adjustment_reject", comment="")
    assert no_reason.status_code == 400 and "须填写理由" in no_reason.json()["detail"]
    rejected = _decide(api, case, "adjustment_reject", comment="受伤已痊愈，无需调整")
    assert rejected.status_code == 200
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.category, fresh.risk_codes, fresh.main_risk) == ("unstable", ["01"], "01")
    adjustment = CaseAdjustment.objects.get(case=case)
    assert (adjustment.status, adjustment.decision_note) == ("rejected", "受伤已痊愈，无需调整")
    assert CaseTransition.objects.get(case=case).action == "adjustment_reject"
    note = Notification.objects.get(key=f"adjustment-decided:{adjustment.pk}")
    assert "未予确认" in note.message and "受伤已痊愈" in note.message
    # Rejected, the village may propose again.
    assert _propose(api, case).status_code == 201


def test_one_proposal_pending_at_a_time_and_a_second_decision_is_a_conflict(api, case):
    assert _propose(api, case).status_code == 201
    second = _propose(api, case, reason="另一理由")
    assert second.status_code == 409
    assert "待乡镇确认" in second.json()["detail"]
    assert _decide(api, case, "adjustment_confirm").status_code == 200
    # Nothing left to decide: a second reviewer's late confirmation is a 409, like any
    # step taken twice.
    late = _decide(api, case, "adjustment_confirm")
    assert late.status_code == 409
    assert "没有待乡镇确认的动态调整" in late.json()["detail"]
    assert CaseTransition.objects.filter(case=case).count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"category": "marginal"}, "category", "边缘易致贫户只能是一般农户"),
        ({"risk_codes": ["07"], "main_risk": "07"}, None, None),  # the head can work
        ({"risk_codes": ["01", "01"]}, "risk_codes", "风险类型有重复"),
        ({"main_risk": "09"}, "main_risk", "主要风险须是所选风险类型之一"),
        ({"reason": " "}, "reason", None),
        ({"risk_codes": []}, "risk_codes", None),
        ({"risk_codes": ["01", "02", "03", "04", "05", "06"]}, "risk_codes", None),
        ({"category": "unstable", "risk_codes": ["01"], "main_risk": "01"}, "__all__", "无需调整"),
        ({"monthly_visit": 999999}, "monthly_visit", "该走访记录不属于本案例"),
    ],
)
def test_a_proposal_is_checked_like_a_new_case_but_not_its_income(api, case, changes, field, said):
    response = _propose(api, case, **changes)
    if field is None:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    errors = response.json().get("errors", {})
    key = "non_field_errors" if field == "__all__" and "non_field_errors" in errors else field
    assert key in errors or field == "__all__", errors
    if said:
        assert said in str(response.json())
    assert not CaseAdjustment.objects.exists()


def test_unstable_employment_needs_someone_able_to_work_in_the_register(api, case):
    head = case.household.members.get(name="王大山")
    head.life_status = "deceased"
    head.save()
    response = _propose(api, case, risk_codes=["01", "07"], main_risk="07")
    assert response.status_code == 400
    assert "因务工就业不稳" in str(response.json())


def test_the_township_confirmation_checks_the_proposal_again(api, case):
    assert _propose(api, case, risk_codes=["01", "07"], main_risk="07").status_code == 201
    case.household.members.update(labour="lost")  # since the proposal
    refused = _decide(api, case, "adjustment_confirm")
    assert refused.status_code == 400
    assert refused.json()["unmet"] == ["该户无劳动能力成员，不能选择“因务工就业不稳”"]
    assert CaseAdjustment.objects.get().status == "proposed"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("cadre_a", 201),
        ("cadre_b", 404),  # another village
        ("cadre_c", 404),  # another township's village
        ("reviewer_1", 403),  # the township confirms, it does not propose
        ("reviewer_2", 404),
        ("approver", 403),
        ("approver_other", 404),
        ("department", 403),
        ("auditor", 403),
        ("admin", 403),
    ],
)
def test_who_may_propose(api, case, who, status):
    response = _propose(api, case, who=who)
    assert response.status_code == status, response.content
    if status == 403 and who.startswith(("reviewer", "approver")):
        assert "动态调整由村干部提出" in response.json()["detail"]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("cadre_a", 403),  # the village proposes, it does not confirm
        ("cadre_b", 404),
        ("reviewer_1", 200),
        ("reviewer_2", 404),
        ("approver", 403),
        ("approver_other", 404),
        ("department", 403),
        ("auditor", 403),
    ],
)
@pytest.mark.parametrize("action", ["adjustment_confirm", "adjustment_reject"])
def test_who_may_decide(api, case, who, status, action):
    assert _propose(api, case).status_code == 201
    response = _decide(api, case, action, who=who, comment="理由充分")
    assert response.status_code == status, response.content


def test_a_case_not_in_monitoring_takes_no_proposal(api, case):
    Case.objects.filter(pk=case.pk).update(status=Status.CLEARANCE_PROPOSED)
    response = _propose(api, case)
    assert response.status_code == 400
    assert "动态调整须在「监测帮扶中」状态办理" in str(response.json())
    history = api("cadre_a").get(f"/api/cases/{case.pk}/adjustments/")
    assert history.status_code == 200 and history.json() == []
    assert api("cadre_b").get(f"/api/cases/{case.pk}/adjustments/").status_code == 404


def test_a_monthly_visit_that_finds_a_risk_change_asks_for_an_adjustment(api, case):
    with _at():
        plain = api("cadre_a").post(
            f"/api/cases/{case.pk}/monthly-visits/",
            {"visited_on": "2026-05-30", "visitors": "网格员", "findings": "生活正常"},
            format="json",
        )
        changed = api("cadre_a").post(
            f"/api/cases/{case.pk}/monthly-visits/",
            {
                "visited_on": "2026-05-31",
                "visitors": "网格员",
                "findings": "户主务工途中摔伤住院",
                "risk_changed": True,
            },
            format="json",
        )
    assert plain.status_code == changed.status_code == 201
    notes = Notification.objects.filter(kind=NotificationKind.RISK_CHANGE)
    assert notes.count() == 1
    note = notes.get()
    assert (note.region_id, note.role, note.case_id) == (VILLAGE_A, Role.VILLAGE_CADRE, case.pk)
    assert note.message.endswith("走访发现风险变化，请提出动态调整")
    visit_id = changed.json()["id"]
    assert note.link == f"/cases/{case.pk}/?visit={visit_id}#adjustment"
    inbox = api("cadre_a").get("/api/notifications/", {"kind": "risk_change"}).json()
    assert [n["id"] for n in inbox["results"]] == [note.pk]
    # The proposal names the visit.
    proposed = _propose(api, case, monthly_visit=visit_id)
    assert proposed.status_code == 201 and proposed.json()["monthly_visit"] == visit_id


def test_deadlines_and_measures_stay_with_the_case(api, case):
    before = (
        list(case.deadlines.values_list("pk", "step", "due_on", "met_on")),
        list(case.measures.values_list("pk", "category__code")),
    )
    assert _propose(api, case).status_code == 201
    assert _decide(api, case, "adjustment_confirm").status_code == 200
    after = (
        list(case.deadlines.values_list("pk", "step", "due_on", "met_on")),
        list(case.measures.values_list("pk", "category__code")),
    )
    assert after == before
    # Aid goes on being recorded on the adjusted case.
    with _at():
        measure = api("cadre_a").post(
            f"/api/cases/{case.pk}/measures/",
            {
                "category": "employment",
                "description": "公益性岗位推荐",
                "department": "县人社局",
                "start_on": str(TODAY - timedelta(days=1)),
            },
            format="json",
        )
    assert measure.status_code == 201, measure.content


# --- a proposal is not left behind by a case leaving monitoring ----------------------------


def test_a_clearance_is_not_proposed_over_a_pending_adjustment(api, case, client, users):
    assert _propose(api, case).status_code == 201
    with _at():
        refused = api("cadre_a").post(
            f"/api/cases/{case.pk}/transitions/",
            {"action": "propose_clearance", "clearance_kind": "assisted"},
            format="json",
        )
    assert refused.status_code == 400
    assert "有待乡镇确认的动态调整，请先由乡镇确认或退回" in refused.json()["unmet"]
    assert Case.objects.get(pk=case.pk).status == Status.MONITORING
    # The clearance checklist the cadre reads says so too.
    with _at():
        client.force_login(users["cadre_a"])
        page = client.get(f"/cases/{case.pk}/clearance/").content.decode()
    assert "有待乡镇确认的动态调整，请先由乡镇确认或退回" in page
    # Decided, the condition is met (the others are the clearance rules' own tests).
    assert _decide(api, case, "adjustment_reject", comment="不需调整").status_code == 200
    with _at():
        again = api("cadre_a").post(
            f"/api/cases/{case.pk}/transitions/",
            {"action": "propose_clearance", "clearance_kind": "assisted"},
            format="json",
        )
    assert "有待乡镇确认的动态调整，请先由乡镇确认或退回" not in again.json().get("unmet", [])


def test_closing_the_household_rejects_a_pending_adjustment(api, case, users):
    from households.life import member_life_status_record

    assert _propose(api, case).status_code == 201
    for member in case.household.members.all():
        member_life_status_record(
            member=member,
            by=users["reviewer_1"],
            status="deceased",
            on=TODAY - timedelta(days=1),
            evidence="死亡证明",
            today=TODAY,
        )
    assert Case.objects.get(pk=case.pk).status == Status.TERMINATED
    adjustment = CaseAdjustment.objects.get(case=case)
    assert adjustment.status == "rejected"
    assert adjustment.decided_by == users["reviewer_1"]
    assert adjustment.decided_at is not None
    assert adjustment.decision_note == "销户终止：全部成员死亡或户籍迁出，已销户"
    assert not CaseAdjustment.objects.filter(status="proposed").exists()


def test_the_townships_queue_holds_only_cases_in_monitoring(api, case, users, client):
    from monitor.adjustments import pending_adjustments_for

    assert _propose(api, case).status_code == 201
    assert [row["adjustment"].case_id for row in pending_adjustments_for(users["reviewer_1"])] == [
        case.pk
    ]
    # A proposal left on a case that moved on (before proposals were decided with it).
    Case.objects.filter(pk=case.pk).update(status=Status.CLEARANCE_PROPOSED)
    assert pending_adjustments_for(users["reviewer_1"]) == []
    client.force_login(users["reviewer_1"])
    with _at():
        page = client.get("/review/").content.decode()
    assert f"/cases/{case.pk}/#adjustment" not in page


def test_the_case_list_asks_for_pending_adjustments_once_whatever_its_length(api, case, users):
    """Every case in monitoring has its adjustment steps' guard read for `actions`: one
    prefetch for the page, not one query per case."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import HouseholdFactory

    def monitored_case(pending: bool) -> None:
        other = Case.objects.create(
            household=HouseholdFactory(village_id=VILLAGE_A, kind="lifted"),
            category=Category.UNSTABLE,
            channel=Channel.CADRE_SCREENING,
            status=Status.MONITORING,
            found_on=date(2026, 1, 2),
            identified_on=date(2026, 1, 10),
            main_risk="01",
        )
        CaseRisk.objects.create(case=other, code="01")
        if pending:
            CaseAdjustment.objects.create(
                case=other,
                category="sudden",
                risk_codes=["01"],
                main_risk="01",
                reason="受伤",
                proposed_by=users["cadre_a"],
            )

    counts = []
    for name in ("reviewer_1", "approver"):
        client = api(name)
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                listed = client.get("/api/cases/")
            assert listed.status_code == 200
            counts.append(len(queries))
            monitored_case(pending=True)
            monitored_case(pending=False)
        assert counts[-1] == counts[-2], (name, counts)
    reviewer_rows = api("reviewer_1").get("/api/cases/").json()["results"]
    pending = [
        r for r in reviewer_rows if "adjustment_confirm" in [a["action"] for a in r["actions"]]
    ]
    assert len(pending) == 4
