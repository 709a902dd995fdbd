"""The row normaliser's short paths give what the general parsers give."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from households import pii
from monitor.feeds.rows import (
    COLUMNS,
    REQUIRED,
    STAGE_COLUMNS,
    RowNormaliser,
    _text,
    file_rows,
    parse_amount,
    parse_date,
)
from sheets.reading import read_table, strip_control

TODAY = date(2026, 11, 25)
ID = "630121198710020016"


def staged(**cells):
    values = {"name": "张三", "raw_id": ID, "indicator": "高额医疗自付", "amount": "",
              "occurred_on": "", "detail": ""} | cells  # fmt: skip
    row = RowNormaliser(TODAY)(7, *values.values())
    return dict(zip(STAGE_COLUMNS, row, strict=True))


def parsed_or_error(parse, *args):
    try:
        return parse(*args)
    except ValueError:
        return "error"


def as_decimal(value):
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


@given(st.one_of(
    st.decimals(min_value=0, max_value=Decimal("99999999999.99"), places=2).map(str),
    st.integers(min_value=0, max_value=10**12).map(lambda n: f"{n:,}元"),
    st.text(alphabet="0123456789,.元 ￥-", max_size=16),
))  # fmt: skip
def test_amounts_take_the_value_parse_amount_gives(raw):
    expected = parsed_or_error(parse_amount, raw)
    row = staged(amount=raw)
    if expected == "error":
        assert row["amount"] is None and "金额" in row["reason"]
    else:
        assert as_decimal(row["amount"]) == expected and "金额" not in row["reason"]


def _text_as_specified(raw):
    """Control characters out, spaces trimmed, and any text with a digit through the masking
    (which also folds full-width digits and X)."""
    raw = strip_control(raw).strip()
    return pii.mask_pii_in_text(raw) if any(c.isdigit() for c in raw) else raw


@given(st.text(alphabet="0123456789０１２３４５６７８９XxＸｘ人员 \t\x00-", max_size=30))
@example("联系13912345678")
@example("身份证 63012119781009646x 住院")
@example("人员123")
def test_cleaned_text_is_what_the_masking_rule_gives(raw):
    assert _text(raw) == _text_as_specified(raw)


@pytest.mark.parametrize(
    "raw", ["2026-10-01", "2026-11-25", "2026-11-26", "2026-02-30", "2026/10/1", "20261001",
            "1899-12-31", "", "昨天"],
)  # fmt: skip
def test_dates_take_the_value_parse_date_gives(raw):
    expected = parsed_or_error(parse_date, raw, TODAY)
    row = staged(occurred_on=raw)
    if expected == "error":
        assert row["occurred_on"] is None and "发生日期" in row["reason"]
    else:
        day = row["occurred_on"]
        assert (date.fromisoformat(day) if isinstance(day, str) else day) == expected


def test_a_clean_row_is_hashed_masked_and_pending():
    row = staged(name=" 阿依古丽・买买提 ", amount="1,234.50元", occurred_on="2026-10-01")
    assert row["name"] == "阿依古丽·买买提"
    assert row["id_number_hash"] == pii.id_number_hash(ID)
    assert row["id_number_masked"] == "630121********0016"
    assert (row["outcome"], row["reason"], row["amount"]) == ("pending", "", "1234.50")


def test_a_bad_id_number_makes_an_invalid_row_without_the_number():
    row = staged(raw_id="630121198710020017", detail="联系 13912345678")
    assert row["outcome"] == "invalid" and "校验位" in row["reason"]
    assert row["id_number_hash"] == "" and "13912345678" not in row["detail"]


def test_positional_file_rows_match_the_named_cells():
    data = "身份证号,备注,姓名\n630121198710020016,住院,张三\n63012119781009646x\n".encode()
    table = read_table(data, filename="l.csv", aliases=COLUMNS, required=REQUIRED)
    named = [(row.number, row.values) for row in table.rows]
    positional = list(file_rows(data, "l.csv", max_bytes=10_000))
    assert [number for number, *_ in positional] == [number for number, _ in named] == [2, 3]
    for (_, name, raw_id, indicator, amount, occurred_on, detail), (_, values) in zip(
        positional, named, strict=True
    ):
        assert (name, raw_id, detail) == (values["name"], values["id_number"], values["detail"])
        assert indicator == amount == occurred_on == ""
