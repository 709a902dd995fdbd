"""Reading uploaded lists (household registries, department warning lists) from CSV or XLSX.

Everything a user can upload goes through `read_table`, which hands back the canonical columns
it recognised and a lazy stream of rows of cleaned strings. Whole-file problems (wrong format,
undecodable bytes, missing columns, a zip bomb) raise `TabularError` with a Chinese reason
that can be shown to the user as is; judging individual values is left to the caller.

Row numbers are the ones the user sees when opening the file in Excel or WPS: for CSV that is
the index of the record (a quoted cell spanning several lines is still one row, a blank line is
a row), for XLSX the sheet's own row number. Blank rows are skipped but still counted.

Only the standard library and openpyxl are used, so this module can be exercised without
Django. openpyxl is imported on first XLSX read because it is slow to import.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import cast

__all__ = [
    "Table",
    "TableRow",
    "TabularError",
    "decode_csv_bytes",
    "detect_format",
    "read_table",
]

MIB = 1024 * 1024

# A title row ("XX县2026年低保对象名单") or a note above the header is common in files exported
# from government systems; looking a few rows down for the header copes with it without ever
# mistaking a data row for a header, since data rows do not consist of column names.
HEADER_SEARCH_ROWS = 10

# Thresholds for a single member of an XLSX archive. Real sheets compress maybe 10-50:1;
# only crafted content (long runs of one byte) gets far beyond 200:1 at this size.
_BOMB_RATIO = 200
_BOMB_MIN_SIZE = 10 * MIB

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_OTHER_MAGICS = {
    b"%PDF": "PDF",
    b"\x89PNG": "PNG 图片",
    b"\xff\xd8\xff": "JPEG 图片",
    b"Rar!": "RAR 压缩包",
    b"7z\xbc\xaf": "7z 压缩包",
    b"\x1f\x8b": "gzip 压缩包",
}
_CSV_EXTENSIONS = {"csv", "txt", "tsv"}
_XLSX_EXTENSIONS = {"xlsx", "xlsm"}

_XLS_REASON = "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV"
_RESAVE_HINT = "请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后重新上传"

# Characters that are invisible in a spreadsheet but break an exact header comparison;
# str.strip() already covers ordinary, full-width (U+3000) and no-break spaces.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"

_DELIMITERS = (",", "\t", ";")

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class TabularError(ValueError):
    """The file as a whole cannot be read; `reason` is a Chinese sentence for the user.

    `code` is one of 'too_large', 'unknown_format', 'bad_encoding', 'bad_csv', 'zip_bomb',
    'bad_xlsx', 'no_header', 'missing_columns', 'too_many_rows'.
    """

    def __init__(self, code: str, reason: str) -> None:
        # Both go into args so the exception survives pickling (e.g. into a task result).
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class TableRow:
    number: int
    values: dict[str, str]


@dataclass
class Table:
    format: str
    encoding: str | None
    columns: list[str]
    rows: Iterator[TableRow]
    # Where each canonical column is in a row's cells: for readers of positional rows.
    positions: dict[str, int] | None = None


# ---------------------------------------------------------------------------------------------
# Format and encoding detection


def _extension(filename: str | None) -> str:
    if not filename:
        return ""
    # Browsers on Windows may send a full path ("C:\fakepath\名单.csv").
    base = re.split(r"[\\/]", filename)[-1]
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem else ""


def detect_format(data: bytes, filename: str | None = None) -> str:
    """'csv' or 'xlsx', judged by the content's magic bytes first and the extension second."""
    head = data[:8]
    ext = _extension(filename)
    if head.startswith(_ZIP_MAGICS):
        return "xlsx"
    if head == _OLE_MAGIC:
        # An .xlsx with an open password is stored in the old OLE container as well; telling
        # the user to re-save as .xlsx would not help them.
        if ext in _XLSX_EXTENSIONS or "EncryptionInfo".encode("utf-16-le") in data:
            raise TabularError(
                "unknown_format", "该 Excel 文件设置了打开密码，请取消密码后另存为 .xlsx 再上传"
            )
        raise TabularError("unknown_format", _XLS_REASON)
    for magic, kind in _OTHER_MAGICS.items():
        if head.startswith(magic):
            raise TabularError(
                "unknown_format", f"上传的文件是{kind}，不是表格，请上传 .xlsx 或 CSV 文件"
            )
    if ext in _XLSX_EXTENSIONS:
        return "xlsx"  # not a zip, so reading it will report it as a damaged workbook
    if ext == "xls":
        raise TabularError("unknown_format", _XLS_REASON)
    if ext in _CSV_EXTENSIONS:
        return "csv"
    if ext:
        raise TabularError(
            "unknown_format", f"不支持的文件格式（.{ext}），请上传 .xlsx 或 CSV 文件"
        )
    if b"\x00" in data[:4096] and not data.startswith(_UTF16_BOMS):
        raise TabularError("unknown_format", "无法识别的文件格式，请上传 .xlsx 或 CSV 文件")
    return "csv"


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CSV upload: BOM, else strict UTF-8, else GB18030 (covers GBK)."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _encoding_error(data, exc.start, "UTF-8") from None
    if data.startswith(_UTF16_BOMS):
        # Excel's "Unicode 文本" export; rare, but it is unambiguous thanks to the BOM.
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _encoding_error(data, exc.start, "UTF-16") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_failed_at = exc.start
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        gb_failed_at = exc.start
    # The reading that got further is the likelier intended encoding, so its offset is the one
    # that points at the damaged spot.
    if utf8_failed_at >= gb_failed_at:
        raise _encoding_error(data, utf8_failed_at, "UTF-8")
    raise _encoding_error(data, gb_failed_at, "GBK")


def _encoding_error(data: bytes, offset: int, tried: str) -> TabularError:
    return TabularError(
        "bad_encoding",
        f"文件编码无法识别：既不是 UTF-8 也不是 GBK/GB18030（按 {tried} 读取时，"
        f"第 {_line_of(data, offset)} 行、字节偏移 {offset} 处无法解码），" + _RESAVE_HINT,
    )


# ---------------------------------------------------------------------------------------------
# Cleaning


_CONTROL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])


def strip_control(text: str) -> str:
    """Text without control characters (tab, newline and carriage return stay): NUL and its
    kin never belong in a cell, and PostgreSQL refuses NUL outright."""
    return text.translate(_CONTROL)


def _clean(text: str) -> str:
    # isprintable() is one C pass and true for almost every cell; it is false for every
    # control character (and for some harmless ones, which then just take the longer way).
    if text.isprintable():
        return text.strip()
    return strip_control(text).strip()


def _header_key(text: str) -> str:
    # NFKC folds full-width letters and spaces, so "ＩＤ" and "身份证号\u3000" still match.
    return unicodedata.normalize("NFKC", text).strip().strip(_INVISIBLE).strip().casefold()


def _format_float(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e15:
        # What Excel shows for a long number typed into a General cell: 15 significant digits
        # in scientific notation. The ID validator recognises this shape as Excel damage.
        return f"{value:.14E}"
    if value.is_integer():
        return str(int(value))
    # Excel keeps 15 significant digits, so 0.1 + 0.2 shows as 0.3 there and should here too.
    return str(float(f"{value:.15g}"))


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _mb(size: int) -> str:
    return f"{size / MIB:.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------------------
# Raw records: (row number as the user sees it, list of cleaned cell strings), blank rows included


# One physical line with its terminator, split where a file opened with newline="" would be.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    # io.StringIO would copy the whole text into a 4-bytes-per-character buffer; for a
    # million-row feed that is hundreds of MB on top of the decoded text itself.
    return (match.group() for match in _LINE.finditer(text))


def _sniff_delimiter(text: str) -> str:
    for line in _lines(text):
        if line.strip():
            counts = [line.count(delimiter) for delimiter in _DELIMITERS]
            best = max(range(len(_DELIMITERS)), key=lambda i: counts[i])
            return _DELIMITERS[best] if counts[best] else ","
    return ","


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    # strict=True turns an unclosed quote into an error; otherwise every later line would be
    # silently swallowed into one cell and the rows would just be missing.
    reader = csv.reader(_lines(text), delimiter=_sniff_delimiter(text), strict=True)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TabularError(
                "bad_csv",
                f"CSV 格式有误：第 {number + 1} 行的英文双引号没有正确配对"
                "（引号内的内容跨到了后面的行），请检查该行后重新导出",
            ) from exc
        # Counting records rather than reader.line_num keeps a multi-line quoted cell as one
        # row, which is what the user sees in a spreadsheet.
        number += 1
        yield number, [_clean(cell) for cell in cells]


def _check_xlsx_archive(data: bytes, max_uncompressed: int) -> None:
    # Sizes are the ones declared in the central directory. That is enough because zipfile
    # stops decompressing a member at its declared size, so a member cannot lie its way past
    # this check when openpyxl reads it later.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = set(archive.namelist())
    except Exception as exc:
        raise TabularError("bad_xlsx", "Excel 文件已损坏，无法打开，请重新保存后上传") from exc
    if "[Content_Types].xml" not in names:
        raise TabularError("bad_xlsx", "文件不是有效的 Excel（.xlsx）文件，请上传 .xlsx 或 CSV")
    total = sum(member.file_size for member in members)
    if total > max_uncompressed:
        raise TabularError(
            "zip_bomb",
            f"Excel 文件解压后过大（约 {_mb(total)} MB，上限 {_mb(max_uncompressed)} MB），"
            "请删除多余的工作表和内容，或拆分后分批上传",
        )
    for member in members:
        if member.file_size > _BOMB_MIN_SIZE and member.file_size > _BOMB_RATIO * max(
            member.compress_size, 1
        ):
            raise TabularError(
                "zip_bomb", "Excel 文件内含压缩比异常的内容（疑似压缩炸弹），已拒绝读取"
            )


def _first_sheet(workbook):
    sheets = workbook.worksheets
    if not sheets:
        raise TabularError("bad_xlsx", "Excel 文件中没有工作表")
    # Templates often keep their drop-down lists on a hidden sheet; the user means the one
    # they can see.
    for sheet in sheets:
        if getattr(sheet, "sheet_state", "visible") == "visible":
            return sheet
    return sheets[0]


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    except Exception as exc:
        raise TabularError("bad_xlsx", "Excel 文件已损坏，无法打开，请重新保存后上传") from exc
    try:
        sheet = _first_sheet(workbook)
        # Read-only mode trusts the sheet's recorded dimensions and stops there; files written
        # by other software sometimes record them wrongly, which would silently drop rows.
        sheet.reset_dimensions()
        # Rows missing from the XML come back as empty tuples, so counting gives the real
        # row numbers.
        rows = sheet.iter_rows(values_only=True)
        number = 0
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except Exception as exc:
                raise TabularError(
                    "bad_xlsx", f"Excel 文件第 {number + 1} 行附近已损坏，无法继续读取"
                ) from exc
            number += 1
            yield number, [_cell_text(value) for value in values]
    finally:
        # Read-only workbooks keep the archive open until closed.
        workbook.close()


# ---------------------------------------------------------------------------------------------
# Header and rows


def _alias_index(aliases: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Header key -> canonical names; one spelling may serve several names (户编号)."""
    index: dict[str, list[str]] = {}
    for canonical, spellings in aliases.items():
        if isinstance(spellings, str):
            spellings = (spellings,)
        for spelling in spellings:
            names = index.setdefault(_header_key(spelling), [])
            if canonical not in names:
                names.append(canonical)
    return index


def _first_label(aliases: Mapping[str, Iterable[str]], canonical: str) -> str:
    spellings = aliases.get(canonical, ())
    if isinstance(spellings, str):
        return spellings
    return next(iter(spellings), canonical)


def _match_header(cells: list[str], index: dict[str, list[str]]) -> list[tuple[int, str]]:
    """(cell position, canonical name) pairs; the first column with a given meaning wins."""
    mapping: list[tuple[int, str]] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells):
        for canonical in index.get(_header_key(cell), ()):
            if canonical not in seen:
                seen.add(canonical)
                mapping.append((position, canonical))
    return mapping


def _find_header(
    records: Iterator[tuple[int, list[str]]],
    aliases: Mapping[str, Iterable[str]],
    required: list[str],
) -> tuple[int, list[tuple[int, str]]]:
    index = _alias_index(aliases)
    examples = "、".join(_first_label(aliases, name) for name in (required or list(aliases))[:3])
    seen_rows = 0
    for number, cells in records:
        if not any(cells):
            continue
        mapping = _match_header(cells, index)
        if mapping:
            return number, mapping
        seen_rows += 1
        if seen_rows >= HEADER_SEARCH_ROWS:
            break
    if seen_rows == 0:
        raise TabularError("no_header", "文件是空的，没有任何内容")
    raise TabularError("no_header", f"未找到表头：第一行应包含列名（如 {examples}）")


def _stream(
    records: Iterator[tuple[int, list[str]]],
    aliases: Mapping[str, Iterable[str]],
    required: list[str],
    max_rows: int | None,
    positional: bool = False,
) -> Iterator[list[str] | TableRow | tuple]:
    """First yields the header mapping, then the data rows: TableRow, or with `positional`
    (number, cells) with cells padded to every mapped position — no dict per row, which
    matters on a million-row list.

    read_table takes the first item straight away, so header errors surface eagerly and the
    generator is already inside its try block: closing it early, even without reading a row,
    releases the workbook.
    """
    try:
        header_number, mapping = _find_header(records, aliases, required)
        columns = [canonical for _, canonical in mapping]
        missing = [name for name in required if name not in columns]
        if missing:
            labels = "、".join(_first_label(aliases, name) for name in missing)
            raise TabularError(
                "missing_columns",
                f"缺少必需的列：{labels}（请检查第 {header_number} 行的列名）",
            )
        yield mapping

        width_needed = max(position for position, _ in mapping) + 1
        count = 0
        for number, cells in records:
            if not any(cells):
                continue
            count += 1
            if max_rows is not None and count > max_rows:
                raise TabularError(
                    "too_many_rows", f"数据超过 {max_rows} 行的上限，请拆分文件后分批上传"
                )
            width = len(cells)
            if positional:
                if width < width_needed:
                    cells.extend([""] * (width_needed - width))
                yield number, cells
                continue
            values = {
                canonical: cells[position] if position < width else ""
                for position, canonical in mapping
            }
            yield TableRow(number=number, values=values)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def _open_stream(
    records: Iterator[tuple[int, list[str]]],
    aliases: Mapping[str, Iterable[str]],
    required: list[str],
    max_rows: int | None,
    positional: bool = False,
) -> tuple[list[tuple[int, str]], Iterator]:
    stream = _stream(records, aliases, required, max_rows, positional)
    mapping = cast(list[tuple[int, str]], next(stream))
    return mapping, stream


def _damaged_utf8(data: bytes, aliases: Mapping[str, Iterable[str]]) -> TabularError | None:
    """The error to give when a GB18030 reading found no header but UTF-8 would have.

    A UTF-8 file with one broken byte (a truncated upload, a GBK row pasted in) fails strict
    UTF-8 yet often still "decodes" as GB18030 into nonsense; the header then matches nothing
    and "no header" would send the user looking in the wrong place.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
    else:
        return None
    prefix = data[:offset].decode("utf-8")
    try:
        _find_header(_csv_records(prefix), aliases, [])
    except TabularError:
        return None
    return TabularError(
        "bad_encoding",
        f"文件是 UTF-8 编码，但第 {_line_of(data, offset)} 行（字节偏移 {offset}）处有无法识别的"
        "字符，文件可能已损坏或混入了其他编码的内容，" + _RESAVE_HINT,
    )


def read_table(
    data: bytes,
    *,
    filename: str | None = None,
    aliases: Mapping[str, Iterable[str]],
    required: Iterable[str] = (),
    max_bytes: int = 50 * MIB,
    max_rows: int | None = None,
    max_xlsx_uncompressed: int = 200 * MIB,
    positional: bool = False,
) -> Table:
    """Open an uploaded CSV or XLSX list.

    `aliases` maps each canonical column name to the header spellings accepted for it; other
    columns are ignored. Header problems raise here; problems further into the file
    (too_many_rows, a broken quote, a damaged sheet) raise while iterating `rows`. Each row's
    `values` holds every recognised column ('' when blank). Close `rows` when stopping early.
    With `positional`, rows are (number, cells) and `positions` says where each column is.
    """
    if len(data) > max_bytes:
        raise TabularError(
            "too_large",
            f"文件过大（{_mb(len(data))} MB），超过 {_mb(max_bytes)} MB 的上限，请拆分后分批上传",
        )
    required = list(required)
    fmt = detect_format(data, filename)
    if fmt == "xlsx":
        _check_xlsx_archive(data, max_xlsx_uncompressed)
        mapping, rows = _open_stream(_xlsx_records(data), aliases, required, max_rows, positional)
        return _table("xlsx", None, mapping, rows)

    text, encoding = decode_csv_bytes(data)
    try:
        mapping, rows = _open_stream(_csv_records(text), aliases, required, max_rows, positional)
    except TabularError as exc:
        if exc.code == "no_header" and encoding == "gb18030":
            better = _damaged_utf8(data, aliases)
            if better is not None:
                raise better from exc
        raise
    return _table("csv", encoding, mapping, rows)


def _table(fmt: str, encoding: str | None, mapping: list[tuple[int, str]], rows) -> Table:
    return Table(
        format=fmt,
        encoding=encoding,
        columns=[canonical for _, canonical in mapping],
        rows=rows,
        positions={canonical: position for position, canonical in mapping},
    )
