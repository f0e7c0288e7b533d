"""The cell value parsers of the CSV import: what they accept, and what they refuse with a message for a person."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.imports.values import parse_amount, parse_bool, parse_date, parse_datetime, parse_int, parse_month

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DATES = st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31))


# Dates.


@pytest.mark.parametrize("text", ["2024-02-29", "2024/02/29", "20240229", " 2024-02-29 ", "2024/2/29", "2024-2-29"])
def test_parse_date_accepts_dashes_slashes_and_compact_digits(text):
    assert parse_date(text) == datetime.date(2024, 2, 29)


@pytest.mark.parametrize("text", ["2024-01-31T23:30:00+08:00", "2024-01-31T23:30:00Z", "2024-01-31 23:30"])
def test_parse_date_takes_the_date_of_an_iso_datetime_as_written(text):
    assert parse_date(text) == datetime.date(2024, 1, 31)


def test_parse_date_rejects_a_day_that_does_not_exist_and_says_which_formats_to_use():
    with pytest.raises(ValueError) as raised:
        parse_date("2024-02-30")

    assert str(raised.value) == "'2024-02-30' is not a valid date: use YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD."


@pytest.mark.parametrize(
    "text", ["0000-00-00", "2023-02-29", "2024-13-01", "2024-01-31T25:00", "2024-01", "31/01/2024", "2024-01/31"]
)
def test_parse_date_rejects_impossible_or_ambiguous_dates(text):
    with pytest.raises(ValueError, match="is not a valid date: use YYYY-MM-DD"):
        parse_date(text)


def test_parse_date_rejects_full_width_digits():
    with pytest.raises(ValueError, match="is not a valid date"):
        parse_date("２０２４-01-31")


def test_parse_date_says_when_the_value_is_empty():
    with pytest.raises(ValueError, match=r"^An empty value is not a valid date"):
        parse_date("   ")


def test_parse_date_shortens_a_long_value_in_its_message():
    with pytest.raises(ValueError) as raised:
        parse_date("x" * 500)

    assert len(str(raised.value)) < 120


@given(date=DATES)
def test_parse_date_reads_back_every_date_in_all_three_formats(date):
    for separator in ("-", "/", ""):
        text = f"{date.year:04d}{separator}{date.month:02d}{separator}{date.day:02d}"
        assert parse_date(text) == date


# Months.


@pytest.mark.parametrize("text", ["2024-03", "2024/03", "2024/3"])
def test_parse_month_gives_the_first_day_of_the_month(text):
    assert parse_month(text) == datetime.date(2024, 3, 1)


def test_parse_month_returns_a_full_date_as_is():
    assert parse_month("2024-03-15") == datetime.date(2024, 3, 15)


@pytest.mark.parametrize("text", ["2024-13", "2024-00", "0000-01", "202403", "03/2024", ""])
def test_parse_month_rejects_what_is_not_a_month_and_says_which_formats_to_use(text):
    with pytest.raises(ValueError, match="is not a valid month: use YYYY-MM or YYYY/MM"):
        parse_month(text)


# Date-times.


@pytest.mark.parametrize(
    ("text", "offset_hours"),
    [
        ("2024-01-31T09:30:00Z", 0),
        ("2024-01-31T09:30:00+08:00", 8),
        ("2024-01-31T09:30:00+0800", 8),
        ("2024-01-31T09:30:00+08", 8),
        ("2024-01-31T09:30:00-05:00", -5),
        ("2024-01-31 09:30:00 +08:00", 8),
    ],
)
def test_parse_datetime_honours_the_zone_written_in_the_value(text, offset_hours):
    moment = parse_datetime(text, default_tz=SHANGHAI)

    assert moment.replace(tzinfo=None) == datetime.datetime(2024, 1, 31, 9, 30)
    assert moment.utcoffset() == datetime.timedelta(hours=offset_hours)


@pytest.mark.parametrize("text", ["2024-01-31 09:30", "2024-01-31 09:30:00", "2024/01/31 09:30", "2024-01-31T09:30"])
def test_parse_datetime_puts_values_without_a_zone_in_the_default_zone(text):
    assert parse_datetime(text, default_tz=SHANGHAI) == datetime.datetime(2024, 1, 31, 9, 30, tzinfo=SHANGHAI)


def test_parse_datetime_reads_a_plain_date_as_midnight_in_the_default_zone():
    assert parse_datetime("2024-01-31", default_tz=SHANGHAI) == datetime.datetime(2024, 1, 31, tzinfo=SHANGHAI)


def test_parse_datetime_keeps_fractions_of_a_second_to_the_microsecond():
    moment = parse_datetime("2024-01-31T09:30:00.123456789Z", default_tz=SHANGHAI)

    assert moment.microsecond == 123456


@pytest.mark.parametrize(
    "text", ["2024-01-31T24:00", "2024-01-31 09:60", "2024-02-30 09:30", "2024-01-31T09:30+25:00", "09:30", "now"]
)
def test_parse_datetime_rejects_impossible_values_and_says_which_formats_to_use(text):
    with pytest.raises(ValueError, match="is not a valid date and time: use YYYY-MM-DD HH:MM"):
        parse_datetime(text, default_tz=SHANGHAI)


@given(
    moment=st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2100, 1, 1)),
    offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_parse_datetime_reads_back_isoformat(moment, offset_minutes):
    aware = moment.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=offset_minutes)))

    parsed = parse_datetime(aware.isoformat(), default_tz=SHANGHAI)

    assert parsed == aware
    assert parsed.utcoffset() == aware.utcoffset()


# Amounts.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", "1234.50"),
        ("¥1,234.50", "1234.50"),
        ("￥1,234.50", "1234.50"),
        ("$12", "12"),
        ("€ 12.5", "12.5"),
        ("£0.99", "0.99"),
        ("100元", "100"),
        ("CNY 12.00", "12.00"),
        ("12.00 USD", "12.00"),
        ("1234567.891", "1234567.891"),
        (".5", "0.5"),
    ],
)
def test_parse_amount_drops_currency_symbols_codes_and_thousands_separators(text, expected):
    amount = parse_amount(text)

    assert amount == Decimal(expected)
    assert str(amount) == expected


@pytest.mark.parametrize("text", ["-12.50", "-¥12.50", "¥-12.50", "- 12.50", "CNY -12.50"])
def test_parse_amount_accepts_negative_amounts(text):
    assert parse_amount(text) == Decimal("-12.50")


def test_parse_amount_gives_zero_without_a_sign():
    assert str(parse_amount("-0.00")) == "0.00"


@pytest.mark.parametrize("text", ["3,5", "€ 3,5", "1,23", "1.234,56", "12,34,567", "1,2345.00"])
def test_parse_amount_rejects_a_comma_that_is_not_a_thousands_separator(text):
    with pytest.raises(ValueError, match=r"use '\.' as the decimal separator \(1234\.50\) and ',' only between groups"):
        parse_amount(text)


@pytest.mark.parametrize("text", ["1e309", "1E3", "2.5e-3"])
def test_parse_amount_rejects_exponents(text):
    with pytest.raises(ValueError, match="without an exponent"):
        parse_amount(text)


@pytest.mark.parametrize("text", ["inf", "-Infinity", "nan", "NaN", "abc", "", "12 34", "１２", "1_000", "--5", "."])
def test_parse_amount_rejects_what_is_not_a_plain_number(text):
    with pytest.raises(ValueError, match=r"is not a valid amount: use digits with '\.' for decimals, e\.g\. 1234\.50"):
        parse_amount(text)


@given(
    amount=st.decimals(
        min_value=Decimal("-1000000000000"),
        max_value=Decimal("1000000000000"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    ),
    symbol=st.sampled_from(["", "¥", "$", "CNY "]),
)
def test_parse_amount_reads_back_amounts_formatted_with_thousands_separators(amount, symbol):
    text = f"{symbol}{amount:,}"

    parsed = parse_amount(text)

    assert parsed == amount
    assert parsed.as_tuple().exponent == amount.as_tuple().exponent


# Booleans.


@pytest.mark.parametrize("text", ["true", "TRUE", "Yes", "1", "y", "T", "是", " yes "])
def test_parse_bool_reads_true_words(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "FALSE", "No", "0", "n", "F", "否", "", "  "])
def test_parse_bool_reads_false_words_and_an_empty_cell(text):
    assert parse_bool(text) is False


def test_parse_bool_rejects_other_words_and_lists_the_accepted_ones():
    with pytest.raises(ValueError) as raised:
        parse_bool("maybe")

    assert str(raised.value) == "'maybe' is not a yes/no value: use true/false, yes/no, 1/0 or 是/否."


# Whole numbers.


@pytest.mark.parametrize(("text", "expected"), [("9", 9), ("09", 9), (" 9 ", 9), ("-3", -3), ("+4", 4), ("7.0", 7)])
def test_parse_int_reads_whole_numbers(text, expected):
    assert parse_int(text) == expected


@pytest.mark.parametrize("text", ["7.5", "abc", "", "1,000", "1_000", "９", "1e3", "0x10"])
def test_parse_int_rejects_what_is_not_a_whole_number(text):
    with pytest.raises(ValueError, match=r"is not a whole number: use digits only, e\.g\. 9"):
        parse_int(text)


def test_parse_int_rejects_more_digits_than_a_database_integer_holds():
    with pytest.raises(ValueError, match="too large: a whole number here has at most 18 digits"):
        parse_int("1" * 19)


@given(number=st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1))
def test_parse_int_reads_back_every_whole_number_it_accepts(number):
    assert parse_int(str(number)) == number
