"""The pages of this part: 动态调整 on the case page and in the township's review queue,
the clearance checklist of each kind (帮扶消除 / 自然消除) with the natural proposal, the
member status change and 销户 on the household page, and the administrator's measure
categories. Each page calls the same services as the API (tested there); these tests read
what a person sees and what a form does."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from interventions.models import MeasureCategory
from monitor.choices import Category, Channel, Stage, Status
from monitor.models import (
    Appraisal,
    Case,
    CaseAdjustment,
    CaseRisk,
    HomeVisit,
    MonthlyVisit,
    Notification,
    PublicNotice,
)
from monitor.services import monthly_visit_record

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _client(users, name):
    client = Client()
    client.force_login(users[name])
    return client


@pytest.fixture
def case(family):
    """Test setup only: the family's case in monitoring for four months."""
    case = Case.objects.create(
        household=family,
        category=Category.UNSTABLE,
        channel=Channel.CADRE_SCREENING,
        status=Status.MONITORING,
        found_on=TODAY - timedelta(days=130),
        identified_on=TODAY - timedelta(days=120),
        main_risk="01",
    )
    CaseRisk.objects.create(case=case, code="01")
    return case


PROPOSAL = {
    "adjustment-category": "sudden",
    "adjustment-risk_codes": ["01", "05"],
    "adjustment-main_risk": "05",
    "adjustment-reason": "户主务工途中受伤",
}


def test_the_cadre_proposes_on_the_case_page_and_the_township_confirms_there(users, case):
    cadre, township = _client(users, "cadre_a"), _client(users, "reviewer_1")
    page = cadre.get(f"/cases/{case.pk}/").content.decode()
    assert 'id="adjustment"' in page and f'action="/cases/{case.pk}/adjustments/"' in page
    assert "尚无动态调整记录" in page
    assert (
        f"/cases/{case.pk}/adjustments/" not in township.get(f"/cases/{case.pk}/").content.decode()
    )

    bad = cadre.post(f"/cases/{case.pk}/adjustments/", {**PROPOSAL, "adjustment-main_risk": "09"})
    assert bad.status_code == 400
    assert "主要风险须是所选风险类型之一" in bad.content.decode()
    saved = cadre.post(f"/cases/{case.pk}/adjustments/", PROPOSAL)
    assert saved.status_code == 302 and saved["Location"].endswith("#adjustment")
    page = cadre.get(f"/cases/{case.pk}/").content.decode()
    assert "待乡镇确认" in page and "提出调整" not in page  # one pending at a time
    assert "脱贫不稳定户；因病（主要：因病）" in page
    assert "突发严重困难户；因病、因意外事故（主要：因意外事故）" in page

    queue = township.get("/review/").content.decode()
    assert 'id="queue-adjustments"' in queue and case.household.number in queue
    assert "户主务工途中受伤" in queue
    assert (
        'id="queue-adjustments"' not in _client(users, "approver").get("/review/").content.decode()
    )
    step_page = township.get(f"/cases/{case.pk}/").content.decode()
    assert 'value="adjustment_confirm"' in step_page and 'value="adjustment_reject"' in step_page
    assert 'value="adjustment_confirm"' not in cadre.get(f"/cases/{case.pk}/").content.decode()
    done = township.post(
        f"/cases/{case.pk}/transition/", {"action": "adjustment_confirm", "comment": "同意"}
    )
    assert done.status_code == 302
    assert Case.objects.get(pk=case.pk).category == "sudden"
    page = cadre.get(f"/cases/{case.pk}/").content.decode()
    assert "已确认" in page and "乡镇确认动态调整" in page  # the history and the trail
    assert 'id="queue-adjustments"' in township.get("/review/").content.decode()
    assert "没有待确认的动态调整" in township.get("/review/").content.decode()


def test_a_rejection_on_the_page_needs_its_reason(users, case):
    CaseAdjustment.objects.create(
        case=case,
        category="sudden",
        risk_codes=["01", "05"],
        main_risk="05",
        reason="受伤",
        proposed_by=users["cadre_a"],
    )
    township = _client(users, "reviewer_1")
    refused = township.post(f"/cases/{case.pk}/transition/", {"action": "adjustment_reject"})
    assert refused.status_code == 400 and "须填写理由" in refused.content.decode()
    done = township.post(
        f"/cases/{case.pk}/transition/", {"action": "adjustment_reject", "comment": "已痊愈"}
    )
    assert done.status_code == 302
    assert CaseAdjustment.objects.get().status == "rejected"


def test_a_risk_change_notification_opens_the_form_prefilled_with_the_visit(users, case):
    visit = monthly_visit_record(
        case=case,
        by=users["cadre_a"],
        visited_on=TODAY,
        visitors="网格员",
        findings="户主摔伤住院",
        risk_changed=True,
    )
    cadre = _client(users, "cadre_a")
    inbox = cadre.get("/notifications/").content.decode()
    link = f"/cases/{case.pk}/?visit={visit.pk}#adjustment"
    assert f'href="{link}"' in inbox
    assert f'href="{link}"' in cadre.get("/").content.decode()
    page = cadre.get(f"/cases/{case.pk}/?visit={visit.pk}").content.decode()
    assert "<details open><summary>提出动态调整" in page
    assert "走访发现：户主摔伤住院" in page
    assert f'<option value="{visit.pk}" selected>' in page
    saved = cadre.post(
        f"/cases/{case.pk}/adjustments/", {**PROPOSAL, "adjustment-monthly_visit": visit.pk}
    )
    assert saved.status_code == 302
    assert CaseAdjustment.objects.get().monthly_visit == visit
    # A visit of another case is not offered, nor taken.
    assert MonthlyVisit.objects.count() == 1
    plain = cadre.get(f"/cases/{case.pk}/?visit=abc").status_code
    assert plain == 200


def _clearance_paperwork(case, day):
    HomeVisit.objects.create(
        case=case, stage=Stage.CLEARANCE, visited_on=day, visitors="张", findings="已去世"
    )
    Appraisal.objects.create(case=case, stage=Stage.CLEARANCE, held_on=day, result="passed")
    PublicNotice.objects.create(
        case=case, stage=Stage.CLEARANCE, start_on=day, end_on=day + timedelta(days=4)
    )


def test_the_clearance_page_shows_the_checklist_of_the_chosen_kind(users, case):
    cadre = _client(users, "cadre_a")
    assisted = cadre.get(f"/cases/{case.pk}/clearance/").content.decode()
    assert 'data-kind="assisted"' in assisted
    assert "纳入监测未满 6 个月" in assisted and "住房安全有保障" in assisted
    natural = cadre.get(f"/cases/{case.pk}/clearance/?kind=natural").content.decode()
    assert 'data-kind="natural"' in natural
    assert "纳入监测未满" not in natural and "未登记入户核实" in natural
    # htmx asks for the same page; the chooser swaps the checklist in place.
    swapped = cadre.get(
        f"/cases/{case.pk}/clearance/?kind=natural", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="clearance"' in swapped and 'data-kind="natural"' in swapped
    assert (
        'data-kind="assisted"'
        in cadre.get(f"/cases/{case.pk}/clearance/?kind=%3Cscript%3E").content.decode()
    )


def test_a_natural_clearance_is_proposed_on_the_clearance_page(users, case):
    head = case.household.members.get(name="王大山")
    head.life_status, head.life_status_on = "deceased", TODAY - timedelta(days=20)
    head.save()
    _clearance_paperwork(case, TODAY - timedelta(days=10))
    cadre = _client(users, "cadre_a")
    page = cadre.get(f"/cases/{case.pk}/clearance/?kind=natural").content.decode()
    assert 'value="propose_clearance"' in page
    assert 'name="clearance_kind" value="natural"' in page
    assert 'name="natural_reason"' in page and 'name="natural_evidence"' in page
    assert "王大山（死亡）" in page
    url = f"/cases/{case.pk}/transition/"
    missing = cadre.post(
        url,
        {
            "action": "propose_clearance",
            "clearance_kind": "natural",
            "natural_reason": "member_died",
            "natural_evidence": "死",
            "next": f"/cases/{case.pk}/clearance/",
        },
    )
    assert missing.status_code == 400
    text = missing.content.decode()
    assert "请填写自然消除依据" in text and "致险成员去世的，请选择已去世的成员" in text
    assert 'data-kind="natural"' in text  # the page comes back on the natural checklist
    done = cadre.post(
        url,
        {
            "action": "propose_clearance",
            "clearance_kind": "natural",
            "natural_reason": "member_died",
            "natural_member_id": head.pk,
            "natural_evidence": "死亡医学证明",
            "next": f"/cases/{case.pk}/clearance/",
        },
    )
    assert done.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.clearance_kind, case.natural_member_id) == (
        Status.CLEARANCE_PROPOSED,
        "natural",
        head.pk,
    )
    # The township reads the natural checklist, with the evidence.
    township_page = _client(users, "reviewer_1").get(f"/cases/{case.pk}/clearance/")
    text = township_page.content.decode()
    assert "死亡医学证明" in text and "成员王大山于" in text
    assert 'value="township_approve_clearance"' in text


def test_the_household_page_offers_the_status_change_and_shows_the_closure(users, family, case):
    head = family.members.get(name="王大山")
    child = family.members.get(name="王小山")
    cadre = _client(users, "cadre_a")
    url = f"/households/{family.pk}/members/{head.pk}/life-status/"
    page = cadre.get(f"/households/{family.pk}/").content.decode()
    assert url in page and "成员状态变更" in page
    assert url not in _client(users, "approver").get(f"/households/{family.pk}/").content.decode()
    assert _client(users, "approver").get(url).status_code == 403
    form = cadre.get(url).content.decode()
    assert "最后一名在册成员" not in form
    bad = cadre.post(url, {"status": "deceased", "on": "2999-01-01", "evidence": ""})
    assert bad.status_code == 400
    assert "状态变更日期不能晚于今天" in bad.content.decode() or "此项必填" in bad.content.decode()
    saved = cadre.post(url, {"status": "deceased", "on": TODAY.isoformat(), "evidence": "死亡证明"})
    assert saved.status_code == 302
    page = cadre.get(f"/households/{family.pk}/").content.decode()
    assert "死亡</span>" in page and url not in page
    gone = cadre.get(url).content.decode()
    assert "不能再变更成员状态" in gone and "<form" not in gone.split('class="card"')[1]

    child_url = f"/households/{family.pk}/members/{child.pk}/life-status/"
    assert "最后一名在册成员" in cadre.get(child_url).content.decode()
    closed = cadre.post(
        child_url, {"status": "moved_out", "on": TODAY.isoformat(), "evidence": "户口迁出"}
    )
    assert closed.status_code == 302
    page = cadre.get(f"/households/{family.pk}/").content.decode()
    assert "已销户" in page and "全部成员死亡或户籍迁出" in page
    assert "/cases/new/?household=" not in page and "录入收支" not in page
    assert Case.objects.get(pk=case.pk).status == Status.TERMINATED
    assert "销户终止" in cadre.get(f"/cases/{case.pk}/").content.decode()
    assert Notification.objects.filter(kind="household_closed").exists()


def test_the_administrator_sets_which_categories_are_developmental_or_cover_illness(users):
    admin = _client(users, "admin")
    page = admin.get("/manage/measure-categories/")
    assert page.status_code == 200
    assert "帮扶措施类别" in admin.get("/manage/").content.decode()
    for name in ("approver", "cadre_a", "auditor"):
        assert _client(users, name).get("/manage/measure-categories/").status_code == 403
    developmental = ["industry", "employment", "finance", "public_job", "social_aid"]
    saved = admin.post(
        "/manage/measure-categories/",
        {"developmental": developmental, "covers_illness": ["health"]},
    )
    assert saved.status_code == 302
    assert set(
        MeasureCategory.objects.filter(developmental=True).values_list("code", flat=True)
    ) == set(developmental)
    assert list(
        MeasureCategory.objects.filter(covers_illness=True).values_list("code", flat=True)
    ) == ["health"]
    changed = AuditEvent.objects.filter(object_type="interventions.measurecategory")
    assert {event.object_label for event in changed} == {"社会帮扶", "综合保障"}
    bad = admin.post("/manage/measure-categories/", {"developmental": ["<b>nope</b>"]})
    assert bad.status_code == 400 and "请选择有效的措施类别" in bad.content.decode()
    api_view = admin.get("/api/measure-categories/").json()
    rows = api_view["results"] if isinstance(api_view, dict) else api_view
    assert {row["code"]: row["covers_illness"] for row in rows}["health"] is True


def test_the_townships_home_lists_the_adjustments_waiting_for_it(users, case):
    CaseAdjustment.objects.create(
        case=case,
        category="sudden",
        risk_codes=["01", "05"],
        main_risk="05",
        reason="受伤",
        proposed_by=users["cadre_a"],
    )
    home = _client(users, "reviewer_1").get("/").content.decode()
    assert "待确认的动态调整（1）" in home
    assert f"/cases/{case.pk}/#adjustment" in home
    for name in ("cadre_a", "approver", "reviewer_2"):
        assert "待确认的动态调整" not in _client(users, name).get("/").content.decode(), name
