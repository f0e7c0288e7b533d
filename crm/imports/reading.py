"""A streaming CSV reader for the files people upload: finds the encoding and the delimiter, and reports each
malformed record as a row with a ``problem`` instead of stopping, so an import can accept the good rows and list
the bad ones with their line numbers.

Pure Python (no Django), so it can be tested and benchmarked on its own. Memory stays flat whatever the file size:
the file is decoded in chunks of ``CHUNK_BYTES`` and each chunk is handed to the C ``csv`` reader line by line
through ``io.StringIO``, so no Python code runs per physical line, only per record.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 256 * 1024
MAX_LINE_CHARS = 16 * 1024 * 1024
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "gb18030": "GB18030 (GBK)"}

_MARK_ERRORS = "custops_csv_mark"
_MARKS = re.compile("[\udc00-\udcff]")
_NUL = re.compile("\x00")
_HEADER_SEPARATORS = re.compile(r"[\s\-]+")


class CsvFormatError(Exception):
    """The file as a whole cannot be read (encoding, empty, no header, broken quoting...).

    ``str(exc)`` is a message for a person.
    """


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One record of the file.

    ``line`` is the 1-based physical line where the record starts (the header is line 1, or later if blank lines
    precede it); ``values`` maps the normalized header names to the cell text with surrounding whitespace removed;
    ``problem`` is None, or why the record is malformed, in which case ``values`` may be partial or empty.
    """

    line: int
    values: dict[str, str]
    problem: str | None


# How many times the mark error handler ran in this thread: a change across one ``decode`` call means the chunk
# holds marks, so only such chunks are searched for them.
_decode_errors = threading.local()


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Replace each byte that cannot be decoded by a lone surrogate (U+DC00 + byte), which no decoder produces."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _decode_errors.count = getattr(_decode_errors, "count", 0) + 1
    return "".join(chr(0xDC00 + byte) for byte in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(_MARK_ERRORS, _mark_undecodable)


class CsvSource:
    """An open CSV file: its encoding, delimiter and header, and an iterator over its records (single pass).

    Use :func:`open_csv` to make one, and close it (or use it as a context manager). Iterating yields
    :class:`CsvRow` objects; blank lines, and records whose cells are all blank, are skipped.
    """

    def __init__(self, raw: io.BufferedReader, *, encoding: str, delimiter: str, bytes_total: int) -> None:
        self.encoding = encoding
        self.delimiter = delimiter
        self.bytes_total = bytes_total
        self.header: list[str] = []
        self._raw = raw
        self._bytes_done: int | None = None
        # (physical line, why it is unusable) in line order, appended as chunks are decoded, popped as rows are read.
        self._flagged_lines: deque[tuple[int, str]] = deque()
        self._reader = csv.reader(
            itertools.chain.from_iterable(self._line_chunks()),
            delimiter=delimiter,
            quotechar='"',
            doublequote=True,
            skipinitialspace=False,
            strict=True,
        )
        self._last_line = 0
        self._read_header()

    # The public surface.

    def __iter__(self) -> Iterator[CsvRow]:
        return self._rows()

    @property
    def bytes_read(self) -> int:
        """Bytes consumed so far, running at most one chunk ahead of the rows handed out (for a progress bar)."""
        if self._bytes_done is not None:
            return self._bytes_done
        return min(self._raw.tell(), self.bytes_total)

    def close(self) -> None:
        if self._bytes_done is None:
            self._bytes_done = self.bytes_read
        self._raw.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Lines: decode chunk by chunk, cut at the last line break, flag lines with undecodable bytes or NUL.

    def _line_chunks(self) -> Iterator[io.StringIO]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors=_MARK_ERRORS)
        undecodable = f"contains bytes that are not valid {ENCODING_NAMES.get(self.encoding, self.encoding)}"
        carry = ""
        carry_has_marks = False
        while True:
            data = self._raw.read(CHUNK_BYTES)
            final = not data
            errors_before = getattr(_decode_errors, "count", 0)
            text = carry + decoder.decode(data, final)
            suspicious = carry_has_marks or getattr(_decode_errors, "count", 0) != errors_before
            if final:
                complete, carry = text, ""
            else:
                cut = _last_line_break(text)
                complete, carry = text[: cut + 1], text[cut + 1 :]
                if len(carry) > MAX_LINE_CHARS:
                    line = self._reader.line_num + _count_lines(complete) + 1
                    raise CsvFormatError(
                        f"Line {line} is longer than {MAX_LINE_CHARS:,} characters; check that this is a CSV file."
                    )
            checks = []
            if suspicious:
                carry_has_marks = _MARKS.search(carry) is not None
                if _MARKS.search(complete):
                    checks.append((_MARKS, undecodable))
            if "\x00" in complete:
                checks.append((_NUL, "contains a NUL character (is this a binary file?)"))
            if checks:
                complete = self._flag_lines(complete, checks)
            if complete:
                yield io.StringIO(complete, newline="")
            if final:
                return

    def _flag_lines(self, text: str, checks: list[tuple[re.Pattern[str], str]]) -> str:
        """Note the lines of ``text`` where a check's pattern matches, and replace the matches by U+FFFD."""
        first_line = self._reader.line_num + 1  # The csv reader has consumed every earlier chunk, line by line.
        lines = []
        for index, line in enumerate(io.StringIO(text, newline="")):
            for pattern, reason in checks:
                if pattern.search(line):
                    if not self._flagged_lines or self._flagged_lines[-1][0] != first_line + index:
                        self._flagged_lines.append((first_line + index, reason))
                    line = pattern.sub("\ufffd", line)
            lines.append(line)
        return "".join(lines)

    # Records.

    def _read_header(self) -> None:
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                raise CsvFormatError("The file is empty.") from None
            except csv.Error as exc:
                start, self._last_line = self._last_line + 1, self._reader.line_num
                raise CsvFormatError(
                    f"The header row (line {start}) cannot be read: {_describe_csv_error(exc, start)}."
                ) from exc
            start, self._last_line = self._last_line + 1, self._reader.line_num
            if any(cell.strip() for cell in cells):
                break
        problem = self._flagged_problem(start, self._last_line)
        if problem:
            raise CsvFormatError(f"The header row (line {start}) {problem}.")
        self.header = _normalize_header(cells)

    def _flagged_problem(self, start: int, end: int) -> str | None:
        """Why the record on lines ``start``..``end`` is unusable, if a line of it was flagged; forget those lines."""
        flagged = self._flagged_lines
        problem = None
        while flagged and flagged[0][0] <= end:
            line, reason = flagged.popleft()
            if line >= start and problem is None:
                problem = reason if line == start else f"{reason} on line {line}"
        return problem

    def _rows(self) -> Iterator[CsvRow]:
        reader = self._reader
        header = self.header
        first = header[0]
        width = len(header)
        flagged = self._flagged_lines
        strip = str.strip
        last = self._last_line
        while True:
            try:
                for cells in reader:
                    start, last = last + 1, reader.line_num
                    if len(cells) == width and not flagged:
                        values = dict(zip(header, map(strip, cells), strict=True))
                        if values[first] or any(values.values()):
                            yield CsvRow(start, values, None)
                    elif cells:
                        row = self._irregular_row(cells, start, last)
                        if row is not None:
                            yield row
                break
            except csv.Error as exc:
                start, last = last + 1, reader.line_num
                self._flagged_problem(start, last)
                yield CsvRow(start, {}, _describe_csv_error(exc, start))
        self.close()

    def _irregular_row(self, cells: list[str], start: int, end: int) -> CsvRow | None:
        stripped = [cell.strip() for cell in cells]
        if not any(stripped):
            self._flagged_problem(start, end)
            return None
        values = dict(zip(self.header, stripped, strict=False))
        problem = self._flagged_problem(start, end)
        if problem is None and len(cells) != len(self.header):
            problem = f"has {_columns(len(cells))}, the header has {len(self.header)}"
        return CsvRow(start, values, problem)


def open_csv(path: str | os.PathLike[str], *, encoding: str | None = None) -> CsvSource:
    """Open a CSV file for streaming: detect its encoding (unless given) and delimiter, and read the header row.

    Encodings are recognized in this order: a UTF-16 byte-order mark, a UTF-8 byte-order mark ("utf-8-sig"),
    valid UTF-8, then GB18030 (a superset of GBK, what Excel writes on Chinese systems). The decision is made on
    the first ``SAMPLE_BYTES``; if those are plain ASCII, the first non-ASCII bytes further on decide instead.

    Raises :class:`CsvFormatError` when the file as a whole cannot be read, ``OSError`` when it cannot be opened.
    """
    raw = open(path, "rb")  # noqa: SIM115 - the CsvSource owns and closes it.
    try:
        bytes_total = os.fstat(raw.fileno()).st_size
        sample = raw.read(SAMPLE_BYTES)
        whole = len(sample) < SAMPLE_BYTES
        encoding = _known_encoding(encoding, sample) if encoding else _detect_encoding(raw, sample, whole=whole)
        delimiter = _detect_delimiter(_decode_sample(sample, encoding, whole=whole), whole=whole)
        raw.seek(0)
        return CsvSource(raw, encoding=encoding, delimiter=delimiter, bytes_total=bytes_total)
    except BaseException:
        raw.close()
        raise


# Encoding.


def _detect_encoding(raw: io.BufferedReader, sample: bytes, *, whole: bool) -> str:
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise CsvFormatError("The file is in UTF-32, which is not supported; save it as CSV UTF-8 and try again.")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if len(sample) <= 2:
            raise CsvFormatError("The file is empty.")
        return "utf-16"
    if sample.startswith(codecs.BOM_UTF8):
        if len(sample) <= 3:
            raise CsvFormatError("The file is empty.")
        return "utf-8-sig"
    if not sample:
        raise CsvFormatError("The file is empty.")
    if sample[:1024].count(0) > len(sample[:1024]) // 4:
        raise CsvFormatError(
            "The file is full of NUL bytes: it is either UTF-16 without a byte-order mark or not a text file. "
            "Save it as CSV UTF-8 and try again."
        )
    lines_before = 0
    if sample.isascii():
        sample, lines_before, whole = _first_non_ascii_window(raw, whole=whole)
        if not sample:
            return "utf-8"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, whole)
    except UnicodeDecodeError as exc:
        line = lines_before + sample.count(b"\n", 0, exc.start) + 1
    else:
        return "utf-8"
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, whole)
    except UnicodeDecodeError:
        raise CsvFormatError(
            f"The file's encoding is not recognized: line {line} is neither UTF-8 nor GB18030/GBK, and the file "
            "has no UTF-16 byte-order mark. Save it as CSV UTF-8 and try again."
        ) from None
    return "gb18030"


def _first_non_ascii_window(raw: io.BufferedReader, *, whole: bool) -> tuple[bytes, int, bool]:
    """The first chunk after an ASCII sample that holds non-ASCII bytes (b"" if there is none), the number of
    line feeds before it, and whether it ends the file.

    Scanning ASCII with ``bytes.isascii`` runs at memory speed; a file whose Chinese names start on row 5,000
    must not be taken for UTF-8 and then have every such row rejected.
    """
    raw.seek(0)
    lines_before = 0
    while True:
        chunk = raw.read(CHUNK_BYTES)
        if not chunk:
            return b"", lines_before, True
        if not chunk.isascii():
            # The previous chunk ended with an ASCII byte, so this one starts on a character boundary.
            return chunk, lines_before, len(chunk) < CHUNK_BYTES
        if whole:
            return b"", lines_before, True
        lines_before += chunk.count(b"\n")


def _known_encoding(encoding: str, sample: bytes) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise CsvFormatError(f"Unknown encoding '{encoding}'.") from None
    if name == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return name


def _decode_sample(sample: bytes, encoding: str, *, whole: bool) -> str:
    """The sample as text; undecodable bytes (possible with an encoding given by the caller) become marks."""
    return codecs.getincrementaldecoder(encoding)(errors=_MARK_ERRORS).decode(sample, whole)


# Delimiter.


def _detect_delimiter(sample: str, *, whole: bool) -> str:
    """Choose among comma, semicolon and tab the one that splits the first records most consistently.

    Each candidate is scored first by whether it splits the header at all, then by the share of the first records
    with as many cells as the header. ``csv.Sniffer`` only breaks ties: on its own it is easily misled by
    punctuation inside the text (a comma file with semicolons in its notes) or by a few short rows.
    """
    lines = io.StringIO(sample, newline="").readlines()
    if not whole and len(lines) > 1:
        lines.pop()  # Probably cut short by the sample's edge.
    lines = lines[: SNIFF_RECORDS * 2]
    scores = {}
    for delimiter in DELIMITERS:
        records = [cells for cells in itertools.islice(csv.reader(lines, delimiter=delimiter), SNIFF_RECORDS) if cells]
        if not whole and len(records) > 1:
            records.pop()  # A quoted field may run past the sample's edge.
        if not records:
            return ","
        width = len(records[0])
        consistent = sum(len(cells) == width for cells in records) / len(records)
        scores[delimiter] = (width > 1, consistent)
    best_score = max(scores.values())
    best = [delimiter for delimiter in DELIMITERS if scores[delimiter] == best_score]
    if len(best) > 1:
        try:
            sniffed = csv.Sniffer().sniff("".join(lines), delimiters="".join(best)).delimiter
        except csv.Error:
            sniffed = None
        if sniffed in best:
            return sniffed
    return best[0]


# Helpers.


def _normalize_header(cells: list[str]) -> list[str]:
    names = []
    for position, cell in enumerate(cells, start=1):
        name = _HEADER_SEPARATORS.sub("_", cell.replace("\ufeff", "").strip().lower())
        names.append(name or f"column_{position}")
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(position)
    repeated = {name: where for name, where in positions.items() if len(where) > 1}
    if repeated:
        listed = "; ".join(
            f"'{name}' (columns {', '.join(str(position) for position in where)})" for name, where in repeated.items()
        )
        raise CsvFormatError(f"The header repeats column names: {listed}. Give each column a different name.")
    return names


def _last_line_break(text: str) -> int:
    """Index of the last line break in ``text`` that is surely complete, or -1.

    A final "\\r" may be the first half of "\\r\\n" split by the chunk edge, so it is left for the next chunk.
    """
    cut = max(text.rfind("\n"), text.rfind("\r"))
    if cut >= 0 and cut == len(text) - 1 and text[cut] == "\r":
        cut = max(text.rfind("\n", 0, cut), text.rfind("\r", 0, cut))
    return cut


def _count_lines(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _columns(count: int) -> str:
    return "1 column" if count == 1 else f"{count} columns"


def _describe_csv_error(exc: csv.Error, start: int) -> str:
    message = str(exc)
    if message == "unexpected end of data":
        return f"a quoted field is never closed (it runs from line {start} to the end of the file)"
    if message.startswith("field larger than field limit"):
        return (
            f"has a field longer than {csv.field_size_limit():,} characters; a quoted field is probably never "
            'closed (a lone " inside a quoted field must be written "")'
        )
    if "expected after" in message:
        return 'has text right after the closing quote of a field; double the quotes inside a quoted field ("")'
    return f"cannot be read ({message})"
