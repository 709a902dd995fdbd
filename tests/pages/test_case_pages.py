"""The case pages as people use them: what they see, what they are told when something is
wrong (beside the field, in Chinese), and that every write went through the services."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from interventions.models import AidPlan, MeasureRecord
from monitor.models import Case, CaseTransition, MonthlyVisit

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _client(users, name):
    client = Client()
    client.force_login(users[name])
    return client


def test_filing_shows_each_problem_beside_its_field_or_at_the_top(users, family):
    cadre = _client(users, "cadre_a")
    url = f"/cases/new/?household={family.pk}"
    assert "登记监测对象" in cadre.get(url).content.decode()
    empty = cadre.post(url, {"found_on": (TODAY + timedelta(days=3)).isoformat()})
    assert empty.status_code == 400
    text = empty.content.decode()
    assert text.count("此项必填") == 3  # category, risk types and channel, beside each
    assert "发现风险日期不能晚于今天" in text
    # The service's rule (a 脱贫户 cannot be 边缘易致贫户) comes back at the top.
    wrong = cadre.post(
        url,
        {
            "category": "marginal",
            "risk_codes": ["01"],
            "found_on": TODAY.isoformat(),
            "channel": "cadre_screening",
        },
    )
    assert wrong.status_code == 400
    assert "边缘易致贫户只能是一般农户" in wrong.content.decode()
    assert not Case.objects.exists()
    filed = cadre.post(
        url,
        {
            "category": "unstable",
            "risk_codes": ["01"],
            "found_on": TODAY.isoformat(),
            "channel": "cadre_screening",
            "description": "户主住院",
        },
    )
    case = Case.objects.get()
    assert filed.status_code == 302 and filed["Location"] == f"/cases/{case.pk}/"
    page = cadre.get(filed["Location"]).content.decode()
    assert "村级核实中" in page and "未登记入户核实" in page
    assert 'value="report"' not in page  # nothing to report yet: no button


def test_a_township_reviewer_files_only_where_the_policy_lets_and_a_county_never(users, family):
    county = _client(users, "approver")
    response = county.get(f"/cases/new/?household={family.pk}")
    assert response.status_code == 302
    assert f"/households/{family.pk}/" in response["Location"]
    other = _client(users, "cadre_c")  # another township's village
    assert other.get(f"/cases/new/?household={family.pk}").status_code == 404


def test_a_return_without_a_reason_is_refused_on_the_page(users, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(status="reported")
    township = _client(users, "reviewer_1")
    page = township.get(f"/cases/{draft_case.pk}/").content.decode()
    assert "乡镇审核通过" in page and "乡镇退回" in page and "理由（必填）" in page
    refused = township.post(
        f"/cases/{draft_case.pk}/transition/", {"action": "township_return", "comment": " "}
    )
    assert refused.status_code == 400
    assert "「乡镇退回」须填写理由" in refused.content.decode()
    assert Case.objects.get(pk=draft_case.pk).status == "reported"
    returned = township.post(
        f"/cases/{draft_case.pk}/transition/",
        {"action": "township_return", "comment": "补充医疗票据"},
    )
    assert returned.status_code == 302
    step = CaseTransition.objects.get()
    assert (step.action, step.comment, step.actor) == (
        "township_return",
        "补充医疗票据",
        users["reviewer_1"],
    )


def test_the_county_approves_several_cases_and_sees_each_result(users, family, draft_case):
    from tests.factories import HouseholdFactory, MemberFactory, make_id_number

    second = HouseholdFactory(village_id=family.village_id, kind="ordinary")
    MemberFactory(household=second, name="赵二", id_number=make_id_number(sequence=880))
    other = Case.objects.create(
        household=second,
        category="sudden",
        channel="cadre_screening",
        found_on=TODAY,
        status="township_approved",
    )
    Case.objects.filter(pk=draft_case.pk).update(status="township_approved")
    county = _client(users, "approver")
    queue = county.get("/review/").content.decode()
    assert "县级审定纳入监测 · 待办 2 户" in queue
    # The second case was changed meanwhile by someone else: it is refused, the first passes.
    Case.objects.filter(pk=other.pk).update(status="reported")
    done = county.post(
        "/review/batch/",
        {"action": "county_approve", "cases": [draft_case.pk, other.pk], "comment": "同意"},
        follow=True,
    )
    text = done.content.decode()
    assert "1 户办理成功，1 户未办理" in text
    assert "监测帮扶中" in text and "该操作仅适用于「乡镇已审核」状态" in text
    assert Case.objects.get(pk=draft_case.pk).status == "monitoring"
    assert Case.objects.get(pk=other.pk).status == "reported"


def test_a_cadre_cannot_batch_approve_and_a_stray_action_is_refused(users, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(status="township_approved")
    cadre = _client(users, "cadre_a")
    assert cadre.get("/review/").status_code == 403
    cadre.post("/review/batch/", {"action": "county_approve", "cases": [draft_case.pk]})
    assert Case.objects.get(pk=draft_case.pk).status == "township_approved"
    county = _client(users, "approver")
    county.post("/review/batch/", {"action": "county_reject", "cases": [draft_case.pk]})
    assert Case.objects.get(pk=draft_case.pk).status == "township_approved"


def test_aid_plan_measures_and_monthly_visits_through_the_pages(users, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(
        status="monitoring", identified_on=TODAY - timedelta(days=10)
    )
    cadre = _client(users, "cadre_a")
    aid = cadre.get(f"/cases/{draft_case.pk}/aid/").content.decode()
    assert "制定帮扶计划" in aid and "登记帮扶措施" in aid
    plan = cadre.post(
        f"/cases/{draft_case.pk}/aid/plan/",
        {
            "summary": "产业增收、健康兜底",
            "responsible_person": "驻村第一书记",
            "item_count": "2",
            "item0-category": "",
            "item0-description": "发展养殖",
        },
    )
    assert plan.status_code == 400 and "请选择措施类别" in plan.content.decode()
    from interventions.models import MeasureCategory

    industry = MeasureCategory.objects.get(code="industry")
    plan = cadre.post(
        f"/cases/{draft_case.pk}/aid/plan/",
        {
            "summary": "产业增收",
            "responsible_person": "驻村第一书记",
            "item_count": "2",
            "item0-category": industry.pk,
            "item0-description": "发展养殖",
        },
    )
    assert plan.status_code == 302
    assert AidPlan.objects.get(case=draft_case).items.get().description == "发展养殖"
    head = draft_case.household.members.get(relation="head")
    early = cadre.post(
        f"/cases/{draft_case.pk}/aid/measures/",
        {
            "measure-category": industry.pk,
            "measure-description": "肉牛养殖",
            "measure-department": "县农业农村局",
            "measure-start_on": "2020-01-01",
            "measure-amount": "3000",
            "measure-status": "in_progress",
            "measure-beneficiaries": [head.pk],
        },
    )
    assert early.status_code == 400 and "开始日期不能早于发现风险日期" in early.content.decode()
    saved = cadre.post(
        f"/cases/{draft_case.pk}/aid/measures/",
        {
            "measure-category": industry.pk,
            "measure-description": "肉牛养殖",
            "measure-department": "县农业农村局",
            "measure-start_on": TODAY.isoformat(),
            "measure-amount": "3000",
            "measure-status": "in_progress",
            "measure-beneficiaries": [head.pk],
        },
    )
    assert saved.status_code == 302
    record = MeasureRecord.objects.get()
    assert list(record.beneficiaries.all()) == [head]
    assert "3,000.00 元" in cadre.get(f"/cases/{draft_case.pk}/aid/").content.decode()
    visit = cadre.post(
        f"/cases/{draft_case.pk}/monthly-visits/",
        {
            "monthly-visited_on": TODAY.isoformat(),
            "monthly-visitors": "网格员",
            "monthly-findings": "生活正常",
        },
    )
    assert visit.status_code == 302 and MonthlyVisit.objects.count() == 1


def test_the_clearance_page_lists_every_condition_met_or_not(users, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(
        status="monitoring", identified_on=TODAY - timedelta(days=30)
    )
    page = _client(users, "cadre_a").get(f"/cases/{draft_case.pk}/clearance/").content.decode()
    assert "纳入监测未满 6 个月" in page
    assert "未落实帮扶措施（至少 1 项）" in page
    assert "有劳动能力成员" in page  # met, and said so
    assert 'value="propose_clearance"' not in page
    assert "以上未满足的条件完成后" in page


def test_a_draft_case_is_corrected_on_its_page_and_not_after_the_report(users, draft_case):
    cadre = _client(users, "cadre_a")
    assert "更正信息" in cadre.get(f"/cases/{draft_case.pk}/").content.decode()
    saved = cadre.post(
        f"/cases/{draft_case.pk}/edit/",
        {
            "category": "unstable",
            "risk_codes": ["01", "05"],
            "found_on": "2026-03-02",
            "channel": "cadre_screening",
            "description": "户主住院，后又遭遇车祸",
        },
    )
    assert saved.status_code == 302
    assert Case.objects.get(pk=draft_case.pk).risk_codes == ["01", "05"]
    Case.objects.filter(pk=draft_case.pk).update(status="reported")
    page = cadre.get(f"/cases/{draft_case.pk}/edit/").content.decode()
    assert "须在「村级核实中」状态办理" in page and "<form" not in page.split("</nav>")[1]


def test_a_members_full_number_is_shown_only_with_a_reason_and_audited(users, family):
    cadre = _client(users, "cadre_a")
    member = family.members.get(relation="head")
    url = f"/households/{family.pk}/members/{member.pk}/reveal/"
    page = cadre.get(f"/households/{family.pk}/").content.decode()
    assert member.id_number_masked in page
    missing = cadre.post(url, {"field": "id_number", "reason": ""}, HTTP_HX_REQUEST="true")
    assert missing.status_code == 400 and "请填写查看事由" in missing.content.decode()
    assert not AuditEvent.objects.filter(action="reveal_pii").exists()
    shown = cadre.post(
        url, {"field": "id_number", "reason": "入户核实需核对证件"}, HTTP_HX_REQUEST="true"
    )
    assert shown.status_code == 200
    text = shown.content.decode()
    assert "已记入审计日志" in text and "<html" not in text  # the fragment only
    event = AuditEvent.objects.get(action="reveal_pii")
    assert (event.actor, event.reason) == (users["cadre_a"], "入户核实需核对证件")
    # Next door, the member does not exist.
    assert (
        _client(users, "cadre_b").post(url, {"field": "id_number", "reason": "核对"}).status_code
        == 404
    )
