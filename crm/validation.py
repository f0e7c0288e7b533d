"""Checks shared by every way data enters the CRM (services, imports): dates, money, tags, references.

Each raises Django's ``ValidationError`` keyed by the field name so that the API, the pages and the
import reports can say exactly which field was wrong.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import currency_code_validator

EARLIEST_BUSINESS_DATE = datetime.date(1970, 1, 1)
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_JSON_BYTES = 64 * 1024
CENT = Decimal("0.01")


def future_limit() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(hours=settings.CUSTOPS_FUTURE_TOLERANCE_HOURS)


def check_business_datetime(field: str, value: datetime.datetime | None) -> None:
    """Reject dates before 1970 or further in the future than the configured tolerance.

    A naive date-time is rejected rather than guessed: the same wall-clock time means a different instant
    in each organization's time zone, and a wrong guess silently shifts orders across days.
    """
    if value is None:
        return
    if not isinstance(value, datetime.datetime):
        raise ValidationError({field: [_("Enter a date-time with a time zone, e.g. 2025-01-31T09:30:00+08:00.")]})
    if timezone.is_naive(value):
        raise ValidationError({field: [_("Give a time zone with this date-time.")]})
    if value.date() < EARLIEST_BUSINESS_DATE:
        raise ValidationError({field: [_("This date is before 1970; check the value.")]})
    if value > future_limit():
        raise ValidationError({field: [_("This date lies in the future; only past or present dates are accepted.")]})


def check_business_date(field: str, value: datetime.date | None) -> None:
    """Like ``check_business_datetime`` for calendar days; a date-time is refused, not truncated."""
    if value is None:
        return
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ValidationError({field: [_("Enter a date such as 2025-01-31.")]})
    if value < EARLIEST_BUSINESS_DATE:
        raise ValidationError({field: [_("This date is before 1970; check the value.")]})
    if value > future_limit().date():
        raise ValidationError({field: [_("This date lies in the future; only past or present dates are accepted.")]})


def check_amount(field: str, value: Any) -> Decimal:
    """A non-negative amount with at most two decimals, below the configured ceiling.

    Floats go through ``str`` so that 0.1 becomes Decimal("0.1"), not its binary approximation; booleans
    are refused because ``True`` would otherwise count as an amount of 1.
    """
    if isinstance(value, bool):
        raise ValidationError({field: [_("Enter a number.")]})
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [_("Enter a number.")]}) from None
    if not amount.is_finite():
        raise ValidationError({field: [_("Enter a finite number.")]})
    if amount < 0:
        raise ValidationError({field: [_("The amount cannot be negative; record refunds with the status 'refunded'.")]})
    if amount > Decimal(settings.CUSTOPS_MAX_ORDER_AMOUNT):
        raise ValidationError(
            {
                field: [
                    _("The amount is larger than %(limit)s, which is treated as a data error.")
                    % {"limit": settings.CUSTOPS_MAX_ORDER_AMOUNT}
                ]
            }
        )
    if amount.as_tuple().exponent < -2:
        raise ValidationError({field: [_("Use at most two decimal places.")]})
    # Quantized so that the returned value, the audit snapshot and the stored column all read "70.00".
    return amount.quantize(CENT)


def check_currency(field: str, value: str) -> str:
    """The code upper-cased, checked by the same rule as an organization's currency."""
    value = (value or "").strip().upper()
    try:
        currency_code_validator(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    return value


def clean_tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError({"tags": [_("Tags must be a list of strings.")]})
    tags = sorted({tag.strip() for tag in value if tag.strip()})
    if len(tags) > MAX_TAGS:
        raise ValidationError({"tags": [_("At most %(n)d tags per customer.") % {"n": MAX_TAGS}]})
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise ValidationError({"tags": [_("A tag has at most %(n)d characters.") % {"n": MAX_TAG_LENGTH}]})
    return tags


def check_json_object(field: str, value: Any) -> dict:
    """A JSON object of at most 64 KB that both SQLite and Postgres ``jsonb`` can store.

    Serialised strictly (no ``default=str``, no NaN): anything ``json`` cannot write as standard JSON would
    fail later at save time, as a 500 instead of a field error.
    """
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({field: [_("Give a JSON object of names to values.")]})
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(
            {field: [_("Use only JSON values: text, finite numbers, true/false, null, lists and objects.")]}
        ) from None
    if len(encoded.encode()) > MAX_JSON_BYTES:
        raise ValidationError({field: [_("This object is larger than 64 KB.")]})
    return value


def clean_text(field: str, value: Any, *, max_length: int) -> str:
    """Text stripped of surrounding blanks; ``None`` counts as empty.

    The length is checked here because Django's ``TextField(max_length=...)`` does not validate it in
    ``full_clean()``; only forms and serializers would.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: [_("Enter text.")]})
    value = value.strip()
    if len(value) > max_length:
        raise ValidationError(
            {
                field: [
                    _("Ensure this text has at most %(limit)d characters (it has %(length)d).")
                    % {"limit": max_length, "length": len(value)}
                ]
            }
        )
    return value


def check_integer(field: str, value: Any, *, low: int, high: int) -> int:
    """A whole number in ``[low, high]``; booleans and floats such as 7.5 are refused rather than truncated."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: [_("Enter a whole number.")]})
    if not low <= value <= high:
        raise ValidationError(
            {field: [_("The value must lie between %(low)d and %(high)d.") % {"low": low, "high": high}]}
        )
    return value


def _unstorable_reason(value: Any) -> str | None:
    """Why a text or JSON value cannot be stored, or None: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return _("Remove the NUL character (\\x00); it cannot be stored.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _("This text holds an invalid Unicode character (a lone surrogate); check its encoding.")
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            reason = _unstorable_reason(key) or _unstorable_reason(item)
            if reason:
                return reason
    elif isinstance(value, (list, tuple)):
        for item in value:
            reason = _unstorable_reason(item)
            if reason:
                return reason
    return None


def check_storable(instance: models.Model) -> None:
    """Reject any text or JSON field holding what the database cannot store, naming the field.

    Checked on the whole row just before saving, so every way in (API, pages, imports, commands) is covered
    by the one check instead of each caller remembering it.
    """
    errors = {}
    for field in instance._meta.concrete_fields:
        reason = _unstorable_reason(getattr(instance, field.attname))
        if reason:
            errors[field.name] = [reason]
    if errors:
        raise ValidationError(errors)
