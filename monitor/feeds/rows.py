"""Turning the rows of a department's list into normalised warning rows.

Lists come as JSON objects or CSV/XLSX with Chinese headers, and carry every mess real
exports have (see ../shared/samples/README.md). Each row becomes a tuple ready for COPY:
the ID number is kept only as its keyed hash and a masked copy; a row that cannot be used
is kept too, marked invalid, with the reason for the department's receipt.

JSON lists carry types a spreadsheet does not. Every column takes a JSON string; `null` is
an empty cell. The amount alone may also be a JSON number. Anything else in a cell — an
object, an array, true/false, or a number in a text column — makes that row invalid, with
the row and the column named in its reason; it is never turned into text ("{'a': 1}" as a
name). An ID number sent as a JSON number is refused like the rest: a number has no X check
character, and the sender's own encoder may already have rounded it past 2**53.
Far too long a value is refused where cutting it would change what it says (a name over
50 characters, an indicator over 100), and cut with a note where it is free text (the
detail, at 500); an amount or a date that long is unreadable and ignored with a note, as
every unreadable amount or date is.
"""

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import itemgetter

from households import pii
from households.idnumber import IdNumberError, ListIdChecker, mask_id_number
from monitor.choices import RowOutcome
from sheets.reading import TabularError, read_table, strip_control

COLUMNS = {
    "name": ["姓名", "name"],
    "id_number": ["身份证号", "身份证号码", "证件号码", "公民身份号码", "身份证", "id_number"],
    "indicator": ["预警类型", "预警指标", "预警事项", "类型", "indicator"],
    "amount": ["金额", "自付金额", "费用", "救助金额", "amount"],
    "occurred_on": ["发生日期", "日期", "认定日期", "occurred_on"],
    "detail": ["说明", "备注", "详情", "detail"],
}
REQUIRED = ["name", "id_number"]
_ALIAS = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}

_AMOUNT_NOISE = re.compile(r"[\s,，元￥¥]|RMB|rmb")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．－", "0123456789.-")
_DATE_FORMS = [
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]
_MIDDLE_DOTS = str.maketrans({"・": "·", "•": "·", "‧": "·", "∙": "·", "．": "·"})
MAX_AMOUNT = Decimal("1e11")


class FeedFormatError(ValueError):
    """The list as a whole cannot be read; `reason` is for the department."""

    def __init__(self, reason: str, code: str = "bad_format"):
        super().__init__(reason)
        self.reason, self.code = reason, code


# The staged row, in this order (see matching.STAGE).
STAGE_COLUMNS = (
    "row_number",
    "name",
    "id_number_hash",
    "id_number_masked",
    "indicator",
    "amount",
    "occurred_on",
    "detail",
    "outcome",
    "reason",
    "household_id",
)
# The list's own columns, in the order the normaliser takes them.
FIELDS = ("name", "id_number", "indicator", "amount", "occurred_on", "detail")


_CENT = Decimal("0.01")


def parse_amount(raw: str) -> Decimal | None:
    """Any amount a list may carry (full-width digits, ￥, RMB, spaces); the common plain
    forms never get here (RowNormaliser._amount)."""
    text = _AMOUNT_NOISE.sub("", raw.translate(_FULL_WIDTH))
    if not text:
        return None
    try:
        value = Decimal(text)
        if not value.is_finite() or abs(value) >= MAX_AMOUNT:
            raise ValueError(f"金额「{raw[:30]}」超出范围")
        return value.quantize(_CENT)
    except (InvalidOperation, ArithmeticError):
        raise ValueError(f"金额「{raw[:30]}」无法识别") from None


def parse_date(raw: str, today: date) -> date | None:
    """Any date form a list may carry; valid ISO dates up to today never get here
    (RowNormaliser keeps a table of them)."""
    text = raw.strip().translate(_FULL_WIDTH)
    if not text:
        return None
    for form in _DATE_FORMS:
        match = form.match(text)
        if match:
            try:
                day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                break
            if day > today:
                raise ValueError(f"发生日期 {day:%Y-%m-%d} 晚于今天")
            return day
    raise ValueError(f"发生日期「{raw[:30]}」无法识别，应为 YYYY-MM-DD")


_DIGIT = re.compile(r"\d")
# What pii.mask_pii_in_text can change: a run of 11 digits or more (a phone or an ID number,
# full-width digits included) or a full-width digit or X it folds. A text with digits but
# neither ("人员3", "住院2次") comes back unchanged, so the masking is skipped.
_MASKABLE = re.compile("[0-9０-９]{11}|[０-９Ｘｘ]")
_ODD_DOTS = re.compile("[・•‧∙．]")
# The common amount once the thousands commas and a trailing 元 are gone: PostgreSQL reads
# the text into numeric(14, 2) itself; at most two decimals, so nothing is rounded.
_PLAIN_AMOUNT_TEXT = re.compile(r"[0-9]{1,11}(?:\.[0-9]{1,2})?")


def _text(raw: str) -> str:
    """A cell as clean text: JSON values too lose control characters (NUL breaks COPY), and
    any ID or phone number typed into a free-text column is masked."""
    if not raw.isprintable():
        raw = strip_control(raw)
    raw = raw.strip()
    if _DIGIT.search(raw) and _MASKABLE.search(raw):
        raw = pii.mask_pii_in_text(raw)
    return raw


# Longest value kept of each column (the staging table's and the receipt's widths).
NAME_MAX, INDICATOR_MAX, DETAIL_MAX = 50, 100, 500


class _Cleaned(dict):
    """_text(raw) remembered for the few values a column repeats down a list (its
    indicators, an empty detail); only the first few thousand distinct short values are
    kept. The caller judges the length: a value over its column's width is not cut here."""

    def __missing__(self, raw: str) -> str:
        clean = _text(raw)
        if len(self) < 5000 and len(raw) <= 1000:
            self[raw] = clean
        return clean


@lru_cache(maxsize=4)
def _iso_dates_until(today: date) -> frozenset[str]:
    first = date(1900, 1, 1)
    days = (today - first).days + 1
    return frozenset((first + timedelta(days=n)).isoformat() for n in range(days))


class RowNormaliser:
    """Turns one row of a list into the tuple that is staged (STAGE_COLUMNS).

    Built once per list: the day, the ID checker, the keyed hash and the table of valid
    dates are set up once, and the clean common forms of each cell take a short path (a
    million-row list spends its time here). A row that cannot be used is still staged,
    marked invalid with the reason for the department's receipt.
    """

    def __init__(self, today: date):
        self.today = today
        self._check_id = ListIdChecker(today)
        self._hash_id = pii.lookup_hasher("id_number")
        self._iso_dates = _iso_dates_until(today)
        self._indicators = _Cleaned()
        self._details = _Cleaned()

    def __call__(
        self,
        row_number: int,
        name: str,
        raw_id: str,
        indicator: str,
        amount: str,
        occurred_on: str,
        detail: str,
    ) -> tuple:
        name = " ".join(_text(name).split())
        if _ODD_DOTS.search(name):
            name = name.translate(_MIDDLE_DOTS)
        indicator = self._indicators[indicator]
        detail = self._details[detail]
        try:
            value, converted = self._check_id(raw_id)
        except IdNumberError as exc:
            reason = pii.mask_pii_in_text(exc.reason)[:300]
            return (row_number, name[:NAME_MAX], "", "", indicator[:INDICATOR_MAX], None, None,
                    detail[:DETAIL_MAX], RowOutcome.INVALID.value, reason, None)  # fmt: skip
        # A name or an indicator cut short would be another one: the row is refused.
        if len(name) > NAME_MAX or len(indicator) > INDICATOR_MAX:
            too_long = [
                f"「{COLUMNS[field][0]}」超过 {limit} 个字"
                for field, text, limit in (
                    ("name", name, NAME_MAX),
                    ("indicator", indicator, INDICATOR_MAX),
                )
                if len(text) > limit
            ]
            return self.rejected(row_number, "", too_long)
        notes = []
        if not name:
            notes.append("姓名为空")
        if len(detail) > DETAIL_MAX:
            detail = detail[:DETAIL_MAX]
            notes.append(f"说明超过 {DETAIL_MAX} 个字，已截断")
        amount = self._amount(amount, notes)
        if occurred_on not in self._iso_dates:
            try:
                occurred_on = parse_date(occurred_on, self.today)
            except ValueError as exc:
                occurred_on = None
                notes.append(f"{exc}，已忽略")
        if converted:
            notes.append("旧版15位身份证号已转换为18位")
        return (row_number, name, self._hash_id(value), mask_id_number(value), indicator,
                amount, occurred_on, detail, RowOutcome.PENDING.value, "；".join(notes)[:300],
                None)  # fmt: skip

    def rejected(self, row_number: int, name: str, problems: list[str]) -> tuple:
        """The staged row of a row refused before its cells were read: only its number, the
        name when that cell was fine, and the reason, which names the row and each column."""
        clean = " ".join(_text(name).split())[:NAME_MAX] if name else ""
        reason = f"第{row_number}行" + "；".join(problems)
        return (row_number, clean, "", "", "", None, None, "", RowOutcome.INVALID.value,
                pii.mask_pii_in_text(reason)[:300], None)  # fmt: skip

    @staticmethod
    def _amount(raw: str, notes: list) -> str | Decimal | None:
        text = raw[:-1] if raw.endswith("元") else raw
        if "," in text:
            text = text.replace(",", "")
        if _PLAIN_AMOUNT_TEXT.fullmatch(text):
            return text
        try:
            return parse_amount(raw)
        except ValueError as exc:
            notes.append(f"{exc}，已忽略")
            return None


def _canonical(key: str) -> str | None:
    return _ALIAS.get(str(key).strip().lower())


def _json_kind(value: object) -> str:
    """What a JSON value is, in the words of the receipt."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "数字"
    if isinstance(value, dict):
        return "对象"
    if isinstance(value, list):
        return "数组"
    return "非文字的值"


def _json_cell(field: str, value: object) -> str | None:
    """The cell as text, or None when its JSON type is not one the column takes."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    # bool is an int to Python: true is not an amount of 1.
    if field == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def json_cells(rows: list) -> Iterator[tuple[int, tuple, list[str]]]:
    """(row number, FIELDS as text, problems) for JSON rows numbered from 1 in the order
    sent; a cell with a problem reads as empty."""
    for number, item in enumerate(rows, start=1):
        if not isinstance(item, dict):
            problem = f"应为对象（以姓名、身份证号等列名为键），收到的是{_json_kind(item)}"
            yield number, ("",) * len(FIELDS), [problem]
            continue
        values, problems = {}, []
        for key, value in item.items():
            canonical = _canonical(key)
            if not canonical or canonical in values:
                continue
            cell = _json_cell(canonical, value)
            if cell is None:
                wanted = "应为文字或数字" if canonical == "amount" else "应为文字"
                problems.append(f"「{COLUMNS[canonical][0]}」{wanted}，收到的是{_json_kind(value)}")
                cell = ""
            values[canonical] = cell
        yield number, tuple(values.get(field, "") for field in FIELDS), problems


def check_json_rows(rows: object) -> list:
    if not isinstance(rows, list):
        raise FeedFormatError("rows 应为数组，每个元素是一行名单")
    if not rows:
        raise FeedFormatError("名单为空")
    keys = {(_canonical(k) or "") for item in rows[:50] if isinstance(item, dict) for k in item}
    missing = [COLUMNS[name][0] for name in REQUIRED if name not in keys]
    if missing:
        raise FeedFormatError("缺少必填列：" + "、".join(missing), code="missing_columns")
    return rows


def check_file(data: bytes, filename: str, max_bytes: int) -> None:
    """Refuse at intake what can never be processed: unknown format, missing columns, a zip
    bomb, no rows at all. The rows themselves are read by the worker."""
    try:
        table = read_table(
            data, filename=filename, aliases=COLUMNS, required=REQUIRED, max_bytes=max_bytes
        )
        first = next(table.rows, None)
        table.rows.close()
    except TabularError as exc:
        raise FeedFormatError(exc.reason, code=exc.code) from None
    if first is None:
        raise FeedFormatError("名单为空：只有表头，没有数据行", code="empty")


def file_rows(data: bytes, filename: str, max_bytes: int) -> Iterator[tuple]:
    """(row number, *FIELDS) for each data row of a CSV or XLSX list."""
    try:
        table = read_table(
            data,
            filename=filename,
            aliases=COLUMNS,
            required=REQUIRED,
            max_bytes=max_bytes,
            positional=True,
        )
        # A column the list does not have reads the "" appended to every row (index -1).
        pick = itemgetter(*(table.positions.get(field, -1) for field in FIELDS))
        for number, cells in table.rows:
            cells.append("")
            yield (number, *pick(cells))
    except TabularError as exc:
        raise FeedFormatError(exc.reason, code=exc.code) from None


def staged_rows(
    data: bytes, file_format: str, filename: str, max_bytes: int, today: date
) -> Iterator[tuple]:
    """Every row of a stored list, normalised for staging (STAGE_COLUMNS)."""
    normalise = RowNormaliser(today)
    if file_format != "json":
        for cells in file_rows(data, filename, max_bytes):
            yield normalise(*cells)
        return
    for number, cells, problems in json_cells(json.loads(data.decode("utf-8"))):
        if problems:
            yield normalise.rejected(number, cells[0], problems)
        else:
            yield normalise(number, *cells)
