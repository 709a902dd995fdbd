"""Writing Excel work sheets (台账) as a stream: rows go to disk as they come, so a sheet of
a hundred thousand rows costs no more memory than one of ten.

Built on openpyxl's write-only mode. What it adds is the safety of the cells:

- every str is a string cell, never a formula or an error value (openpyxl reads a str that
  starts with "=" as a formula, and "#N/A" as an error, unless told otherwise);
- a string that begins with = + - @, a tab or a line break (or the full-width ＝＋－＠,
  which an input method can turn into a formula start) is also marked quotePrefix, so Excel
  and WPS keep it as text when a user edits the cell later (CSV/formula injection);
- columns holding ID or phone numbers are formatted as text ("@"), so an 18-digit number
  typed or pasted there is not turned into 6.30121E+17;
- characters XML cannot carry are dropped instead of failing the whole sheet.

Only the standard library and openpyxl: no Django here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

__all__ = ["Column", "SheetWriter", "WorkbookWriter", "clean_text", "needs_quote_prefix"]

# Excel's limit for one cell; longer text is cut rather than refused.
MAX_CELL_CHARS = 32767
# Sheet names: at most 31 characters, none of these.
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# What XML 1.0 cannot hold (the C0 controls except tab, line feed, carriage return).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# (A carriage return is stored as a line feed, see clean_text: both count as a start.)
_QUOTED_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# A str equal to one of these is written by openpyxl as an error cell.
_ERROR_VALUES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})
TEXT_FORMAT = "@"


@dataclass(frozen=True)
class Column:
    """One column: its header, its width in characters, and whether it holds numbers that
    are text (ID and phone numbers: formatted "@" so they stay text when edited)."""

    title: str
    width: float = 12
    text: bool = False


def clean_text(value: str) -> str:
    """The string as a cell can hold it: no XML-illegal characters, line breaks as line
    feeds (XML reads a bare carriage return back as one anyway), at most 32,767 long."""
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub("", value)
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value[:MAX_CELL_CHARS]


def needs_quote_prefix(value: str) -> bool:
    """Would Excel read this as the start of a formula if a user re-entered it?"""
    return value.startswith(_QUOTED_STARTS)


class SheetWriter:
    """One worksheet of a `WorkbookWriter`: the header is written when it is made, then
    `append` writes a row of str, int, Decimal, date or None values in column order."""

    def __init__(self, book: WorkbookWriter, title: str, columns: Sequence[Column]):
        self._sheet = book._workbook.create_sheet(_sheet_name(title))
        self._columns = list(columns)
        self._text_columns = frozenset(i for i, c in enumerate(self._columns) if c.text)
        self.rows_written = 0
        # Widths and the frozen header must be set before the first row is streamed.
        for index, column in enumerate(self._columns, start=1):
            self._sheet.column_dimensions[get_column_letter(index)].width = column.width
        self._sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for column in self._columns:
            cell = self._string_cell(column.title)
            cell.font = bold
            header.append(cell)
        self._sheet.append(header)

    def append(self, values: Sequence) -> None:
        if len(values) != len(self._columns):
            raise ValueError(f"row has {len(values)} values for {len(self._columns)} columns")
        self._sheet.append([self._cell(i, v) for i, v in enumerate(values)])
        self.rows_written += 1

    def extend(self, rows: Iterable[Sequence]) -> int:
        count = 0
        for row in rows:
            self.append(row)
            count += 1
        return count

    def _cell(self, index: int, value):
        if value is None or value == "":
            # Nothing is written for an empty cell: on a sheet of a million cells every
            # cell costs.
            return None
        if isinstance(value, str):
            value = clean_text(value)
            if index in self._text_columns:
                cell = self._string_cell(value)
                cell.number_format = TEXT_FORMAT
                return cell
            if value.startswith("=") or value in _ERROR_VALUES or needs_quote_prefix(value):
                return self._string_cell(value)
            # A plain string: openpyxl binds it as a string cell itself, and a bare value
            # lets it reuse one cell object for the row (the cost of a styled cell each time
            # shows on sheets of a million cells).
            return value
        if isinstance(value, bool):
            # Booleans are words on these sheets; True would read as TRUE or 1.
            return "是" if value else "否"
        if isinstance(value, datetime):
            raise TypeError("datetimes are written as their local date; pass a date")
        if isinstance(value, date):
            # openpyxl gives a bare date its own cell formatted yyyy-mm-dd.
            return value
        if isinstance(value, int | Decimal | float):
            return value
        raise TypeError(f"unsupported cell value of type {type(value).__name__}")

    def _string_cell(self, value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(self._sheet)
        cell.value = value
        # Assigning the value made "=…" a formula and "#N/A" an error: undo that.
        cell.data_type = "s"
        if needs_quote_prefix(value):
            cell.quotePrefix = True
        return cell


class WorkbookWriter:
    """A workbook written straight to `path`. Rows stream to temporary files on disk while
    they are appended; `close()` zips them into the .xlsx. The file appears under its name
    only when complete (written beside it, then renamed), so a reader never finds half a
    workbook and a second run simply replaces the first one's file.

        with WorkbookWriter(path) as book:
            sheet = book.sheet("台账", [Column("户编号", 20, text=True), ...])
            sheet.append(["630121100201001", ...])
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".part")
        self._workbook = Workbook(write_only=True)
        self._closed = False

    def sheet(self, title: str, columns: Sequence[Column]) -> SheetWriter:
        return SheetWriter(self, title, columns)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._workbook.worksheets:
            self._workbook.create_sheet("Sheet1")
        try:
            self._workbook.save(self._partial)
            os.replace(self._partial, self.path)
        finally:
            self._partial.unlink(missing_ok=True)

    def discard(self) -> None:
        """Give up: nothing is written, and the rows streamed so far (temporary files that
        openpyxl would otherwise keep until the process ends) are removed."""
        self._closed = True
        for worksheet in self._workbook.worksheets:
            writer = getattr(worksheet, "_writer", None)
            if writer is None:
                continue
            try:
                if not worksheet.closed:
                    worksheet.close()
                writer.cleanup()
            except (OSError, ValueError):
                pass
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> WorkbookWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _sheet_name(title: str) -> str:
    name = _SHEET_NAME_FORBIDDEN.sub("_", clean_text(title)).strip("'") or "Sheet1"
    return name[:31]
