"""Turning the rows of a department's list into normalised warning rows.

Lists come as JSON objects or CSV/XLSX with Chinese headers, and carry every mess real
exports have (see ../shared/samples/README.md). Each row becomes a tuple ready for COPY:
the ID number is kept only as its keyed hash and a masked copy; a row that cannot be used
is kept too, marked invalid, with the reason for the department's receipt.
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


class _Cleaned(dict):
    """_text(raw)[:limit] remembered for the few values a column repeats down a list (its
    indicators, an empty detail); only the first few thousand distinct values are kept."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __missing__(self, raw: str) -> str:
        clean = _text(raw)[: self.limit]
        if len(self) < 5000:
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
        self._indicators = _Cleaned(100)
        self._details = _Cleaned(500)

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
        name = name[:50]
        indicator = self._indicators[indicator]
        detail = self._details[detail]
        try:
            value, converted = self._check_id(raw_id)
        except IdNumberError as exc:
            reason = pii.mask_pii_in_text(exc.reason)[:300]
            return (row_number, name, "", "", indicator, None, None, detail,
                    RowOutcome.INVALID.value, reason, None)  # fmt: skip
        notes = []
        if not name:
            notes.append("姓名为空")
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


def json_rows(rows: list) -> Iterator[tuple]:
    """(row number, *FIELDS) with JSON rows numbered from 1 in the order sent."""
    for number, item in enumerate(rows, start=1):
        values = {}
        if isinstance(item, dict):
            for key, value in item.items():
                canonical = _canonical(key)
                if canonical and canonical not in values:
                    values[canonical] = "" if value is None else str(value)
        yield (number, *(values.get(field, "") for field in FIELDS))


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


def payload_rows(data: bytes, file_format: str, filename: str, max_bytes: int) -> Iterator[tuple]:
    if file_format == "json":
        return json_rows(json.loads(data.decode("utf-8")))
    return file_rows(data, filename, max_bytes)
