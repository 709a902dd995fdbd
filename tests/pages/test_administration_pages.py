"""管理 pages: departments and their API keys, screening thresholds and monitoring lines —
who may open them, what they write (through the services, with audit rows), keys shown
once, errors beside their fields, out-of-region records as 404, and pinned query counts."""

import hashlib
import json
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models.query import QuerySet
from rest_framework.test import APIClient

from accounts.choices import AuditAction, Role
from accounts.models import ApiToken, AuditEvent
from accounts.policy import PolicyDenied
from households.models import MonitoringLine
from households.services import monitoring_line_save, yearly_record_save
from monitor import administration
from monitor.models import Department, ScreeningThreshold
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, OTHER_COUNTY, TOWNSHIP_1

pytestmark = pytest.mark.django_db

PROVINCE = "630000000000"
CITY = "630100000000"
RAW_KEY = re.compile(r"fp_[A-Za-z0-9_\-]{20,}")

PAGES = [
    "/manage/",
    "/manage/departments/",
    "/manage/thresholds/",
    "/manage/lines/",
]


def _as(client, users, name):
    client.force_login(users[name])
    return client


def _department(users, region=COUNTY, kind=DepartmentKind.MEDICAL_INSURANCE, name="县医保局"):
    department = administration.department_create(
        by=users["admin"], name=name, kind=kind, region=_region(region)
    )
    # 双人复核: what the administrator grants, the county approver confirms.
    administration.department_account_confirm(by=_county(users, department), department=department)
    return department


def _county(users, department):
    return users["approver" if department.region_id == COUNTY else "approver_other"]


def _region(code):
    from households.models import Region

    return Region.objects.get(pk=code)


def _issue(users, department, name="推送"):
    token, raw = administration.department_key_issue(
        by=users["admin"], department=department, name=name
    )
    administration.department_key_confirm(
        by=_county(users, department), department=department, token=token
    )
    return token, raw


def _audit_text(event: AuditEvent) -> str:
    return json.dumps(
        [event.object_type, event.object_id, event.object_label, event.reason, event.detail],
        ensure_ascii=False,
    )


# --- who may open the pages -----------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_a_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("name", ["cadre_a", "reviewer_1", "department", "auditor"])
def test_roles_without_administration_duties_get_a_403_with_the_reason(client, users, name, url):
    response = _as(client, users, name).get(url)
    assert response.status_code == 403
    text = response.content.decode()
    assert "县级审定人" in text and "系统管理员" in text


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("name", ["approver", "admin"])
def test_county_approvers_and_administrators_open_the_pages(client, users, name, url):
    response = _as(client, users, name).get(url)
    assert response.status_code == 200
    assert "管理" in response.content.decode()


def test_the_overview_counts_what_the_user_manages(client, users):
    _department(users)
    _department(users, region=OTHER_COUNTY, name="湟中区医保局")
    ScreeningThreshold.objects.create(
        region_id=COUNTY, year=2026, medical_expense_over=Decimal("10000")
    )
    text = _as(client, users, "approver").get("/manage/").content.decode()
    assert "/manage/departments/" in text and "/manage/thresholds/" in text
    assert '<div class="value">1</div><div class="label">个部门</div>' in text
    admin_text = _as(client, users, "admin").get("/manage/").content.decode()
    assert '<div class="value">2</div><div class="label">个部门</div>' in admin_text


# --- departments ----------------------------------------------------------------------


def test_an_approver_creates_a_department_with_its_machine_account(client, users):
    response = _as(client, users, "approver").post(
        "/manage/departments/",
        {"name": " 大通县医疗保障局 ", "kind": DepartmentKind.MEDICAL_INSURANCE, "region": COUNTY},
    )
    department = Department.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/manage/departments/{department.pk}/"
    assert department.name == "大通县医疗保障局" and department.region_id == COUNTY
    account = department.account
    assert account.role == Role.DEPARTMENT
    assert account.username == "dept-medical-insurance-1"
    assert not account.has_usable_password()
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_type="monitor.department")
    assert event.actor == users["approver"] and event.object_id == str(department.pk)
    page = client.get(response["Location"]).content.decode()
    assert "dept-medical-insurance-1" in page and "已新增行业部门" in page


def test_a_second_department_of_a_kind_gets_the_next_account_name(users):
    first = _department(users)
    second = _department(users, name="县医保中心")
    civil = _department(users, kind=DepartmentKind.CIVIL_AFFAIRS, name="县民政局")
    assert first.account.username == "dept-medical-insurance-1"
    assert second.account.username == "dept-medical-insurance-2"
    assert civil.account.username == "dept-civil-affairs-1"


def test_the_region_select_offers_only_the_approvers_county(client, users):
    text = _as(client, users, "approver").get("/manage/departments/").content.decode()
    assert f'value="{COUNTY}"' in text
    assert f'value="{OTHER_COUNTY}"' not in text and f'value="{CITY}"' not in text
    admin_text = _as(client, users, "admin").get("/manage/departments/").content.decode()
    assert f'value="{OTHER_COUNTY}"' in admin_text and f'value="{CITY}"' in admin_text
    assert f'value="{TOWNSHIP_1}"' not in admin_text


def test_a_department_outside_the_county_is_refused_beside_the_region(client, users):
    response = _as(client, users, "approver").post(
        "/manage/departments/",
        {"name": "湟中区医保局", "kind": DepartmentKind.MEDICAL_INSURANCE, "region": OTHER_COUNTY},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "请选择您管辖范围内的区划" in text and 'class="field invalid"' in text
    assert not Department.objects.exists()


def test_missing_department_fields_are_chinese_field_errors(client, users):
    response = _as(client, users, "approver").post(
        "/manage/departments/", {"name": "", "kind": "", "region": ""}
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "请填写部门名称" in text and "请选择部门类型" in text and "请选择区划" in text


def test_the_services_ask_the_policy_with_the_unsaved_department(users):
    with pytest.raises(PolicyDenied) as outside:
        administration.department_create(
            by=users["approver"],
            name="湟中区医保局",
            kind=DepartmentKind.MEDICAL_INSURANCE,
            region=_region(OTHER_COUNTY),
        )
    assert outside.value.http_status == 404
    with pytest.raises(PolicyDenied) as wrong_role:
        administration.department_create(
            by=users["department"],
            name="县医保局",
            kind=DepartmentKind.MEDICAL_INSURANCE,
            region=_region(COUNTY),
        )
    assert wrong_role.value.http_status == 403
    assert not Department.objects.exists()


def test_editing_a_department_changes_its_name_and_switch(client, users):
    department = _department(users)
    response = _as(client, users, "approver").post(
        f"/manage/departments/{department.pk}/", {"name": "大通县医保局"}
    )
    assert response.status_code == 302
    department.refresh_from_db()
    assert department.name == "大通县医保局" and department.active is False
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE).get()
    assert event.detail == {"fields": ["active", "name"]}
    refused = client.post(f"/manage/departments/{department.pk}/keys/", {"name": "推送"})
    assert refused.status_code == 400
    assert "已停用" in refused.content.decode()
    assert not ApiToken.objects.exists()


def test_an_empty_department_name_is_an_error_beside_the_field(client, users):
    department = _department(users)
    response = _as(client, users, "approver").post(
        f"/manage/departments/{department.pk}/", {"name": "  ", "active": "on"}
    )
    assert response.status_code == 400
    assert "请填写部门名称" in response.content.decode()
    department.refresh_from_db()
    assert department.name == "县医保局"


def test_the_key_is_shown_once_and_only_its_hash_is_stored(client, users):
    department = _department(users)
    response = _as(client, users, "approver").post(
        f"/manage/departments/{department.pk}/keys/", {"name": "医保系统每月推送"}
    )
    assert response.status_code == 200
    text = response.content.decode()
    raw = RAW_KEY.search(text).group(0)
    assert "只显示这一次" in text
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert token.user == department.account and token.name == "医保系统每月推送"
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.prefix, token.name, token.key_hash)
    assert raw.startswith(token.prefix)
    # Never again: the department page lists the key by its prefix only.
    again = client.get(f"/manage/departments/{department.pk}/").content.decode()
    assert raw not in again and f"{token.prefix}…" in again
    assert RAW_KEY.search(again) is None
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_ISSUED)
    assert event.actor == users["approver"] and event.object_id == str(token.pk)
    assert raw not in _audit_text(event)


def test_an_empty_key_name_is_an_error_and_issues_nothing(client, users):
    department = _department(users)
    response = _as(client, users, "approver").post(
        f"/manage/departments/{department.pk}/keys/", {"name": ""}
    )
    assert response.status_code == 400
    assert "请填写密钥用途" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_issuing_a_key_is_a_post(client, users):
    department = _department(users)
    response = _as(client, users, "approver").get(f"/manage/departments/{department.pk}/keys/")
    assert response.status_code == 405


def test_a_revoked_key_no_longer_authenticates(client, users):
    department = _department(users)
    token, raw = _issue(users, department)
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert machine.get("/api/feeds/batches/").status_code == 200

    url = f"/manage/departments/{department.pk}/keys/{token.pk}/revoke/"
    confirm = _as(client, users, "approver").get(url)
    assert confirm.status_code == 200 and "确认吊销" in confirm.content.decode()
    assert ApiToken.objects.active().count() == 1  # asking is not revoking
    response = client.post(url)
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    refused = machine.get("/api/feeds/batches/")
    assert refused.status_code == 401
    assert "已吊销" in refused.json()["detail"]
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED)
    assert event.actor == users["approver"] and raw not in _audit_text(event)
    again = client.post(url)
    assert again.status_code == 400 and "已吊销" in again.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED).count() == 1


def test_the_department_list_shows_active_keys_and_last_use(client, users):
    department = _department(users)
    token, _ = _issue(users, department)
    _issue(users, department, name="备用")
    revoked, _ = _issue(users, department, name="旧系统")
    revoked.revoke()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at="2026-11-22T09:30:00+08:00")
    listed = administration.departments_managed_by(users["approver"]).get()
    assert listed.active_keys == 2
    text = _as(client, users, "approver").get("/manage/departments/").content.decode()
    assert "县医保局" in text and "2026年11月22日 09:30" in text
    assert '<td class="num">2</td>' in text


def test_a_department_outside_the_region_is_a_404_on_its_page_and_every_post(client, users):
    department = _department(users, region=OTHER_COUNTY, name="湟中区医保局")
    token, _ = _issue(users, department)
    client = _as(client, users, "approver")
    base = f"/manage/departments/{department.pk}/"
    revoke = f"{base}keys/{token.pk}/revoke/"
    assert client.get(base).status_code == 404
    assert client.post(base, {"name": "改名", "active": "on"}).status_code == 404
    assert client.post(f"{base}keys/", {"name": "偷签"}).status_code == 404
    assert client.get(revoke).status_code == 404
    assert client.post(revoke).status_code == 404
    department.refresh_from_db()
    token.refresh_from_db()
    assert department.name == "湟中区医保局" and token.revoked_at is None
    assert ApiToken.objects.count() == 1
    listed = client.get("/manage/departments/").content.decode()
    assert "湟中区医保局" not in listed
    assert (
        "湟中区医保局" in _as(client, users, "admin").get("/manage/departments/").content.decode()
    )


def test_a_key_of_another_department_is_a_404_under_this_one(client, users):
    mine = _department(users)
    theirs = _department(users, region=OTHER_COUNTY, name="湟中区医保局")
    token, _ = _issue(users, theirs)
    url = f"/manage/departments/{mine.pk}/keys/{token.pk}/revoke/"
    assert _as(client, users, "approver").post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


# --- screening thresholds and monitoring lines -----------------------------------------

KINDS = {
    "threshold": {
        "url": "/manage/thresholds/",
        "model": ScreeningThreshold,
        "amount": "medical_expense_over",
        "extra": {},
        "what": "筛查阈值",
    },
    "line": {
        "url": "/manage/lines/",
        "model": MonitoringLine,
        "amount": "amount",
        "extra": {"source": "青农振〔2026〕12号"},
        "what": "监测范围",
    },
}


def _record(kind, region=COUNTY, year=2026, amount="10000"):
    spec = KINDS[kind]
    return spec["model"].objects.create(
        region_id=region, year=year, **{spec["amount"]: Decimal(amount)}
    )


def _form(kind, region=COUNTY, year=2026, amount="10000"):
    spec = KINDS[kind]
    return {"region": region, "year": year, spec["amount"]: amount, **spec["extra"]}


@pytest.mark.parametrize("kind", KINDS)
def test_an_approver_creates_changes_and_deletes_a_record_of_the_county(client, users, kind):
    spec = KINDS[kind]
    client = _as(client, users, "approver")
    created = client.post(spec["url"], _form(kind, amount="12,000.50".replace(",", "")))
    assert created.status_code == 302 and created["Location"] == spec["url"]
    record = spec["model"].objects.get()
    assert getattr(record, spec["amount"]) == Decimal("12000.50")
    listed = client.get(spec["url"]).content.decode()
    assert "12,000.50 元" in listed and "已新增" in listed

    edit_url = f"{spec['url']}{record.pk}/"
    form_page = client.get(edit_url)
    assert form_page.status_code == 200 and 'value="12000.50"' in form_page.content.decode()
    changed = client.post(edit_url, _form(kind, year=2027, amount="13000"))
    assert changed.status_code == 302
    record.refresh_from_db()
    assert record.year == 2027 and getattr(record, spec["amount"]) == Decimal("13000")

    delete_url = f"{spec['url']}{record.pk}/delete/"
    confirm = client.get(delete_url)
    assert confirm.status_code == 200 and "确认删除" in confirm.content.decode()
    assert spec["model"].objects.exists()
    deleted = client.post(delete_url)
    assert deleted.status_code == 302 and not spec["model"].objects.exists()

    actions = list(
        AuditEvent.objects.filter(object_type=spec["model"]._meta.label_lower)
        .order_by("id")
        .values_list("action", "actor_name", "object_id")
    )
    assert actions == [
        (AuditAction.CREATE, "approver", str(record.pk)),
        (AuditAction.UPDATE, "approver", str(record.pk)),
        (AuditAction.DELETE, "approver", str(record.pk)),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_record_for_the_same_region_and_year_is_a_field_error(client, users, kind):
    spec = KINDS[kind]
    _record(kind)
    response = _as(client, users, "approver").post(spec["url"], _form(kind, amount="9000"))
    assert response.status_code == 400
    text = response.content.decode()
    assert f"2026 年度已有{spec['what']}，请修改原有记录" in text
    assert 'id="id_year-errors"' in text
    assert spec["model"].objects.count() == 1


@pytest.mark.parametrize("kind", KINDS)
def test_changing_a_record_onto_another_ones_region_and_year_is_a_field_error(client, users, kind):
    spec = KINDS[kind]
    _record(kind, year=2025)
    record = _record(kind, year=2026)
    response = _as(client, users, "approver").post(
        f"{spec['url']}{record.pk}/", _form(kind, year=2025)
    )
    assert response.status_code == 400
    assert "2025 年度已有" in response.content.decode()
    record.refresh_from_db()
    assert record.year == 2026


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("amount", ["0", "-5", "0.00"])
def test_amounts_must_be_above_zero(client, users, kind, amount):
    spec = KINDS[kind]
    response = _as(client, users, "approver").post(spec["url"], _form(kind, amount=amount))
    assert response.status_code == 400
    text = response.content.decode()
    assert "必须大于 0 元" in text
    assert f'id="id_{spec["amount"]}-errors"' in text
    assert not spec["model"].objects.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_input_is_a_chinese_error_not_a_500(client, users, kind):
    spec = KINDS[kind]
    response = _as(client, users, "approver").post(
        spec["url"], {"region": "", "year": "二〇二六", spec["amount"]: "很多"}
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "请选择区划" in text and "年度应为四位数字" in text and "请填写数字金额" in text


@pytest.mark.parametrize("kind", KINDS)
def test_a_record_outside_the_region_is_a_404_on_its_page_and_every_post(client, users, kind):
    spec = KINDS[kind]
    theirs = _record(kind, region=OTHER_COUNTY)
    province = _record(kind, region=PROVINCE)
    client = _as(client, users, "approver")
    for record in (theirs, province):
        base = f"{spec['url']}{record.pk}/"
        assert client.get(base).status_code == 404
        assert client.post(base, _form(kind)).status_code == 404
        assert client.get(f"{base}delete/").status_code == 404
        assert client.post(f"{base}delete/").status_code == 404
    assert spec["model"].objects.count() == 2
    assert not AuditEvent.objects.filter(object_type=spec["model"]._meta.label_lower).exists()
    listed = client.get(spec["url"]).content.decode()
    assert "湟中区" not in listed and "青海省" not in listed
    admin_list = _as(client, users, "admin").get(spec["url"]).content.decode()
    assert "湟中区" in admin_list and "青海省" in admin_list


@pytest.mark.parametrize("kind", KINDS)
def test_the_administrator_sets_records_for_the_province(client, users, kind):
    spec = KINDS[kind]
    response = _as(client, users, "admin").post(spec["url"], _form(kind, region=PROVINCE))
    assert response.status_code == 302
    assert spec["model"].objects.get().region_id == PROVINCE


def test_two_people_saving_the_same_region_and_year_at_once_get_the_field_error(users, monkeypatch):
    """The check before the write can miss a concurrent insert; the constraint answers
    it, as the same field error, and leaves the transaction usable."""
    _record("line")
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)
    duplicate = MonitoringLine(region=_region(COUNTY), year=2026, amount=Decimal("1"))
    with pytest.raises(ValidationError) as raised:
        yearly_record_save(duplicate, what="监测范围")
    assert raised.value.message_dict == {
        "year": ["大通回族土族自治县 2026 年度已有监测范围，请修改原有记录"]
    }
    monkeypatch.undo()
    assert MonitoringLine.objects.count() == 1


def test_saving_leaves_the_record_passed_in_as_it_was_when_refused(users):
    line = _record("line", year=2026)
    _record("line", year=2025)
    with pytest.raises(ValidationError):
        monitoring_line_save(
            by=users["approver"], line=line, region=line.region, year=2025, amount=Decimal("1")
        )
    assert line.year == 2026 and line.amount == Decimal("10000")


# --- the monitoring-line API agrees with the pages -------------------------------------


def test_the_api_reads_lines_for_every_role_but_the_auditor(api, users):
    _record("line", region=PROVINCE)
    for name in ("cadre_a", "department", "admin"):
        response = api(name).get("/api/monitoring-lines/")
        assert response.status_code == 200
        assert response.json()["results"][0]["region"] == PROVINCE
    # 三权分立 (issue 11): the auditor reads the audit log and nothing else.
    assert api("auditor").get("/api/monitoring-lines/").status_code == 403


def test_the_api_lets_county_approvers_keep_their_own_countys_lines(api, users):
    client = api("approver")
    created = client.post(
        "/api/monitoring-lines/",
        {"region": COUNTY, "year": 2026, "amount": "7300", "source": "大政〔2026〕1号"},
        format="json",
    )
    assert created.status_code == 201, created.content
    line_id = created.json()["id"]
    changed = client.patch(f"/api/monitoring-lines/{line_id}/", {"amount": "7400"}, format="json")
    assert changed.status_code == 200 and changed.json()["amount"] == "7400.00"
    line = MonitoringLine.objects.get()
    assert line.year == 2026 and line.source == "大政〔2026〕1号"
    assert client.delete(f"/api/monitoring-lines/{line_id}/").status_code == 204
    assert list(
        AuditEvent.objects.filter(object_type="households.monitoringline")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [AuditAction.CREATE, AuditAction.UPDATE, AuditAction.DELETE]


def test_the_api_answers_other_countys_and_the_provinces_lines_with_404(api, users):
    client = api("approver")
    outside = client.post(
        "/api/monitoring-lines/",
        {"region": OTHER_COUNTY, "year": 2026, "amount": "7300"},
        format="json",
    )
    assert outside.status_code == 404
    province = _record("line", region=PROVINCE, amount="7000")
    assert (
        client.patch(f"/api/monitoring-lines/{province.pk}/", {"amount": "1"}, format="json")
    ).status_code == 404
    assert client.delete(f"/api/monitoring-lines/{province.pk}/").status_code == 404
    moved = _record("line", region=COUNTY)
    away = client.patch(
        f"/api/monitoring-lines/{moved.pk}/", {"region": OTHER_COUNTY}, format="json"
    )
    assert away.status_code == 404
    assert MonitoringLine.objects.get(pk=moved.pk).region_id == COUNTY
    assert MonitoringLine.objects.get(pk=province.pk).amount == Decimal("7000")


@pytest.mark.parametrize("name", ["cadre_a", "reviewer_1", "department", "auditor"])
def test_the_api_refuses_line_writes_to_other_roles_with_the_policys_reason(api, users, name):
    line = _record("line")
    client = api(name)
    created = client.post(
        "/api/monitoring-lines/", {"region": COUNTY, "year": 2027, "amount": "1"}, format="json"
    )
    assert created.status_code == 403
    assert "县级审定人" in created.json()["detail"]
    assert client.delete(f"/api/monitoring-lines/{line.pk}/").status_code == 403
    assert MonitoringLine.objects.count() == 1


def test_the_api_answers_a_duplicate_line_on_the_year_in_chinese(api, users):
    _record("line", region=PROVINCE)
    response = api("admin").post(
        "/api/monitoring-lines/", {"region": PROVINCE, "year": 2026, "amount": "1"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["year"] == ["青海省 2026 年度已有监测范围，请修改原有记录"]


# --- query counts ------------------------------------------------------------------------


def _departments(users, count):
    for number in range(Department.objects.count(), count):
        department = _department(users, name=f"部门{number}")
        _issue(users, department)


def _records(kind, count):
    existing = KINDS[kind]["model"].objects.count()
    for year in range(2000 + existing, 2000 + count):
        _record(kind, year=year)


@pytest.mark.parametrize("name", ["approver", "admin"])
def test_list_pages_take_the_same_queries_for_2_or_10_rows(
    client, users, name, django_assert_num_queries
):
    # Session, user (with the region of the top bar), the rows and the region select (the
    # session is not saved: signed in within the minute, config/sessions.py); the yearly
    # lists also count their rows for the pager.
    client = _as(client, users, name)
    expected = {
        "/manage/departments/": (lambda n: _departments(users, n), 4),
        "/manage/thresholds/": (lambda n: _records("threshold", n), 5),
        "/manage/lines/": (lambda n: _records("line", n), 5),
    }
    for url, (make, queries) in expected.items():
        for rows in (2, 10):
            make(rows)
            with django_assert_num_queries(queries):
                response = client.get(url)
            assert response.status_code == 200


def test_the_overview_takes_a_fixed_number_of_queries(client, users, django_assert_num_queries):
    _departments(users, 3)
    client = _as(client, users, "approver")
    # Session, user with region, five counts (departments, thresholds, lines, local rules,
    # anti-poverty insurance); the session is not saved (config/sessions.py).
    with django_assert_num_queries(7):
        assert client.get("/manage/").status_code == 200
