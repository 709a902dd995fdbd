"""The clue pages (预警线索) and the department batch pages (预警名单批次): who sees what,
verification and acceptance through the page, the audited reveal of an applicant's phone,
masked numbers in the receipt, and query counts that do not grow with the rows."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.choices import Role
from accounts.models import AuditEvent, User
from monitor.choices import ClueOutcome, ClueStatus, Status
from monitor.feeds.applications import self_application_submit
from monitor.feeds.intake import receive_json
from monitor.feeds.matching import process_batch
from monitor.feeds.screening import screening_queue
from monitor.models import Case, Clue, Department, WarningBatch
from monitor.models.feeds import DepartmentKind
from tests.conftest import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_VILLAGE,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
)
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

PHONE = "13912345678"


# --- scenario --------------------------------------------------------------------------


def _department(name, username, region=COUNTY, kind=DepartmentKind.MEDICAL_INSURANCE):
    account = User.objects.create_user(username=username, password="x", role=Role.DEPARTMENT)
    return Department.objects.create(name=name, kind=kind, region_id=region, account=account)


def _push(department, key, rows, today=None) -> WarningBatch:
    received = receive_json(department=department, batch_key=key, rows=rows)
    assert process_batch(received.batch.pk, today=today) == "done"
    return WarningBatch.objects.defer("payload").get(pk=received.batch.pk)


def _home(village, name, sequence, kind="ordinary"):
    household = HouseholdFactory(village_id=village, kind=kind)
    number = make_id_number(sequence=sequence)
    MemberFactory(household=household, name=name, relation="head", id_number=number)
    MemberFactory(
        household=household,
        name=name + "之妻",
        relation="spouse",
        id_number=make_id_number(sequence=sequence + 1, male=False),
    )
    return household, number


@pytest.fixture(autouse=True)
def auto_dispatch(settings):
    """These pages are about the village's verification: the clues go straight down, as in a
    county whose rule is automatic dispatch. The county's own dispatch (下发批次) has its
    tests in tests/monitor/test_clue_dispatch.py and below."""
    settings.MONITOR = {**settings.MONITOR, "CLUE_AUTO_DISPATCH": True}


@pytest.fixture
def medical(regions):
    return _department("县医保局", "yibao")


@pytest.fixture
def homes(users):
    """One household in each of 东关村 (A, a 脱贫户), 西关村 (B, same township), 向阳村 (C,
    other township) and 多巴村 (another county)."""
    return {
        "a": _home(VILLAGE_A, "王大山", 700, kind="lifted"),
        "b": _home(VILLAGE_B, "李四海", 710),
        "c": _home(VILLAGE_C, "赵六安", 720),
        "other": _home(OTHER_VILLAGE, "钱七宝", 730),
    }


@pytest.fixture
def listed(medical, homes, other_county_list):
    """The county's medical-insurance list: one row per household, one nobody, one invalid.
    A department matches within its own county only: 钱七宝 of the county next door is "not
    found" here, and his clue comes from his own county's list (other_county_list)."""
    rows = [
        {
            "姓名": "王大山",
            "身份证号": homes["a"][1],
            "预警类型": "高额医疗自付",
            "金额": "1,234.50元",
            "发生日期": "2026-09-01",
            "说明": "住院自付",
        },
        {"姓名": "李四海", "身份证号": homes["b"][1], "预警类型": "住院"},
        {"姓名": "赵六安", "身份证号": homes["c"][1], "预警类型": "高额医疗自付"},
        {"姓名": "钱七宝", "身份证号": homes["other"][1], "预警类型": "高额医疗自付"},
        {"姓名": "孙无名", "身份证号": make_id_number(sequence=790), "预警类型": "住院"},
        {"姓名": "周错号", "身份证号": "6.30121E+17", "预警类型": "住院"},
    ]
    batch = _push(medical, "2026-10", rows)
    clues = {key: Clue.objects.get(household=home[0]) for key, home in homes.items()}
    return batch, clues


def _as(client, users, name):
    client.force_login(users[name])
    return client


def _text(response) -> str:
    return response.content.decode()


# --- the clue list -----------------------------------------------------------------------


def test_each_role_sees_its_own_regions_clues(client, users, homes, listed):
    numbers = {key: home[0].number for key, home in homes.items()}
    seen = {}
    for name in ("cadre_a", "cadre_c", "reviewer_1", "reviewer_2", "approver", "approver_other"):
        client.force_login(users[name])
        response = client.get("/clues/", {"status": ""})
        assert response.status_code == 200
        seen[name] = {key for key, number in numbers.items() if number in _text(response)}
    assert seen == {
        "cadre_a": {"a"},
        "cadre_c": {"c"},
        "reviewer_1": {"a", "b"},
        "reviewer_2": {"c"},
        "approver": {"a", "b", "c"},
        "approver_other": {"other"},
    }


@pytest.mark.parametrize("name", ["department", "auditor", "admin"])
def test_roles_without_people_duties_get_403(client, users, listed, name):
    client.force_login(users[name])
    clue = listed[1]["a"]
    assert client.get("/clues/").status_code == 403
    assert client.get(f"/clues/{clue.pk}/").status_code == 403
    assert client.post(f"/clues/{clue.pk}/verify/", {"outcome": "not_eligible"}).status_code == 403


def test_the_clue_pages_need_a_login(client, listed):
    response = client.get("/clues/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_row_shows_the_household_its_head_village_source_and_evidence(client, users, listed):
    text = _text(_as(client, users, "cadre_a").get("/clues/"))
    clue = listed[1]["a"]
    assert clue.household.number in text and "王大山" in text
    assert "王大山之妻" not in text  # the head (户主), not any member
    assert "东关村" in text and "部门筛查预警" in text
    assert "县医保局：高额医疗自付" in text
    today = timezone.localdate()
    assert f"{today.year}年{today.month}月{today.day}日" in text
    assert f"{clue.due_on.year}年{clue.due_on.month}月{clue.due_on.day}日" in text
    assert "待村级核实" in text


def test_overdue_clues_come_first_in_red_with_the_days(client, users, medical, homes):
    late_day = timezone.localdate() - timedelta(days=30)
    _push(
        medical, "late", [{"姓名": "李", "身份证号": homes["b"][1], "预警类型": "住院"}], late_day
    )
    _push(medical, "fresh", [{"姓名": "王", "身份证号": homes["a"][1], "预警类型": "住院"}])
    late = Clue.objects.get(household=homes["b"][0])
    text = _text(_as(client, users, "reviewer_1").get("/clues/"))
    days = (timezone.localdate() - late.due_on).days
    assert f"超期 {days} 天" in text
    assert text.count('class="overdue"') == 1
    assert text.index(homes["b"][0].number) < text.index(homes["a"][0].number)
    only_late = _text(client.get("/clues/", {"overdue": "yes"}))
    assert homes["b"][0].number in only_late and homes["a"][0].number not in only_late
    not_late = _text(client.get("/clues/", {"overdue": "no"}))
    assert homes["b"][0].number not in not_late and homes["a"][0].number in not_late


def test_filters_by_village_status_channel_and_outcome(client, users, homes, listed):
    _as(client, users, "reviewer_1")
    a, b = homes["a"][0].number, homes["b"][0].number
    in_b = _text(client.get("/clues/", {"village": VILLAGE_B}))
    assert b in in_b and a not in in_b
    # A village of another township is not a choice: reported, and the filter ignored.
    elsewhere = _text(client.get("/clues/", {"village": VILLAGE_C}))
    assert "请选择有效的选项" in elsewhere and a in elsewhere
    listed[1]["a"].status, listed[1]["a"].outcome = ClueStatus.CLOSED, ClueOutcome.NOT_ELIGIBLE
    listed[1]["a"].save()
    closed = _text(client.get("/clues/", {"status": "closed"}))
    assert a in closed and b not in closed and "不符合条件" in closed
    by_outcome = _text(client.get("/clues/", {"outcome": "not_eligible"}))
    assert a in by_outcome and b not in by_outcome
    by_channel = _text(client.get("/clues/", {"channel": "self_application"}))
    assert a not in by_channel and b not in by_channel and "没有符合条件的线索" in by_channel


def test_the_cadres_inbox_shows_clues_to_verify_unless_asked_for_all(client, users, listed):
    clue = listed[1]["a"]
    clue.status, clue.outcome = ClueStatus.CLOSED, ClueOutcome.UNVERIFIABLE
    clue.save()
    _as(client, users, "cadre_a")
    assert clue.household.number not in _text(client.get("/clues/"))
    assert clue.household.number in _text(client.get("/clues/", {"status": ""}))
    # No village filter for a village cadre.
    assert 'name="village"' not in _text(client.get("/clues/"))


def test_the_list_is_paginated_by_30(client, users, medical):
    rows = []
    for index in range(31):
        _, number = _home(VILLAGE_A, f"户主{index}", 2000 + 2 * index)
        rows.append({"姓名": f"户主{index}", "身份证号": number, "预警类型": "住院"})
    _push(medical, "many", rows)
    _as(client, users, "cadre_a")
    first = _text(client.get("/clues/"))
    assert "共 31 条" in first and "第 1 / 2 页" in first
    assert 'href="?page=2"' in first  # the inbox's default filter holds on every page
    second = _text(client.get("/clues/", {"page": 2}))
    assert "第 2 / 2 页" in second


def _many_clues(medical, count, start):
    rows = []
    for index in range(count):
        _, number = _home(
            VILLAGE_A if index % 2 else VILLAGE_B, f"户{start + index}", start + 4 * index
        )
        rows.append({"姓名": "某", "身份证号": number, "预警类型": "高额医疗自付"})
        rows.append({"姓名": "某", "身份证号": number, "预警类型": "住院"})
    _push(medical, f"n{start}", rows)


# Every page: the session, and the user with the region its header names (one query).
# The session is not saved: a request within a minute of the last write leaves it
# (config/sessions.py).
PER_REQUEST = 2
# The filter's villages, the count, the page of clues, their evidence with each batch's
# department, their applications.
CLUE_LIST_QUERIES = PER_REQUEST + 5


@pytest.mark.parametrize("count", [2, 10])
def test_the_clue_list_query_count_does_not_grow(
    client, users, medical, count, django_assert_num_queries
):
    _many_clues(medical, count, start=3000)
    _as(client, users, "reviewer_1")
    with django_assert_num_queries(CLUE_LIST_QUERIES):
        response = client.get("/clues/")
    assert f"共 {count} 条" in _text(response)


# --- one clue ----------------------------------------------------------------------------


def test_the_clue_page_shows_its_evidence_in_yuan_and_chinese_dates(client, users, listed):
    clue = listed[1]["a"]
    response = _as(client, users, "cadre_a").get(f"/clues/{clue.pk}/")
    text = _text(response)
    assert response.status_code == 200
    assert "县医保局" in text and "高额医疗自付" in text and "1,234.50 元" in text
    assert "2026年9月1日" in text and "住院自付" in text
    assert f'href="/households/{clue.household_id}/"' in text
    assert f'action="/clues/{clue.pk}/verify/"' in text  # the cadre may verify


def test_the_verify_form_pre_ticks_suggested_risk_types(client, users, listed):
    clue = listed[1]["a"]
    text = _text(_as(client, users, "cadre_a").get(f"/clues/{clue.pk}/"))
    checked = [line for line in text.split("<input") if 'name="risk_codes"' in line]
    ticked = [line for line in checked if "checked" in line]
    assert len(ticked) == 1 and 'value="01"' in ticked[0]


def test_buttons_appear_exactly_when_the_policy_allows(client, users, listed):
    clue = listed[1]["a"]
    for name, verify in (("cadre_a", True), ("reviewer_1", False), ("approver", False)):
        text = _text(_as(client, users, name).get(f"/clues/{clue.pk}/"))
        assert (f"/clues/{clue.pk}/verify/" in text) is verify, name
        assert f"/clues/{clue.pk}/accept/" not in text  # not a self-application


@pytest.mark.parametrize("name", ["cadre_b", "cadre_c", "reviewer_2", "approver_other"])
def test_a_clue_outside_the_region_is_404_for_get_and_post(client, users, listed, name):
    clue = listed[1]["a"]
    _as(client, users, name)
    assert client.get(f"/clues/{clue.pk}/").status_code == 404
    verify = {"outcome": "not_eligible", "note": "不在本村"}
    assert client.post(f"/clues/{clue.pk}/verify/", verify).status_code == 404
    assert client.post(f"/clues/{clue.pk}/accept/").status_code == 404
    reveal = {"application": 1, "reason": "看看"}
    assert client.post(f"/clues/{clue.pk}/reveal-applicant/", reveal).status_code == 404
    clue.refresh_from_db()
    assert clue.status == ClueStatus.VERIFYING


@pytest.mark.parametrize(
    "outcome, label",
    [("not_eligible", "不符合条件"), ("unverifiable", "无法核实")],
)
def test_verify_with_an_outcome_that_closes_the_clue(client, users, listed, outcome, label):
    clue = listed[1]["a"]
    _as(client, users, "cadre_a")
    response = client.post(
        f"/clues/{clue.pk}/verify/", {"outcome": outcome, "note": "入户核实，家庭收入稳定"}
    )
    assert response.status_code == 302 and response["Location"] == f"/clues/{clue.pk}/"
    clue.refresh_from_db()
    assert (clue.status, clue.outcome, clue.closed_by) == ("closed", outcome, users["cadre_a"])
    page = _text(client.get(response["Location"]))
    assert f"核实结果已反馈：{label}" in page and "入户核实，家庭收入稳定" in page
    assert f"/clues/{clue.pk}/verify/" not in page  # closed: no form any more
    assert not Case.objects.exists()


def test_verify_identify_files_a_draft_case_and_goes_to_it(client, users, listed):
    clue = listed[1]["a"]
    _as(client, users, "cadre_a")
    response = client.post(
        f"/clues/{clue.pk}/verify/",
        {
            "outcome": "identify",
            "note": "住院花费大，属实",
            "category": "unstable",
            "risk_codes": ["01"],
        },
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    assert (case.household_id, case.status, case.category) == (
        clue.household_id,
        Status.DRAFT,
        "unstable",
    )
    assert case.channel == "department_warning" and case.risk_codes == ["01"]
    clue.refresh_from_db()
    assert (clue.outcome, clue.case_id) == ("identify", case.pk)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("已纳入监测" in m for m in messages)


def test_the_village_chooses_the_main_risk_on_the_verify_form(client, users, listed):
    clue = listed[1]["a"]
    _as(client, users, "cadre_a")
    form = _text(client.get(f"/clues/{clue.pk}/"))
    assert "主要风险" in form and 'name="main_risk"' in form
    data = {"outcome": "identify", "note": "住院花费大，属实", "category": "unstable"}
    outside = client.post(
        f"/clues/{clue.pk}/verify/", {**data, "risk_codes": ["01", "07"], "main_risk": "05"}
    )
    assert outside.status_code == 400 and "主要风险须是所选的风险类型之一" in _text(outside)
    bogus = client.post(f"/clues/{clue.pk}/verify/", {**data, "main_risk": "zz"})
    assert bogus.status_code == 400 and "请选择有效的选项" in _text(bogus)
    assert not Case.objects.exists()
    done = client.post(
        f"/clues/{clue.pk}/verify/", {**data, "risk_codes": ["01", "07"], "main_risk": "07"}
    )
    case = Case.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/cases/{case.pk}/"
    assert (case.risk_codes, case.main_risk) == (["01", "07"], "07")


def test_the_trail_shows_the_systems_automatic_dispatch(client, users, listed):
    clue = listed[1]["a"]
    text = _text(_as(client, users, "cadre_a").get(f"/clues/{clue.pk}/"))
    assert "流转记录" in text and "系统（自动下发）" in text and "按本县规则自动下发" in text


def test_verify_already_monitored_needs_an_open_case(client, users, listed):
    clue = listed[1]["a"]
    _as(client, users, "cadre_a")
    data = {"outcome": "already_monitored", "note": "已是监测户"}
    refused = client.post(f"/clues/{clue.pk}/verify/", data)
    assert refused.status_code == 400
    assert "该户没有在办的监测案例" in _text(refused)
    case = Case.objects.create(
        household=clue.household,
        category="unstable",
        channel="cadre_screening",
        found_on="2026-10-01",
        status="monitoring",
    )
    assert client.post(f"/clues/{clue.pk}/verify/", data).status_code == 302
    clue.refresh_from_db()
    assert (clue.outcome, clue.case_id) == ("already_monitored", case.pk)


def test_a_missing_note_is_a_chinese_field_error(client, users, listed):
    clue = listed[1]["a"]
    response = _as(client, users, "cadre_a").post(
        f"/clues/{clue.pk}/verify/", {"outcome": "not_eligible", "note": ""}
    )
    assert response.status_code == 400
    text = _text(response)
    assert "请填写核实说明" in text and "field invalid" in text
    # The cadre's choice comes back ticked.
    assert re.search(r'value="not_eligible"[^>]* checked', text)
    clue.refresh_from_db()
    assert clue.status == ClueStatus.VERIFYING


def test_identify_without_a_category_is_refused_beside_the_field(client, users, listed):
    clue = listed[1]["a"]
    response = _as(client, users, "cadre_a").post(
        f"/clues/{clue.pk}/verify/", {"outcome": "identify", "note": "属实"}
    )
    assert response.status_code == 400
    assert "纳入监测须选择监测对象类别" in _text(response)
    assert not Case.objects.exists()


def test_the_services_filing_rules_show_on_the_form(client, users, listed):
    # 边缘易致贫户 must be a 一般农户; household A is a 脱贫户.
    clue = listed[1]["a"]
    response = _as(client, users, "cadre_a").post(
        f"/clues/{clue.pk}/verify/", {"outcome": "identify", "note": "属实", "category": "marginal"}
    )
    assert response.status_code == 400
    assert "边缘易致贫户只能是一般农户" in _text(response)


def test_more_than_five_risk_types_is_a_field_error(client, users, listed):
    clue = listed[1]["a"]
    response = _as(client, users, "cadre_a").post(
        f"/clues/{clue.pk}/verify/",
        {
            "outcome": "identify",
            "note": "属实",
            "category": "unstable",
            "risk_codes": ["01", "03", "04", "05", "06", "09"],
        },
    )
    assert response.status_code == 400 and "风险类型最多选择 5 项" in _text(response)


def test_a_reviewer_posting_a_verification_is_refused_in_chinese(client, users, listed):
    clue = listed[1]["a"]
    response = _as(client, users, "reviewer_1").post(
        f"/clues/{clue.pk}/verify/", {"outcome": "not_eligible", "note": "乡镇代填"}
    )
    assert response.status_code == 400
    assert "预警线索由村干部入户核实并反馈" in _text(response)
    clue.refresh_from_db()
    assert clue.status == ClueStatus.VERIFYING


# --- self-applications: acceptance and the audited reveal ---------------------------------


def _apply(id_number, village=VILLAGE_A, **overrides):
    fields = {
        "name": "马福海",
        "phone": PHONE,
        "id_number": id_number,
        "difficulty": "妻子患病住院，医疗费用高",
        "village": village,
        "risk_type": "01",
    }
    fields.update(overrides)
    return self_application_submit(**fields)


@pytest.fixture
def applied(homes):
    application = _apply(homes["a"][1])
    return application.clue, application


def test_the_township_accepts_a_self_application_then_the_village_verifies(client, users, applied):
    clue, _ = applied
    assert clue.status == ClueStatus.PENDING_ACCEPTANCE
    cadre_view = _text(_as(client, users, "cadre_a").get(f"/clues/{clue.pk}/"))
    assert f"/clues/{clue.pk}/accept/" not in cadre_view
    assert f"/clues/{clue.pk}/verify/" not in cadre_view
    early = client.post(f"/clues/{clue.pk}/verify/", {"outcome": "not_eligible", "note": "先核"})
    assert early.status_code == 400 and "线索当前为「待乡镇受理」" in _text(early)
    refused = client.post(f"/clues/{clue.pk}/accept/")
    assert refused.status_code == 400 and "农户自主申报由乡镇受理" in _text(refused)

    _as(client, users, "reviewer_1")
    page = _text(client.get(f"/clues/{clue.pk}/"))
    assert f'action="/clues/{clue.pk}/accept/"' in page
    accepted = client.post(f"/clues/{clue.pk}/accept/")
    assert accepted.status_code == 302 and accepted["Location"] == f"/clues/{clue.pk}/"
    clue.refresh_from_db()
    assert clue.status == ClueStatus.VERIFYING
    assert "已受理" in _text(client.get(accepted["Location"]))
    again = client.post(f"/clues/{clue.pk}/accept/")
    assert again.status_code == 400 and "无需受理" in _text(again)

    _as(client, users, "cadre_a")
    assert f"/clues/{clue.pk}/verify/" in _text(client.get(f"/clues/{clue.pk}/"))
    done = client.post(
        f"/clues/{clue.pk}/verify/",
        {"outcome": "identify", "note": "属实", "category": "unstable"},
    )
    case = Case.objects.get()
    assert done["Location"] == f"/cases/{case.pk}/"
    assert case.channel == "self_application" and case.risk_codes == ["01"]


def test_another_township_cannot_accept(client, users, applied):
    clue, _ = applied
    assert _as(client, users, "reviewer_2").post(f"/clues/{clue.pk}/accept/").status_code == 404
    clue.refresh_from_db()
    assert clue.status == ClueStatus.PENDING_ACCEPTANCE


def test_the_application_shows_masked_numbers_only(client, users, applied, homes):
    clue, application = applied
    text = _text(_as(client, users, "reviewer_1").get(f"/clues/{clue.pk}/"))
    assert "139****5678" in text and application.id_number_masked in text
    assert PHONE not in text and homes["a"][1] not in text
    assert "查看完整手机号" in text and "妻子患病住院" in text


def test_the_reveal_asks_a_reason_and_writes_an_audit_row(client, users, applied):
    clue, application = applied
    _as(client, users, "reviewer_1")
    url = f"/clues/{clue.pk}/reveal-applicant/"
    missing = client.post(url, {"application": application.pk, "reason": ""})
    assert missing.status_code == 400 and "请填写查看事由" in _text(missing)
    assert PHONE not in _text(missing)
    assert not AuditEvent.objects.filter(action="reveal_pii").exists()

    shown = client.post(url, {"application": application.pk, "reason": "电话联系申报人"})
    assert shown.status_code == 200
    assert PHONE in _text(shown) and "<html" in _text(shown)  # the whole page, no JavaScript
    event = AuditEvent.objects.get(action="reveal_pii")
    assert (event.reason, event.actor) == ("电话联系申报人", users["reviewer_1"])


def test_the_reveal_answers_htmx_with_the_number_in_place(client, users, applied):
    clue, application = applied
    _as(client, users, "cadre_a")
    response = client.post(
        f"/clues/{clue.pk}/reveal-applicant/",
        {"application": application.pk, "reason": "约定入户时间"},
        HTTP_HX_REQUEST="true",
    )
    text = _text(response)
    assert response.status_code == 200 and PHONE in text
    assert "<html" not in text and "已记入审计日志" in text
    error = client.post(
        f"/clues/{clue.pk}/reveal-applicant/",
        {"application": application.pk, "reason": ""},
        HTTP_HX_REQUEST="true",
    )
    assert error.status_code == 400 and "<html" not in _text(error)
    assert "请填写查看事由" in _text(error)
    assert AuditEvent.objects.filter(action="reveal_pii").count() == 1


def test_the_reveal_form_posts_with_htmx_and_without(client, users, applied):
    clue, application = applied
    text = _text(_as(client, users, "reviewer_1").get(f"/clues/{clue.pk}/"))
    url = f"/clues/{clue.pk}/reveal-applicant/"
    assert f'hx-post="{url}"' in text and f'action="{url}"' in text
    assert (
        f'hx-target="#reveal-{application.pk}"' in text and f'id="reveal-{application.pk}"' in text
    )


def test_an_application_of_another_clue_is_404(client, users, applied, homes):
    clue, _ = applied
    other = _apply(homes["b"][1], village=VILLAGE_B)
    response = _as(client, users, "reviewer_1").post(
        f"/clues/{clue.pk}/reveal-applicant/", {"application": other.pk, "reason": "看看"}
    )
    assert response.status_code == 404
    bad = client.post(f"/clues/{clue.pk}/reveal-applicant/", {"application": "x", "reason": "看"})
    assert bad.status_code == 404
    assert not AuditEvent.objects.filter(action="reveal_pii").exists()


def test_an_unregistered_applicant_is_linked_to_the_household_the_village_chose(
    client, users, homes
):
    outsider = make_id_number(sequence=900)
    clue = _apply(outsider, name="韩新来").clue
    assert clue.household is None
    _as(client, users, "reviewer_1").post(f"/clues/{clue.pk}/accept/")
    _as(client, users, "cadre_a")
    page = _text(client.get(f"/clues/{clue.pk}/"))
    assert "尚未登记为农户" in page and "韩新来" in page
    # The select offers the village's households, with their heads.
    assert homes["a"][0].number in page and "王大山" in page
    assert homes["b"][0].number not in page
    refused = client.post(
        f"/clues/{clue.pk}/verify/",
        {"outcome": "identify", "note": "属实", "category": "unstable"},
    )
    assert refused.status_code == 400 and "申报人尚未登记为农户" in _text(refused)
    # A household of another village is not a choice.
    wrong = client.post(
        f"/clues/{clue.pk}/verify/",
        {
            "outcome": "identify",
            "note": "属实",
            "category": "sudden",
            "household": homes["b"][0].pk,
        },
    )
    assert wrong.status_code == 400 and "请选择有效的选项" in _text(wrong)
    household = homes["a"][0]
    done = client.post(
        f"/clues/{clue.pk}/verify/",
        {
            "outcome": "identify",
            "note": "已登记入户",
            "category": "sudden",
            "household": household.pk,
        },
    )
    assert done.status_code == 302
    clue.refresh_from_db()
    assert clue.household == household and clue.case.household == household


# --- department batches --------------------------------------------------------------------


@pytest.fixture
def other_county_list(homes):
    department = _department("邻县医保局", "linxian", region=OTHER_COUNTY)
    rows = [{"姓名": "钱七宝", "身份证号": homes["other"][1], "预警类型": "住院"}]
    return _push(department, "other-1", rows)


def test_batches_are_for_township_and_county_staff_only(client, users, listed):
    batch = listed[0]
    for name in ("cadre_a", "department", "auditor", "admin"):
        client.force_login(users[name])
        assert client.get("/batches/").status_code == 403, name
        assert client.get(f"/batches/{batch.pk}/").status_code == 403, name
    for name in ("reviewer_1", "reviewer_2", "approver"):
        client.force_login(users[name])
        assert batch.batch_key in _text(client.get("/batches/")), name
        assert client.get(f"/batches/{batch.pk}/").status_code == 200, name


def test_the_list_of_another_county_is_not_shown(client, users, listed, other_county_list):
    _as(client, users, "approver")
    text = _text(client.get("/batches/"))
    assert listed[0].batch_key in text and other_county_list.batch_key not in text
    assert client.get(f"/batches/{other_county_list.pk}/").status_code == 404
    _as(client, users, "approver_other")
    assert client.get(f"/batches/{listed[0].pk}/").status_code == 404
    assert other_county_list.batch_key in _text(client.get("/batches/"))


def test_the_batch_list_shows_the_department_and_counts(client, users, listed):
    text = _text(_as(client, users, "reviewer_1").get("/batches/"))
    assert "县医保局" in text and "2026-10" in text and "已处理" in text
    batch = listed[0]
    assert (batch.rows_total, batch.rows_new_clue, batch.rows_not_found, batch.rows_invalid) == (
        6,
        3,
        2,
        1,
    )
    for value in ('<td class="num">6</td>', '<td class="num">3</td>'):
        assert value in text


def test_screening_runs_show_where_they_overlap_the_region(client, users, regions):
    township_run = screening_queue(scope_prefix="630121100")
    county_run = screening_queue(scope_prefix="630121")
    everything = screening_queue(scope_prefix="")
    other_run = screening_queue(scope_prefix="630122")
    expected = {
        "reviewer_1": {township_run, county_run, everything},
        "reviewer_2": {county_run, everything},
        "approver": {township_run, county_run, everything},
        "approver_other": {everything, other_run},
    }
    for name, runs in expected.items():
        client.force_login(users[name])
        text = _text(client.get("/batches/"))
        shown = {
            run
            for run in (township_run, county_run, everything, other_run)
            if run.batch_key in text
        }
        assert shown == runs, name


def test_the_receipt_shows_masked_numbers_and_hides_other_regions_households(
    client, users, homes, listed
):
    batch = listed[0]
    response = _as(client, users, "reviewer_1").get(f"/batches/{batch.pk}/")
    text = _text(response)
    for home in homes.values():
        assert home[1] not in text  # never a full ID number
    assert homes["a"][0].number in text and homes["b"][0].number in text
    assert homes["c"][0].number not in text and homes["other"][0].number not in text
    assert "王大山" in text and "李四海" in text
    assert "赵六安" not in text  # matched outside the township
    # Matched nobody (钱七宝 is registered next door, outside the department's county): the
    # county follows them up.
    assert "孙无名" in text and "钱七宝" in text
    assert "630121********" in text and "Excel" in text
    approver = _text(_as(client, users, "approver").get(f"/batches/{batch.pk}/"))
    assert homes["c"][0].number in approver and "赵六安" in approver
    assert homes["other"][0].number not in approver


def test_the_receipt_filters_by_outcome(client, users, listed):
    batch = listed[0]
    _as(client, users, "approver")
    not_found = _text(client.get(f"/batches/{batch.pk}/", {"outcome": "not_found"}))
    assert "孙无名" in not_found and "王大山" not in not_found and "共 2 行" in not_found
    bad = client.get(f"/batches/{batch.pk}/", {"outcome": "nonsense"})
    assert bad.status_code == 200 and "请选择有效的处理结果" in _text(bad)
    assert "共 6 行" in _text(bad)


def test_the_receipt_is_paginated_by_50(client, users, medical):
    rows = [
        {"姓名": f"无名{i}", "身份证号": make_id_number(sequence=2 * i), "预警类型": "住院"}
        for i in range(1, 61)
    ]
    batch = _push(medical, "sixty", rows)
    _as(client, users, "approver")
    first = _text(client.get(f"/batches/{batch.pk}/"))
    assert "共 60 行" in first and "第 1 / 2 页" in first and "无名50<" in first
    assert "无名51<" not in first
    second = _text(client.get(f"/batches/{batch.pk}/", {"page": 2, "outcome": "not_found"}))
    assert "无名51<" in second and "outcome=not_found" in second


# The count and the page of batches.
BATCH_LIST_QUERIES = PER_REQUEST + 2
# The batch, the count of its rows, the page of rows.
RECEIPT_QUERIES = PER_REQUEST + 3


@pytest.mark.parametrize("count", [2, 10])
def test_batch_pages_run_a_fixed_number_of_queries(
    client, users, medical, count, django_assert_num_queries
):
    for index in range(count):
        rows = [
            {"姓名": f"某{n}", "身份证号": make_id_number(sequence=2 * n), "预警类型": "住院"}
            for n in range(index * 10, index * 10 + count)
        ]
        batch = _push(medical, f"b{index}", rows)
    _as(client, users, "reviewer_1")
    with django_assert_num_queries(BATCH_LIST_QUERIES):
        listing = client.get("/batches/")
    assert f"共 {count} 批" in _text(listing)
    with django_assert_num_queries(RECEIPT_QUERIES):
        receipt = client.get(f"/batches/{batch.pk}/")
    assert f"共 {count} 行" in _text(receipt)


def test_batch_reads_never_load_the_stored_upload(client, users, listed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _as(client, users, "approver")
    with CaptureQueriesContext(connection) as captured:
        client.get("/batches/")
        client.get(f"/batches/{listed[0].pk}/")
        client.get(f"/clues/{listed[1]['a'].pk}/")
        client.get("/clues/")
    assert not any('"payload"' in q["sql"] or "payload" in q["sql"] for q in captured)
