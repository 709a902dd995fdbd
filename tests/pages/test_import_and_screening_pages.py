"""The registry import page (导入农户信息) and the on-demand screening run with its
polling receipt (立即运行数据筛查): both call the services the API calls, refuse what the API
refuses, and offer their button exactly to the roles the API accepts."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from households.importing import registry_import
from households.models import Household, Member, RegistryImport
from monitor.models import WarningBatch
from tests.conftest import (
    COUNTY,
    TOWNSHIP_1,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
    sample_path,
)
from tests.factories import HouseholdFactory, MemberFactory, make_id_number

pytestmark = pytest.mark.django_db

IMPORT_URL = "/households/import/"
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
HOUSEHOLDS_HEADER = "户编号,村代码,户类型,住址\n"


def _client(users, name: str) -> Client:
    client = Client()
    client.force_login(users[name])
    return client


def _file(content: bytes | str, name: str = "农户.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data)


def _upload(client, content, name="农户.csv", kind="detect", **extra):
    return client.post(IMPORT_URL, {"kind": kind, "file": _file(content, name)}, **extra)


def _households_csv(*rows: str) -> str:
    return HOUSEHOLDS_HEADER + "".join(row + "\n" for row in rows)


def _text(response) -> str:
    return response.content.decode()


# --- the import page -----------------------------------------------------------------


def test_a_cadre_imports_the_samples_and_only_her_villages_rows_go_in(users):
    client = _client(users, "cadre_a")
    page = client.get(IMPORT_URL)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in _text(page) and 'name="file"' in _text(page)

    households = sample_path("registry_households.csv").read_bytes()
    response = _upload(client, households, name="registry_households.csv")
    record = RegistryImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/households/import/{record.pk}/"
    in_village = sum(
        1 for line in households.decode().splitlines()[1:] if line.split(",")[1] == VILLAGE_A
    )
    assert in_village == 53  # 东关村's households in the sample
    assert Household.objects.count() == in_village
    assert set(Household.objects.values_list("village_id", flat=True)) == {VILLAGE_A}
    assert (record.kind, record.imported_by, record.rows_created) == (
        "households",
        users["cadre_a"],
        in_village,
    )
    assert record.rows_rejected == record.rows_total - in_village > 50

    result = client.get(response["Location"])
    body = _text(result)
    assert result.status_code == 200
    assert f"已导入「registry_households.csv」：共 {record.rows_total} 行" in body  # message
    assert f"村代码 {VILLAGE_B} 不在您的管辖范围内" in body
    assert "第 1 / " in body and "?page=2" in body  # the rejected rows are paginated
    assert 'class="table-wrap"' in body
    second = client.get(response["Location"] + "?page=2")
    assert second.status_code == 200 and "不在您的管辖范围内" in _text(second)

    members = sample_path("registry_members.csv").read_bytes()
    response = _upload(client, members, name="registry_members.csv", kind="members")
    record = RegistryImport.objects.get(kind="members")
    assert response.status_code == 302
    assert Member.objects.exists()
    assert set(Member.objects.values_list("household__village_id", flat=True)) == {VILLAGE_A}
    assert record.rows_created == Member.objects.count()
    assert record.rows_rejected == record.rows_total - record.rows_created
    pages = [client.get(f"/households/import/{record.pk}/?page={n}") for n in (1, 2, 3)]
    shown = "".join(_text(page) for page in pages)
    assert "未登记（请先导入农户表）" in shown
    # Rejected rows say why without ever showing an ID number in full.
    ids = set(re.findall(r"\b\d{17}[\dXx]\b", members.decode()))
    assert ids and not any(number in shown for number in ids)

    # The past imports, newest first, each linking to its result.
    history = _text(client.get(IMPORT_URL))
    first = RegistryImport.objects.get(kind="households")
    assert history.index("registry_members.csv") < history.index("registry_households.csv")
    assert f'href="/households/import/{first.pk}/"' in history


def test_a_bad_row_is_explained_with_the_id_number_masked(users, regions):
    household = HouseholdFactory(village_id=VILLAGE_A)
    full = make_id_number(sequence=40)
    wrong = full[:17] + ("0" if full[17] != "0" else "1")
    content = (
        "户编号,姓名,身份证号,与户主关系,劳动技能\n"
        f"{household.number},甲,{full},户主,普通劳动力\n"
        f"{household.number},乙,{wrong},子女,普通劳动力\n"
        f"{household.number},丙,{make_id_number(sequence=44)},{full},普通劳动力\n"
    )
    client = _client(users, "cadre_a")
    response = _upload(client, content, name="成员.csv", follow=True)
    body = _text(response)
    assert response.status_code == 200
    assert "共 3 行，新增 1，更新 0，未通过 2" in body
    assert '<span class="badge">身份证号</span>' in body
    assert '<span class="badge">与户主关系</span>' in body
    assert full not in body and wrong not in body
    assert full[:6] + "********" + full[-4:] in body


def test_a_gbk_file_is_read(users, regions):
    content = _households_csv(
        f"{VILLAGE_A}00001,{VILLAGE_A},一般农户,东关村一社",
        f"{VILLAGE_A}00002,{VILLAGE_A},脱贫户,东关村二社",
    ).encode("gbk")
    response = _upload(_client(users, "cadre_a"), content, name="农户GBK.csv")
    assert response.status_code == 302
    assert sorted(Household.objects.values_list("address", flat=True)) == [
        "东关村一社",
        "东关村二社",
    ]


def test_an_oversized_file_is_refused_beside_the_file_field(users, regions, settings):
    settings.REGISTRY_IMPORT_MAX_BYTES = 2048
    content = _households_csv(
        *(f"{VILLAGE_A}{n:05d},{VILLAGE_A},一般农户,东关村{n}号" for n in range(1, 200))
    )
    client = _client(users, "cadre_a")
    response = _upload(client, content)
    assert response.status_code == 413
    body = _text(response)
    assert re.search(r'<ul class="field-error"[^>]*><li>文件超过 2 KB 的上限，请分批导入', body)
    assert not RegistryImport.objects.exists() and not Household.objects.exists()
    # The API says the same through the same service.
    api = _api_upload(users, "cadre_a", content)
    assert api.status_code == 413 and api.json()["detail"] == "文件超过 2 KB 的上限，请分批导入"


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"0" * 200, "旧表.xls", ".xls"),
        ("姓名,电话\n张三,123\n", "缺列.csv", "户编号"),
        (b"%PDF-1.4 not a table", "扫描件.pdf", "PDF"),
    ],
    ids=["legacy-xls", "missing-columns", "pdf"],
)
def test_an_unreadable_file_gets_the_services_reason_on_the_field(
    users, regions, content, name, reason
):
    response = _upload(_client(users, "cadre_a"), content, name=name)
    assert response.status_code == 400
    errors = re.findall(r'<ul class="field-error"[^>]*><li>(.*?)</li>', _text(response))
    assert errors and reason in errors[0], _text(response)
    assert not RegistryImport.objects.exists()


def test_no_file_and_an_empty_file_are_refused_in_chinese(users, regions):
    client = _client(users, "cadre_a")
    missing = client.post(IMPORT_URL, {"kind": "detect"})
    assert missing.status_code == 400 and "请选择要上传的文件" in _text(missing)
    empty = _upload(client, b"")
    assert empty.status_code == 400 and "上传的文件是空的" in _text(empty)


def test_with_htmx_the_form_comes_back_in_place_or_the_browser_goes_to_the_result(users, regions):
    client = _client(users, "cadre_a")
    refused = _upload(
        client, b"\xd0\xcf\x11\xe0" + b"0" * 100, name="x.xls", HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 400
    assert "<html" not in _text(refused)
    assert 'id="import-form"' in _text(refused) and ".xls" in _text(refused)
    done = _upload(
        client,
        _households_csv(f"{VILLAGE_A}00001,{VILLAGE_A},一般农户,"),
        HTTP_HX_REQUEST="true",
    )
    record = RegistryImport.objects.get()
    assert done.status_code == 204
    assert done["HX-Redirect"] == f"/households/import/{record.pk}/"


@pytest.mark.parametrize("name", ["approver", "department", "auditor", "admin"])
def test_roles_that_do_not_keep_the_register_get_403(users, regions, name):
    client = _client(users, name)
    assert client.get(IMPORT_URL).status_code == 403
    response = _upload(client, _households_csv(f"{VILLAGE_A}00001,{VILLAGE_A},一般农户,"))
    assert response.status_code == 403
    assert not Household.objects.exists() and not RegistryImport.objects.exists()
    record = registry_import(
        data=_households_csv().encode(), filename="x.csv", scope_prefix=None, by=None
    )
    assert client.get(f"/households/import/{record.pk}/").status_code == 403


def test_an_import_made_outside_the_users_region_is_a_404(users, regions):
    def imported_by(name):
        client = _client(users, name)
        row = f"{VILLAGE_C}00001,{VILLAGE_C},一般农户,"
        assert _upload(client, _households_csv(row)).status_code == 302
        return RegistryImport.objects.latest("pk")

    own = imported_by("cadre_a")
    other_village = imported_by("cadre_c")
    other_township = imported_by("reviewer_2")
    client = _client(users, "cadre_a")
    assert client.get(f"/households/import/{own.pk}/").status_code == 200
    for record in (other_village, other_township):
        assert client.get(f"/households/import/{record.pk}/").status_code == 404
    assert client.get("/households/import/999999/").status_code == 404
    history = _text(client.get(IMPORT_URL))
    assert f"/households/import/{own.pk}/" in history
    assert f"/households/import/{other_village.pk}/" not in history


# --- screening runs and the polling receipt --------------------------------------------


@pytest.fixture
def unsafe_home(users, lines):
    household = HouseholdFactory(village_id=VILLAGE_A, housing_safe=False)
    MemberFactory(household=household, id_number=make_id_number(sequence=900))
    return household


def test_a_screening_run_through_the_page_is_queued_and_its_receipt_polls(users, unsafe_home):
    client = _client(users, "approver")
    listing = _text(client.get("/batches/"))
    assert 'action="/batches/screening/"' in listing and "立即运行数据筛查（本辖区）" in listing

    response = client.post("/batches/screening/")
    batch = WarningBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/"
    assert (batch.source, batch.scope_prefix, batch.status) == ("screening", COUNTY[:6], "received")

    receipt = client.get(response["Location"])
    body = _text(receipt)
    assert "已开始运行数据筛查（本辖区）" in body
    assert f'hx-get="/batches/{batch.pk}/status/"' in body and 'hx-trigger="every 2s"' in body
    assert f'href="/batches/{batch.pk}/">刷新</a>' in body  # without JavaScript

    waiting = client.get(f"/batches/{batch.pk}/status/", HTTP_HX_REQUEST="true")
    assert waiting.status_code == 200
    assert 'hx-trigger="every 2s"' in _text(waiting) and "<html" not in _text(waiting)
    assert "HX-Refresh" not in waiting

    from monitor.feeds.matching import process_batch

    assert process_batch(batch.pk) == "done"
    finished = client.get(f"/batches/{batch.pk}/status/", HTTP_HX_REQUEST="true")
    text = _text(finished)
    assert "hx-trigger" not in text and "hx-get" not in text
    assert "已处理" in text and '<div class="value">1</div><div class="label">总行数' in text
    assert finished["HX-Refresh"] == "true"  # the page reloads to show the rows
    page = _text(client.get(f"/batches/{batch.pk}/"))
    assert "hx-trigger" not in page and "住房不安全" in page


@pytest.mark.usefixtures("eager_celery")
def test_a_township_run_is_done_when_the_redirect_lands(
    users, unsafe_home, django_capture_on_commit_callbacks
):
    client = _client(users, "reviewer_1")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/batches/screening/")
    batch = WarningBatch.objects.get()
    assert batch.scope_prefix == TOWNSHIP_1[:9]
    assert batch.status == "done" and batch.rows_new_clue == 1
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'hx-trigger="every 2s"' not in _text(page)


def test_the_screening_page_refuses_what_the_api_refuses(users, regions):
    assert _client(users, "cadre_a").post("/batches/screening/").status_code == 403
    assert _client(users, "auditor").post("/batches/screening/").status_code == 403
    assert _client(users, "approver").get("/batches/screening/").status_code == 405
    assert not WarningBatch.objects.exists()


def test_another_regions_batch_status_is_a_404(users, regions):
    _client(users, "reviewer_2").post("/batches/screening/")
    batch = WarningBatch.objects.get()
    assert _client(users, "reviewer_1").get(f"/batches/{batch.pk}/status/").status_code == 404
    assert _client(users, "approver").get(f"/batches/{batch.pk}/status/").status_code == 200
    assert _client(users, "cadre_a").get(f"/batches/{batch.pk}/status/").status_code == 403


# --- the page offers exactly what the API accepts ---------------------------------------


def _api_upload(users, name, content):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(users[name])
    return api.post(
        "/api/registry-imports/upload/",
        {"file": _file(content), "kind": "households"},
        format="multipart",
    )


@pytest.mark.parametrize("name", ROLES)
def test_registry_import_is_offered_exactly_when_the_api_accepts_it(users, regions, name):
    client = _client(users, name)
    listing = client.get("/households/")
    button = listing.status_code == 200 and f'href="{IMPORT_URL}"' in _text(listing)
    form = client.get(IMPORT_URL)
    offered = form.status_code == 200 and 'name="file"' in _text(form)
    content = _households_csv(f"{VILLAGE_A}00001,{VILLAGE_A},一般农户,")
    accepted = _api_upload(users, name, content).status_code == 201
    page_post = _upload(client, content)
    assert button == offered == accepted, (name, listing.status_code, form.status_code)
    assert (page_post.status_code == 302) == accepted
    assert accepted == (name in {"cadre_a", "cadre_b", "reviewer_1", "reviewer_2"})


@pytest.mark.parametrize("name", ROLES)
def test_screening_run_is_offered_exactly_when_the_api_accepts_it(users, regions, name):
    client = _client(users, name)
    listing = client.get("/batches/")
    offered = listing.status_code == 200 and 'action="/batches/screening/"' in _text(listing)
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(users[name])
    accepted = api.post("/api/screening-runs/").status_code == 202
    page_post = client.post("/batches/screening/")
    assert offered == accepted, (name, listing.status_code)
    assert (page_post.status_code == 302 and "/batches/" in page_post["Location"]) == accepted
    assert accepted == (name in {"reviewer_1", "reviewer_2", "approver", "approver_other"})
