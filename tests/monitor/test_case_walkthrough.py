"""A case from the village's first finding to the county's clearance, over the API, as the
real roles, with the audit trail checked line by line."""

from datetime import date, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from households.models import Household
from tests.monitor.conftest import PDF

pytestmark = pytest.mark.django_db

D0 = date(2026, 3, 2)  # a Monday


def _at(day: date):
    return time_machine.travel(f"{day.isoformat()} 10:00 +0800", tick=False)


def _step(client, case_id, action, **extra):
    return client.post(
        f"/api/cases/{case_id}/transitions/", {"action": action, **extra}, format="json"
    )


def _record_procedure(cadre, case_id, stage, visit_day, notice_start):
    base = f"/api/cases/{case_id}"
    visit = cadre.post(
        f"{base}/home-visits/",
        {
            "stage": stage,
            "visited_on": visit_day,
            "visitors": "李书记、张网格员",
            "findings": "家中主要劳动力患病住院",
        },
        format="json",
    )
    assert visit.status_code == 201, visit.content
    if stage == "identification":
        consent = cadre.post(
            f"{base}/consents/",
            {
                "stage": stage,
                "signed_on": visit_day,
                "scan": SimpleUploadedFile("授权书.pdf", PDF, content_type="application/pdf"),
            },
            format="multipart",
        )
        assert consent.status_code == 201, consent.content
        items = cadre.get("/api/cross-check-items/").json()
        checked = cadre.post(
            f"{base}/cross-checks/",
            {
                "checked_on": visit_day,
                "findings": [{"item": item["code"], "result": "clear"} for item in items],
            },
            format="json",
        )
        assert checked.status_code == 201, checked.content
    appraisal = cadre.post(
        f"{base}/appraisals/",
        {"stage": stage, "held_on": visit_day, "result": "passed", "participants": 23},
        format="json",
    )
    assert appraisal.status_code == 201, appraisal.content
    notice = cadre.post(
        f"{base}/notices/",
        {"stage": stage, "start_on": notice_start, "end_on": notice_start + timedelta(days=4)},
        format="json",
    )
    assert notice.status_code == 201, notice.content


def test_a_case_walks_from_draft_to_cleared_with_every_step_recorded(api, family):
    cadre, township, county = api("cadre_a"), api("reviewer_1"), api("approver")

    with _at(D0):
        created = cadre.post(
            "/api/cases/",
            {
                "household": family.pk,
                "category": "unstable",
                "channel": "cadre_screening",
                "risk_codes": ["01", "07"],
                "found_on": D0,
                "description": "户主突发重病",
            },
            format="json",
        )
        assert created.status_code == 201, created.content
        case = created.json()
        case_id = case["id"]
        assert case["status"] == "draft"
        assert case["risk_labels"] == ["因病", "因务工就业不稳"]
        due = {d["step"]: d["due_on"] for d in case["deadlines"]}
        assert due == {"village_verification": "2026-03-09", "identification": "2026-03-17"}
        assert [a["action"] for a in case["actions"]] == ["withdraw", "report"]

        too_early = _step(cadre, case_id, "report")
        assert too_early.status_code == 400
        assert too_early.json()["unmet"] == [
            "未登记入户核实",
            "未上传农户签字的承诺授权书",
            "未登记民主评议",
            "未登记公示",
            "未登记信息比对",
        ]
        _record_procedure(cadre, case_id, "identification", D0, D0 + timedelta(days=1))

    with _at(D0 + timedelta(days=3)):  # the notice is still running
        running = _step(cadre, case_id, "report")
        assert running.status_code == 400
        assert "公示期满后方可上报" in running.json()["detail"]

    with _at(D0 + timedelta(days=6)):
        assert _step(cadre, case_id, "report", comment="经核实符合条件").status_code == 200
        returned = _step(township, case_id, "township_return", comment="补充医疗费用票据")
        assert returned.json()["status"] == "draft"
        assert _step(cadre, case_id, "report", comment="已补充票据").status_code == 200
        assert _step(township, case_id, "township_approve", comment="同意").status_code == 200
        approved = _step(county, case_id, "county_approve", comment="同意纳入监测")
        assert approved.status_code == 200
        assert approved.json()["status"] == "monitoring"
        assert approved.json()["identified_on"] == "2026-03-08"
        # 公告 of the decision, on the case's detail.
        detail = county.get(f"/api/cases/{case_id}/").json()
        assert [(a["stage"], a["announced_on"]) for a in detail["announcements"]] == [
            ("identification", "2026-03-08")
        ]
        assert Household.objects.get(pk=family.pk).is_monitored

        for category, text in (
            ("industry", "发展牛羊养殖，补贴 3000 元"),
            ("health", "大病医疗救助"),
        ):
            measure = cadre.post(
                f"/api/cases/{case_id}/measures/",
                {
                    "category": category,
                    "description": text,
                    "department": "县农业农村局",
                    "start_on": "2026-03-08",
                    "amount": "3000",
                },
                format="json",
            )
            assert measure.status_code == 201, measure.content

    clearance_day = date(2026, 10, 12)
    with _at(clearance_day):
        early = _step(cadre, case_id, "propose_clearance", clearance_kind="assisted")
        assert early.status_code == 400
        unmet = early.json()["unmet"]
        assert "未登记纳入监测以来的收支情况，无法判断收入是否稳定高于监测范围" in unmet
        assert "未登记住房安全评估结果" in unmet
        assert "未参加基本医疗保险（或未登记参保）的成员：王大山、王小山" in unmet
        assert "未登记入户核实" in unmet

        # Income above the line for half a year: two records six months apart, both after
        # identification; 两不愁三保障 and water as the registry records them.
        for period_end in ("2026-03-31", "2026-09-30"):
            income = cadre.post(
                "/api/income-records/",
                {
                    "household": family.pk,
                    "year": 2026,
                    "period_end": period_end,
                    "wage_income": "18000",
                    "operating_income": "6000",
                },
                format="json",
            )
            assert income.status_code == 201, income.content
        secured = cadre.patch(
            f"/api/households/{family.pk}/",
            {"housing_safe": True, "water_safe": True},
            format="json",
        )
        assert secured.status_code == 200, secured.content
        for member in family.members.all():
            insured = cadre.patch(
                f"/api/members/{member.pk}/", {"medical_insurance": True}, format="json"
            )
            assert insured.status_code == 200, insured.content
        _record_procedure(cadre, case_id, "clearance", date(2026, 9, 28), date(2026, 10, 1))

        proposed = _step(
            cadre,
            case_id,
            "propose_clearance",
            clearance_kind="assisted",
            comment="收入稳定，风险已消除",
        )
        assert proposed.status_code == 200, proposed.json()
        assert _step(township, case_id, "township_approve_clearance").status_code == 200
        assert (
            _step(county, case_id, "county_return_clearance", comment="请补充务工收入证明").json()[
                "status"
            ]
            == "clearance_proposed"
        )
        assert (
            _step(township, case_id, "township_approve_clearance", comment="已补充").status_code
            == 200
        )
        cleared = _step(county, case_id, "county_approve_clearance", comment="同意消除")
        assert cleared.status_code == 200
        assert cleared.json()["status"] == "cleared"
        assert cleared.json()["clearance_kind"] == "assisted"
        assert cleared.json()["actions"] == []
        assert not Household.objects.get(pk=family.pk).is_monitored

    trail = cadre.get(f"/api/cases/{case_id}/transitions/").json()
    assert [
        (t["action"], t["from_status"], t["to_status"], t["actor"], t["actor_role"], t["comment"])
        for t in trail
    ] == [
        ("report", "draft", "reported", "cadre_a", "village_cadre", "经核实符合条件"),
        (
            "township_return",
            "reported",
            "draft",
            "reviewer_1",
            "township_reviewer",
            "补充医疗费用票据",
        ),
        ("report", "draft", "reported", "cadre_a", "village_cadre", "已补充票据"),
        (
            "township_approve",
            "reported",
            "township_approved",
            "reviewer_1",
            "township_reviewer",
            "同意",
        ),
        (
            "county_approve",
            "township_approved",
            "monitoring",
            "approver",
            "county_approver",
            "同意纳入监测",
        ),
        (
            "propose_clearance",
            "monitoring",
            "clearance_proposed",
            "cadre_a",
            "village_cadre",
            "收入稳定，风险已消除",
        ),
        (
            "township_approve_clearance",
            "clearance_proposed",
            "clearance_township_approved",
            "reviewer_1",
            "township_reviewer",
            "",
        ),
        (
            "county_return_clearance",
            "clearance_township_approved",
            "clearance_proposed",
            "approver",
            "county_approver",
            "请补充务工收入证明",
        ),
        (
            "township_approve_clearance",
            "clearance_proposed",
            "clearance_township_approved",
            "reviewer_1",
            "township_reviewer",
            "已补充",
        ),
        (
            "county_approve_clearance",
            "clearance_township_approved",
            "cleared",
            "approver",
            "county_approver",
            "同意消除",
        ),
    ]
    assert [t["actor_region"] for t in trail][:5] == [
        "630121100201",
        "630121100000",
        "630121100201",
        "630121100000",
        "630121000000",
    ]
