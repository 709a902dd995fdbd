"""Resident ID numbers (居民身份证号码, GB 11643-1999): cleaning, validation, masking.

Pure standard library on purpose: the same code runs in Django forms, in the bulk import of
department lists (a million rows), in management commands and in log filters, so it must not
import Django and must stay cheap per call (tables are built once at import time).

Layout of the 18 characters: 6 region code + 8 birth date YYYYMMDD + 3 sequence (odd = male)
+ 1 check character. The check character c makes sum(a_i * 2^(18-i)) + c ≡ 1 (mod 11) with
X standing for 10; the first 17 weights are ID_CHECK_WEIGHTS.

Input arrives from CSV/XLSX files typed by hand, so cleaning is lenient about presentation
(spaces, full-width digits, lower-case x, Excel text markers) but strict about content:
anything Excel turned into a number is refused, because Excel keeps only 15 significant
digits and the lost digits cannot be guessed without inventing a different person's number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import mul

__all__ = [
    "ID_CHECK_WEIGHTS",
    "IdNumber",
    "IdNumberError",
    "ListIdChecker",
    "age_from_birth_date",
    "check_character",
    "is_valid_id_number",
    "mask_id_number",
    "mask_phone",
    "normalise_id_number",
    "parse_id_number",
]

ID_CHECK_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# Working on the ASCII bytes lets sum(map(mul, ...)) run in C; every byte carries an extra
# ord("0") = 48, so the constant 48 * sum(weights) is taken off once instead of per digit.
_ASCII_ZERO_OFFSET = 48 * sum(ID_CHECK_WEIGHTS)

_MIN_BIRTH_DATE = date(1900, 1, 1)
_DIGITS = frozenset("0123456789")
_ALLOWED = frozenset("0123456789X")

# Full-width digits and X come from Chinese input methods; x is folded because the standard
# only knows the upper-case form. Zero-width characters and the BOM are invisible in
# spreadsheets but survive copy-paste and utf-8 (not utf-8-sig) CSV reading.
_FOLD = {0xFF10 + i: 0x30 + i for i in range(10)}
_FOLD.update({ord("x"): "X", ord("ｘ"): "X", ord("Ｘ"): "X"})
_FOLD.update(dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff")))
# Excel's "this is text" apostrophe and quotes added by CSV tools or by hand.
_QUOTES = "'\"`‘’“”＇＂"

_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?E[+-]?\d+", re.ASCII | re.IGNORECASE)
# A long digit string with a decimal point and only zeros after it is how pandas or a
# number-formatted Excel column renders a number that used to be an ID.
_NUMBER_WITH_POINT = re.compile(r"\d{15,18}[.,]0*", re.ASCII)

_EXCEL_LOST_HINT = "原号码已丢失，请将该列设为文本格式后重新导出"
# Said for numbers in general: a 15-digit legacy number does survive, but refusing it too keeps
# the rule simple for users ("ID columns must be text") and avoids guessing which case it was.
_EXCEL_DIGITS_HINT = (
    "Excel 只保留 15 位有效数字，18 位号码的后几位会丢失，请将该列设为文本格式后重新导出"
)


class IdNumberError(ValueError):
    """An ID number that cannot be accepted.

    ``code`` is a stable English slug for programs (counting errors by kind, tests);
    ``reason`` is the Chinese sentence shown to the person who has to fix the row.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):
        # The default pickling replays only args=(reason,), which would lose `code`; errors
        # cross process boundaries when bulk imports run in worker processes.
        return (type(self), (self.code, self.reason))


@dataclass(frozen=True, slots=True)
class IdNumber:
    value: str
    region_code: str
    birth_date: date
    sex: str
    converted_from_15: bool
    warnings: tuple[str, ...] = ()

    def age_on(self, day: date) -> int:
        return age_from_birth_date(self.birth_date, day)

    def __repr__(self) -> str:
        # The generated repr would print the full number into logs and tracebacks; personal
        # data rules require the masked form there.
        return (
            f"IdNumber(value={mask_id_number(self.value)!r}, sex={self.sex!r}, "
            f"converted_from_15={self.converted_from_15!r}, warnings={self.warnings!r})"
        )


def check_character(first17: str) -> str:
    """The GB 11643 check character ('0'-'9' or 'X') for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"check_character needs exactly 17 ASCII digits, got {first17!r}")
    total = sum(map(mul, first17.encode("ascii"), ID_CHECK_WEIGHTS)) - _ASCII_ZERO_OFFSET
    return _CHECK_CHARS[total % 11]


def age_from_birth_date(birth: date, day: date) -> int:
    """Full years (周岁) on `day`.

    Someone born on 29 February gains a year on 1 March in common years: their birthday has
    not happened yet on 28 February. This is what comparing (month, day) tuples gives.
    """
    if day < birth:
        raise ValueError(f"day {day} is before the birth date {birth}")
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def mask_id_number(value: str) -> str:
    """'630121********0016' for 18 characters; otherwise everything but the last 4 hidden."""
    if len(value) == 18:
        return value[:6] + "********" + value[14:]
    # Showing "the last 4" of a string that short would show all of it.
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def mask_phone(value: str) -> str:
    """'156****4775' for 11-digit mobiles; first 3 and last 2 kept for other lengths >= 7."""
    length = len(value)
    if length == 11 and value.isascii() and value.isdigit():
        return value[:3] + "****" + value[7:]
    if length >= 7:
        return value[:3] + "*" * (length - 5) + value[-2:]
    return "*" * length


def normalise_id_number(raw: object) -> str:
    """The cleaned, validated 18-character number (15-digit numbers converted)."""
    return parse_id_number(raw).value


def is_valid_id_number(raw: object) -> bool:
    try:
        parse_id_number(raw)
    except IdNumberError:
        return False
    return True


def parse_id_number(
    raw: object,
    *,
    today: date | None = None,
    known_region_codes: Container[str] | None = None,
) -> IdNumber:
    """Clean and fully validate `raw` (str, int or float from a spreadsheet).

    Raises IdNumberError. A region code missing from `known_region_codes` is only a warning:
    codes are retired when counties merge, and people keep the number they were issued.
    """
    text = _text_from_raw(raw)
    converted = False
    if len(text) == 18 and _is_ascii_digits(text[:17]) and text[17] in _ALLOWED:
        value = text
    else:
        value = _value_from_irregular_text(text)
        converted = len(value) != len(text)

    birth_digits = value[6:14]
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError("bad_birth_date", f"出生日期 {birth_digits} 不是有效日期") from None

    if not converted:
        expected = check_character(value[:17])
        if value[17] != expected:
            reason = (
                f"身份证号校验位错误：应为 {expected}，实为 {value[17]}。"
                "号码中可能有某一位录错，请对照身份证原件逐位核对，不要只改最后一位"
            )
            if value.endswith("000"):
                reason += "（末三位为 000，也可能是被 Excel 当成数字截断过）"
            raise IdNumberError("bad_check", reason)

    if birth < _MIN_BIRTH_DATE:
        raise IdNumberError(
            "bad_birth_date", f"出生日期 {birth_digits} 早于 1900 年，不是有效的出生日期"
        )
    if today is None:
        today = date.today()
    if birth > today:
        raise IdNumberError(
            "future_birth_date", f"出生日期晚于今天：{birth_digits}（今天是 {today:%Y%m%d}）"
        )

    region = value[:6]
    warnings: tuple[str, ...] = ()
    if known_region_codes is not None and region not in known_region_codes:
        warnings = (f"地区码 {region} 不在现行行政区划代码中（可能是已撤销的旧代码），请核实",)

    return IdNumber(
        value=value,
        region_code=region,
        birth_date=birth,
        sex="M" if int(value[16]) % 2 else "F",
        converted_from_15=converted,
        warnings=warnings,
    )


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit alone accepts superscripts and other scripts' digits, which int() may
    # then read as something else entirely.
    return text.isascii() and text.isdigit()


def _text_from_raw(raw: object) -> str:
    """Cleaned text of `raw`; refuses the numeric forms Excel leaves behind."""
    if isinstance(raw, str):
        text = raw
    elif raw is None:
        raise IdNumberError("empty", "身份证号为空")
    elif isinstance(raw, bool):
        raise IdNumberError("bad_type", f"身份证号格式无法识别（{raw!r}）")
    elif isinstance(raw, int):
        text = str(raw)
        # An int may be an honest 15-digit legacy number (exact in Excel) or an 18-digit one
        # whose last three digits Excel replaced by zeros; a zero tail that also fails the
        # check is the latter, and reporting a mere check error would invite a "fix".
        if len(text) == 18 and text.endswith("000") and check_character(text[:17]) != "0":
            raise IdNumberError(
                "excel_mangled",
                "身份证号疑似被 Excel 当成数字保存（末三位变成了 000），" + _EXCEL_LOST_HINT,
            )
        return text
    elif isinstance(raw, float):
        # pandas and openpyxl give NaN for an empty cell; calling that "Excel damage" would
        # send the user hunting for a problem that is just a missing value.
        if math.isnan(raw):
            raise IdNumberError("empty", "身份证号为空")
        raise IdNumberError(
            "excel_mangled",
            f"身份证号被 Excel 当成了数字（{raw!r}），" + _EXCEL_DIGITS_HINT,
        )
    elif isinstance(raw, Decimal):
        text = str(raw)
    else:
        raise IdNumberError("bad_type", f"身份证号格式无法识别（{type(raw).__name__}）")

    # Fast path for the overwhelmingly common case of a clean cell.
    if text.isascii() and text.isalnum():
        return text.replace("x", "X")
    # str.split() with no argument splits on every Unicode space (U+3000, NBSP, tabs, ...).
    text = "".join(text.split()).translate(_FOLD).strip(_QUOTES)
    if not text:
        raise IdNumberError("empty", "身份证号为空")
    return text


def _value_from_irregular_text(text: str) -> str:
    """The 18-character form of cleaned text that is not already 17 digits + check char."""
    if not text:
        raise IdNumberError("empty", "身份证号为空")
    if _SCIENTIFIC.fullmatch(text):
        raise IdNumberError(
            "excel_mangled",
            "身份证号疑似被 Excel 转成了科学计数法（如 6.30121E+17），" + _EXCEL_LOST_HINT,
        )
    if _NUMBER_WITH_POINT.fullmatch(text):
        raise IdNumberError(
            "excel_mangled",
            "身份证号疑似被 Excel 当成数字保存（如 630121198710020016.0），" + _EXCEL_DIGITS_HINT,
        )
    for position, char in enumerate(text, start=1):
        if char not in _ALLOWED:
            shown = char if char.isprintable() else f"U+{ord(char):04X}"
            raise IdNumberError("bad_char", f"身份证号含非法字符「{shown}」（第 {position} 位）")
    if len(text) not in (15, 18):
        raise IdNumberError("bad_length", f"身份证号应为18位（或旧版15位），实为 {len(text)} 位")
    x_at = text.find("X")
    if x_at != -1 and x_at != 17:
        raise IdNumberError(
            "bad_char", f"身份证号中 X 只能出现在第 18 位（校验位），第 {x_at + 1} 位出现了 X"
        )
    if len(text) == 18:
        # Only reachable for text that the fast path in parse_id_number already accepts;
        # kept so this function is correct on its own.
        return text
    # Legacy 15-digit numbers (issued before 1999) have a two-digit year, all in the 1900s.
    first17 = text[:6] + "19" + text[6:]
    return first17 + check_character(first17)


# --- Bulk checking ---------------------------------------------------------------------------
# A department list brings up to a million numbers, nearly all clean. For those, the weighted
# sum is read from per-chunk tables (six dict lookups instead of 17 multiplications) and the
# birth date from a set of every valid YYYYMMDD up to today; anything else falls back to
# parse_id_number, so results and reasons are the same.

_CHUNKS = ((0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (15, 17))


def _chunk_table(start: int, end: int) -> dict[str, int]:
    width = end - start
    weights = ID_CHECK_WEIGHTS[start:end]
    return {
        digits: sum(int(d) * w for d, w in zip(digits, weights, strict=True))
        for digits in (f"{n:0{width}d}" for n in range(10**width))
    }


_CHUNK_TABLES = tuple(_chunk_table(start, end) for start, end in _CHUNKS)


@lru_cache(maxsize=4)
def _birth_digits_until(today: date) -> frozenset[str]:
    days = (today - _MIN_BIRTH_DATE).days + 1
    return frozenset(f"{_MIN_BIRTH_DATE + timedelta(days=n):%Y%m%d}" for n in range(days))


class ListIdChecker:
    """parse_id_number(raw, today=today), reduced to (value, converted_from_15), at a
    fraction of the cost per clean number."""

    def __init__(self, today: date) -> None:
        self.today = today
        self._births = _birth_digits_until(today)

    def __call__(self, raw: object) -> tuple[str, bool]:
        if type(raw) is str and len(raw) == 18 and raw.isascii() and raw[:17].isdigit():
            last = raw[17]
            if last == "x":
                raw, last = raw[:17] + "X", "X"
            if (last == "X" or last.isdigit()) and raw[6:14] in self._births:
                t0, t1, t2, t3, t4, t5 = _CHUNK_TABLES
                total = (
                    t0[raw[0:3]]
                    + t1[raw[3:6]]
                    + t2[raw[6:9]]
                    + t3[raw[9:12]]
                    + t4[raw[12:15]]
                    + t5[raw[15:17]]
                )
                if _CHECK_CHARS[total % 11] == last:
                    return raw, False
        parsed = parse_id_number(raw, today=self.today)
        return parsed.value, parsed.converted_from_15
