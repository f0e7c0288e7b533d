"""Cells that go into a file a person opens in a spreadsheet (CSV, XLSX): defused against formula injection.

Every download of customer data (import rejections here, report exports, campaign lists, segment snapshots) uses
this one rule; it lives in ``crm``, the lowest app that writes such files, so every app above may import it.
"""

from __future__ import annotations

#: Cells starting with these open as formulas (or are stripped to one) in spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(text: str) -> str:
    """``text`` made safe for a spreadsheet cell: a leading formula character gets a ``'`` in front."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
