"""Number formats of the report pages: shares as percentages, amounts with two places, heat for cohort cells."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

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
