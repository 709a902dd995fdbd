"""The set-based registry import (households.bulk_import) gives the ORM path's result.

Each scenario runs twice from the same starting state — once through the ORM path, once
through COPY and set-based statements — and the reports (totals, created, updated, rejected,
row errors) and the stored rows (ID numbers and phones decrypted) must be equal.
"""

import codecs
import csv
import io
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from households import importing, pii
from households.bulk_import import reading, staging
from households.importing import registry_import, registry_import_file
from households.models import Household, Member, RegistryImport
from sheets.reading import TabularError, read_table
from tests.conftest import TOWNSHIP_1, VILLAGE_A, VILLAGE_B, VILLAGE_C, sample_path
from tests.factories import HouseholdFactory, MemberFactory, make_id_number


class _Undo(Exception):
    """Raised to roll a scenario back once its outcome is recorded."""


def _snapshot() -> dict:
    households = {
        h.number: (
            h.village_id,
            h.kind,
            h.address,
            h.housing_safe,
            h.water_safe,
            h.civil_affairs_status,
            h.is_monitored,
            h.closed_on,
        )
        for h in Household.objects.all()
    }
    members = {}
    for m in Member.objects.select_related("household"):
        id_number = pii.decrypt(m.id_number_encrypted, field="id_number")
        phone = pii.decrypt(m.phone_encrypted, field="phone") if m.phone_encrypted else ""
        members[id_number] = (
            m.household.number,
            m.name,
            m.id_number_hash,
            m.id_number_masked,
            m.birth_date,
            m.sex,
            m.relation,
            m.health,
            m.disability_level,
            m.labour,
            m.schooling,
            m.work_status,
            m.medical_insurance,
            m.life_status,
            phone,
            m.phone_hash,
            m.phone_masked,
        )
    return {"households": households, "members": members}


def _report(record: RegistryImport) -> tuple:
    return (
        record.kind,
        record.rows_total,
        record.rows_created,
        record.rows_updated,
        record.rows_rejected,
        record.errors,
    )


def _both_ways(monkeypatch, scenario) -> dict:
    """Run `scenario(importer)` through each path from the same state; return its outcome
    (the reports it returns and the stored rows after it) for each."""
    import households.bulk_import as bulk

    calls = []
    original = bulk.bulk_import

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bulk, "bulk_import", counted)
    outcomes = {}
    for method, threshold in (("orm", 1 << 62), ("bulk", 0)):
        monkeypatch.setattr(importing, "BULK_MIN_BYTES", threshold)
        before = len(calls)
        try:
            with transaction.atomic():
                reports = scenario()
                outcomes[method] = {"reports": reports, "stored": _snapshot()}
                raise _Undo
        except _Undo:
            pass
        # Each path really ran: every import of the bulk run went through COPY, none of the
        # ORM run's did.
        assert (len(calls) - before > 0) == (method == "bulk")
    return outcomes


def _import(data: bytes, name: str = "file.csv", *, scope=None, kind=None) -> tuple:
    record = registry_import(data=data, filename=name, scope_prefix=scope, kind=kind)
    return _report(record)


def _assert_same(outcomes: dict) -> None:
    orm, bulk = outcomes["orm"], outcomes["bulk"]
    assert bulk["reports"] == orm["reports"]
    assert bulk["stored"]["households"] == orm["stored"]["households"]
    assert bulk["stored"]["members"] == orm["stored"]["members"]


postgres = pytest.mark.postgres


@postgres
def test_the_samples_import_and_reimport_the_same_both_ways(regions, monkeypatch):
    households = sample_path("registry_households.csv").read_bytes()
    members = sample_path("registry_members.csv").read_bytes()

    def scenario():
        return [
            _import(households, "registry_households.csv"),
            _import(members, "registry_members.csv"),
            _import(households, "registry_households.csv"),
            _import(members, "registry_members.csv"),
        ]

    outcomes = _both_ways(monkeypatch, scenario)
    _assert_same(outcomes)
    first_h, first_m, again_h, again_m = outcomes["bulk"]["reports"]
    assert first_h[1:5] == (300, 300, 0, 0)
    assert first_m[1:5] == (1081, 1081, 0, 0)
    assert again_h[1:5] == (300, 0, 300, 0)
    assert again_m[1:5] == (1081, 0, 1081, 0)
    assert len(outcomes["bulk"]["stored"]["members"]) == 1081


HA1, HA2, HA3 = (f"{VILLAGE_A}{n:05d}" for n in (1, 2, 3))
HB1, HC1 = f"{VILLAGE_B}00001", f"{VILLAGE_C}00001"
IDS = {key: make_id_number(sequence=2 * n) for n, key in enumerate("ABCDEFGHIJKLMN", start=50)}
IDS["X"], IDS["Z"], IDS["W"], IDS["V"] = (make_id_number(sequence=n) for n in (300, 302, 304, 306))
MEMBER_HEADER = (
    "户编号,姓名,身份证号,与户主关系,健康状况,残疾等级,劳动技能,联系电话,参加基本医疗保险"
)


def _csv(header: str, *rows: str, line_end: str = "\n") -> bytes:
    return (line_end.join([header, *rows]) + line_end).encode("utf-8")


def _registry_with_history():
    """Households in three villages (one closed), and members already stored: X heads HA2,
    Z lives in HC1 (outside township 1), W in HA1 with a phone, V heads HB1."""
    _import(
        _csv(
            "户编号,村代码,户类型,住址,住房安全",
            f"{HA1},{VILLAGE_A},一般农户,一社,否",
            f"{HA2},{VILLAGE_A},脱贫户,二社,",
            f"{HA3},{VILLAGE_A},一般农户,三社,",
            f"{HB1},{VILLAGE_B},一般农户,四社,是",
            f"{HC1},{VILLAGE_C},脱贫户,五社,",
        )
    )
    Household.objects.filter(number=HA3).update(closed_on=date(2026, 1, 5))
    ids = IDS
    _import(
        _csv(
            MEMBER_HEADER,
            f"{HA2},老户主,{ids['X']},户主,健康,,普通劳动力,13800000001,是",
            f"{HC1},外村人,{ids['Z']},子女,健康,,普通劳动力,,",
            f"{HA1},王五,{ids['W']},子女,健康,,普通劳动力,13900000002,否",
            f"{HB1},钱七,{ids['V']},户主,健康,,普通劳动力,,",
        )
    )


def _messy_members() -> bytes:
    ids = IDS
    wrong_check = ids["G"][:17] + ("0" if ids["G"][17] != "0" else "1")
    legacy = ids["K"][:6] + ids["K"][8:17]
    return _csv(
        MEMBER_HEADER,
        f"{HA1},甲,{ids['A']},户主,健康,,普通劳动力,13811112222,是",  # 2 kept
        f"{HA1},乙,{ids['A'].lower()},子女,健康,,普通劳动力,,",  # 3 duplicate of 2
        f"{HA1},丙,{ids['B']},户主,健康,,普通劳动力,,",  # 4 second head in the file
        f"{HA2},老户主,{ids['X']},配偶,健康,,普通劳动力,,",  # 5 kept, X steps down
        f"{HA2},新户主,{ids['C']},户主,健康,,普通劳动力,,",  # 6 X headed HA2 before
        f"{HA1},丙,{ids['B']},子女,健康,,普通劳动力,,",  # 7 kept: row 4 never counted
        f"{HA3},丁,{ids['D']},子女,健康,,普通劳动力,,",  # 8 closed household
        f"63012110020199999,戊,{ids['E']},子女,健康,,普通劳动力,,",  # 9 unregistered
        f"{HC1},己,{ids['F']},子女,健康,,普通劳动力,,",  # 10 household outside the region
        f"{HA1},外村人,{ids['Z']},子女,健康,,普通劳动力,,",  # 11 stored outside the region
        f"6.30121E+16,庚,{ids['H']},子女,健康,,普通劳动力,,",  # 12 Excel
        f",辛,{ids['I']},子女,健康,,普通劳动力,,",  # 13 no household
        f"{HA1},王五改,{ids['W']},子女,健康,,技能劳动力,,",  # 14 blank phone keeps it
        f"{HB1},壬,{wrong_check},子女,健康,,普通劳动力,,",  # 15 check digit
        f"63012110020199999,癸,{wrong_check},子女,健康,,普通劳动力,,",  # 16 household first
        f"{HA1},,{ids['J']},子女,健康,,普通劳动力,,",  # 17 no name
        "",  # 18 blank row, counted
        f"{HA1},阿依古丽·买买提,{legacy},子女,残疾,2,丧失劳动力,,否",  # 19 kept, 15 digits
        f"{HA1},子,{ids['L']},子女,健康,2,普通劳动力,,",  # 20 disability without 残疾
        f"{HB1},钱七,{ids['V']},户主,健康,,弱劳动力或半劳动力,13700000003,",  # 21 same head
        f"{HA1},丑,{ids['M']},子女,健康,,普通劳动力,-,",  # 22 phone of no digits
        f"{HA1},丙,{ids['B']},子女,健康,,普通劳动力,,",  # 23 duplicate of row 7
        f"{HA1},寅,{ids['N']},表亲,健康,,普通劳动力,1380013800,",  # 24 phone before relation
        f"{HA1},卯,{ids['N']},儿子,很好,,普通劳动力,,",  # 25 health
    )


@postgres
@pytest.mark.parametrize("orm_chunk", [2000, 2])
def test_every_member_rule_gives_the_same_outcome_both_ways(regions, monkeypatch, orm_chunk):
    # In chunks of two rows the ORM path stores X's step down (row 5) before it reaches the
    # new head (row 6): the outcome must not depend on where the file is cut.
    monkeypatch.setattr(importing.orm, "CHUNK", orm_chunk)

    def scenario():
        _registry_with_history()
        messy = _messy_members()
        return [_import(messy, scope=TOWNSHIP_1[:9]), _import(messy, scope=TOWNSHIP_1[:9])]

    outcomes = _both_ways(monkeypatch, scenario)
    _assert_same(outcomes)
    first, second = outcomes["bulk"]["reports"]
    errors = {error["row"]: (error["field"], error["reason"]) for error in first[5]}
    assert sorted(errors) == [3, 4, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17, 20, 23, 24, 25]
    assert errors[3] == ("身份证号", "身份证号与第 2 行重复")
    assert errors[4] == ("与户主关系", "该户已有户主（第 2 行）")
    assert errors[6][0] == "与户主关系" and "另一位户主" in errors[6][1]
    assert errors[8][0] == "户编号" and "已销户" in errors[8][1]
    assert errors[10][0] == "户编号" and "未登记" in errors[10][1]
    assert errors[11] == ("身份证号", "该身份证号不能登记在此农户，请联系上级核实")
    assert errors[16][0] == "户编号"
    assert errors[23] == ("身份证号", "身份证号与第 7 行重复")
    assert errors[24][0] == "联系电话"
    assert first[1:5] == (23, 4, 3, 16)  # the blank row is not a row
    # Once X is no longer 户主, the second run may make the new head; the rest updates.
    assert 6 not in {error["row"] for error in second[5]}
    stored = outcomes["bulk"]["stored"]["members"]
    assert stored[IDS["W"]][1] == "王五改" and stored[IDS["W"]][14] == "13900000002"
    assert stored[IDS["C"]][6] == "head" and stored[IDS["X"]][6] == "spouse"


@postgres
def test_every_household_rule_gives_the_same_outcome_both_ways(regions, monkeypatch):
    strayed = f"{VILLAGE_A}00077"

    def scenario():
        _registry_with_history()
        # A record left over from before the village checks: numbered in A, filed in C.
        Household.objects.create(number=strayed, village_id=VILLAGE_C, kind="ordinary")
        messy = _csv(
            "户编号,村代码,户类型,住址,住房安全,饮水安全,民政救助类别",
            f"{HA1},{VILLAGE_A},脱贫户,,,否,低保",  # 2 kept: blank address and housing kept
            f"{HA1},{VILLAGE_A},一般农户,,,,",  # 3 duplicate of 2
            f"{VILLAGE_A}00009,{VILLAGE_A},富裕户,,,,",  # 4 kind
            f"{VILLAGE_A}00009,{VILLAGE_A},一般农户,新址,是,是,",  # 5 kept: 4 never counted
            f"{VILLAGE_A}00009,{VILLAGE_A},富裕户,,,,",  # 6 duplicate before its kind
            f"{VILLAGE_C}00002,{VILLAGE_C},一般农户,,,,",  # 7 village outside the region
            f"{strayed},{VILLAGE_A},一般农户,,,,",  # 8 stored outside the region
            f"6.30121E+16,{VILLAGE_A},一般农户,,,,",  # 9 Excel
            f"12345,{VILLAGE_A},一般农户,,,,",  # 10 number
            "630121100299,630121100299,一般农户,,,,",  # 11 not a village
            f"{HB1},{VILLAGE_B},一般农户,四社,不知道,,",  # 12 housing
            f"{HA2},{VILLAGE_A},脱贫户,二社,,,特困",  # 13 kept, unchanged but civil
        )
        return [_import(messy, scope=TOWNSHIP_1[:9]), _import(messy, scope=TOWNSHIP_1[:9])]

    outcomes = _both_ways(monkeypatch, scenario)
    _assert_same(outcomes)
    first = outcomes["bulk"]["reports"][0]
    errors = {error["row"]: (error["field"], error["reason"]) for error in first[5]}
    assert sorted(errors) == [3, 4, 6, 7, 8, 9, 10, 11, 12]
    assert errors[3] == ("户编号", "户编号与第 2 行重复")
    assert errors[6] == ("户编号", "户编号与第 5 行重复")
    assert errors[8] == ("户编号", "该户编号不能使用，请联系上级核实")
    assert first[1:5] == (12, 1, 2, 9)
    stored = outcomes["bulk"]["stored"]["households"]
    assert stored[HA1][1:6] == ("lifted", "一社", False, False, "dibao")


# --- Reading a file in pieces -----------------------------------------------------------------

_CELL = st.text(alphabet='张王李·户主子女0123456789X ,;\t"\n\r\x01', max_size=8)


def _pieces_rows(data: bytes, head_bytes: int, span_bytes: int):
    """The rows the set-based path reads: the head by sheets.reading, then every span."""
    source = reading.Source(data, "members.csv")
    aliases, required, _ = importing.KIND_SPEC["members"]
    layout, head_rows = reading.head_layout(source, aliases, required, 1 << 30, head_bytes)
    rows, records = [], {}
    for piece, payload in reading.pieces(data, layout, head_rows, span_bytes):
        if piece == 0:
            rows += payload
            records[0] = None
            continue
        count, span_rows = reading.span_records(data, *payload, layout)
        records[piece] = count
        rows += [(piece, number, cells) for number, cells in span_rows]
    offsets = reading.piece_offsets(layout, records)
    return layout, [row if len(row) == 2 else (offsets[row[0]] + row[1], row[2]) for row in rows]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(_CELL, min_size=0, max_size=7), max_size=40),
    title=st.booleans(),
    line_end=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    head_bytes=st.integers(min_value=1, max_value=400),
    span_bytes=st.integers(min_value=1, max_value=300),
)
def test_a_file_read_in_pieces_gives_the_rows_and_numbers_sheets_reading_gives(
    rows, title, line_end, encoding, head_bytes, span_bytes
):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    if title:
        writer.writerow(["大通县2026年家庭成员名单"])
        writer.writerow([])
    writer.writerow(["户编号", "姓名", "身份证号", "与户主关系", "劳动技能", "备注"])
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    aliases, required, _ = importing.KIND_SPEC["members"]
    try:
        table = read_table(
            data, filename="members.csv", aliases=aliases, required=required, positional=True
        )
        expected = list(table.rows)
    except TabularError:
        expected = None
    try:
        layout, got = _pieces_rows(data, head_bytes, span_bytes)
    except reading.Fallback:
        event("read whole")
        return  # read whole by sheets.reading itself, which is the expectation
    assert expected is not None
    event(f"read in pieces, rows: {len(expected) > 0}")
    assert layout.positions == table.positions
    assert got == expected


def test_a_quoted_cell_across_a_cut_sends_the_file_to_the_whole_reading():
    header = "户编号,姓名,身份证号,与户主关系,劳动技能,住址\n"
    data = (header + '1,张三,2,户主,普通劳动力,"一社\n二号"\n' * 50).encode()
    with pytest.raises(reading.Fallback):
        _pieces_rows(data, head_bytes=len(header) + 10, span_bytes=20)


def _generated_members(count: int) -> list[str]:
    """Members of HA1, HA2 and HB1 with a bad row every seventh, a repeat every 50th and,
    far down the file (in another piece), a second head of HB1."""
    rows = []
    for n in range(count):
        household = (HA1, HA2, HB1)[n % 3]
        id_number = make_id_number(
            birth=date(1950 + n % 60, 1 + n % 12, 1 + n % 28), sequence=2 * n
        )
        if n % 7 == 3:
            id_number = id_number[:17] + ("0" if id_number[17] != "0" else "1")
        if n % 50 == 49:
            id_number = make_id_number(birth=date(1950, 1, 1), sequence=0)
        relation = "户主" if n < 3 or n == 200 else "子女"
        rows.append(f"{household},成员{n},{id_number},{relation},健康,,普通劳动力,139{n:08d},是")
    return rows


@postgres
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_file_cut_into_many_pieces_on_two_cores_gives_the_same_outcome(
    regions, monkeypatch, tmp_path, encoding
):
    import households.bulk_import as bulk

    monkeypatch.setattr(reading, "HEAD_BYTES", 300)
    monkeypatch.setattr(reading, "SPAN_BYTES", 700)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    pools = []

    class Counted(staging.Runner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self.pool is not None)

    monkeypatch.setattr(bulk, "Runner", Counted)
    text = _csv(MEMBER_HEADER, *_generated_members(400), line_end="\r\n").decode()
    # A blank line and a title above the header move every row number down.
    path = tmp_path / "成员.csv"
    path.write_bytes(
        ("大通县家庭成员名单\r\n\r\n" + text.replace("\r\n", "\r\n\r\n", 1)).encode(encoding)
    )

    def scenario():
        _registry_with_history()
        return [_report(registry_import_file(path=path)) for _ in range(2)]

    outcomes = _both_ways(monkeypatch, scenario)
    _assert_same(outcomes)
    # The bulk run: the history's two uploads in this process (a web worker never forks),
    # then the file's two imports, each on a pool of worker processes.
    assert pools == [False, False, True, True]
    first = outcomes["bulk"]["reports"][0]
    assert (first[1], first[4]) == (400, 67)
    # Title, blank, header, blank: n = 0 is row 5. X heads HA2 (n = 1); n = 3 is mistyped;
    # n = 200, many pieces after HB1's head, is its second head.
    fields = {error["row"]: error["field"] for error in first[5]}
    assert (fields[6], fields[8], fields[205]) == ("与户主关系", "身份证号", "与户主关系")


@postgres
def test_a_file_with_cells_across_lines_and_an_xlsx_file_give_the_same_outcome(
    regions, monkeypatch
):
    import openpyxl

    monkeypatch.setattr(reading, "HEAD_BYTES", 100)
    monkeypatch.setattr(reading, "SPAN_BYTES", 100)
    households = _csv(
        "户编号,村代码,户类型,住址",
        *[f'{VILLAGE_A}{n:05d},{VILLAGE_A},一般农户,"{n}社\n{n}号"' for n in range(1, 40)],
        f"{VILLAGE_A}00001,{VILLAGE_A},一般农户,重复",
    )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["户编号", "姓名", "身份证号", "与户主关系", "劳动技能"])
    for n, row in enumerate(_generated_members(60)):
        number, name, id_number, relation, *_ = row.split(",")
        sheet.append(
            [number, name, float(id_number) if n == 5 else id_number, relation, "普通劳动力"]
        )
    buffer = io.BytesIO()
    book.save(buffer)

    import households.bulk_import as bulk

    whole = []
    original = bulk.whole_records
    monkeypatch.setattr(bulk, "whole_records", lambda *a: whole.append(a[0].name) or original(*a))

    def scenario():
        _registry_with_history()
        return [_import(households), _import(buffer.getvalue(), "members.xlsx")]

    outcomes = _both_ways(monkeypatch, scenario)
    _assert_same(outcomes)
    cells_across_lines, xlsx = outcomes["bulk"]["reports"]
    assert cells_across_lines[1:5] == (40, 36, 3, 1)  # HA1-HA3 were there already
    assert cells_across_lines[5][0]["row"] == 41  # a cell across lines is still one row
    excel = next(error for error in xlsx[5] if error["row"] == 7)  # n = 5, a number cell
    assert xlsx[1] == 60 and excel["field"] == "身份证号" and "Excel" in excel["reason"]
    assert whole == ["file.csv", "members.xlsx"]  # both read whole, by sheets.reading


# --- Whole-file problems, the command and what is stored --------------------------------------

_BAD_FILES = {
    "too_large": ("big.csv", ("户编号,村代码,户类型\n" + "1,2,3\n" * 400).encode()),
    "missing_columns": ("m.csv", "户编号,姓名,身份证号\n1,张三,1\n".encode()),
    "no_header": ("m.csv", b"a,b,c\n1,2,3\n"),
    "empty": ("m.csv", b""),
    "bad_encoding": ("m.csv", "户编号,村代码,户类型\n".encode() + b"\xff\xfe\xfa,1,2\n"),
    "xls": ("m.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100),
    "broken_quote": ("m.csv", ("户编号,村代码,户类型\n" + '1,"2,3\n' + "4,5,6\n" * 3).encode()),
}


@postgres
@pytest.mark.parametrize("case", sorted(_BAD_FILES))
def test_a_file_that_cannot_be_read_is_refused_with_the_same_words_both_ways(
    regions, monkeypatch, case
):
    name, data = _BAD_FILES[case]
    reasons = {}
    for method, threshold in (("orm", 1 << 62), ("bulk", 0)):
        monkeypatch.setattr(importing, "BULK_MIN_BYTES", threshold)
        with pytest.raises(TabularError) as caught:
            registry_import(data=data, filename=name, scope_prefix=None, max_bytes=2000)
        reasons[method] = (caught.value.code, caught.value.reason)
    assert reasons["bulk"] == reasons["orm"]
    assert RegistryImport.objects.count() == 0


@postgres
def test_nothing_staged_or_stored_holds_a_plain_id_number_or_phone(regions, monkeypatch):
    monkeypatch.setattr(importing, "BULK_MIN_BYTES", 0)
    _registry_with_history()
    _import(_messy_members(), scope=TOWNSHIP_1[:9])
    plain = {IDS["A"], IDS["W"], "13811112222", "13900000002", IDS["C"][:17]}
    dump = io.StringIO()
    with connection.cursor() as cursor:
        # The staging tables are still there inside the test's transaction: searched too.
        tables = connection.introspection.table_names(cursor)
        assert "registry_stage_m" in tables
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                dump.write(repr(row))
    text = dump.getvalue()
    assert IDS["A"][:6] + "********" + IDS["A"][-4:] in text
    assert not [value for value in plain if value in text]


@postgres
def test_the_command_takes_a_file_above_the_upload_limit(regions, settings, tmp_path):
    settings.REGISTRY_IMPORT_MAX_BYTES = 1024
    households = tmp_path / "农户.csv"
    households.write_bytes(
        codecs.BOM_UTF8
        + _csv(
            "户编号,村代码,户类型,住址",
            *[f"{VILLAGE_A}{n:05d},{VILLAGE_A},一般农户,{n}社" for n in range(1, 200)],
        )
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("import_registry", str(households), stdout=out, stderr=err)
    assert "共 199 行，新增 199，更新 0，未通过 0" in out.getvalue()
    assert Household.objects.count() == 199
    with pytest.raises(TabularError):
        registry_import_file(path=households, max_bytes=1024)


def test_the_command_imports_through_the_orm_on_sqlite(regions, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded database only")
    out = io.StringIO()
    call_command(
        "import_registry",
        str(sample_path("registry_households.csv")),
        str(sample_path("registry_members.csv")),
        stdout=out,
    )
    assert "共 1081 行，新增 1081" in out.getvalue()


@postgres
def test_the_benchmark_imports_twice_and_leaves_nothing_behind(regions):
    out = io.StringIO()
    call_command("bench_registry", "--members", "3000", "--method", "bulk", "--changed", stdout=out)
    lines = out.getvalue()
    assert "首次导入 members" in lines and "(新增 3000, 更新 0)" in lines
    assert "重复导入 members" in lines and "(新增 0, 更新 3000)" in lines
    assert not Household.objects.filter(number__startswith="99").exists()
    assert not RegistryImport.objects.exists()


@settings(max_examples=300)
@given(
    phone=st.one_of(st.from_regex(r"1[0-9]{10}", fullmatch=True), st.text("1０9 +-86", max_size=14))
)
def test_the_short_way_for_a_plain_mobile_number_gives_what_normalise_phone_gives(phone):
    from django.core.exceptions import ValidationError

    from households.idnumber import ListIdChecker
    from households.services import normalise_phone

    values = {"name": "张三", "id_number": IDS["A"], "relation": "户主", "labour": "普通劳动力"}
    try:
        expected = normalise_phone(phone)
    except ValidationError as exc:
        expected = exc.messages[0]
    try:
        got = importing.member_attributes(
            {**values, "phone": phone}, ListIdChecker(date.today())
        ).phone
    except importing.RowError as exc:
        got = exc.reason
    assert got == expected


def test_values_encrypted_in_bulk_decrypt_and_never_share_a_nonce():
    tokens = pii.encrypt_many(["13912345678"] * 500 + [IDS["A"]], field="phone")
    assert len(set(tokens)) == 501
    assert {pii.decrypt(token, field="phone") for token in tokens} == {"13912345678", IDS["A"]}
    with pytest.raises(pii.PiiDecryptError):
        pii.decrypt(tokens[0], field="id_number")  # bound to its column


def _member_table_keys() -> tuple[list, list]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'households_member'::regclass ORDER BY conname"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'households_member' "
            "ORDER BY indexname"
        )
        return constraints, cursor.fetchall()


@postgres
def test_a_first_load_with_the_indexes_set_aside_gives_the_same_outcome_and_keys(
    regions, monkeypatch, tmp_path
):
    """An operator's province load builds the member table's indexes and keys again after
    the rows: the rows and report are the ORM path's, and every index and constraint is back
    as it was."""
    from households.bulk_import import set_aside

    monkeypatch.setattr(set_aside, "MIN_NEW_ROWS", 0)
    set_aside_runs = []
    original = set_aside.indexes_set_aside

    def counted(table):
        set_aside_runs.append(table)
        return original(table)

    monkeypatch.setattr(set_aside, "indexes_set_aside", counted)
    keys_before = _member_table_keys()
    path = tmp_path / "成员.csv"
    path.write_bytes(_csv(MEMBER_HEADER, *_generated_members(400)))

    def scenario():
        _registry_with_history()
        reports = [_report(registry_import_file(path=path)) for _ in range(2)]
        assert _member_table_keys() == keys_before
        return reports

    outcomes = _both_ways(monkeypatch, scenario)
    _assert_same(outcomes)
    # The first import set the indexes aside (400 new rows beside a handful); the re-import
    # found every row stored and took the ordinary upsert.
    assert set_aside_runs == ["households_member"]
    first, again = outcomes["bulk"]["reports"]
    assert (first[2], again[2]) == (333, 0)


def test_repeat_candidates_find_every_repeat_within_and_across_pieces():
    """The stage's pieces tell the importing process which ID hashes and heads' 户编号 occur
    twice; a repeat inside one piece, across pieces, or three times is found, and nothing
    that occurs once."""
    from array import array

    from households.bulk_import.rows import RepeatCandidates

    def piece(*hashes, heads=()):
        keys = array("Q", (int(value[:16], 16) for value in hashes)).tobytes()
        return keys, list(heads)

    a, b, c, d = ("a" * 64, "b" * 64, "c" * 64, "0123456789abcdef" + "f" * 48)
    candidates = RepeatCandidates()
    candidates.add(piece(a, b, a, heads=["H1", "H2"]))
    candidates.add(piece(c, heads=["H3"]))
    candidates.add(piece(b, d, heads=["H3", "H4", "H4"]))
    candidates.add(piece(b))
    assert sorted(candidates.id_prefixes()) == ["a" * 16, "b" * 16]
    assert candidates.heads == {"H3", "H4"}
    fresh = RepeatCandidates()
    fresh.add(piece(a, b, c, d, heads=["H1"]))
    assert (fresh.ids, fresh.heads) == (set(), set())


def test_the_collector_is_paused_only_while_a_piece_is_checked():
    """Pieces are checked with Python's cycle collector off (staging._collector_paused); it is
    on again afterwards, a piece that cannot be read apart included, and left off when it was
    off before."""
    import gc

    seen = []

    def lines(piece, rows):
        seen.append(gc.isenabled())
        return b"", None

    job = staging.Job(b"a,b\n1,2\n", None, lines)
    unreadable = (0, (0, 1))  # a span: its layout is missing, so it cannot be read apart
    with staging.Runner(job, parallel=False) as runner:
        [result] = runner.results([(0, [(1, ["x"])])])
        assert result[2] == (b"", None)
        assert gc.isenabled()
        with pytest.raises(AttributeError):
            list(runner.results([unreadable]))
        assert gc.isenabled()
        gc.disable()
        try:
            list(runner.results([(1, [(1, ["y"])])]))
            assert not gc.isenabled()
        finally:
            gc.enable()
    assert seen == [False, False]


@postgres
def test_a_first_load_is_told_by_the_rows_stored_not_the_planner_estimate(regions, monkeypatch):
    """Whether the indexes are set aside turns on the rows really stored: the planner's
    estimate is written in place by ANALYZE and outlives a rolled-back load (a stale one
    once kept a first load of an emptied table on the slow path)."""
    from django.db import connection

    from households.bulk_import import set_aside

    monkeypatch.setattr(set_aside, "MIN_NEW_ROWS", 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = 1000000 WHERE oid = 'households_member'::regclass"
        )
    assert set_aside.worth_it("households_member", 400)
    household = HouseholdFactory(village_id=VILLAGE_A)
    for n in range(3):
        MemberFactory(household=household, id_number=make_id_number(sequence=900 + 2 * n))
    assert not set_aside.worth_it("households_member", 2)
    assert set_aside.worth_it("households_member", 3)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = 0 WHERE oid = 'households_member'::regclass"
        )
    assert not set_aside.worth_it("households_member", 2)
