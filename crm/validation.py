"""Checks shared by every way data enters the CRM (services, imports): dates, money, tags, references.

Each raises Django's ``ValidationError`` keyed by the field name so that the API, the pages and the
import reports can say exactly which field was wrong.
"""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

EARLIEST_BUSINESS_DATE = datetime.date(1970, 1, 1)
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_JSON_BYTES = 64 * 1024
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def future_limit() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(hours=settings.CUSTOPS_FUTURE_TOLERANCE_HOURS)


def check_business_datetime(field: str, value: datetime.datetime | None) -> None:
    """Reject dates before 1970 or further in the future than the configured tolerance."""
    if value is None:
        return
    if timezone.is_naive(value):
        raise ValidationError({field: [_("Give a time zone with this date-time.")]})
    if value.date() < EARLIEST_BUSINESS_DATE:
        raise ValidationError({field: [_("This date is before 1970; check the value.")]})
    if value > future_limit():
        raise ValidationError({field: [_("This date lies in the future; only past or present dates are accepted.")]})


def check_business_date(field: str, value: datetime.date | None) -> None:
    if value is None:
        return
    if value < EARLIEST_BUSINESS_DATE:
        raise ValidationError({field: [_("This date is before 1970; check the value.")]})
    if value > future_limit().date():
        raise ValidationError({field: [_("This date lies in the future; only past or present dates are accepted.")]})


def check_amount(field: str, value: Any) -> Decimal:
    """A non-negative amount with at most two decimals, below the configured ceiling."""
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
    return amount


def check_currency(field: str, value: str) -> str:
    value = (value or "").strip().upper()
    if not CURRENCY_RE.match(value):
        raise ValidationError({field: [_("Use a three-letter ISO 4217 code such as CNY or USD.")]})
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
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({field: [_("Give a JSON object of names to values.")]})
    if len(json.dumps(value, default=str)) > MAX_JSON_BYTES:
        raise ValidationError({field: [_("This object is larger than 64 KB.")]})
    return value
