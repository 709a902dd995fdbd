"""Tests for households.idnumber. Pure Python: no Django, no database."""

import pickle
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from households.idnumber import (
    ID_CHECK_WEIGHTS,
    IdNumber,
    IdNumberError,
    ListIdChecker,
    age_from_birth_date,
    check_character,
    is_valid_id_number,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    parse_id_number,
)

# Fixed so the tests do not depend on the clock; later than every generated birth date.
TODAY = date(2026, 1, 1)
SAMPLES = ["630121198710020016", "63012119781009646X", "63012220100320700X"]
ALPHABET = "0123456789X"
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def build(region: str, birth: date, sequence: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


@st.composite
def valid_numbers(draw, min_birth=date(1900, 1, 1), max_birth=date(2025, 12, 31)):
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    birth = draw(st.dates(min_value=min_birth, max_value=max_birth))
    sequence = draw(st.integers(min_value=0, max_value=999))
    return build(region, birth, sequence), region, birth, sequence


def assert_refused(raw, code, **kwargs):
    with pytest.raises(IdNumberError) as info:
        parse_id_number(raw, **kwargs)
    assert info.value.code == code, info.value.reason
    return info.value


# --- the check character -------------------------------------------------------------------


def test_weights_are_powers_of_two_mod_11():
    # The standard defines W_i = 2^(18-i) mod 11; the transposition argument below relies on it.
    assert tuple(pow(2, 17 - i, 11) for i in range(17)) == ID_CHECK_WEIGHTS


@pytest.mark.parametrize("number", SAMPLES)
def test_sample_numbers_are_valid(number):
    assert check_character(number[:17]) == number[17]
    assert is_valid_id_number(number)
    assert normalise_id_number(number) == number


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_satisfies_the_standard_equation(first17):
    # GB 11643 states it as: sum over all 18 positions of a_i * 2^(18-i) ≡ 1 (mod 11), X = 10.
    check = check_character(first17)
    digits = [int(c) for c in first17] + [10 if check == "X" else int(check)]
    assert sum(d * pow(2, 17 - i, 11) for i, d in enumerate(digits)) % 11 == 1


@pytest.mark.parametrize("bad", ["", "1234", "6301211987100200１", "63012119871002001X", "a" * 17])
def test_check_character_rejects_anything_but_17_ascii_digits(bad):
    with pytest.raises(ValueError):
        check_character(bad)


# --- properties over valid numbers ---------------------------------------------------------


@given(valid_numbers())
def test_valid_numbers_parse_and_round_trip(generated):
    number, region, birth, sequence = generated
    parsed = parse_id_number(number, today=TODAY)
    assert parsed.value == number
    assert parsed.region_code == region
    assert parsed.birth_date == birth
    assert parsed.sex == ("M" if sequence % 2 else "F")
    assert parsed.converted_from_15 is False
    assert parsed.warnings == ()
    assert parse_id_number(parsed.value, today=TODAY) == parsed


@given(valid_numbers())
def test_every_single_character_substitution_is_refused(generated):
    # Substituting d by d' at position i moves the weighted sum by W_i * (d' - d); W_i is a
    # power of 2, never 0 mod 11, and 0 < |d' - d| <= 10 < 11, so 11 cannot divide the change.
    # Hence every substitution is caught (by the check, or earlier by the date or X rules).
    number = generated[0]
    for position in range(18):
        for char in ALPHABET:
            if char == number[position]:
                continue
            changed = number[:position] + char + number[position + 1 :]
            with pytest.raises(IdNumberError):
                parse_id_number(changed, today=TODAY)


@given(valid_numbers())
def test_every_adjacent_transposition_is_refused(generated):
    # Swapping a, b at positions i, i+1 moves the sum by (W_i - W_{i+1}) * (b - a). Adjacent
    # weights are 2^k and 2^(k+1), whose difference 2^k is never 0 mod 11, and b - a is not 0
    # mod 11 for distinct characters (X counts as 10). This holds for the swap of the 17th
    # digit with the check character too (weights 2 and 1), so there is no exception; a swap
    # moving X off the last position is refused by the X rule anyway.
    number = generated[0]
    for position in range(17):
        a, b = number[position], number[position + 1]
        if a == b:
            continue
        swapped = number[:position] + b + a + number[position + 2 :]
        with pytest.raises(IdNumberError):
            parse_id_number(swapped, today=TODAY)


@st.composite
def messy_spellings(draw):
    number = draw(valid_numbers())[0]
    spaces = st.sampled_from([" ", "\t", "\u3000", "\xa0", "\u200b", ""])
    chars = []
    for char in number:
        if draw(st.booleans()):
            char = char.translate(FULL_WIDTH)
        if char in "XＸ" and draw(st.booleans()):
            char = char.lower()
        chars.append(char + draw(spaces))
    wrapper = draw(st.sampled_from([("", ""), ("'", ""), ('"', '"'), ("“", "”"), ("\ufeff", "")]))
    return number, draw(spaces) + wrapper[0] + "".join(chars) + wrapper[1] + draw(spaces)


@given(messy_spellings())
def test_presentation_noise_is_cleaned_to_the_same_number(pair):
    number, messy = pair
    assert parse_id_number(messy, today=TODAY).value == number


@given(valid_numbers(max_birth=date(1999, 12, 31)))
def test_legacy_15_digit_numbers_convert(generated):
    number, region, birth, _ = generated
    legacy = number[:6] + number[8:17]
    parsed = parse_id_number(legacy, today=TODAY)
    assert parsed.value == number
    assert parsed.converted_from_15 is True
    assert parsed.birth_date == birth
    assert parsed.region_code == region
    # Converting is one way: the result is an ordinary 18-digit number.
    assert parse_id_number(parsed.value, today=TODAY).converted_from_15 is False


@given(st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.booleans()))
@example("６.30121E+17")
@example("0" * 15 + "\x00")
def test_arbitrary_input_gives_a_result_or_an_id_number_error(raw):
    try:
        parsed = parse_id_number(raw, today=TODAY)
    except IdNumberError as err:
        assert err.code and err.reason and str(err) == err.reason
    else:
        assert len(parsed.value) == 18
        assert check_character(parsed.value[:17]) == parsed.value[17]


# --- cleaning examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "63012119781009646x",
        "６３０１２１１９７８１００９６４６Ｘ",
        "６３０１２１１９７８１００９６４６ｘ",
        "630121 19781009 646X",
        " 630121\t19781009\u3000646\xa0X ",
        "'63012119781009646X",
        "'63012119781009646x",
        '"63012119781009646X"',
        "\ufeff63012119781009646X",
    ],
)
def test_cleaning_examples(raw):
    assert normalise_id_number(raw) == "63012119781009646X"


def test_bom_free_clean_input_takes_the_plain_path():
    assert normalise_id_number("630121198710020016") == "630121198710020016"


def test_legacy_number_built_from_a_sample():
    legacy = "630121871002001"  # 630121198710020016 without "19" and the check character
    parsed = parse_id_number(legacy)
    assert parsed.value == "630121198710020016"
    assert parsed.converted_from_15
    assert parsed.birth_date == date(1987, 10, 2)
    assert parsed.sex == "M"


def test_legacy_number_with_impossible_date():
    err = assert_refused("630121870230001", "bad_birth_date")
    assert err.reason == "出生日期 19870230 不是有效日期"


def test_decimal_is_read_as_text():
    assert normalise_id_number(Decimal("630121198710020016")) == "630121198710020016"


# --- Excel damage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "6.30121E+17",
        "6.30121e+17",
        "6.30121198710020E+17",
        " 6.30121E17 ",
        "630121198710020000.0",
        "630121198710020016.00",
        Decimal("6.30121E+17"),
    ],
)
def test_excel_text_forms_are_refused(raw):
    err = assert_refused(raw, "excel_mangled")
    assert "Excel" in err.reason and "文本格式" in err.reason


def test_scientific_reason_names_what_happened_without_quoting_the_value():
    # Reasons are stored in import reports and receipts: they never quote the cell, which
    # may hold most of a person's number.
    err = assert_refused("6.30121198710020E+17", "excel_mangled")
    assert err.reason == (
        "身份证号疑似被 Excel 转成了科学计数法（如 6.30121E+17），"
        "原号码已丢失，请将该列设为文本格式后重新导出"
    )
    assert "630121198710020" not in err.reason


@pytest.mark.parametrize("raw", [6.30121198710020e17, 630121198710020016.0, 630121871002001.0, 1.5])
def test_any_float_is_refused(raw):
    assert_refused(raw, "excel_mangled")


def test_nan_from_an_empty_cell_counts_as_empty():
    assert_refused(float("nan"), "empty")


def test_int_with_excel_zero_tail_is_refused():
    err = assert_refused(630121198710020000, "excel_mangled")
    assert "000" in err.reason


def test_int_forms_that_are_not_excel_damage_validate_normally():
    assert normalise_id_number(630121198710020016) == "630121198710020016"
    # Honest 15-digit legacy numbers survive Excel exactly (15 significant digits).
    assert normalise_id_number(630121871002001) == "630121198710020016"
    # An 18-digit number whose real check character is 0 may legitimately end in 000.
    first17 = next(
        f"{region}19871002100"
        for region in range(630100, 630200)
        if check_character(f"{region}19871002100") == "0"
    )
    honest = int(first17 + "0")
    assert str(honest).endswith("000")
    assert normalise_id_number(honest) == str(honest)
    # Wrong check but no zero tail: an ordinary typo.
    assert_refused(630121198710020017, "bad_check")


def test_string_with_zero_tail_is_a_check_error_with_an_excel_hint():
    err = assert_refused("630121198710020000", "bad_check")
    assert "Excel" in err.reason


def test_bool_is_not_an_id_number():
    assert_refused(True, "bad_type")


# --- other refusals ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000\t", "''", '""'])
def test_empty(raw):
    err = assert_refused(raw, "empty")
    assert err.reason == "身份证号为空"


@pytest.mark.parametrize("raw, length", [("63012119871002001", 17), ("6301211987100200161", 19)])
def test_wrong_length(raw, length):
    err = assert_refused(raw, "bad_length")
    assert err.reason == f"身份证号应为18位（或旧版15位），实为 {length} 位"


def test_illegal_character_is_named_with_its_position():
    err = assert_refused("63012A198710020016", "bad_char")
    assert err.reason.startswith("身份证号含非法字符「A」")
    assert "第 6 位" in err.reason


def test_invisible_illegal_character_is_shown_as_code_point():
    err = assert_refused("63012119871002001\x00", "bad_char")
    assert "U+0000" in err.reason


def test_x_only_allowed_as_check_character():
    err = assert_refused("6301211987100200X6", "bad_char")
    assert "第 17 位" in err.reason


def test_bad_check_reason():
    err = assert_refused("630121198710020015", "bad_check")
    assert err.reason.startswith("身份证号校验位错误：应为 6，实为 5")
    assert str(err) == err.reason


def test_february_30():
    err = assert_refused("630121198702300011", "bad_birth_date")
    assert err.reason == "出生日期 19870230 不是有效日期"


def test_february_29_only_in_leap_years():
    assert parse_id_number(build("630121", date(2000, 2, 29), 1)).birth_date == date(2000, 2, 29)
    first17 = "63012119000229001"  # 1900 was not a leap year
    assert_refused(first17 + check_character(first17), "bad_birth_date")


def test_before_1900():
    assert_refused(build("630121", date(1899, 12, 31), 1), "bad_birth_date")
    assert parse_id_number(build("630121", date(1900, 1, 1), 1)).birth_date == date(1900, 1, 1)


def test_future_birth_date_against_explicit_today():
    number = build("630121", date(2026, 1, 2), 1)
    err = assert_refused(number, "future_birth_date", today=TODAY)
    assert err.reason.startswith("出生日期晚于今天")
    assert parse_id_number(number, today=date(2026, 1, 2)).birth_date == date(2026, 1, 2)


def test_future_birth_date_against_the_real_today():
    tomorrow = date.today() + timedelta(days=1)
    with pytest.raises(IdNumberError) as info:
        normalise_id_number(build("630121", tomorrow, 1))
    assert info.value.code == "future_birth_date"
    assert normalise_id_number(build("630121", date.today(), 1))


def test_is_valid_id_number():
    assert is_valid_id_number("63012220100320700x")
    assert not is_valid_id_number("63012220100320700")
    assert not is_valid_id_number(6.30122e17)


def test_error_survives_pickling():
    err = assert_refused("630121198710020015", "bad_check")
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes, made one line above
    assert (copy.code, copy.reason, str(copy)) == (err.code, err.reason, str(err))


# --- region codes --------------------------------------------------------------------------


def test_unknown_region_is_a_warning_not_an_error():
    parsed = parse_id_number("63012220100320700X", known_region_codes={"630121"})
    assert parsed.value == "63012220100320700X"
    assert len(parsed.warnings) == 1
    assert "630122" in parsed.warnings[0]


def test_known_region_has_no_warning():
    parsed = parse_id_number("63012220100320700X", known_region_codes={"630121", "630122"})
    assert parsed.warnings == ()


# --- the IdNumber value --------------------------------------------------------------------


def test_parsed_sample_fields():
    parsed = parse_id_number("63012220100320700X")
    assert parsed == IdNumber(
        value="63012220100320700X",
        region_code="630122",
        birth_date=date(2010, 3, 20),
        sex="F",
        converted_from_15=False,
        warnings=(),
    )
    assert parse_id_number("63012119781009646X").sex == "F"
    assert parse_id_number("630121198710020016").sex == "M"


def test_repr_does_not_leak_the_number():
    parsed = parse_id_number("630121198710020016")
    assert "630121198710020016" not in repr(parsed)
    assert "630121********0016" in repr(parsed)


def test_parsed_value_is_immutable():
    parsed = parse_id_number("630121198710020016")
    with pytest.raises(AttributeError):
        parsed.value = "x"


# --- ages ----------------------------------------------------------------------------------


def test_age_on_around_birthday():
    parsed = parse_id_number("630121198710020016")  # born 1987-10-02
    assert parsed.age_on(date(2027, 10, 1)) == 39
    assert parsed.age_on(date(2027, 10, 2)) == 40
    assert parsed.age_on(date(2027, 10, 3)) == 40
    assert parsed.age_on(date(1987, 10, 2)) == 0


@pytest.mark.parametrize(
    "day, age",
    [
        (date(2023, 2, 28), 22),
        (date(2023, 3, 1), 23),
        (date(2024, 2, 28), 23),
        (date(2024, 2, 29), 24),
        (date(2024, 3, 1), 24),
    ],
)
def test_age_of_someone_born_on_february_29(day, age):
    assert age_from_birth_date(date(2000, 2, 29), day) == age


def test_age_before_birth_is_an_error():
    with pytest.raises(ValueError):
        age_from_birth_date(date(2000, 1, 2), date(2000, 1, 1))


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
)
def test_age_matches_counting_anniversaries(a, b):
    birth, day = min(a, b), max(a, b)
    try:
        anniversary = birth.replace(year=day.year)
    except ValueError:  # 29 February in a common year: the anniversary is 1 March
        anniversary = date(day.year, 3, 1)
    expected = day.year - birth.year - (day < anniversary)
    assert age_from_birth_date(birth, day) == expected


# --- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, masked",
    [
        ("630121198710020016", "630121********0016"),
        ("63012119781009646X", "630121********646X"),
        ("630121871002001", "***********2001"),
        ("12345", "*2345"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    "value, masked",
    [
        ("15609714775", "156****4775"),
        ("09716123456", "097****3456"),  # any 11 digits is masked the mobile way
        ("0971-6123456", "097*******56"),
        ("6123456", "612**56"),
        ("123456", "******"),
        ("", ""),
    ],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@given(valid_numbers())
def test_mask_keeps_shape_and_hides_birth_date(generated):
    number = generated[0]
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked[:6] == number[:6] and masked[14:] == number[14:]
    assert set(masked[6:14]) == {"*"}


# --- the bulk checker ----------------------------------------------------------------------


def _parse_outcome(raw, today):
    try:
        parsed = parse_id_number(raw, today=today)
    except IdNumberError as exc:
        return "error", exc.code, exc.reason
    return parsed.value, parsed.converted_from_15


def _checker_outcome(checker, raw):
    try:
        return checker(raw)
    except IdNumberError as exc:
        return "error", exc.code, exc.reason


@st.composite
def near_valid_numbers(draw):
    """Valid numbers, with one character changed half of the time (wrong check, bad date,
    birth on or after today, lower-case x)."""
    number, *_ = draw(valid_numbers(max_birth=date(2026, 1, 5)))
    if draw(st.booleans()):
        at = draw(st.integers(min_value=0, max_value=17))
        number = number[:at] + draw(st.sampled_from("0123456789Xx")) + number[at + 1 :]
    return number


@given(st.one_of(near_valid_numbers(), messy_spellings().map(lambda pair: pair[0]), st.text()))
@example("63012119781009646x")
@example("630121202601010011")  # born today: valid
@example("63012119000101001X")
@example("630121189912310011")
def test_bulk_checker_agrees_with_parse_id_number(raw):
    assert _checker_outcome(ListIdChecker(TODAY), raw) == _parse_outcome(raw, TODAY)
