"""The policy answers before the body is read (issue 11, the authorization matrix's findings).

A write is judged in the policy's order — scope (404), the object's state (409, or 400 for a
record), the role (403) — and only then is its input checked. A role the action is not for
is never told to fix its input first, a clue already answered is a conflict whatever the
body, and a record outside the county approver's county is a 404 even with a bad body. The
auditor reads the audit log and nothing else; exports and screening runs are for the roles
with people duties (townships and counties for the runs). The matrix
(tests/security/test_api_matrix.py) sweeps every route; these pin the answers themselves."""

from datetime import date, timedelta

import pytest

from accounts.policy import rule_for
from interventions.models import InsuranceClaim, MeasureRecord
from monitor.choices import ClueStatus
from monitor.models import Appraisal, Case, CaseTransition, Clue, RegionPolicy
from tests.conftest import COUNTY, OTHER_COUNTY

pytestmark = pytest.mark.django_db


def _clue(household, status) -> Clue:
    day = date(2026, 3, 2)
    return Clue.objects.create(
        household=household,
        village_id=household.village_id,
        channel="department_warning",
        status=status,
        raised_on=day,
        due_on=day + timedelta(days=7),
    )


def test_a_record_of_the_cadres_asked_of_a_township_is_refused_for_the_role_not_the_body(
    api, draft_case
):
    url = f"/api/cases/{draft_case.pk}/appraisals/"
    for body in ({}, {"held_on": "不是日期", "result": "不存在"}):
        response = api("reviewer_1").post(url, body, format="json")
        assert response.status_code == 403, response.json()
        assert response.json()["detail"] == rule_for("case.evidence.identification").role_message
    assert not Appraisal.objects.exists()


def test_the_county_approver_is_refused_the_registers_writes_before_their_input(api, draft_case):
    approver = api("approver")
    # A draft takes no measures yet: the case's state answers first (the policy's order),
    # on `case`, never the fields the empty body lacks.
    measures = approver.post(f"/api/cases/{draft_case.pk}/measures/", {}, format="json")
    assert measures.status_code == 400
    assert set(measures.json()["errors"]) == {"case"}
    plan = approver.put(
        f"/api/cases/{draft_case.pk}/aid-plan/",
        {"items": [{"category": "不存在"}]},
        format="json",
    )
    assert plan.status_code == 403
    assert plan.json()["detail"] == rule_for("case.aid_plan").role_message
    member = draft_case.household.members.first()
    life = approver.post(f"/api/members/{member.pk}/life-status/", {}, format="json")
    assert life.status_code == 403
    assert life.json()["detail"] == rule_for("member.life_status").role_message
    assert not MeasureRecord.objects.exists()


def test_the_state_an_evidence_record_meets_is_that_of_the_stage_its_body_names(api, draft_case):
    """A draft case takes identification evidence, not clearance evidence: asked for the
    clearance stage, the cadre is told the case's state (on `case`, as the pages show it)
    rather than the fields the record lacks; for identification, the fields."""
    url = f"/api/cases/{draft_case.pk}/appraisals/"
    clearance = api("cadre_a").post(url, {"stage": "clearance"}, format="json")
    assert clearance.status_code == 400
    assert set(clearance.json()["errors"]) == {"case"}
    assert "风险消除材料" in clearance.json()["errors"]["case"][0]
    identification = api("cadre_a").post(url, {"stage": "identification"}, format="json")
    assert identification.status_code == 400
    assert "held_on" in identification.json()["errors"]


def test_a_step_the_role_does_not_take_is_refused_before_its_comment_is_checked(api, draft_case):
    response = api("reviewer_1").post(
        f"/api/cases/{draft_case.pk}/transitions/",
        {"action": "report", "comment": "长" * 501},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["detail"] == rule_for("case.report").role_message
    assert not CaseTransition.objects.filter(case=draft_case, action="report").exists()
    assert Case.objects.get(pk=draft_case.pk).status == draft_case.status


def test_a_clue_already_answered_is_a_conflict_whatever_the_body(api, family):
    clue = _clue(family, ClueStatus.CLOSED)
    url = f"/api/clues/{clue.pk}/verify/"
    cadre = api("cadre_a").post(url, {"outcome": "不存在"}, format="json")
    assert cadre.status_code == 409
    assert cadre.json()["detail"] == rule_for("clue.verify").state(clue)
    # The township reads the clue and does not verify: its role is refused (the state
    # refuses too; which comes first tells nothing, the policy's order says the state).
    assert api("reviewer_1").post(url, {}, format="json").status_code in (403, 409)
    waiting = _clue(family, ClueStatus.VERIFYING)
    township = api("reviewer_1").post(f"/api/clues/{waiting.pk}/verify/", {}, format="json")
    assert township.status_code == 403
    assert Clue.objects.get(pk=waiting.pk).status == ClueStatus.VERIFYING


def test_a_claim_is_the_townships_and_the_countys_whatever_the_body(api):
    assert api("cadre_a").post("/api/insurance-claims/", {}, format="json").status_code == 403
    assert api("reviewer_1").post("/api/insurance-claims/", {}, format="json").status_code == 400
    assert not InsuranceClaim.objects.exists()


def test_another_countys_records_are_not_found_by_a_county_approver_even_with_a_bad_body(
    api, regions
):
    record = RegionPolicy.objects.create(region_id=OTHER_COUNTY, year=2026)
    url = f"/api/region-policies/{record.pk}/"
    refused = api("approver").patch(url, {"identification_days": "x"}, format="json")
    assert refused.status_code == 404
    # Its own county approver is told what is wrong with the body.
    bad = api("approver_other").patch(url, {"identification_days": "x"}, format="json")
    assert bad.status_code == 400 and "identification_days" in bad.json()["errors"]
    own = RegionPolicy.objects.create(region_id=COUNTY, year=2026, identification_days=20)
    kept = api("approver").patch(
        f"/api/region-policies/{own.pk}/", {"identification_days": 25}, format="json"
    )
    assert kept.status_code == 200, kept.json()


def test_a_provinces_monitoring_line_is_not_the_county_approvers_to_edit(api, lines):
    from households.models import MonitoringLine

    line = MonitoringLine.objects.filter(region_id="630000000000").first()
    url = f"/api/monitoring-lines/{line.pk}/"
    assert api("approver").patch(url, {"amount": "-1"}, format="json").status_code == 404
    assert api("admin").patch(url, {"amount": "-1"}, format="json").status_code == 400


REFERENCE = [
    "/api/monitoring-lines/",
    "/api/cross-check-items/",
    "/api/measure-categories/",
    "/api/region-policies/",
    f"/api/region-policies/effective/?region={COUNTY}",
    "/api/insurance-policies/",
]


@pytest.mark.parametrize("url", REFERENCE)
def test_the_auditor_reads_the_audit_log_and_no_reference_data(api, url):
    refused = api("auditor").get(url)
    assert refused.status_code == 403
    assert refused.json()["detail"] == rule_for("reference.read").role_message
    # Every other role reads it, the department's machine account and the administrator too.
    for name in ("cadre_a", "approver", "department", "admin"):
        assert api(name).get(url).status_code == 200, name
    assert api("auditor").get("/api/audit-events/").status_code == 200


@pytest.mark.parametrize("name", ["admin", "auditor", "department"])
def test_a_role_without_people_duties_has_no_exports(api, name):
    client = api(name)
    assert client.get("/api/exports/").status_code == 403
    assert client.post("/api/exports/", {"kind": "ledger"}, format="json").status_code == 403
    assert client.get("/api/exports/1/").status_code == 403
    assert client.get("/api/exports/1/download/").status_code == 403
    assert api("cadre_a").get("/api/exports/").status_code == 200


def test_screening_runs_are_followed_by_townships_and_counties_not_villages(api):
    refused = api("cadre_a").get("/api/screening-runs/")
    assert refused.status_code == 403
    assert refused.json()["detail"] == rule_for("batches.read").role_message
    assert api("cadre_a").post("/api/screening-runs/").status_code == 403
    for name in ("reviewer_1", "approver"):
        assert api(name).get("/api/screening-runs/").status_code == 200, name
