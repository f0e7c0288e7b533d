"""Number formats of the report pages: shares as percentages, amounts with two places, heat for cohort cells."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.translation import get_language

register = template.Library()

EMPTY = "—"


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, InvalidOperation):
        return None
    return number if number == number and abs(number) != float("inf") else None


@register.filter
def percent(value, places: int = 1) -> str:
    """0.1234 → "12.3%"; None (undefined) → "—"."""
    number = _number(value)
    if number is None:
        return EMPTY
    return f"{number * 100:.{int(places)}f}%"


@register.filter
def money(value) -> str:
    """1234.5 → "1,234.50"; None → "—". The currency is the organization's, named on the page."""
    number = _number(value)
    if number is None:
        return EMPTY
    return intcomma(f"{Decimal(str(round(number, 2))):.2f}")


@register.filter
def heat(value) -> str:
    """A 0–1 share as a CSS number for the cohort heatmap's background strength."""
    number = _number(value)
    if number is None:
        return "0"
    return f"{min(max(number, 0.0), 1.0):.3f}"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (None when missing)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def money_local(value, currency: str = "") -> str:
    """An amount as the reader expects it: in Chinese with CNY, ¥ and 万 / 亿 (1.23万 = 12,300); else ``money``.

    Chinese readers count large amounts in 万 (10⁴) and 亿 (10⁸), not thousands and millions; other
    languages and currencies keep the plain two-decimal form, with the currency named on the page.
    """
    number = _number(value)
    if number is None:
        return EMPTY
    if currency != "CNY" or not (get_language() or "").startswith("zh"):
        return money(value)
    sign = "-" if number < 0 else ""
    size = abs(number)
    if size >= 1e8:
        return f"{sign}¥{size / 1e8:.2f}亿"
    if size >= 1e4:
        return f"{sign}¥{size / 1e4:.2f}万"
    return f"{sign}¥{money(size)}"
