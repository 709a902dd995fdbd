"""Tests for sheets.reading: reading uploaded CSV/XLSX lists without Django."""

import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from sheets import reading
from sheets.reading import (
    Table,
    TableRow,
    TabularError,
    decode_csv_bytes,
    detect_format,
    read_table,
)

SAMPLES = Path("/work/shared/samples")

MEMBER_ALIASES = {
    "household": ["户编号", "户码"],
    "name": ["姓名"],
    "id_number": ["身份证号", "身份证号码", "证件号码"],
    "relation": ["与户主关系"],
    "health": ["健康状况"],
    "labour": ["劳动技能"],
    "phone": ["联系电话", "手机号"],
}
WARNING_ALIASES = {
    "name": ["姓名"],
    "id_number": ["身份证号", "身份证号码", "证件号码"],
    "kind": ["预警类型"],
    "amount": ["金额"],
    "date": ["发生日期"],
    "note": ["说明", "备注"],
}
SIMPLE = {"name": ["姓名"], "id_number": ["身份证号", "身份证号码", "证件号码"]}


def rows_of(table: Table) -> list[TableRow]:
    return list(table.rows)


def xlsx_bytes(rows, *, cells=None) -> bytes:
    """An in-memory workbook; `cells` places values at explicit (row, column) positions."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    for (row, column), value in (cells or {}).items():
        sheet.cell(row=row, column=column, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def no_openpyxl(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl.load_workbook must not be called")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


# --- encodings --------------------------------------------------------------------------------

CSV_TEXT = "姓名,身份证号\n张三,630121198710020016\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (CSV_TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"), "utf-8-sig"),
        (CSV_TEXT.encode("gbk"), "gb18030"),
    ],
)
def test_decode_csv_bytes_detects_encoding(data, encoding):
    text, found = decode_csv_bytes(data)
    assert found == encoding
    assert text == CSV_TEXT


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_read_table_in_each_encoding(encoding):
    table = read_table(CSV_TEXT.encode(encoding), filename="名单.csv", aliases=SIMPLE)
    assert table.format == "csv"
    assert table.columns == ["name", "id_number"]
    assert rows_of(table) == [
        TableRow(number=2, values={"name": "张三", "id_number": "630121198710020016"})
    ]


def test_utf16_with_bom_is_read():
    data = "姓名\t身份证号\r\n张三\t630121198710020016\r\n".encode("utf-16")
    table = read_table(data, filename="名单.txt", aliases=SIMPLE)
    assert table.encoding == "utf-16"
    assert [row.values["name"] for row in table.rows] == ["张三"]


def test_bad_encoding_names_the_offset():
    bad = b"\x81\x20"
    for codec in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            bad.decode(codec)
    prefix = "姓名,身份证号\n".encode("gbk")
    with pytest.raises(TabularError) as caught:
        decode_csv_bytes(prefix + bad)
    assert caught.value.code == "bad_encoding"
    assert f"字节偏移 {len(prefix)}" in caught.value.reason
    assert "第 2 行" in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_bad_encoding_via_read_table():
    with pytest.raises(TabularError) as caught:
        read_table(b"\xff\xfe\xfd" * 3 + b"\x81\x20", filename="a.csv", aliases=SIMPLE)
    assert caught.value.code == "bad_encoding"


def test_utf8_file_with_a_gbk_row_is_not_read_as_gibberish():
    data = "姓名,身份证号\n".encode() + "张三,1\n".encode("gbk")
    assert decode_csv_bytes(data)[1] == "gb18030"  # the trap: it "decodes"
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.csv", aliases=SIMPLE)
    assert caught.value.code == "bad_encoding"
    assert "UTF-8" in caught.value.reason
    assert "第 2 行" in caught.value.reason


# --- real samples -----------------------------------------------------------------------------


def test_sample_civil_affairs_gbk():
    data = (SAMPLES / "warnings_civil_affairs_gbk.csv").read_bytes()
    table = read_table(data, filename="warnings_civil_affairs_gbk.csv", aliases=WARNING_ALIASES)
    assert table.encoding == "gb18030"
    assert table.columns == ["name", "id_number", "kind", "amount", "date", "note"]
    rows = rows_of(table)
    assert len(rows) == 60
    assert rows[0].number == 2
    assert rows[0].values == {
        "name": "崔强",
        "id_number": "630121196406051281",
        "kind": "新纳入低保",
        "amount": "343",
        "date": "2026-08-17",
        "note": "",
    }
    assert rows[1].values["name"] == "钱兰"
    assert rows[1].values["id_number"] == "63012220100320700X"
    assert rows[-1].number == 61


def test_sample_registry_members_utf8():
    data = (SAMPLES / "registry_members.csv").read_bytes()
    table = read_table(
        data,
        filename="registry_members.csv",
        aliases=MEMBER_ALIASES,
        required=["household", "name", "id_number"],
    )
    assert table.encoding == "utf-8"
    assert table.columns == [
        "household",
        "name",
        "id_number",
        "relation",
        "health",
        "labour",
        "phone",
    ]
    rows = rows_of(table)
    assert len(rows) == 1081
    assert rows[0].values["name"] == "沈军"
    assert rows[0].values["phone"] == "15678014775"
    assert rows[1].values["phone"] == ""
    assert [row.number for row in rows] == list(range(2, 1083))


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["身份证号码", "证件号码", "身份证号"])
def test_header_aliases(header):
    data = f"姓名,{header}\n张三,1\n".encode()
    table = read_table(data, filename="a.csv", aliases=SIMPLE)
    assert rows_of(table)[0].values == {"name": "张三", "id_number": "1"}


def test_header_whitespace_bom_and_case():
    data = "\ufeff 姓名\u3000,\u3000身份证号 ,\xa0Phone\n张三,1,139\n".encode()
    aliases = {**SIMPLE, "phone": ["phone"]}
    table = read_table(data, filename="a.csv", aliases=aliases)
    assert table.columns == ["name", "id_number", "phone"]
    assert rows_of(table)[0].values == {"name": "张三", "id_number": "1", "phone": "139"}


def test_unknown_columns_are_ignored():
    data = "序号,姓名,备注,身份证号,其他\n1,张三,x,2,y\n".encode()
    table = read_table(data, filename="a.csv", aliases=SIMPLE)
    assert table.columns == ["name", "id_number"]
    assert rows_of(table)[0].values == {"name": "张三", "id_number": "2"}


def test_one_header_may_serve_several_canonical_names():
    aliases = {"household": ["户编号"], "number": ["户编号", "户码"], "name": ["姓名"]}
    table = read_table("户编号,姓名\n001,张三\n".encode(), filename="a.csv", aliases=aliases)
    assert table.columns == ["household", "number", "name"]
    assert rows_of(table)[0].values == {"household": "001", "number": "001", "name": "张三"}


def test_missing_required_column_is_named_in_chinese():
    data = "姓名,电话\n张三,1\n".encode()
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.csv", aliases=SIMPLE, required=["name", "id_number"])
    assert caught.value.code == "missing_columns"
    assert "身份证号" in caught.value.reason
    assert "姓名" not in caught.value.reason.split("：", 1)[1].split("（")[0]


def test_no_header():
    with pytest.raises(TabularError) as caught:
        read_table("甲,乙\n1,2\n".encode(), filename="a.csv", aliases=SIMPLE)
    assert caught.value.code == "no_header"
    assert "未找到表头" in caught.value.reason
    assert "姓名" in caught.value.reason


def test_empty_file_has_no_header():
    with pytest.raises(TabularError) as caught:
        read_table(b"\r\n\r\n", filename="a.csv", aliases=SIMPLE)
    assert caught.value.code == "no_header"


def test_title_row_above_header_is_skipped():
    data = "XX县2026年低保对象名单,\n姓名,身份证号\n张三,1\n".encode()
    table = read_table(data, filename="a.csv", aliases=SIMPLE)
    assert [(row.number, row.values["name"]) for row in table.rows] == [(3, "张三")]


# --- rows -------------------------------------------------------------------------------------


def test_values_are_stripped_but_not_altered():
    data = "姓名,身份证号\n\u3000张 三\xa0, 63012119871002001x \n".encode()
    values = rows_of(read_table(data, filename="a.csv", aliases=SIMPLE))[0].values
    assert values == {"name": "张 三", "id_number": "63012119871002001x"}


def test_row_numbers_count_blank_lines_and_multiline_cells():
    data = (
        "姓名,身份证号,说明\r\n"  # row 1
        "张三,1,\r\n"  # row 2
        "\r\n"  # row 3, blank
        ",,\r\n"  # row 4, all cells empty
        '李四,2,"第一行\r\n第二行"\r\n'  # row 5, one record on two lines
        "王五,3,\r\n"  # row 6
        " , \u3000 ,\r\n"  # row 7, whitespace only
        "\r\n\r\n"  # trailing empty lines
    ).encode()
    aliases = {**SIMPLE, "note": ["说明"]}
    rows = rows_of(read_table(data, filename="a.csv", aliases=aliases))
    assert [(row.number, row.values["name"]) for row in rows] == [
        (2, "张三"),
        (5, "李四"),
        (6, "王五"),
    ]
    assert rows[1].values["note"] == "第一行\r\n第二行"


def test_short_rows_are_padded_and_long_rows_trimmed():
    data = "姓名,身份证号\n张三\n李四,2,多余\n".encode()
    rows = rows_of(read_table(data, filename="a.csv", aliases=SIMPLE))
    assert [row.values for row in rows] == [
        {"name": "张三", "id_number": ""},
        {"name": "李四", "id_number": "2"},
    ]


def test_tab_delimited_csv():
    data = "姓名\t身份证号\t备注\n张三\t630121198710020016\t有,逗号\n".encode("gbk")
    table = read_table(data, filename="名单.txt", aliases={**SIMPLE, "note": ["备注"]})
    assert rows_of(table)[0].values == {
        "name": "张三",
        "id_number": "630121198710020016",
        "note": "有,逗号",
    }


def test_semicolon_delimited_csv():
    table = read_table("姓名;身份证号\n张三;1\n".encode(), filename="a.csv", aliases=SIMPLE)
    assert rows_of(table)[0].values == {"name": "张三", "id_number": "1"}


def test_unclosed_quote_is_an_error_not_lost_rows():
    data = '姓名,身份证号\n张三,1\n"李四,2\n王五,3\n'.encode()
    table = read_table(data, filename="a.csv", aliases=SIMPLE)
    rows = table.rows
    assert next(rows).number == 2
    with pytest.raises(TabularError) as caught:
        next(rows)
    assert caught.value.code == "bad_csv"
    assert "第 3 行" in caught.value.reason


def test_rows_are_lazy_and_too_many_rows_is_raised_while_iterating():
    lines = ["姓名,身份证号"] + [f"人{i},{i}" for i in range(10)]
    table = read_table("\n".join(lines).encode(), filename="a.csv", aliases=SIMPLE, max_rows=5)
    consumed = []
    with pytest.raises(TabularError) as caught:
        for row in table.rows:
            consumed.append(row.number)
    assert caught.value.code == "too_many_rows"
    assert "5" in caught.value.reason
    assert consumed == [2, 3, 4, 5, 6]


def test_max_rows_exactly_reached_is_fine():
    data = "姓名,身份证号\n甲,1\n\n乙,2\n".encode()
    rows = rows_of(read_table(data, filename="a.csv", aliases=SIMPLE, max_rows=2))
    assert [row.number for row in rows] == [2, 4]


def test_too_large():
    data = b"x" * (1024 * 1024 + 1)
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.csv", aliases=SIMPLE, max_bytes=1024 * 1024)
    assert caught.value.code == "too_large"
    assert "1 MB" in caught.value.reason


# --- format detection -------------------------------------------------------------------------


def test_detect_format():
    xlsx = xlsx_bytes([["姓名"]])
    assert detect_format(xlsx, "a.xlsx") == "xlsx"
    assert detect_format(xlsx, "renamed.csv") == "xlsx"
    assert detect_format(xlsx) == "xlsx"
    assert detect_format(b"a,b\n", "A.CSV") == "csv"
    assert detect_format(b"a\tb\n", "C:\\fakepath\\list.txt") == "csv"
    assert detect_format(b"a,b\n") == "csv"


def test_legacy_xls_is_refused():
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    for name in ("名单.xls", "名单.csv", None):
        with pytest.raises(TabularError) as caught:
            detect_format(data, name)
        assert caught.value.code == "unknown_format"
        assert caught.value.reason == "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV"
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="名单.xls", aliases=SIMPLE)
    assert caught.value.code == "unknown_format"


def test_password_protected_xlsx_gets_its_own_reason():
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le")
    with pytest.raises(TabularError) as caught:
        detect_format(data, "名单.xlsx")
    assert caught.value.code == "unknown_format"
    assert "密码" in caught.value.reason


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"%PDF-1.7", "名单.csv"), (b"hello", "名单.docx"), (b"\x00\x01\x02", None)],
)
def test_other_formats_are_refused(data, name):
    with pytest.raises(TabularError) as caught:
        detect_format(data, name)
    assert caught.value.code == "unknown_format"


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_values_and_real_row_numbers():
    data = xlsx_bytes(
        [
            ["  姓名 ", "证件号码", "出生日期", "登记时间", "金额", "是否低保", "户编号"],
            [
                "张三",
                630121198710020016.0,
                date(1987, 10, 2),
                datetime(2026, 5, 1, 8, 30),
                343.5,
                True,
                63012110120200001,
            ],
            [None, None, None],
            ["  ", "\u3000", None],
            [
                "李四",
                "63012119871002001X",
                datetime(2000, 1, 2),
                datetime(2026, 5, 1),
                0.1 + 0.2,
                False,
                1234.0,
            ],
        ],
        cells={(8, 1): "王五", (8, 2): 123456789012345.0},
    )
    aliases = {
        **SIMPLE,
        "birth": ["出生日期"],
        "registered": ["登记时间"],
        "amount": ["金额"],
        "assisted": ["是否低保"],
        "household": ["户编号"],
    }
    table = read_table(data, filename="名单.xlsx", aliases=aliases, required=["id_number"])
    assert table.format == "xlsx"
    assert table.encoding is None
    assert table.columns == [
        "name",
        "id_number",
        "birth",
        "registered",
        "amount",
        "assisted",
        "household",
    ]
    rows = rows_of(table)
    assert [row.number for row in rows] == [2, 5, 8]
    assert rows[0].values == {
        "name": "张三",
        "id_number": "6.30121198710020E+17",
        "birth": "1987-10-02",
        "registered": "2026-05-01 08:30:00",
        "amount": "343.5",
        "assisted": "是",
        # Like Excel, openpyxl keeps too few digits of a 17-digit number to recover it.
        "household": "6.30121101202000E+16",
    }
    assert rows[1].values == {
        "name": "李四",
        "id_number": "63012119871002001X",
        "birth": "2000-01-02",
        "registered": "2026-05-01",
        "amount": "0.3",
        "assisted": "否",
        "household": "1234",
    }
    assert rows[2].values["id_number"] == "123456789012345"
    assert rows[2].values["birth"] == ""


def test_xlsx_header_below_title_and_blank_rows():
    data = xlsx_bytes(
        [],
        cells={
            (2, 1): "低保名单",
            (4, 1): "姓名",
            (4, 2): "身份证号",
            (5, 1): "张三",
            (5, 2): "1",
            (9, 1): "李四",
        },
    )
    rows = rows_of(read_table(data, filename="a.xlsx", aliases=SIMPLE))
    assert [(row.number, row.values["name"]) for row in rows] == [(5, "张三"), (9, "李四")]


def test_xlsx_first_visible_sheet_is_read():
    workbook = openpyxl.Workbook()
    hidden = workbook.active
    hidden.title = "下拉选项"
    hidden.append(["健康", "残疾"])
    hidden.sheet_state = "hidden"
    sheet = workbook.create_sheet("名单")
    sheet.append(["姓名", "身份证号"])
    sheet.append(["张三", "1"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    rows = rows_of(read_table(buffer.getvalue(), filename="a.xlsx", aliases=SIMPLE))
    assert [row.values["name"] for row in rows] == ["张三"]


def test_xlsx_missing_columns_and_no_header():
    data = xlsx_bytes([["姓名", "电话"], ["张三", "1"]])
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.xlsx", aliases=SIMPLE, required=["id_number"])
    assert caught.value.code == "missing_columns"
    assert "身份证号" in caught.value.reason
    with pytest.raises(TabularError) as caught:
        read_table(xlsx_bytes([["a", "b"]]), filename="a.xlsx", aliases=SIMPLE)
    assert caught.value.code == "no_header"


def test_xlsx_workbook_is_closed_when_rows_are_closed(monkeypatch):
    closed = []
    real_load = openpyxl.load_workbook

    def tracking_load(*args, **kwargs):
        workbook = real_load(*args, **kwargs)
        real_close = workbook.close

        def close():
            closed.append(True)
            real_close()

        workbook.close = close
        return workbook

    monkeypatch.setattr(openpyxl, "load_workbook", tracking_load)
    data = xlsx_bytes([["姓名", "身份证号"], ["张三", "1"], ["李四", "2"]])

    table = read_table(data, filename="a.xlsx", aliases=SIMPLE)
    table.rows.close()  # before reading a single row
    assert closed == [True]

    table = read_table(data, filename="a.xlsx", aliases=SIMPLE)
    assert len(rows_of(table)) == 2
    assert closed == [True, True]

    with pytest.raises(TabularError):
        read_table(data, filename="a.xlsx", aliases=SIMPLE, required=["phone"])
    assert closed == [True, True, True]


def test_xlsx_too_many_rows_is_lazy():
    data = xlsx_bytes([["姓名", "身份证号"]] + [[f"人{i}", str(i)] for i in range(5)])
    table = read_table(data, filename="a.xlsx", aliases=SIMPLE, max_rows=3)
    rows = table.rows
    assert [next(rows).number for _ in range(3)] == [2, 3, 4]
    with pytest.raises(TabularError) as caught:
        next(rows)
    assert caught.value.code == "too_many_rows"


def test_corrupt_xlsx(no_openpyxl):
    with pytest.raises(TabularError) as caught:
        read_table(b"PK\x03\x04" + b"\x00garbage" * 20, filename="a.xlsx", aliases=SIMPLE)
    assert caught.value.code == "bad_xlsx"


def test_text_renamed_to_xlsx_is_bad_xlsx(no_openpyxl):
    with pytest.raises(TabularError) as caught:
        read_table("姓名,身份证号\n".encode(), filename="a.xlsx", aliases=SIMPLE)
    assert caught.value.code == "bad_xlsx"


def test_zip_that_is_not_a_workbook():
    data = zip_bytes({"word/document.xml": b"<w/>"})
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.xlsx", aliases=SIMPLE)
    assert caught.value.code == "bad_xlsx"


# --- zip bombs --------------------------------------------------------------------------------


def test_zip_bomb_total_size_refused_before_openpyxl(no_openpyxl):
    data = zip_bytes(
        {"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": b"0" * 2 * 1024 * 1024}
    )
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.xlsx", aliases=SIMPLE, max_xlsx_uncompressed=1024 * 1024)
    assert caught.value.code == "zip_bomb"
    assert "上限 1 MB" in caught.value.reason


def test_zip_bomb_ratio_refused_before_openpyxl(no_openpyxl):
    member = bytes(11 * 1024 * 1024)
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/sharedStrings.xml": member})
    assert len(data) < len(member) // 200  # the precondition the rule is about
    with pytest.raises(TabularError) as caught:
        read_table(data, filename="a.xlsx", aliases=SIMPLE)
    assert caught.value.code == "zip_bomb"


def test_tabular_error_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(TabularError("too_large", "文件过大")))  # noqa: S301 (own object)
    assert (error.code, error.reason, str(error)) == ("too_large", "文件过大", "文件过大")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (630121198710020016, "630121198710020016"),  # an exact int, as pandas writes it
        (6.3012119871002e17, "6.30121198710020E+17"),
        (1e15, "1.00000000000000E+15"),
        (999999999999999.0, "999999999999999"),
        (-12.0, "-12"),
        (0.1 + 0.2, "0.3"),
        (2.5, "2.5"),
        (True, "是"),
        (False, "否"),
        (datetime(2026, 1, 2, 0, 0), "2026-01-02"),
        (datetime(2026, 1, 2, 0, 0, 5), "2026-01-02 00:00:05"),
        (date(2026, 1, 2), "2026-01-02"),
        (None, ""),
        ("\u3000 文本 \xa0", "文本"),
    ],
)
def test_cell_text(value, text):
    assert reading._cell_text(value) == text
