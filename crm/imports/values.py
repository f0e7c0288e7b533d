"""Parsers for the cell values of an imported CSV file: dates, months, date-times, amounts, booleans, integers.

Pure Python (no Django). Each parser takes the cell text, ignores surrounding whitespace and raises ``ValueError``
with a message for a person that quotes the value and says what was expected. Range checks (dates in the future,
negative amounts) are the import pipeline's business, not these parsers'.

Only ASCII digits are accepted: ``int()`` and ``Decimal()`` would also take full-width and other Unicode digits and
underscores ("1_000"), which no spreadsheet writes and which usually mean a mistyped value.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

DATE_FORMATS = "YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD"
MONTH_FORMATS = "YYYY-MM or YYYY/MM (or a full date)"
DATETIME_FORMATS = "YYYY-MM-DD HH:MM[:SS], YYYY/MM/DD HH:MM[:SS] or ISO 8601 such as 2024-01-31T09:30:00+08:00"
MAX_SHOWN = 40
MAX_INT_DIGITS = 18

_DATE = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:(?P<sep>[-/])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})|(?P<month8>[0-9]{2})(?P<day8>[0-9]{2}))"
)
_TIME = re.compile(
    r"(?:T|\s+)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"\s*(?P<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_MONTH = re.compile(r"(?P<year>[0-9]{4})[-/](?P<month>[0-9]{1,2})")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?|[0-9]*\.?[0-9]*")
_COMMA_DECIMAL = re.compile(r"[0-9.,]+")
_EXPONENT = re.compile(r"[0-9]*\.?[0-9]*[eE][-+]?[0-9]+")
_CURRENCY_SYMBOLS = "¥￥$€£元"
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}\s*|\s*[A-Za-z]{3}$")
_INTEGER = re.compile(r"(?P<sign>[-+]?)(?P<digits>[0-9]+)(?:\.0+)?")
TRUE_WORDS = frozenset({"true", "yes", "1", "y", "t", "是"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "f", "否", ""})


def parse_date(text: str) -> datetime.date:
    """A calendar date from YYYY-MM-DD, YYYY/MM/DD (month and day may have one digit) or YYYYMMDD.

    An ISO date-time ("2024-01-31T09:30:00+08:00", "2024-01-31 09:30") gives its own calendar date, without
    converting between time zones.
    """
    value = text.strip()
    match = _DATE.match(value)
    if match:
        date = _date_from_match(match)
        time_match = _TIME.fullmatch(value, match.end()) if match.end() < len(value) else None
        if date is not None and (
            match.end() == len(value)
            or (time_match and _datetime_from_match(date, time_match, datetime.UTC) is not None)
        ):
            return date
    raise ValueError(f"{_shown(value)} is not a valid date: use {DATE_FORMATS}.")


def is_month(text: str) -> bool:
    """Whether a spend date cell names a whole month (YYYY-MM or YYYY/MM) rather than a day."""
    return _MONTH.fullmatch(text.strip()) is not None


def parse_month(text: str) -> datetime.date:
    """The first day of a month given as YYYY-MM or YYYY/MM; a full date is accepted and returned as is."""
    value = text.strip()
    match = _MONTH.fullmatch(value)
    if match:
        month = int(match["month"])
        if 1 <= month <= 12 and int(match["year"]) >= 1:
            return datetime.date(int(match["year"]), month, 1)
    else:
        try:
            return parse_date(value)
        except ValueError:
            pass
    raise ValueError(f"{_shown(value)} is not a valid month: use {MONTH_FORMATS}.")


def parse_datetime(text: str, *, default_tz: datetime.tzinfo) -> datetime.datetime:
    """An aware date-time from ISO 8601 (with or without a zone: "Z", "+08:00", "+0800", "+08"), from
    "YYYY-MM-DD HH:MM[:SS]" or "YYYY/MM/DD HH:MM[:SS]", or from a plain date (midnight).

    Values without a zone are taken in ``default_tz``, which must be a ``zoneinfo``-style tzinfo (the organization's
    time zone), not a pytz one.
    """
    value = text.strip()
    match = _DATE.match(value)
    if match:
        date = _date_from_match(match)
        if date is not None and match.end() == len(value):
            return datetime.datetime(date.year, date.month, date.day, tzinfo=default_tz)
        time_match = _TIME.fullmatch(value, match.end())
        if date is not None and time_match:
            moment = _datetime_from_match(date, time_match, default_tz)
            if moment is not None:
                return moment
    raise ValueError(f"{_shown(value)} is not a valid date and time: use {DATETIME_FORMATS}.")


def parse_amount(text: str) -> Decimal:
    """An exact amount of money such as "1,234.50", "¥1,234.50", "-$12" or "CNY 12.00".

    "." is the only decimal separator and "," only separates groups of three digits, so "3,5" is refused as
    ambiguous rather than read as 35 or 3.5. Currency symbols (¥ ￥ $ € £ 元) and three-letter codes are
    dropped; the pipeline checks the currency column separately. Exponents, "inf" and "nan" are refused.
    """
    value = text.strip()
    number = value
    sign = ""
    if number and number[0] in "-+":
        sign, number = number[0], number[1:].lstrip()
    number = _CURRENCY_CODE.sub("", number).strip(_CURRENCY_SYMBOLS + " \t\u00a0\u3000")
    if not sign and number and number[0] in "-+":
        sign, number = number[0], number[1:].lstrip()
    if _GROUPED.fullmatch(number) and any(character.isdigit() for character in number):
        amount = Decimal(sign + number.replace(",", ""))
        return amount.copy_abs() if amount.is_zero() else amount
    if "," in number and _COMMA_DECIMAL.fullmatch(number):
        raise ValueError(
            f"{_shown(value)} is not a valid amount: use '.' as the decimal separator (1234.50) and ',' only "
            "between groups of three digits (1,234.50)."
        )
    if _EXPONENT.fullmatch(number):
        raise ValueError(f"{_shown(value)} is not a valid amount: write it in plain digits, without an exponent.")
    raise ValueError(f"{_shown(value)} is not a valid amount: use digits with '.' for decimals, e.g. 1234.50.")


def parse_bool(text: str) -> bool:
    """True for true/yes/1/y/t/是, False for false/no/0/n/f/否 or an empty cell; case is ignored."""
    value = text.strip()
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{_shown(value)} is not a yes/no value: use true/false, yes/no, 1/0 or 是/否.")


def parse_int(text: str) -> int:
    """A whole number: "9", "09", "-3", or "7.0" (a spreadsheet's whole number written as a decimal)."""
    value = text.strip()
    match = _INTEGER.fullmatch(value)
    if not match:
        raise ValueError(f"{_shown(value)} is not a whole number: use digits only, e.g. 9.")
    digits = match["digits"].lstrip("0") or "0"
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError(f"{_shown(value)} is too large: a whole number here has at most {MAX_INT_DIGITS} digits.")
    number = int(digits)
    return -number if match["sign"] == "-" else number


def _date_from_match(match: re.Match[str]) -> datetime.date | None:
    year = int(match["year"])
    month = int(match["month"] or match["month8"])
    day = int(match["day"] or match["day8"])
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _datetime_from_match(
    date: datetime.date, match: re.Match[str], default_tz: datetime.tzinfo
) -> datetime.datetime | None:
    zone = match["zone"]
    if zone is None:
        tzinfo = default_tz
    elif zone in "Zz":
        tzinfo = datetime.UTC
    else:
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = datetime.timedelta(hours=hours, minutes=minutes)
        tzinfo = datetime.timezone(-offset if zone[0] == "-" else offset)
    microsecond = int((match["fraction"] or "0")[:6].ljust(6, "0"))
    try:
        return datetime.datetime(
            date.year,
            date.month,
            date.day,
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            microsecond,
            tzinfo=tzinfo,
        )
    except ValueError:
        return None


def _shown(value: str) -> str:
    """The value quoted for a message, shortened if long."""
    if not value:
        return "An empty value"
    if len(value) > MAX_SHOWN:
        value = value[: MAX_SHOWN - 1] + "…"
    return f"'{value}'"
