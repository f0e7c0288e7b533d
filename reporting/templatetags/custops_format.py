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


@register.simple_tag
def chart_table(described: dict) -> dict:
    """A chart description's numbers as ``{"header", "rows", "units"}`` for its table view.

    ``units`` says how each column is formatted (the first column is the category or point label).
    """
    from reporting.charts import table_rows

    header, rows = table_rows(described)
    if described["kind"] == "scatter":
        units = ["label", described["x_unit"], described["y_unit"]]
    else:
        units = ["label"] + [described["y_unit"]] * (len(header) - 1)
    return {"header": header, "rows": [list(zip(row, units, strict=True)) for row in rows]}


@register.simple_tag
def chart_value(value, unit: str, currency: str = "") -> str:
    """One table-view cell of a chart, formatted by its unit."""
    if unit == "label":
        return EMPTY if value is None else str(value)
    if unit == "money":
        return money_local(value, currency)
    if unit == "percent":
        return percent(value)
    number = _number(value)
    if number is None:
        return EMPTY
    if unit == "ratio":
        return f"{number:.2f}×"
    if unit == "months":
        return f"{number:.1f}"
    return intcomma(round(number, 2) if number != int(number) else int(number))


@register.simple_tag
def chart_script(described: dict, chart_id: str):
    """The chart description as ``<script type="application/json" id="<chart_id>-data">`` (escaped)."""
    from django.utils.html import json_script

    return json_script(described, f"{chart_id}-data")


@register.filter
def money_with_currency(value, currency: str = "") -> str:
    """An amount that names its currency once: "¥1.23万" for Chinese readers of CNY, else "1,234.50 CNY"."""
    local = money_local(value, currency)
    if local == EMPTY or "¥" in local or not currency:
        return local
    return f"{local} {currency}"
