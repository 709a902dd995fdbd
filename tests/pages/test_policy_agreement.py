"""Page and API agree: for every action and every role, the page offers the button exactly
when the API accepts the request. Both ask accounts/policy.py; this proves they ask it the
same way (and that a page never hides a step the API would take, or shows one it refuses).

Each case is made ready for its step — evidence recorded, notice ended, six months in
monitoring, measures and income in place — so that the only thing deciding is who asks."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from households.models import Household, MonitoringLine
from households.services import income_record_save
from interventions.models import MeasureCategory, MeasureRecord
from monitor.choices import AppraisalResult, Category, Channel, Stage, Status
from monitor.models import (
    Appraisal,
    Case,
    CaseAdjustment,
    Consent,
    CrossCheck,
    CrossCheckFinding,
    CrossCheckItem,
    HomeVisit,
    PublicNotice,
)
from monitor.services import case_create
from monitor.workflow import STEPS
from tests.conftest import PDF

pytestmark = pytest.mark.django_db

# Everyone: the roles inside the case's region, the same roles next door (another village,
# township, county: the case is a 404 to them), and the roles without people duties.
ROLES = [
    "cadre_a",
    "cadre_b",
    "reviewer_1",
    "reviewer_2",
    "approver",
    "approver_other",
    "department",
    "auditor",
    "admin",
]
TODAY = timezone.localdate()
FOUND = TODAY - timedelta(days=400)
IDENTIFIED = TODAY - timedelta(days=220)


@pytest.fixture
def ready_case(family, users):
    """A case whose identification and clearance evidence are complete."""
    for year in {TODAY.year, IDENTIFIED.year}:
        MonitoringLine.objects.get_or_create(
            region_id="630000000000", year=year, defaults={"amount": Decimal("8000")}
        )
    case = case_create(
        household=family,
        category=Category.SUDDEN,  # income above the line does not bar it at report
        channel=Channel.CADRE_SCREENING,
        risk_codes=["01"],
        found_on=FOUND,
        by=users["cadre_a"],
        today=FOUND,
    )
    for stage, day in ((Stage.IDENTIFICATION, FOUND), (Stage.CLEARANCE, TODAY - timedelta(30))):
        HomeVisit.objects.create(
            case=case, stage=stage, visited_on=day, visitors="村干部", findings="属实"
        )
        Appraisal.objects.create(
            case=case, stage=stage, held_on=day + timedelta(1), result=AppraisalResult.PASSED
        )
        PublicNotice.objects.create(
            case=case, stage=stage, start_on=day + timedelta(2), end_on=day + timedelta(8)
        )
    Consent.objects.create(
        case=case,
        stage=Stage.IDENTIFICATION,
        signed_on=FOUND,
        scan=ContentFile(PDF, name="consent.pdf"),
    )
    for code in ("industry", "health"):
        MeasureRecord.objects.create(
            case=case,
            category=MeasureCategory.objects.get(code=code),
            description="帮扶",
            department="县农业农村局",
            start_on=IDENTIFIED,
        )
    # Clearance: income above the line for half a year (two records at least six months
    # apart), 两不愁三保障 and water secured in the registry.
    for day in (TODAY - timedelta(days=200), TODAY - timedelta(days=1)):
        income_record_save(
            household=family, year=day.year, period_end=day, wage_income=Decimal("60000")
        )
    Household.objects.filter(pk=family.pk).update(housing_safe=True, water_safe=True)
    family.members.update(medical_insurance=True)
    # 信息比对: every item of the negative list checked, nothing found.
    cross_check = CrossCheck.objects.create(
        case=case, stage=Stage.IDENTIFICATION, checked_on=FOUND, note="比对"
    )
    for item in CrossCheckItem.objects.filter(active=True):
        CrossCheckFinding.objects.create(check_record=cross_check, item=item, result="clear")
    return case


# The steps that read the latest income as clearance does (rigid expenses resolved).
CLEARANCE_CHECKED = {"propose_clearance", "township_approve_clearance", "county_approve_clearance"}


def _income_for(case: Case, action: str) -> None:
    """The latest income record is read two ways: identification's income test (for a
    突发严重困难户, the income left after rigid expenses within the line) and clearance's
    (rigid expenses resolved). Test setup only: shape it for the step asked."""
    latest = TODAY - timedelta(days=1)
    rigid = Decimal("0") if action in CLEARANCE_CHECKED else Decimal("50000")
    income_record_save(
        household=case.household,
        year=latest.year,
        period_end=latest,
        wage_income=Decimal("60000"),
        medical_expense=rigid,
    )


def _put_in(case: Case, status: str) -> None:
    """Test setup only: place the case in a state without walking the workflow."""
    monitored = status not in (
        Status.APPLIED,
        Status.DRAFT,
        Status.REPORTED,
        Status.TOWNSHIP_APPROVED,
    )
    Case.objects.filter(pk=case.pk).update(
        status=status, identified_on=IDENTIFIED if monitored else None, clearance_kind=""
    )
    # Nothing left over from the previous user: no pending 动态调整, every member back in
    # the register, the household open.
    CaseAdjustment.objects.filter(case=case).delete()
    case.household.members.update(life_status="in_register", life_status_on=None)
    Household.objects.filter(pk=case.household_id).update(closed_on=None, closed_reason="")


def _client(users, name):
    client = Client()
    client.force_login(users[name])
    return client


def _page_offers(client, url: str, marker: str) -> bool:
    response = client.get(url)
    assert response.status_code in (200, 403, 404), (url, response.status_code)
    return response.status_code == 200 and marker in response.content.decode()


def _ready_for_guard(case: Case, step, users) -> None:
    """What a guarded step needs beyond the status (Step.guard), made afresh each time: a
    proposal to decide (动态调整), a household that is closed (销户)."""
    CaseAdjustment.objects.filter(case=case).delete()
    Household.objects.filter(pk=case.household_id).update(closed_on=None)
    if step.action.startswith("adjustment_"):
        CaseAdjustment.objects.create(
            case=case,
            category=case.category,
            risk_codes=["01", "05"],
            main_risk="01",
            reason="走访发现意外受伤",
            proposed_by=users["cadre_a"],
        )
    if step.action == "household_closed":
        Household.objects.filter(pk=case.household_id).update(closed_on=TODAY)


@pytest.mark.parametrize("step", STEPS, ids=[step.action for step in STEPS])
def test_each_workflow_step_is_offered_exactly_to_whom_the_api_accepts_it(
    ready_case, users, api, step
):
    accepted_by, answers = [], {}
    _income_for(ready_case, step.action)
    for name in ROLES:
        _put_in(ready_case, step.sources[0])
        _ready_for_guard(ready_case, step, users)
        offered = _page_offers(
            _client(users, name),
            f"/cases/{ready_case.pk}/",
            f'name="action" value="{step.action}"',
        )
        response = api(name).post(
            f"/api/cases/{ready_case.pk}/transitions/",
            {"action": step.action, "comment": "理由充分", "clearance_kind": "assisted"},
            format="json",
        )
        accepted = response.status_code == 200
        answers[name] = response.json().get("detail")
        assert offered == accepted, (step.action, name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    # Exactly the role(s) of the step, inside the region, take it.
    assert len(accepted_by) == len(step.roles), answers
    assert {users[name].role for name in accepted_by} == step.roles


def _evidence_request(api_client, case, stage):
    # An appraisal: the village's alone (township and county staff record home visits too,
    # under case.official_visit).
    return api_client.post(
        f"/api/cases/{case.pk}/appraisals/",
        {"stage": stage, "held_on": TODAY, "result": "passed"},
        format="json",
    )


def _official_visit_request(api_client, case, stage):
    return api_client.post(
        f"/api/cases/{case.pk}/home-visits/",
        {"stage": stage, "visited_on": TODAY, "visitors": "乡镇干部", "findings": "复核属实"},
        format="json",
    )


# action: (state, page, marker, API request); {case}/{measure}/{member}/{household} filled in.
ACTIONS = {
    "case.edit": (
        Status.DRAFT,
        "/cases/{case}/",
        "/cases/{case}/edit/",
        lambda client, case: client.patch(
            f"/api/cases/{case.pk}/", {"description": "更正：户主住院"}, format="json"
        ),
    ),
    "case.evidence.identification": (
        Status.DRAFT,
        "/cases/{case}/",
        "/cases/{case}/evidence/identification/home_visit/",
        lambda client, case: _evidence_request(client, case, "identification"),
    ),
    "case.evidence.clearance": (
        Status.MONITORING,
        "/cases/{case}/clearance/",
        "/cases/{case}/evidence/clearance/home_visit/",
        lambda client, case: _evidence_request(client, case, "clearance"),
    ),
    # 乡村两级入户: the township reviewer and the county approver, inside their region.
    "case.official_visit": (
        Status.REPORTED,
        "/cases/{case}/",
        "/cases/{case}/official-visit/",
        lambda client, case: _official_visit_request(client, case, "identification"),
    ),
    "case.monthly_visit": (
        Status.MONITORING,
        "/cases/{case}/",
        "/cases/{case}/monthly-visits/",
        lambda client, case: client.post(
            f"/api/cases/{case.pk}/monthly-visits/",
            {"visited_on": TODAY, "visitors": "网格员", "findings": "生活正常"},
            format="json",
        ),
    ),
    "case.measure": (
        Status.MONITORING,
        "/cases/{case}/aid/",
        "/cases/{case}/aid/measures/",
        lambda client, case: client.post(
            f"/api/cases/{case.pk}/measures/",
            {
                "category": "employment",
                "description": "技能培训",
                "department": "县人社局",
                "start_on": TODAY,
            },
            format="json",
        ),
    ),
    "case.aid_plan": (
        Status.MONITORING,
        "/cases/{case}/aid/",
        "/cases/{case}/aid/plan/",
        lambda client, case: client.put(
            f"/api/cases/{case.pk}/aid-plan/",
            {"summary": "产业增收", "responsible_person": "第一书记", "items": []},
            format="json",
        ),
    ),
    "measure.edit": (
        Status.MONITORING,
        "/cases/{case}/aid/",
        "/measures/{measure}/",
        lambda client, case: client.patch(
            f"/api/measures/{case.measures.first().pk}/",
            {"status": "completed"},
            format="json",
        ),
    ),
    "member.reveal": (
        Status.MONITORING,
        "/households/{household}/",
        "/members/{member}/reveal/",
        lambda client, case: client.post(
            f"/api/members/{case.household.members.first().pk}/reveal/",
            {"field": "id_number", "reason": "入户核实需核对证件"},
            format="json",
        ),
    ),
    "case.adjustment_propose": (
        Status.MONITORING,
        "/cases/{case}/",
        "/cases/{case}/adjustments/",
        lambda client, case: client.post(
            f"/api/cases/{case.pk}/adjustments/",
            {
                "category": "sudden",
                "risk_codes": ["01", "05"],
                "main_risk": "05",
                "reason": "走访发现户主务工途中受伤",
            },
            format="json",
        ),
    ),
    "member.life_status": (
        Status.MONITORING,
        "/households/{household}/",
        "/households/{household}/members/{member}/life-status/",
        lambda client, case: client.post(
            f"/api/members/{case.household.members.order_by('id').first().pk}/life-status/",
            {"status": "moved_out", "on": TODAY.isoformat(), "evidence": "户口迁移证明"},
            format="json",
        ),
    ),
    "case.file": (
        Status.CANCELLED,  # no open case: the household may get a new one
        "/households/{household}/",
        "/cases/new/?household={household}",
        lambda client, case: client.post(
            "/api/cases/",
            {
                "household": case.household_id,
                "category": "sudden",
                "channel": "cadre_screening",
                "risk_codes": ["05"],
                "found_on": TODAY,
            },
            format="json",
        ),
    ),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_record_action_is_offered_exactly_to_whom_the_api_accepts_it(
    ready_case, users, api, action
):
    state, page, marker, send = ACTIONS[action]
    _income_for(ready_case, action)
    fill = {
        "case": ready_case.pk,
        "household": ready_case.household_id,
        "member": ready_case.household.members.order_by("id").first().pk,
        "measure": ready_case.measures.first().pk,
    }
    accepted_by = []
    for name in ROLES:
        _put_in(ready_case, state)
        offered = _page_offers(_client(users, name), page.format(**fill), marker.format(**fill))
        response = send(api(name), ready_case)
        accepted = 200 <= response.status_code < 300
        assert offered == accepted, (action, name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
            Case.objects.filter(household=ready_case.household).exclude(pk=ready_case.pk).delete()
    assert accepted_by, f"nobody may take {action}: the test set-up is wrong"


CLUE_ACTIONS = {
    # action: (clue state, marker on the clue page, API request)
    "clue.verify": (
        "verifying",
        "/clues/{clue}/verify/",
        lambda client, clue: client.post(
            f"/api/clues/{clue.pk}/verify/",
            {"outcome": "not_eligible", "note": "入户核实，收入稳定"},
            format="json",
        ),
    ),
    "clue.accept": (
        "pending_acceptance",
        "/clues/{clue}/accept/",
        lambda client, clue: client.post(f"/api/clues/{clue.pk}/accept/", format="json"),
    ),
    "clue.dispatch": (
        "pending_dispatch",
        "/clues/{clue}/dispatch/",
        lambda client, clue: client.post(f"/api/clues/{clue.pk}/dispatch/", format="json"),
    ),
}


@pytest.mark.parametrize("action", list(CLUE_ACTIONS))
def test_each_clue_action_is_offered_exactly_to_whom_the_api_accepts_it(family, users, api, action):
    from monitor.models import Clue

    state, marker, send = CLUE_ACTIONS[action]
    clue = Clue.objects.create(
        household=family,
        village_id=family.village_id,
        channel="department_warning",
        status=state,
        raised_on=TODAY,
        due_on=TODAY + timedelta(days=7),
    )
    accepted_by = []
    for name in ROLES:
        Clue.objects.filter(pk=clue.pk).update(status=state, outcome="", closed_at=None)
        offered = _page_offers(
            _client(users, name), f"/clues/{clue.pk}/", marker.format(clue=clue.pk)
        )
        response = send(api(name), clue)
        accepted = 200 <= response.status_code < 300
        assert offered == accepted, (action, name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    assert len(accepted_by) == 1, accepted_by


def test_a_whole_round_is_offered_exactly_to_whom_the_api_accepts_it(family, users, api):
    """下发批次: the round's page offers 整批下发 exactly to whom the API lets send it."""
    from accounts.models import User
    from monitor.feeds.intake import receive_json
    from monitor.feeds.matching import process_batch
    from monitor.models import Clue, ClueTransition, Department, DispatchRound
    from tests.conftest import COUNTY
    from tests.factories import make_id_number

    account = User.objects.create_user(username="yibao", password="x", role="department")
    department = Department.objects.create(
        name="县医保局", kind="medical_insurance", region_id=COUNTY, account=account
    )
    rows = [{"姓名": "王大山", "身份证号": make_id_number(sequence=700), "预警类型": "住院"}]
    received = receive_json(department=department, batch_key="r", rows=rows)
    assert process_batch(received.batch.pk) == "done"
    item = DispatchRound.objects.get(batch=received.batch)
    accepted_by = []
    for name in ROLES:
        DispatchRound.objects.filter(pk=item.pk).update(dispatched_at=None, dispatched_by=None)
        Clue.objects.update(status="pending_dispatch")
        ClueTransition.objects.all().delete()
        offered = _page_offers(
            _client(users, name), f"/rounds/{item.pk}/", f"/rounds/{item.pk}/dispatch/"
        )
        response = api(name).post(f"/api/dispatch-rounds/{item.pk}/dispatch/", format="json")
        accepted = 200 <= response.status_code < 300
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    assert accepted_by == ["approver"]


def test_income_is_offered_exactly_to_whom_the_api_accepts_it(family, users, api):
    accepted_by = []
    for name in ROLES:
        offered = _page_offers(
            _client(users, name),
            f"/households/{family.pk}/",
            f"/households/{family.pk}/income/",
        )
        response = api(name).post(
            "/api/income-records/",
            {"household": family.pk, "year": TODAY.year, "wage_income": "12000"},
            format="json",
        )
        accepted = response.status_code == 201
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    assert sorted(accepted_by) == ["cadre_a", "reviewer_1"]


def test_income_entered_on_the_page_is_computed_and_shown(family, users, client):
    client.force_login(users["cadre_a"])
    bad = client.post(f"/households/{family.pk}/income/", {"year": "二〇二六", "wage_income": "-5"})
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "请输入有效的数值或日期" in text and "不能小于 0" in text
    saved = client.post(
        f"/households/{family.pk}/income/",
        {"year": TODAY.year, "wage_income": "12000", "transfer_income": "2000"},
    )
    assert saved.status_code == 302
    page = client.get(f"/households/{family.pk}/").content.decode()
    assert "7,000.00 元" in page  # 14,000 yuan over two people
    approver = Client()
    approver.force_login(users["approver"])
    assert approver.get(f"/households/{family.pk}/income/").status_code == 403


def test_a_monitoring_line_is_offered_for_a_region_exactly_when_the_api_accepts_it(users, api):
    """Administration: the form offers a region in its list exactly to whom the API lets
    keep that region's line (the county's own approver, the administrator)."""
    from tests.conftest import COUNTY

    accepted_by = []
    for year, name in enumerate(ROLES, start=2031):
        offered = _page_offers(_client(users, name), "/manage/lines/", f'<option value="{COUNTY}"')
        response = api(name).post(
            "/api/monitoring-lines/",
            {"region": COUNTY, "year": year, "amount": "8100.00", "source": "县政府文件"},
            format="json",
        )
        accepted = response.status_code == 201
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    assert sorted(accepted_by) == ["admin", "approver"]


def test_the_spot_check_draw_is_offered_exactly_to_whom_the_api_accepts_it(ready_case, users, api):
    """县级抽查 acts on no one case: each county approver draws in its own county."""
    _put_in(ready_case, Status.REPORTED)
    accepted_by = []
    for name in ROLES:
        offered = _page_offers(_client(users, name), "/review/", "/review/spot-check/")
        response = api(name).post("/api/spot-checks/", format="json")
        accepted = response.status_code == 200
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    assert sorted(accepted_by) == ["approver", "approver_other"]


def test_a_follow_up_visit_is_offered_exactly_to_whom_the_api_accepts_it(ready_case, users, api):
    """消除后跟踪: the village cadre of a cleared case within its period, and nobody once the
    period is over or before the case is cleared."""
    from monitor.models import MonthlyVisit

    marker = f"/cases/{ready_case.pk}/follow-up-visits/"
    for until, status, wanted in (
        (TODAY + timedelta(days=90), Status.CLEARED, ["cadre_a"]),
        (TODAY - timedelta(days=1), Status.CLEARED, []),
        (TODAY + timedelta(days=90), Status.MONITORING, []),
    ):
        Case.objects.filter(pk=ready_case.pk).update(
            status=status, cleared_on=TODAY - timedelta(days=30), follow_up_until=until
        )
        accepted_by = []
        for name in ROLES:
            offered = _page_offers(_client(users, name), f"/cases/{ready_case.pk}/", marker)
            response = api(name).post(
                marker.replace("/cases/", "/api/cases/"),
                {"visited_on": TODAY, "visitors": "网格员", "findings": "生活稳定"},
                format="json",
            )
            accepted = response.status_code == 201
            assert offered == accepted, (name, status, response.status_code, response.content)
            if accepted:
                accepted_by.append(name)
        assert accepted_by == wanted
    assert MonthlyVisit.objects.filter(kind="follow_up").count() == 1


@pytest.fixture
def insured(family, users):
    from households.models import Region
    from interventions.insurance import insurance_policy_save

    return insurance_policy_save(
        by=users["approver"],
        region=Region.objects.get(code="630121000000"),
        year=TODAY.year,
        insurer="人保财险",
        coverage="lifted_and_monitored",
        trigger_line=Decimal("8000"),
    )


def test_insurance_enrolment_is_offered_exactly_to_whom_the_api_accepts_it(
    family, insured, users, api
):
    from interventions.models import InsuranceEnrolment

    accepted_by = []
    for name in ROLES:
        offered = _page_offers(
            _client(users, name),
            f"/households/{family.pk}/",
            f"/households/{family.pk}/insurance/enrol/",
        )
        response = api(name).post(
            "/api/insurance-enrolments/",
            {"policy": insured.pk, "household": family.pk},
            format="json",
        )
        accepted = response.status_code == 201
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
            InsuranceEnrolment.objects.all().delete()
    assert sorted(accepted_by) == ["approver", "cadre_a", "reviewer_1"]


def test_an_insurance_claim_is_offered_exactly_to_whom_the_api_accepts_it(
    family, insured, users, api
):
    from interventions.insurance import insurance_enrol
    from interventions.models import InsuranceClaim, InsuranceEnrolment

    insurance_enrol(policy=insured, by=users["cadre_a"], household=family)
    enrolment = InsuranceEnrolment.objects.get()
    accepted_by = []
    for name in ROLES:
        offered = _page_offers(
            _client(users, name),
            f"/households/{family.pk}/",
            f"/households/{family.pk}/insurance/claims/",
        )
        response = api(name).post(
            "/api/insurance-claims/",
            {"enrolment": enrolment.pk, "claimed_on": TODAY, "reason": "户主住院"},
            format="json",
        )
        accepted = response.status_code == 201
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
            InsuranceClaim.objects.all().delete()
    assert sorted(accepted_by) == ["approver", "reviewer_1"]


@pytest.mark.parametrize(
    ("page", "endpoint", "payload"),
    [
        ("/manage/local-rules/", "/api/region-policies/", {"identification_days": 12}),
        (
            "/manage/insurance/",
            "/api/insurance-policies/",
            {"insurer": "人保财险", "coverage": "monitored", "trigger_line": "8000"},
        ),
    ],
    ids=["region_policy.manage", "insurance.manage"],
)
def test_a_region_record_is_offered_for_a_region_exactly_when_the_api_accepts_it(
    users, api, page, endpoint, payload
):
    """本地时限与规则 and 防贫保险 are kept like the monitoring lines: the county's own approver
    and the administrator."""
    from tests.conftest import COUNTY

    accepted_by = []
    for year, name in enumerate(ROLES, start=2031):
        offered = _page_offers(_client(users, name), page, f'<option value="{COUNTY}"')
        response = api(name).post(
            endpoint, {"region": COUNTY, "year": year, **payload}, format="json"
        )
        accepted = response.status_code == 201
        assert offered == accepted, (name, response.status_code, response.content)
        if accepted:
            accepted_by.append(name)
    assert sorted(accepted_by) == ["admin", "approver"]
