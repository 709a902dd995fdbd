"""Reading a registry file in pieces that worker processes can take on their own.

A CSV file is cut into spans at line ends; each worker decodes and parses its span with the
csv module, with the delimiter, encoding and column positions found once by sheets.reading on
the head of the file (so the header rules — title rows above it, alias spellings, required
columns — are the shared ones). Cells are cleaned and rows numbered as sheets.reading does:
every CSV record counts, blank ones included, so a span's rows are numbered from 1 and moved
to their place in the file once the record counts of the spans before it are known.

A cut at a line end may fall inside a quoted cell that spans lines. Then the span before it
ends inside quotes, which the strict csv parser reports as an error, and since the first span
starts at the top of the file, every span starts where a record starts when no span fails.
Whenever anything is unusual — a span fails to parse or decode, the head of the file does not
give the header, the file is XLSX or UTF-16 — the file is read whole by sheets.reading
instead (`Fallback`), which gives exactly its rows or its error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import mmap
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sheets.reading import TabularError, detect_format, read_table, strip_control

HEAD_BYTES = 64 * 1024
SPAN_BYTES = 4 * 1024 * 1024
_DELIMITERS = (",", "\t", ";")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# What sheets.reading.strip_control removes (tab, line feed and carriage return stay).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Fallback(Exception):
    """The pieces cannot be read the way sheets.reading reads the whole file."""


class Source:
    """One file's bytes: an upload already in memory, or a file on disk mapped read-only (the
    operating system pages it in and out; it is never copied whole into this process)."""

    def __init__(self, data, name: str, *, mapped: mmap.mmap | None = None, handle=None):
        self.data = data
        self.name = name
        self._mapped, self._handle = mapped, handle

    @classmethod
    def from_path(cls, path: Path) -> Source:
        handle = path.open("rb")
        try:
            if path.stat().st_size == 0:
                return cls(b"", path.name, handle=handle)
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError:
            handle.close()
            raise
        return cls(mapped, path.name, mapped=mapped, handle=handle)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._mapped is not None:
            self._mapped.close()
        if self._handle is not None:
            self._handle.close()

    @property
    def size(self) -> int:
        return len(self.data)

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def whole(self) -> bytes:
        """The file as one bytes object, for the readers that need it whole (XLSX)."""
        return self.data if isinstance(self.data, bytes) else self.data[:]


def sniff_delimiter(text: str) -> str:
    """sheets.reading's rule: the most frequent of comma, tab and semicolon on the first
    non-blank line (comma on a tie or when there is none)."""
    for line in io.StringIO(text, newline=""):
        if line.strip():
            counts = [line.count(delimiter) for delimiter in _DELIMITERS]
            best = max(range(len(_DELIMITERS)), key=lambda i: counts[i])
            return _DELIMITERS[best] if counts[best] else ","
    return ","


@dataclass(frozen=True)
class Layout:
    """What the head of a CSV file told: where the columns are and how to read the rest."""

    columns: list[str]
    positions: dict[str, int]
    encoding: str  # of the spans after the head
    delimiter: str
    head_end: int  # offset where the first span starts
    head_records: int  # CSV records in the head, blank ones included


def _line_end_after(data, offset: int) -> int:
    """The offset just past the first line end at or after `offset` (the end of the data if
    there is none)."""
    found = data.find(b"\n", offset)
    return len(data) if found == -1 else found + 1


def head_layout(
    source: Source,
    aliases: Mapping[str, list[str]],
    required: list[str],
    max_bytes: int,
    head_bytes: int | None = None,
) -> tuple[Layout, list[tuple[int, list[str]]]]:
    """The layout and the data rows of the head of a CSV file (its first ~64 KB, cut at a
    line end), read by sheets.reading itself. Raises Fallback when that cannot stand for
    reading the whole file."""
    head_bytes = head_bytes or HEAD_BYTES
    data = source.data
    start = data[:4096]
    if start.startswith(_UTF16_BOMS):
        raise Fallback
    try:
        if detect_format(bytes(start), source.name) != "csv":
            raise Fallback
    except TabularError:
        raise Fallback from None
    if len(data) <= head_bytes:
        head_end = len(data)
    else:
        cut = data.rfind(b"\n", 0, head_bytes)
        head_end = cut + 1 if cut != -1 else _line_end_after(data, head_bytes)
    head = bytes(data[:head_end])
    try:
        table = read_table(
            head,
            filename=source.name,
            aliases=aliases,
            required=required,
            max_bytes=max(max_bytes, len(head)),
            positional=True,
        )
        rows = list(table.rows)
    except TabularError:
        raise Fallback from None
    if table.encoding not in ("utf-8", "utf-8-sig", "gb18030"):
        raise Fallback
    text = head.decode(table.encoding)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    head_records = sum(1 for _ in reader)
    layout = Layout(
        columns=table.columns,
        positions=table.positions or {},
        # The head decided the encoding for the file: a file that is UTF-8 only in its head
        # fails to decode in a later span, and then the whole-file reading decides.
        encoding="gb18030" if table.encoding == "gb18030" else "utf-8",
        delimiter=delimiter,
        head_end=head_end,
        head_records=head_records,
    )
    return layout, rows


def pieces(
    data, layout: Layout, head_rows: list, span_bytes: int | None = None
) -> Iterator[tuple[int, object]]:
    """(piece, payload) for the whole file: piece 0 is the head's rows, already numbered as
    in the file; then (start, end) spans of about `span_bytes`, each ending at a line end."""
    yield 0, head_rows
    size = span_bytes or SPAN_BYTES
    start, total, piece = layout.head_end, len(data), 1
    while start < total:
        end = _line_end_after(data, min(start + size, total))
        yield piece, (start, end)
        start, piece = end, piece + 1


def piece_offsets(layout: Layout, records: dict[int, int | None]) -> dict[int, int]:
    """What to add to a row's number within its piece to get its number in the file: each
    span comes after the records of everything before it."""
    offsets, offset = {0: 0}, layout.head_records
    for piece in range(1, len(records)):
        offsets[piece] = offset
        offset += records[piece]
    return offsets


def span_records(
    data, start: int, end: int, layout: Layout
) -> tuple[int, list[tuple[int, list[str]]]]:
    """(records in the span, its data rows as (number within the span, cells)): cells
    cleaned and padded to every mapped position, blank rows skipped but counted.

    Raises Fallback when the span does not decode or parse as a whole."""
    try:
        text = data[start:end].decode(layout.encoding)
    except UnicodeDecodeError:
        raise Fallback from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter, strict=True)
    positions = sorted(set(layout.positions.values()))
    width_needed = positions[-1] + 1 if positions else 0
    # sheets.reading's cleaning is strip_control then strip; most pieces have no control
    # character at all, and then strip alone is the same.
    controls = _CONTROL_CHARACTER.search(text) is not None
    rows = []
    number = 0
    try:
        for cells in reader:
            number += 1
            if controls:
                cells = [strip_control(cell).strip() for cell in cells]
            else:
                cells = [cell.strip() for cell in cells]
            if not any(cells):
                continue
            if len(cells) < width_needed:
                cells.extend([""] * (width_needed - len(cells)))
            rows.append((number, cells))
    except csv.Error:
        raise Fallback from None
    return number, rows


def whole_records(
    source: Source,
    aliases: Mapping[str, list[str]],
    required: list[str],
    max_bytes: int,
    max_xlsx_uncompressed: int | None,
):
    """(columns, positions, rows) of the whole file read by sheets.reading: its own rows,
    or its own TabularError."""
    extra = (
        {} if max_xlsx_uncompressed is None else {"max_xlsx_uncompressed": max_xlsx_uncompressed}
    )
    table = read_table(
        source.whole(),
        filename=source.name,
        aliases=aliases,
        required=required,
        max_bytes=max_bytes,
        positional=True,
        **extra,
    )
    return table.columns, table.positions or {}, table.rows
