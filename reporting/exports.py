"""Report tables as CSV, XLSX and PDF: plain tables in, files out (no Django, no database).

The report pages build a :class:`Table` (translated headers, typed values) and hand it to one of the writers
here, so every export neutralizes formulas, types its cells and names its columns the same way.

Formula injection: a spreadsheet opening a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return, which some programs strip before looking) runs it as a formula, so a customer named
``=HYPERLINK(...)`` could run code on the reader's machine (OWASP, "CSV Injection"). Every text cell goes through
:func:`neutralize_formula`, which prefixes such a value with a single quote; numbers and dates are written as
numbers and dates, so a negative amount stays a number.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from crm.spreadsheets import neutralize_formula

# fpdf2 subsets fonts with fontTools, which logs every pruned table at INFO: noise in the server log.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

#: Kinds of column, each written with its own XLSX number format.
TEXT, INTEGER, NUMBER, MONEY, SHARE, DATE, DATETIME, BOOLEAN = (
    "text",
    "integer",
    "number",
    "money",
    "share",
    "date",
    "datetime",
    "boolean",
)

XLSX_FORMATS = {
    INTEGER: "#,##0",
    NUMBER: "#,##0.000",
    MONEY: "#,##0.00",
    SHARE: "0.0%",
    DATE: "yyyy-mm-dd",
    DATETIME: "yyyy-mm-dd hh:mm",
}


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = TEXT


@dataclass
class Table:
    """A report table: a sheet title, typed columns and rows of plain values (``None`` for an empty cell).

    Values are ``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``date`` or naive ``datetime`` (already in
    the organization's time zone: spreadsheets have no time zones). ``rows`` may be a generator, read once.
    """

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence] = field(default_factory=list)


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return neutralize_formula(str(value))


class _Echo:
    """A file whose ``write`` returns what it was given, so ``csv.writer`` can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(table: Table) -> Iterator[str]:
    """The table as CSV lines: a UTF-8 byte-order mark first (Excel then reads Chinese text right), the header."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([neutralize_formula(column.header) for column in table.columns])
    for row in table.rows:
        yield writer.writerow([_csv_value(value) for value in row])


def csv_text(table: Table) -> str:
    return "".join(csv_lines(table))


_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(title: str) -> str:
    """Excel's rules: at most 31 characters, none of ``[]:*?/\\``."""
    return (_SHEET_TITLE_FORBIDDEN.sub(" ", title).strip() or "Sheet")[:31]


def _xlsx_value(value):
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        raise ValueError("XLSX cells cannot hold time zones: convert to the organization's local time first")
    if isinstance(value, str):
        return neutralize_formula(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def xlsx_write(table: Table, target, *, max_rows: int | None = None) -> int:
    """Write the table as an XLSX workbook to ``target`` (a path or binary file); returns the data rows written.

    openpyxl's write-only mode keeps memory flat however long the table. Numbers stay numbers, dates dates,
    each with a number format for its kind; the header row is bold and frozen. Rows past ``max_rows`` are not
    written (the caller checks the size first and says so; this is the last guard).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(table.title))
    sheet.freeze_panes = "A2"
    for index, column in enumerate(table.columns, start=1):
        width = max(10, min(40, len(column.header) + 4))
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=neutralize_formula(column.header))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    # One styled cell per formatted column, refilled for every row (a write-only sheet writes a row out as soon
    # as it is appended), instead of a style lookup for every value.
    styled = []
    for column in table.columns:
        number_format = XLSX_FORMATS.get(column.kind)
        if number_format is None:
            styled.append(None)
            continue
        cell = WriteOnlyCell(sheet)
        cell.number_format = number_format
        styled.append(cell)
    written = 0
    try:
        for row in table.rows:
            if max_rows is not None and written >= max_rows:
                break
            cells = []
            for value, cell in zip(row, styled, strict=True):
                value = _xlsx_value(value)
                if cell is not None and value is not None and not isinstance(value, str):
                    cell.value = value
                    cells.append(cell)
                else:
                    cells.append(value)
            sheet.append(cells)
            written += 1
    except Exception:
        sheet.close()  # releases the sheet's temporary file
        raise
    workbook.save(target)
    return written


def xlsx_bytes(table: Table, *, max_rows: int | None = None) -> bytes:
    buffer = io.BytesIO()
    xlsx_write(table, buffer, max_rows=max_rows)
    return buffer.getvalue()


# The executive report (PDF) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiLine:
    label: str
    value: str
    change: str
    definition: str


@dataclass(frozen=True)
class Series:
    """One chart: a title and ``(day, value)`` points, oldest first; ``None`` values are gaps."""

    title: str
    points: Sequence[tuple[datetime.date, float | None]]
    value_format: str = "{:,.0f}"


@dataclass
class ExecutiveReport:
    """Everything on the executive PDF, already translated and formatted by the caller."""

    title: str
    organization: str
    subtitle: str
    kpi_heading: str
    kpi_columns: tuple[str, str, str]
    kpis: Sequence[KpiLine]
    charts_heading: str
    charts: Sequence[Series]
    channels: Table
    alerts_heading: str
    alerts: Sequence[tuple[str, str, str]]
    no_alerts: str
    empty_chart: str
    footer: str


#: CJK fonts looked for, in order, when no path is configured (Debian's fonts-wqy-microhei, fonts-noto-cjk).
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def find_cjk_font(configured: str | None = None) -> Path | None:
    """The first readable CJK font: ``configured`` if given, else the usual Debian locations."""
    for candidate in ((configured,) if configured else ()) + CJK_FONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    return None


def _latin1_safe(text: str) -> str:
    """Text for the built-in Helvetica (Latin-1 only): typographic marks spelled plainly, the rest as ``?``."""
    replacements = {"—": "-", "–": "-", "×": "x", "÷": "/", "…": "...", "≥": ">=", "≤": "<=", "’": "'", "·": "-"}
    for mark, plain in replacements.items():
        text = text.replace(mark, plain)
    return text.encode("latin-1", "replace").decode("latin-1")


def executive_pdf(report: ExecutiveReport, *, font_path: Path | None) -> bytes:
    """The executive report as a PDF, offline: a Unicode font from disk when given, charts drawn with lines.

    Without a CJK font (``font_path`` None) the built-in Helvetica is used and characters outside Latin-1
    become ``?``: the report still downloads, and the caller logs the missing font.
    """
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    if font_path is not None:
        pdf.add_font("body", "", str(font_path))
        family = "body"
        text = str
    else:
        family = "helvetica"
        text = _latin1_safe
    pdf.set_title(text(f"{report.title} - {report.organization}"))
    pdf.set_creator("custops")
    footer = text(report.footer)

    def page_footer() -> None:
        pdf.set_y(-12)
        pdf.set_font(family, size=7)
        pdf.set_text_color(120)
        pdf.cell(0, 5, f"{footer}  -  {pdf.page_no()}", align="C")
        pdf.set_text_color(0)

    pdf.footer = page_footer
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(family, size=18)
    pdf.multi_cell(width, 9, text(report.organization), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=12)
    pdf.multi_cell(width, 6, text(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    pdf.set_text_color(90)
    pdf.multi_cell(width, 5, text(report.subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(3)

    def heading(title: str) -> None:
        pdf.ln(2)
        pdf.set_font(family, size=13)
        pdf.multi_cell(width, 7, text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(200)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.set_draw_color(0)
        pdf.ln(2)

    heading(report.kpi_heading)
    label_w, value_w, change_w = 48, 30, 24
    pdf.set_font(family, size=8)
    pdf.set_text_color(90)
    for header, w in zip(report.kpi_columns, (label_w, value_w, change_w), strict=True):
        pdf.cell(w, 5, text(header), align="L" if w == label_w else "R")
    pdf.ln(5)
    pdf.set_text_color(0)
    for kpi in report.kpis:
        if pdf.will_page_break(14):
            pdf.add_page()
        pdf.set_font(family, size=10)
        pdf.cell(label_w, 6, text(kpi.label))
        pdf.cell(value_w, 6, text(kpi.value), align="R")
        pdf.cell(change_w, 6, text(kpi.change), align="R")
        pdf.ln(6)
        pdf.set_font(family, size=7)
        pdf.set_text_color(110)
        pdf.multi_cell(width, 3.5, text(kpi.definition), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(1)

    if report.charts:
        heading(report.charts_heading)
        for series in report.charts:
            if pdf.will_page_break(60):
                pdf.add_page()
            _line_chart(pdf, series, family=family, text=text, width=width, height=45, empty=report.empty_chart)

    heading(report.channels.title)
    _pdf_table(pdf, report.channels, family=family, text=text, width=width)

    heading(report.alerts_heading)
    pdf.set_font(family, size=9)
    if not report.alerts:
        pdf.multi_cell(width, 5, text(report.no_alerts), new_x="LMARGIN", new_y="NEXT")
    for raised_on, kind, message in report.alerts:
        pdf.set_font(family, size=9)
        pdf.multi_cell(width, 5, text(f"{raised_on}  {kind}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        pdf.set_text_color(70)
        pdf.multi_cell(width, 4, text(message), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(1)
    return bytes(pdf.output())


def _line_chart(pdf, series: Series, *, family: str, text, width: float, height: float, empty: str) -> None:
    """A line chart with fpdf2's own lines: axes, min/max labels, first and last day, no library, no network."""
    pdf.set_font(family, size=9)
    pdf.multi_cell(width, 5, text(series.title), new_x="LMARGIN", new_y="NEXT")
    values = [value for _day, value in series.points if value is not None]
    top = pdf.get_y() + 1
    left = pdf.l_margin + 18
    plot_w = width - 20
    if not values:
        pdf.set_font(family, size=8)
        pdf.set_text_color(110)
        pdf.multi_cell(width, 5, text(empty), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(2)
        return
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    pdf.set_draw_color(160)
    pdf.set_line_width(0.2)
    pdf.line(left, top, left, top + height)
    pdf.line(left, top + height, left + plot_w, top + height)
    pdf.set_font(family, size=6)
    pdf.set_text_color(90)
    for value, y in ((high, top), (low, top + height)):
        pdf.set_xy(pdf.l_margin, y - 2)
        pdf.cell(17, 4, text(series.value_format.format(value)), align="R")
    pdf.set_draw_color(31, 119, 180)
    pdf.set_line_width(0.5)
    count = len(series.points)
    step = plot_w / max(count - 1, 1)
    previous = None
    for index, (_day, value) in enumerate(series.points):
        if value is None:
            previous = None
            continue
        point = (left + index * step, top + height - (value - low) / (high - low) * height)
        if previous is not None:
            pdf.line(*previous, *point)
        elif count == 1 or index == count - 1 or series.points[min(index + 1, count - 1)][1] is None:
            pdf.circle(x=point[0], y=point[1], radius=0.6, style="F")
        previous = point
    pdf.set_line_width(0.2)
    pdf.set_draw_color(0)
    first_day, last_day = series.points[0][0], series.points[-1][0]
    pdf.set_xy(left, top + height + 0.5)
    pdf.cell(plot_w / 2, 4, first_day.isoformat())
    pdf.cell(plot_w / 2, 4, last_day.isoformat(), align="R")
    pdf.set_text_color(0)
    pdf.set_xy(pdf.l_margin, top + height + 6)


def _format_cell(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == MONEY:
        return f"{Decimal(str(value)):,.2f}"
    if kind == SHARE:
        return f"{float(value) * 100:.1f}%"
    if kind == NUMBER:
        return f"{float(value):,.2f}"
    if kind == INTEGER:
        return f"{int(value):,}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _pdf_table(pdf, table: Table, *, family: str, text, width: float) -> None:
    columns = list(table.columns)
    first_w = width * 0.22
    other_w = (width - first_w) / max(len(columns) - 1, 1)
    widths = [first_w] + [other_w] * (len(columns) - 1)

    def header() -> None:
        pdf.set_font(family, size=7)
        pdf.set_fill_color(235)
        for column, w in zip(columns, widths, strict=True):
            pdf.cell(w, 6, text(column.header)[:24], border="B", align="L" if column.kind == TEXT else "R", fill=True)
        pdf.ln(6)

    header()
    pdf.set_font(family, size=8)
    for row in table.rows:
        if pdf.will_page_break(6):
            pdf.add_page()
            header()
            pdf.set_font(family, size=8)
        for value, column, w in zip(row, columns, widths, strict=True):
            pdf.cell(w, 5, text(_format_cell(value, column.kind)), align="L" if column.kind == TEXT else "R")
        pdf.ln(5)
