import io

import pytest
from django.db import connection

from accounts.models import AuditEvent
from households.importing import registry_import
from households.models import Household, Member, RegistryImport
from sheets.reading import TabularError
from tests.conftest import VILLAGE_A, VILLAGE_C, sample_path
from tests.factories import make_id_number

pytestmark = pytest.mark.django_db


def _import(path_or_bytes, *, name="file.csv", scope=None, kind=None):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    if not isinstance(path_or_bytes, bytes):
        name = path_or_bytes.name
    return registry_import(data=data, filename=name, scope_prefix=scope, kind=kind)


def test_importing_the_shared_samples_twice_leaves_300_households_and_1081_members(regions):
    households, members = (
        sample_path("registry_households.csv"),
        sample_path("registry_members.csv"),
    )
    first_h, first_m = _import(households), _import(members)
    assert (first_h.rows_created, first_h.rows_rejected) == (300, 0)
    assert (first_m.rows_created, first_m.rows_rejected) == (1081, 0)

    second_h, second_m = _import(households), _import(members)
    assert (second_h.rows_created, second_h.rows_updated) == (0, 300)
    assert (second_m.rows_created, second_m.rows_updated) == (0, 1081)
    assert Household.objects.count() == 300
    assert Member.objects.count() == 1081
    assert RegistryImport.objects.count() == 4
    assert AuditEvent.objects.filter(action="import").count() == 4


def test_kind_is_detected_from_the_header(regions):
    assert _import(sample_path("registry_households.csv")).kind == "households"
    assert _import(sample_path("registry_members.csv")).kind == "members"


def test_a_reimport_updates_changed_fields_in_place(regions):
    _import(f"户编号,村代码,户类型,住址\n{VILLAGE_A}00001,{VILLAGE_A},一般农户,旧址\n".encode())
    report = _import(
        f"户编号,村代码,户类型,住址\n{VILLAGE_A}00001,{VILLAGE_A},脱贫户,新址\n".encode()
    )
    assert (report.rows_created, report.rows_updated) == (0, 1)
    household = Household.objects.get()
    assert (household.kind, household.address) == ("lifted", "新址")


GOOD_ID = make_id_number(sequence=10)


def _members_csv(*rows: str) -> bytes:
    header = "户编号,姓名,身份证号,与户主关系,健康状况,劳动技能,联系电话\n"
    return (header + "\n".join(rows) + "\n").encode("utf-8")


@pytest.fixture
def one_household(regions):
    _import(f"户编号,村代码,户类型,住址\n{VILLAGE_A}00001,{VILLAGE_A},一般农户,一社\n".encode())
    return Household.objects.get()


def test_every_bad_row_is_reported_with_row_number_and_reason_and_good_rows_go_in(one_household):
    number = one_household.number
    wrong_check = GOOD_ID[:17] + ("0" if GOOD_ID[17] != "0" else "1")
    data = _members_csv(
        f"{number},张三,{GOOD_ID},户主,健康,普通劳动力,13800138000",  # row 2: good
        f"{number},李四,{wrong_check},配偶,健康,普通劳动力,",  # row 3: check digit
        f"{number},王五,6.30121E+17,子女,健康,无劳动力,",  # row 4: Excel
        f"{number},赵六,{make_id_number(sequence=12)},子女,良好,无劳动力,",  # row 5: health
        f"99999999999999999,钱七,{make_id_number(sequence=14)},户主,健康,普通劳动力,",  # row 6
        f"{number},孙八,{GOOD_ID.lower()},子女,健康,普通劳动力,",  # row 7: dup of 2
        f"{number},,{make_id_number(sequence=16)},子女,健康,普通劳动力,",  # row 8: no name
        f"{number},阿依·买买提,{make_id_number(sequence=18, male=False)},子女,健康,普通劳动力,1",
    )
    report = _import(data)
    errors = {error["row"]: error for error in report.errors}
    assert report.rows_total == 8
    assert report.rows_created == 1
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert errors[3]["field"] == "身份证号" and "校验位" in errors[3]["reason"]
    assert errors[4]["field"] == "身份证号" and "Excel" in errors[4]["reason"]
    assert errors[5]["field"] == "健康状况" and "良好" in errors[5]["reason"]
    assert errors[6]["field"] == "户编号" and "未登记" in errors[6]["reason"]
    assert errors[7]["field"] == "身份证号" and "第 2 行" in errors[7]["reason"]
    assert errors[8]["field"] == "姓名"
    assert errors[9]["field"] == "联系电话"
    member = Member.objects.get()
    assert member.name == "张三" and member.phone_masked == "138****8000"


def test_a_name_with_a_middle_dot_and_a_legacy_15_digit_number_are_accepted(one_household):
    eighteen = make_id_number(sequence=20)
    fifteen = eighteen[:6] + eighteen[8:17]
    report = _import(
        _members_csv(f"{one_household.number},阿依古丽·买买提,{fifteen},户主,残疾,丧失劳动力,")
    )
    assert report.rows_rejected == 0, report.errors
    member = Member.objects.get()
    assert member.name == "阿依古丽·买买提"
    assert member.id_number_masked == eighteen[:6] + "********" + eighteen[-4:]


def test_gbk_and_bom_files_import_the_same(one_household):
    text = _members_csv(f"{one_household.number},张三,{GOOD_ID},户主,健康,普通劳动力,")
    assert _import(text.decode().encode("gbk")).rows_created == 1
    assert _import(b"\xef\xbb\xbf" + text).rows_updated == 1


def test_xlsx_registry_imports_and_a_numeric_id_cell_is_refused_with_the_excel_reason(
    one_household,
):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["户编号", "姓名", "身份证号", "与户主关系", "劳动技能"])
    sheet.append([one_household.number, "张三", GOOD_ID, "户主", "普通劳动力"])
    sheet.append(
        [one_household.number, "李四", float(make_id_number(sequence=30)), "配偶", "普通劳动力"]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    report = _import(buffer.getvalue(), name="members.xlsx")
    assert report.rows_created == 1
    assert [(e["row"], e["field"]) for e in report.errors] == [(3, "身份证号")]
    assert "Excel" in report.errors[0]["reason"]


def test_rows_outside_the_importers_region_are_refused(regions):
    data = (
        f"户编号,村代码,户类型\n{VILLAGE_A}00001,{VILLAGE_A},一般农户\n"
        f"{VILLAGE_C}00001,{VILLAGE_C},一般农户\n"
    ).encode()
    report = _import(data, scope=VILLAGE_A)
    assert report.rows_created == 1
    assert report.errors == [
        {"row": 3, "field": "村代码", "reason": f"村代码 {VILLAGE_C} 不在您的管辖范围内"}
    ]


def test_a_file_missing_required_columns_is_refused_as_a_whole(regions):
    with pytest.raises(TabularError) as caught:
        _import("户编号,姓名,身份证号\n1,张三,1\n".encode(), kind="members")
    assert "与户主关系" in caught.value.reason


def test_no_plain_id_number_or_phone_is_stored_anywhere(one_household):
    phone = "13912345678"
    _import(_members_csv(f"{one_household.number},张三,{GOOD_ID},户主,健康,普通劳动力,{phone}"))
    dump = io.StringIO()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                dump.write(repr(row))
    text = dump.getvalue()
    assert GOOD_ID not in text and GOOD_ID[:17] not in text
    assert phone not in text


def test_error_reasons_never_carry_a_full_id_number(one_household):
    full = make_id_number(sequence=40)
    report = _import(
        _members_csv(
            f"{one_household.number},甲,{full}.0,户主,健康,普通劳动力,",
            f"{full},乙,{make_id_number(sequence=42)},子女,健康,普通劳动力,",
            f"{one_household.number},丙,{make_id_number(sequence=44)},{full},健康,普通劳动力,",
        )
    )
    assert report.rows_rejected == 3
    stored = RegistryImport.objects.get(pk=report.pk).errors
    assert full not in repr(stored)
    assert full[:6] + "********" + full[-4:] in repr(stored)


def test_a_second_head_is_refused_across_files_and_a_blank_phone_keeps_the_stored_one(
    one_household,
):
    number = one_household.number
    _import(_members_csv(f"{number},张三,{GOOD_ID},户主,健康,普通劳动力,13800138000"))
    second = _import(
        _members_csv(
            f"{number},张三,{GOOD_ID},户主,健康,技能劳动力,",
            f"{number},王五,{make_id_number(sequence=52)},子女,健康,普通劳动力,",
        )
    )
    assert second.rows_rejected == 0
    third = _import(
        _members_csv(f"{number},李四,{make_id_number(sequence=50)},户主,健康,普通劳动力,")
    )
    assert [(e["row"], e["field"]) for e in third.errors] == [(2, "与户主关系")]
    head = Member.objects.get(relation="head")
    assert (head.name, head.labour, head.phone_masked) == ("张三", "skilled", "138****8000")


def test_a_reimport_with_blank_safety_columns_keeps_the_recorded_finding(regions):
    header = "户编号,村代码,户类型,住房安全\n"
    _import(f"{header}{VILLAGE_A}00001,{VILLAGE_A},一般农户,否\n".encode())
    _import(f"{header}{VILLAGE_A}00001,{VILLAGE_A},一般农户,\n".encode())
    assert Household.objects.get().housing_safe is False


def test_a_user_without_a_region_cannot_import(api, users, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    cadre = users["cadre_a"]
    cadre.region = None
    cadre.save()
    response = api("cadre_a").post(
        "/api/registry-imports/upload/",
        {
            "file": SimpleUploadedFile(
                "h.csv", f"户编号,村代码,户类型\n{VILLAGE_A}00001,{VILLAGE_A},一般农户\n".encode()
            )
        },
        format="multipart",
    )
    assert response.status_code == 403
    assert Household.objects.count() == 0
