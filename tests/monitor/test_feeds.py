"""Department warning lists: intake, receipts, matching, merging and verification."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import ApiToken, User
from households.importing import registry_import
from households.models import Household, Member
from monitor.choices import ClueStatus, RowOutcome
from monitor.models import Case, Clue, Department, WarningBatch, WarningRow
from monitor.models.feeds import DepartmentKind
from tests.conftest import COUNTY, sample_path
from tests.factories import make_id_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def _department(name, kind, username):
    account = User.objects.create_user(username=username, password="x", role=Role.DEPARTMENT)
    department = Department.objects.create(name=name, kind=kind, region_id=COUNTY, account=account)
    _, raw = ApiToken.issue(user=account, name="推送")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return department, client


@pytest.fixture
def registry(regions):
    for name in ("registry_households.csv", "registry_members.csv"):
        registry_import(data=sample_path(name).read_bytes(), filename=name, scope_prefix=None)


@pytest.fixture
def medical(regions):
    return _department("县医保局", DepartmentKind.MEDICAL_INSURANCE, "yibao")


@pytest.fixture
def civil(regions):
    return _department("县民政局", DepartmentKind.CIVIL_AFFAIRS, "minzheng")


def _push_file(client, path_or_bytes, key, name=None, capture=None):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return client.post(
        "/api/feeds/batches/",
        {
            "batch_key": key,
            "file": SimpleUploadedFile(name or getattr(path_or_bytes, "name", "list.csv"), data),
        },
        format="multipart",
    )


def _member_ids(count, offset=0):
    """ID numbers of registered members, read back through the sample file."""
    lines = sample_path("registry_members.csv").read_text("utf-8").splitlines()[1:]
    return [line.split(",")[2] for line in lines[offset : offset + count]]


def test_the_civil_affairs_gbk_sample_is_received_matched_and_receipted(
    registry, civil, django_capture_on_commit_callbacks
):
    _, client = civil
    with django_capture_on_commit_callbacks(execute=True):
        response = _push_file(client, sample_path("warnings_civil_affairs_gbk.csv"), "2026-10")
    assert response.status_code == 202, response.content
    batch = WarningBatch.objects.get(pk=response.json()["id"])
    assert batch.status == "done"
    receipt = client.get(f"/api/feeds/batches/{batch.pk}/").json()
    assert receipt["rows_total"] == 60
    matched = receipt["rows_new_clue"] + receipt["rows_merged"] + receipt["rows_attached"]
    assert (
        matched + receipt["rows_not_found"] + receipt["rows_invalid"] + receipt["rows_duplicate"]
        == 60
    )
    assert matched > 0 and receipt["rows_not_found"] > 0
    # One clue per matched household, each with its evidence.
    households = set(
        WarningRow.objects.filter(batch=batch, clue__isnull=False).values_list(
            "household_id", flat=True
        )
    )
    assert Clue.objects.count() == len(households)
    rows = client.get(f"/api/feeds/batches/{batch.pk}/rows/", {"page_size": 100}).json()
    assert rows["count"] == 60
    first = rows["results"][0]
    assert first["row_number"] == 2 and "*" in first["id_number_masked"]
    # Stored encrypted, not merely compressed: the stored bytes are no zlib stream, and only
    # the installation's key opens them (AES-GCM authenticates) to exactly the list sent.
    import zlib

    from households.pii import PiiDecryptError, decrypt_bytes

    stored = bytes(batch.payload)
    with pytest.raises(zlib.error):
        zlib.decompress(stored)
    sent = sample_path("warnings_civil_affairs_gbk.csv").read_bytes()
    assert zlib.decompress(decrypt_bytes(stored, field="warning_batch")) == sent
    with pytest.raises(PiiDecryptError):
        decrypt_bytes(stored, field="id_number")  # bound to its column


def test_every_messy_form_is_handled_row_by_row(
    registry, medical, django_capture_on_commit_callbacks
):
    _, client = medical
    good = _member_ids(6)
    # Legacy 15-digit numbers exist only for people born in the 1900s.
    good[3] = next(n for n in _member_ids(40, offset=6) if n[6:8] == "19")
    legacy = good[3][:6] + good[3][8:17]
    wrong_check = good[4][:17] + ("0" if good[4][17] != "0" else "1")
    rows = [
        {
            "姓名": "甲",
            "身份证号": " " + good[0].lower() + " ",
            "预警类型": "高额医疗自付",
            "金额": "1,234.50元",
            "发生日期": "2026-09-01",
        },
        {
            "姓名": "乙",
            "身份证号": good[1].translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            "预警类型": "高额医疗自付",
            "金额": "￥8000",
        },
        {"姓名": "丙", "身份证号": "6.30121E+17", "预警类型": "高额医疗自付"},
        {"姓名": "丁", "身份证号": legacy, "预警类型": "高额医疗自付", "发生日期": "2026年9月3日"},
        {"姓名": "戊", "身份证号": wrong_check, "预警类型": "高额医疗自付"},
        {"姓名": "甲", "身份证号": good[0], "预警类型": "高额医疗自付", "金额": "1234.5"},
        {
            "姓名": "阿依古丽・买买提",
            "身份证号": make_id_number(region="110101", sequence=690),
            "预警类型": "高额医疗自付",
            "金额": "abc",
        },
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/feeds/batches/", {"batch_key": "m-1", "rows": rows}, format="json"
        )
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]
    result = {
        r["row_number"]: r
        for r in client.get(f"/api/feeds/batches/{batch_id}/rows/").json()["results"]
    }
    assert result[1]["amount"] == "1234.50" and result[1]["outcome"] in ("new_clue", "merged")
    assert result[2]["amount"] == "8000.00" and result[2]["outcome"] in ("new_clue", "merged")
    assert result[3]["outcome"] == "invalid" and "Excel" in result[3]["reason"]
    assert result[4]["outcome"] in ("new_clue", "merged") and "15位" in result[4]["reason"]
    assert result[4]["occurred_on"] == "2026-09-03"
    assert result[5]["outcome"] == "invalid" and "校验位" in result[5]["reason"]
    assert result[6]["outcome"] == "duplicate" and "第 1 行" in result[6]["reason"]
    assert result[7]["outcome"] == "not_found" and result[7]["name"] == "阿依古丽·买买提"
    assert "金额" in result[7]["reason"]


def test_the_same_batch_key_returns_the_first_batch_and_different_content_is_422(
    registry, medical, django_capture_on_commit_callbacks
):
    _, client = medical
    rows = [{"姓名": "甲", "身份证号": _member_ids(1)[0], "预警类型": "高额医疗自付"}]
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/feeds/batches/", {"batch_key": "k", "rows": rows}, format="json")
        again = client.post("/api/feeds/batches/", {"batch_key": "k", "rows": rows}, format="json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    assert WarningBatch.objects.count() == 1 and Clue.objects.count() == 1
    other = client.post("/api/feeds/batches/", {"batch_key": "k", "rows": rows * 2}, format="json")
    assert other.status_code == 422 and "批次号" in other.json()["detail"]


def test_hits_from_several_departments_merge_into_one_clue_and_open_cases_take_them(
    registry, medical, civil, users, django_capture_on_commit_callbacks
):
    person = _member_ids(1)[0]
    household = Member.objects.get(
        id_number_hash=__import__("households.pii", fromlist=["x"]).id_number_hash(person)
    ).household
    with django_capture_on_commit_callbacks(execute=True):
        medical[1].post(
            "/api/feeds/batches/",
            {
                "batch_key": "a",
                "rows": [
                    {"姓名": "甲", "身份证号": person, "预警类型": "高额医疗自付", "金额": "30000"}
                ],
            },
            format="json",
        )
        civil[1].post(
            "/api/feeds/batches/",
            {
                "batch_key": "b",
                "rows": [{"姓名": "甲", "身份证号": person, "预警类型": "新纳入低保"}],
            },
            format="json",
        )
    clue = Clue.objects.get(household=household)
    assert sorted(clue.evidence.values_list("indicator", flat=True)) == [
        "新纳入低保",
        "高额医疗自付",
    ]
    assert WarningBatch.objects.get(batch_key="b").rows_merged == 1
    # Once the household has an open case, a new hit is evidence for the case.
    clue.status = ClueStatus.CLOSED
    clue.save()
    Case.objects.create(
        household=household,
        category="marginal",
        channel="cadre_screening",
        found_on="2026-10-01",
        status="monitoring",
    )
    with django_capture_on_commit_callbacks(execute=True):
        civil[1].post(
            "/api/feeds/batches/",
            {
                "batch_key": "c",
                "rows": [{"姓名": "甲", "身份证号": person, "预警类型": "临时救助"}],
            },
            format="json",
        )
    row = WarningRow.objects.get(batch__batch_key="c")
    assert row.outcome == RowOutcome.ATTACHED_TO_CASE and row.case.household == household


def test_a_department_key_reads_only_its_own_batches_and_never_households(
    registry, medical, civil, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mine = (
            medical[1]
            .post(
                "/api/feeds/batches/",
                {"batch_key": "x", "rows": [{"姓名": "甲", "身份证号": _member_ids(1)[0]}]},
                format="json",
            )
            .json()["id"]
        )
    assert civil[1].get(f"/api/feeds/batches/{mine}/").status_code == 404
    assert civil[1].get("/api/feeds/batches/").json()["count"] == 0
    for url in ("/api/households/", "/api/members/", "/api/cases/", "/api/clues/"):
        assert medical[1].get(url).status_code == 403


def test_lists_that_can_never_be_processed_are_refused_at_the_door(regions, medical):
    _, client = medical
    no_id = _push_file(client, "姓名,金额\n甲,1\n".encode(), "n1", "a.csv")
    assert no_id.status_code == 400 and "身份证号" in no_id.json()["detail"]
    xls = _push_file(client, b"\xd0\xcf\x11\xe0" + b"0" * 64, "n2", "a.xls")
    assert xls.status_code == 400 and ".xls" in xls.json()["detail"]
    no_key = client.post(
        "/api/feeds/batches/", {"rows": [{"姓名": "甲", "身份证号": "1"}]}, format="json"
    )
    assert no_key.status_code == 400 and "batch_key" in no_key.json()["detail"]
    assert WarningBatch.objects.count() == 0


def test_an_oversized_list_is_413(regions, medical, settings):
    settings.FEED_MAX_JSON_BYTES = 200
    rows = [{"姓名": "甲" * 10, "身份证号": "1" * 18}] * 20
    response = medical[1].post(
        "/api/feeds/batches/", {"batch_key": "big", "rows": rows}, format="json"
    )
    assert response.status_code == 413


def test_an_upload_without_a_declared_length_is_411_and_stores_nothing(regions, medical):
    # What a chunked upload looks like to Django: no Content-Length, so the body reads empty.
    response = medical[1].post(
        "/api/feeds/batches/",
        {"batch_key": "chunked", "rows": [{"姓名": "甲", "身份证号": "1"}]},
        format="json",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411 and "Content-Length" in response.json()["detail"]
    assert WarningBatch.objects.count() == 0


def test_a_stored_batch_waits_when_the_broker_is_down_and_the_sweep_queues_it(
    registry, medical, monkeypatch, django_capture_on_commit_callbacks
):
    from monitor import tasks
    from monitor.feeds.intake import sweep_waiting

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.process_warning_batch, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = medical[1].post(
            "/api/feeds/batches/",
            {"batch_key": "w", "rows": [{"姓名": "甲", "身份证号": _member_ids(1)[0]}]},
            format="json",
        )
    assert response.status_code == 202
    batch = WarningBatch.objects.get()
    assert batch.status == "received" and batch.enqueued_at is None
    monkeypatch.undo()
    assert sweep_waiting(older_than_seconds=0) == 1
    batch.refresh_from_db()
    assert batch.status == "done"


def test_the_village_verifies_a_clue_and_identify_opens_a_prefilled_draft_case(
    registry, medical, api, users, django_capture_on_commit_callbacks
):
    # A member of 东关村 (cadre_a's village).
    member = (
        Member.objects.filter(household__village_id="630121100201", relation="head")
        .order_by("id")
        .first()
    )
    from households.pii import decrypt

    person = decrypt(member.id_number_encrypted, field="id_number")
    with django_capture_on_commit_callbacks(execute=True):
        medical[1].post(
            "/api/feeds/batches/",
            {
                "batch_key": "v",
                "rows": [
                    {
                        "姓名": member.name,
                        "身份证号": person,
                        "预警类型": "高额医疗自付",
                        "金额": "42000",
                    }
                ],
            },
            format="json",
        )
    clue = Clue.objects.get()
    assert clue.status == ClueStatus.PENDING_DISPATCH  # at the county first (下发批次)
    early = api("cadre_a").post(
        f"/api/clues/{clue.pk}/verify/", {"outcome": "not_eligible", "note": "未下发"}
    )
    assert early.status_code == 409 and "待县级下发" in early.json()["detail"]
    sent = api("approver").post(f"/api/clues/{clue.pk}/dispatch/")
    assert sent.status_code == 200 and sent.json()["status"] == "verifying", sent.content
    assert api("cadre_c").get(f"/api/clues/{clue.pk}/").status_code == 404
    listed = api("cadre_a").get("/api/clues/").json()["results"]
    assert [c["id"] for c in listed] == [clue.pk]
    assert listed[0]["evidence"][0]["department"] == "县医保局"
    kind = Household.objects.get(pk=member.household_id).kind
    category = "unstable" if kind == "lifted" else "marginal"
    response = api("cadre_a").post(
        f"/api/clues/{clue.pk}/verify/",
        {"outcome": "identify", "note": "入户核实，大病支出属实", "category": category},
        format="json",
    )
    assert response.status_code == 200, response.content
    case = Case.objects.get(pk=response.json()["case"])
    assert case.status == "draft" and case.channel == "department_warning"
    assert case.risk_codes == ["01"]
    again = api("cadre_a").post(
        f"/api/clues/{clue.pk}/verify/", {"outcome": "not_eligible", "note": "重复"}, format="json"
    )
    assert again.status_code == 409
    assert json.dumps(again.json(), ensure_ascii=False).find("已反馈") > 0


def test_an_unverified_clue_past_its_day_is_flagged_and_escalated_once(
    registry, medical, settings, django_capture_on_commit_callbacks
):
    from monitor.models import Notification
    from monitor.tasks import sweep_deadlines

    # A county that dispatches automatically: the village's clock starts with the list.
    settings.MONITOR = {**settings.MONITOR, "CLUE_AUTO_DISPATCH": True}
    with django_capture_on_commit_callbacks(execute=True):
        medical[1].post(
            "/api/feeds/batches/",
            {
                "batch_key": "late",
                "rows": [{"姓名": "甲", "身份证号": _member_ids(1)[0], "预警类型": "高额医疗自付"}],
            },
            format="json",
        )
    clue = Clue.objects.get()
    day_after = clue.due_on.toordinal() + 1
    from datetime import date

    result = sweep_deadlines(today=date.fromordinal(day_after).isoformat())
    assert result["overdue_clues"] == {"overdue": 1, "notifications": 2}
    late = Notification.objects.filter(kind__startswith="overdue")
    assert set(late.values_list("role", flat=True)) == {"village_cadre", "township_reviewer"}
    again = sweep_deadlines(today=date.fromordinal(day_after + 1).isoformat())
    assert again["overdue_clues"]["overdue"] == 0


def test_the_education_json_sample_is_taken_as_json_rows(
    registry, medical, django_capture_on_commit_callbacks
):
    _, client = medical
    rows = json.loads(sample_path("warnings_education.json").read_text("utf-8"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/feeds/batches/", {"batch_key": "edu", "rows": rows}, format="json"
        )
    assert response.status_code == 202, response.content
    batch = WarningBatch.objects.get()
    assert batch.status == "done" and batch.rows_total == len(rows)
    clue = Clue.objects.filter(evidence__batch=batch).first()
    assert clue is not None
    from monitor.feeds.clues import suggested_risk_codes

    assert suggested_risk_codes(clue) == ["09"]  # 疑似辍学 → 因学


def test_an_xlsx_list_with_an_id_column_mangled_into_numbers_is_receipted_row_by_row(
    registry, medical, django_capture_on_commit_callbacks
):
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号码", "预警类型", "金额"])
    good = _member_ids(1)[0]
    sheet.append(["甲", good, "残疾认定", 1200])
    sheet.append(["乙", float(_member_ids(2)[1]), "残疾认定", 300.5])
    buffer = io.BytesIO()
    book.save(buffer)
    with django_capture_on_commit_callbacks(execute=True):
        response = _push_file(medical[1], buffer.getvalue(), "x1", "名单.xlsx")
    assert response.status_code == 202, response.content
    rows = {
        r["row_number"]: r
        for r in medical[1]
        .get(f"/api/feeds/batches/{response.json()['id']}/rows/")
        .json()["results"]
    }
    assert rows[2]["outcome"] in ("new_clue", "merged") and rows[2]["amount"] == "1200.00"
    assert rows[3]["outcome"] == "invalid" and "Excel" in rows[3]["reason"]


def test_a_batch_that_fails_in_the_worker_is_marked_failed_not_left_waiting(
    registry, medical, monkeypatch, django_capture_on_commit_callbacks
):
    from monitor.feeds import matching

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(matching, "match_staged", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = medical[1].post(
            "/api/feeds/batches/",
            {"batch_key": "boom", "rows": [{"姓名": "甲", "身份证号": _member_ids(1)[0]}]},
            format="json",
        )
    batch = WarningBatch.objects.get(pk=response.json()["id"])
    assert batch.status == "failed" and "重新推送" in batch.error
    assert not WarningRow.objects.exists() and not Clue.objects.exists()


def test_control_characters_odd_amounts_and_numbers_in_free_text_are_cleaned(
    registry, medical, django_capture_on_commit_callbacks
):
    person = _member_ids(1)[0]
    data = (
        f"姓名,身份证号,预警类型,金额,说明\n甲\x00,{person},高额\x00医疗,1E+999999999,"
        f"电话13912345678 身份证{person}\n"
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _push_file(medical[1], data, "nul", "a.csv")
    row = WarningRow.objects.get(batch_id=response.json()["id"])
    assert row.outcome in ("new_clue", "merged")
    assert (row.name, row.indicator) == ("甲", "高额医疗")
    assert "金额" in row.reason and row.amount is None
    assert person not in row.detail and "13912345678" not in row.detail


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"[" * 50000, "application/json"),
        (
            b'{"batch_key": "s", "rows": [{"\\u59d3\\u540d": "\\ud800", "id_number": "1"}]}',
            "application/json",
        ),
        (b'{"batch_key": ["a"], "rows": [{"name": "x", "id_number": "1"}]}', "application/json"),
        (
            b'{"batch_key": "a\\u0000", "rows": [{"name": "x", "id_number": "1"}]}',
            "application/json",
        ),
        (b"\xff\xfe not json", "application/json"),
    ],
)
def test_hostile_json_bodies_get_a_chinese_400(regions, medical, body, content_type):
    response = medical[1].generic("POST", "/api/feeds/batches/", body, content_type=content_type)
    assert response.status_code == 400, response.content
    assert any("\u4e00" <= c <= "\u9fff" for c in response.json()["detail"])
    assert WarningBatch.objects.count() == 0


def test_a_file_with_only_a_header_is_refused(regions, medical):
    response = _push_file(medical[1], "姓名,身份证号\n".encode(), "empty", "a.csv")
    assert response.status_code == 400 and "名单为空" in response.json()["detail"]
