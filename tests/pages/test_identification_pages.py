"""The pages of identification as the counties do it: the cross-check in the case's guided
evidence, the main risk on filing and on the case and list pages, the township's or
county's own home visit, the county's spot-check button and badge, the announcements on
the case page, and the applicant's lookup on the public page."""

import re
from datetime import date

import pytest
from django.test import Client
from django.utils import timezone

from monitor.choices import Status, VisitLevel
from monitor.models import Case, CrossCheck, HomeVisit, RegionPolicy, SelfApplication
from monitor.workflow import case_transition
from tests.conftest import COUNTY, VILLAGE_A
from tests.factories import make_id_number

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PHONE = "13912345678"


def _client(users, name):
    client = Client()
    client.force_login(users[name])
    return client


def _cross_check_post(**overrides) -> dict:
    data = {"cross_check-checked_on": "2026-03-04"}
    for code in ("public_payroll", "vehicle", "commercial_housing", "business_registration"):
        data[f"cross_check-result_{code}"] = "clear"
    data.update({f"cross_check-{key}": value for key, value in overrides.items()})
    return data


def test_the_cross_check_is_a_step_of_the_guided_evidence(users, draft_case):
    cadre = _client(users, "cadre_a")
    page = cadre.get(f"/cases/{draft_case.pk}/").content.decode()
    assert 'id="evidence-cross_check"' in page and "登记信息比对" in page
    for name in ("财政供养人员", "机动车", "商品房", "工商注册"):
        assert name in page
    assert "未登记信息比对" in page  # the report checklist asks for it
    url = f"/cases/{draft_case.pk}/evidence/identification/cross_check/"
    refused = cadre.post(url, _cross_check_post(result_vehicle="found"))
    assert refused.status_code == 400
    assert "比对事项「机动车」为「发现」时须填写情况说明" in refused.content.decode()
    assert not CrossCheck.objects.exists()
    saved = cadre.post(
        url,
        _cross_check_post(
            result_commercial_housing="unavailable",
            note_commercial_housing="住建数据未接入",
            note="县乡村振兴局比对",
        ),
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    record = CrossCheck.objects.get()
    assert (record.recorded_by, record.findings.count()) == (users["cadre_a"], 4)
    page = cadre.get(f"/cases/{draft_case.pk}/").content.decode()
    assert "无法比对" in page and "住建数据未接入" in page
    assert "商品房无法比对：住建数据未接入" in page  # the report checklist says so, met
    # The township sees the records, never the form.
    township = _client(users, "reviewer_1").get(f"/cases/{draft_case.pk}/").content.decode()
    assert "住建数据未接入" in township and url not in township


def test_the_main_risk_is_chosen_on_filing_and_shown(users, family):
    cadre = _client(users, "cadre_a")
    url = f"/cases/new/?household={family.pk}"
    form = {
        "category": "unstable",
        "risk_codes": ["01", "05"],
        "found_on": TODAY.isoformat(),
        "channel": "cadre_screening",
    }
    wrong = cadre.post(url, {**form, "main_risk": "09"})
    assert wrong.status_code == 400
    assert "主要风险须是本案例所选的风险类型之一" in wrong.content.decode()
    filed = cadre.post(url, {**form, "main_risk": "05"})
    assert filed.status_code == 302
    case = Case.objects.get()
    assert case.main_risk == "05"
    page = cadre.get(f"/cases/{case.pk}/").content.decode()
    assert 'id="main-risk">因意外事故<' in page
    listing = cadre.get("/cases/").content.decode()
    assert "因意外事故（主）" in listing
    edit = cadre.get(f"/cases/{case.pk}/edit/").content.decode()
    assert 'value="05" selected' in edit or '<option value="05" selected>' in edit


def test_township_and_county_staff_record_their_own_visit_on_the_case_page(users, draft_case):
    cadre = _client(users, "cadre_a")
    assert "乡镇/县级入户核实" not in cadre.get(f"/cases/{draft_case.pk}/").content.decode()
    township = _client(users, "reviewer_1")
    url = f"/cases/{draft_case.pk}/official-visit/"
    assert url not in township.get(f"/cases/{draft_case.pk}/").content.decode()  # still draft
    Case.objects.filter(pk=draft_case.pk).update(status=Status.REPORTED)
    page = township.get(f"/cases/{draft_case.pk}/").content.decode()
    assert "登记乡镇/县级入户核实" in page and url in page
    empty = township.post(url, {"official-visited_on": "2099-01-01"})
    assert empty.status_code == 400
    text = empty.content.decode()
    assert "此项必填" in text
    saved = township.post(
        url,
        {
            "official-visited_on": "2026-03-06",
            "official-visitors": "镇包村干部",
            "official-findings": "复核属实",
        },
    )
    assert saved.status_code == 302
    visit = HomeVisit.objects.get()
    assert (visit.level, visit.stage, visit.recorded_by) == (
        VisitLevel.TOWNSHIP,
        "identification",
        users["reviewer_1"],
    )
    shown = cadre.get(f"/cases/{draft_case.pk}/").content.decode()
    assert "乡镇入户" in shown and "镇包村干部" in shown
    # The village cadre posting anyway is told why, on the page.
    refused = cadre.post(
        url,
        {"official-visited_on": "2026-03-06", "official-visitors": "村", "official-findings": "x"},
    )
    assert refused.status_code == 400 and "乡镇审核人或县级审定人" in refused.content.decode()
    assert HomeVisit.objects.count() == 1
    assert _client(users, "reviewer_2").post(url, {}).status_code == 404


def test_the_county_draws_from_its_review_page_and_the_drawn_cases_are_marked(
    users, draft_case, family
):
    Case.objects.filter(pk=draft_case.pk).update(status=Status.TOWNSHIP_APPROVED)
    RegionPolicy.objects.create(region_id=COUNTY, year=TODAY.year, spot_check_percent=100)
    county = _client(users, "approver")
    review = county.get("/review/").content.decode()
    assert "随机抽取抽查对象" in review and "/review/spot-check/" in review
    township = _client(users, "reviewer_1")
    assert "/review/spot-check/" not in township.get("/review/").content.decode()
    assert township.post("/review/spot-check/").status_code == 403
    drawn = county.post("/review/spot-check/", follow=True)
    text = drawn.content.decode()
    assert "按 100% 抽中 1 户" in text
    assert '<span class="badge warn">抽查</span>' in text  # in the queue
    page = county.get(f"/cases/{draft_case.pk}/").content.decode()
    assert 'id="spot-check-badge"' in page and "县级审定前须登记县级入户核实" in page
    refused = county.post(f"/cases/{draft_case.pk}/transition/", {"action": "county_approve"})
    assert "本案例为县级抽查对象，须先登记县级入户核实" in refused.content.decode()


def test_the_announcement_shows_on_the_case_page(users, draft_case):
    Case.objects.filter(pk=draft_case.pk).update(status=Status.TOWNSHIP_APPROVED)
    case_transition(
        case_id=draft_case.pk,
        action="county_approve",
        by=users["approver"],
        today=date(2026, 3, 20),
    )
    page = _client(users, "cadre_a").get(f"/cases/{draft_case.pk}/").content.decode()
    assert 'id="announcements"' in page and "2026年3月20日" in page
    assert "纳入防止返贫监测对象" in page
    home = _client(users, "reviewer_1").get("/notifications/").content.decode()
    assert "审定公告" in home


@pytest.fixture
def application(family):
    from monitor.feeds.applications import self_application_submit

    return self_application_submit(
        name="王大山",
        phone=PHONE,
        id_number=make_id_number(sequence=700),
        difficulty="户主住院，医疗费用高",
        village=VILLAGE_A,
        risk_type="01",
    )


def test_the_public_page_looks_the_result_up_without_telling_who_exists(client, application):
    page = client.get("/apply/").content.decode()
    assert "查询办理结果" in page and 'action="/apply/lookup/"' in page
    found = client.post("/apply/lookup/", {"reference": application.reference, "phone": PHONE})
    assert found.status_code == 200
    text = found.content.decode()
    assert "待乡镇受理" in text and application.reference in text
    assert "王大山" not in text and "139****5678" not in text
    wrong = client.post(
        "/apply/lookup/", {"reference": application.reference, "phone": "13900000000"}
    )
    unknown = client.post("/apply/lookup/", {"reference": "SQ20990101000000", "phone": PHONE})
    assert wrong.status_code == unknown.status_code == 200
    assert "未查到办理结果" in wrong.content.decode()

    # The same page, word for word, apart from the echo of what was typed (and the tokens).
    def page_of(response, reference, phone):
        text = re.sub(r"[A-Za-z0-9]{64}", "T", response.content.decode())
        return text.replace(reference, "X").replace(phone, "Y")

    assert page_of(wrong, application.reference, "13900000000") == page_of(
        unknown, "SQ20990101000000", PHONE
    )
    bad = client.post("/apply/lookup/", {"reference": "<b>x</b>", "phone": "abc"})
    assert bad.status_code == 400 and "<b>x</b>" not in bad.content.decode()
    assert SelfApplication.objects.count() == 1


def test_the_public_lookup_is_rate_limited(client, application):
    codes = [
        client.post("/apply/lookup/", {"reference": "SQ20990101000000", "phone": PHONE}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    assert (
        "查询过于频繁"
        in client.post(
            "/apply/lookup/", {"reference": application.reference, "phone": PHONE}
        ).content.decode()
    )
