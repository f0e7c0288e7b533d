"""The streaming CSV reader: encodings, delimiters, quoting, line numbers and malformed records.

Every test writes its own file under ``tmp_path``; none needs the database.
"""

from __future__ import annotations

import codecs
import csv
import io
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.imports import reading
from crm.imports.reading import CsvFormatError, CsvRow, open_csv


def write(tmp_path, data: bytes | str, name: str = "upload.csv"):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def read_rows(path, **options) -> list[CsvRow]:
    with open_csv(path, **options) as source:
        return list(source)


def padding_rows(size: int, text: str = "x") -> str:
    """Rows of a two-column file adding up to at least ``size`` characters."""
    row = f"pad,{text * 60}\n"
    return row * (size // len(row) + 1)


# Reading a well-formed file.


def test_reads_header_and_rows_of_a_plain_utf8_file(tmp_path):
    path = write(tmp_path, "external_id,name\nC1,Ann\nC2,Bob\n")

    with open_csv(path) as source:
        rows = list(source)

    assert (source.encoding, source.delimiter, source.header) == ("utf-8", ",", ["external_id", "name"])
    assert rows == [
        CsvRow(line=2, values={"external_id": "C1", "name": "Ann"}, problem=None),
        CsvRow(line=3, values={"external_id": "C2", "name": "Bob"}, problem=None),
    ]


def test_header_names_are_lower_cased_trimmed_and_joined_with_underscores(tmp_path):
    path = write(tmp_path, " External ID ,Customer-External-Id,Consent  Email\n1,2,3\n")

    with open_csv(path) as source:
        assert source.header == ["external_id", "customer_external_id", "consent_email"]


def test_empty_header_names_are_named_after_their_position(tmp_path):
    path = write(tmp_path, "external_id,,name,\n1,,Ann,\n")

    with open_csv(path) as source:
        assert source.header == ["external_id", "column_2", "name", "column_4"]


def test_cells_are_stripped_of_surrounding_whitespace(tmp_path):
    path = write(tmp_path, "a,b\n  x  ,\t y \n")

    assert read_rows(path)[0].values == {"a": "x", "b": "y"}


def test_quoted_fields_keep_delimiters_and_doubled_quotes(tmp_path):
    path = write(tmp_path, 'name,note\n"Smith, Ann","She said ""hi"""\n')

    assert read_rows(path)[0].values == {"name": "Smith, Ann", "note": 'She said "hi"'}


def test_last_row_without_a_final_line_break_is_read(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4")

    assert [row.values for row in read_rows(path)] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_header_only_file_yields_no_rows(tmp_path):
    path = write(tmp_path, "external_id,name\n")

    with open_csv(path) as source:
        assert source.header == ["external_id", "name"]
        assert list(source) == []


# Encodings.


def test_utf8_with_bom_is_detected_and_the_bom_is_not_part_of_the_first_name(tmp_path):
    path = write(tmp_path, "\ufeffexternal_id,name\nC1,张三\n".encode())

    with open_csv(path) as source:
        rows = list(source)

    assert (source.encoding, source.header) == ("utf-8-sig", ["external_id", "name"])
    assert rows[0].values == {"external_id": "C1", "name": "张三"}


def test_gbk_file_with_chinese_names_is_read_as_gb18030(tmp_path):
    path = write(tmp_path, "客户编号,姓名,邮箱\nC1,张三,zhang@example.cn\nC2,欧阳娜娜,\n".encode("gbk"))

    with open_csv(path) as source:
        rows = list(source)

    assert (source.encoding, source.header) == ("gb18030", ["客户编号", "姓名", "邮箱"])
    assert [row.values["姓名"] for row in rows] == ["张三", "欧阳娜娜"]


def test_gbk_file_whose_chinese_text_starts_after_the_sample_is_read_as_gb18030(tmp_path):
    ascii_part = "external_id,name\n" + padding_rows(reading.SAMPLE_BYTES * 3)
    path = write(tmp_path, (ascii_part + "C9,王小明\n").encode("gbk"))

    with open_csv(path) as source:
        rows = list(source)

    assert source.encoding == "gb18030"
    assert rows[-1] == CsvRow(
        line=ascii_part.count("\n") + 1, values={"external_id": "C9", "name": "王小明"}, problem=None
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_detected_in_either_byte_order(tmp_path, codec):
    path = write(tmp_path, "\ufeffexternal_id\tname\nC1\t张三\n".encode(codec))

    with open_csv(path) as source:
        rows = list(source)

    assert (source.encoding, source.delimiter, source.header) == ("utf-16", "\t", ["external_id", "name"])
    assert rows[0].values == {"external_id": "C1", "name": "张三"}


def test_utf16_without_bom_is_a_format_error(tmp_path):
    path = write(tmp_path, "external_id,name\nC1,Ann\n".encode("utf-16-le"))

    with pytest.raises(CsvFormatError, match="UTF-16 without a byte-order mark"):
        open_csv(path)


def test_undecodable_bytes_in_the_sample_are_a_format_error_naming_the_encodings_tried(tmp_path):
    path = write(tmp_path, b"a,b\n1,2\n3,\xff\xff\n")

    with pytest.raises(CsvFormatError, match="line 3 is neither UTF-8 nor GB18030/GBK") as raised:
        open_csv(path)
    assert "UTF-16" in str(raised.value)


def test_undecodable_bytes_after_the_sample_are_a_problem_of_their_row_only(tmp_path):
    text = "a,b\n1,张三\n" + padding_rows(reading.SAMPLE_BYTES * 2)
    path = write(tmp_path, text.encode() + b"7,caf\xe9\n8,ok\n")

    rows = read_rows(path)

    broken_line = text.count("\n") + 1
    assert rows[-2] == CsvRow(
        line=broken_line, values={"a": "7", "b": "caf\ufffd"}, problem="contains bytes that are not valid UTF-8"
    )
    assert rows[-1] == CsvRow(line=broken_line + 1, values={"a": "8", "b": "ok"}, problem=None)
    assert all(row.problem is None for row in rows[:-2])


def test_undecodable_bytes_with_a_given_encoding_are_a_problem_of_their_row_only(tmp_path):
    path = write(tmp_path, b"a,b\n1,\xff\n2,ok\n")

    rows = read_rows(path, encoding="utf-8")

    assert [(row.line, row.problem) for row in rows] == [(2, "contains bytes that are not valid UTF-8"), (3, None)]


def test_given_encoding_overrides_detection(tmp_path):
    path = write(tmp_path, "a,b\n1,é\n".encode("latin-1"))

    with open_csv(path, encoding="latin-1") as source:
        rows = list(source)

    assert source.encoding == "iso8859-1"
    assert rows[0].values == {"a": "1", "b": "é"}


def test_unknown_given_encoding_is_a_format_error(tmp_path):
    path = write(tmp_path, "a,b\n")

    with pytest.raises(CsvFormatError, match="Unknown encoding 'klingon'"):
        open_csv(path, encoding="klingon")


# Delimiters.


def test_semicolon_file_is_detected(tmp_path):
    path = write(tmp_path, "external_id;amount\nO1;1,5\nO2;2\n")

    with open_csv(path) as source:
        rows = list(source)

    assert source.delimiter == ";"
    assert [row.values["amount"] for row in rows] == ["1,5", "2"]


def test_tab_file_is_detected(tmp_path):
    path = write(tmp_path, "external_id\tname\nC1\tAnn, Jr.\n")

    with open_csv(path) as source:
        rows = list(source)

    assert source.delimiter == "\t"
    assert rows[0].values == {"external_id": "C1", "name": "Ann, Jr."}


def test_comma_file_with_semicolons_in_its_text_stays_a_comma_file(tmp_path):
    path = write(tmp_path, "external_id,note\nC1,a;b;c\nC2,d;e\nC3,f\n")

    with open_csv(path) as source:
        assert source.delimiter == ","


def test_comma_file_with_rows_of_the_wrong_width_stays_a_comma_file(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2\n1,2,3,4\n")

    with open_csv(path) as source:
        assert source.delimiter == ","


def test_single_column_file_is_read_as_comma_separated(tmp_path):
    path = write(tmp_path, "email\nann@example.com\n")

    with open_csv(path) as source:
        assert (source.delimiter, source.header) == (",", ["email"])


# Lines.


def test_quoted_newlines_stay_in_the_value_and_later_rows_keep_their_physical_line(tmp_path):
    path = write(tmp_path, 'id,note\n1,"first\nsecond\r\nthird"\n2,plain\n3,"x\ry"\n4,end\n')

    rows = read_rows(path)

    assert [(row.line, row.values["note"]) for row in rows] == [
        (2, "first\nsecond\r\nthird"),
        (5, "plain"),
        (6, "x\ry"),
        (8, "end"),
    ]


def test_mixed_line_endings_each_end_a_line(tmp_path):
    path = write(tmp_path, "id,name\r\n1,a\n2,b\r3,c\r\n4,d")

    assert [(row.line, row.values["id"]) for row in read_rows(path)] == [(2, "1"), (3, "2"), (4, "3"), (5, "4")]


def test_crlf_split_by_a_chunk_edge_counts_as_one_line_break(tmp_path):
    path = write(tmp_path, "id,name\r\n1,a\r\n2,b\r\n3,c\r\n")

    for chunk_bytes in range(1, 12):
        with mock.patch.object(reading, "CHUNK_BYTES", chunk_bytes):
            assert [row.line for row in read_rows(path)] == [2, 3, 4], chunk_bytes


def test_blank_lines_and_rows_of_blank_cells_are_skipped_silently(tmp_path):
    path = write(tmp_path, "\n\nid,name\n\n1,a\n   \n,\n , \n2,b\n")

    with open_csv(path) as source:
        rows = list(source)

    assert source.header == ["id", "name"]
    assert [(row.line, row.values["id"], row.problem) for row in rows] == [(5, "1", None), (9, "2", None)]


# Malformed records.


def test_row_with_too_many_columns_has_a_problem(tmp_path):
    path = write(tmp_path, "a,b,c,d\n1,2,3,4,5\n6,7,8,9\n")

    rows = read_rows(path)

    assert rows[0] == CsvRow(
        line=2, values={"a": "1", "b": "2", "c": "3", "d": "4"}, problem="has 5 columns, the header has 4"
    )
    assert rows[1].problem is None


def test_row_with_too_few_columns_has_a_problem_and_partial_values(tmp_path):
    path = write(tmp_path, "a,b,c,d\n1,2\n")

    assert read_rows(path) == [CsvRow(line=2, values={"a": "1", "b": "2"}, problem="has 2 columns, the header has 4")]


def test_row_with_one_column_says_column_in_the_singular(tmp_path):
    path = write(tmp_path, "a,b\nonly\n")

    assert read_rows(path)[0].problem == "has 1 column, the header has 2"


def test_unterminated_quote_at_the_end_of_the_file_is_a_problem_of_the_row_where_it_opens(tmp_path):
    path = write(tmp_path, 'a,b\n1,2\n3,"open\n4,5\n6,7\n')

    rows = read_rows(path)

    assert rows[0] == CsvRow(line=2, values={"a": "1", "b": "2"}, problem=None)
    assert rows[1:] == [
        CsvRow(line=3, values={}, problem="a quoted field is never closed (it runs from line 3 to the end of the file)")
    ]


def test_unterminated_quote_in_a_long_file_is_reported_and_reading_goes_on(tmp_path):
    text = 'a,b\n1,"open\n' + padding_rows(csv.field_size_limit() * 2)
    path = write(tmp_path, text)

    rows = read_rows(path)

    assert rows[0].line == 2
    assert "a quoted field is probably never closed" in rows[0].problem
    assert rows[-1] == CsvRow(line=text.count("\n"), values={"a": "pad", "b": "x" * 60}, problem=None)


def test_text_after_a_closing_quote_is_a_problem_and_reading_goes_on(tmp_path):
    path = write(tmp_path, 'a,b\n1,"2"x\n3,4\n')

    rows = read_rows(path)

    assert rows[0].line == 2
    assert "right after the closing quote" in rows[0].problem
    assert rows[1] == CsvRow(line=3, values={"a": "3", "b": "4"}, problem=None)


def test_nul_byte_is_a_problem_of_its_row_only(tmp_path):
    path = write(tmp_path, b"a,b\n1,2\n3,x\x00y\n5,6\n")

    rows = read_rows(path)

    assert rows == [
        CsvRow(line=2, values={"a": "1", "b": "2"}, problem=None),
        CsvRow(line=3, values={"a": "3", "b": "x\ufffdy"}, problem="contains a NUL character (is this a binary file?)"),
        CsvRow(line=4, values={"a": "5", "b": "6"}, problem=None),
    ]


def test_nul_byte_on_a_later_line_of_a_multiline_record_names_that_line(tmp_path):
    path = write(tmp_path, b'a,b\n1,"x\ny\x00"\n2,ok\n')

    rows = read_rows(path)

    assert (rows[0].line, rows[0].problem) == (2, "contains a NUL character (is this a binary file?) on line 3")
    assert (rows[1].line, rows[1].problem) == (4, None)


# The file as a whole.


def test_empty_file_is_a_format_error(tmp_path):
    path = write(tmp_path, b"")

    with pytest.raises(CsvFormatError, match=r"^The file is empty\.$"):
        open_csv(path)


@pytest.mark.parametrize("content", [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\n\r\n  \n"])
def test_file_with_only_a_bom_or_blank_lines_is_empty(tmp_path, content):
    path = write(tmp_path, content)

    with pytest.raises(CsvFormatError, match=r"^The file is empty\.$"):
        open_csv(path)


def test_duplicate_header_names_after_normalization_are_a_format_error_naming_them(tmp_path):
    path = write(tmp_path, "Email,name,E-mail,e mail,EMAIL\n")

    with pytest.raises(CsvFormatError) as raised:
        open_csv(path)

    assert str(raised.value) == (
        "The header repeats column names: 'email' (columns 1, 5); 'e_mail' (columns 3, 4). "
        "Give each column a different name."
    )


def test_broken_quoting_in_the_header_is_a_format_error_with_its_line(tmp_path):
    path = write(tmp_path, 'a,"b"c\n1,2\n')

    with pytest.raises(CsvFormatError, match=r"^The header row \(line 1\) cannot be read"):
        open_csv(path)


def test_missing_file_raises_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_csv(tmp_path / "missing.csv")


# Progress and resources.


def test_bytes_read_grows_to_the_file_size(tmp_path):
    text = "a,b\n" + padding_rows(reading.CHUNK_BYTES * 3)
    path = write(tmp_path, text)

    with open_csv(path) as source:
        assert source.bytes_total == len(text)
        seen = [source.bytes_read for index, _ in enumerate(source) if index % 5000 == 0]
        assert source.bytes_read == source.bytes_total

    assert seen == sorted(seen)
    assert seen[0] < source.bytes_total


def test_rows_are_read_lazily_one_chunk_at_a_time(tmp_path):
    path = write(tmp_path, "a,b\n" + padding_rows(reading.CHUNK_BYTES * 4))

    with open_csv(path) as source:
        next(iter(source))
        assert source.bytes_read <= reading.CHUNK_BYTES


def test_close_closes_the_file_and_the_context_manager_closes_it_too(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")

    source = open_csv(path)
    source.close()
    with open_csv(path) as managed:
        pass

    assert source._raw.closed
    assert managed._raw.closed


# Properties.

CELL_TEXT = st.one_of(
    st.text(alphabet=' ",;\t\r\nab张三李四é€', max_size=12),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(CELL_TEXT, min_size=3, max_size=3), max_size=12),
    delimiter=st.sampled_from(reading.DELIMITERS),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030"]),
    lineterminator=st.sampled_from(["\r\n", "\n", "\r"]),
    quote_all=st.booleans(),
    chunk_bytes=st.sampled_from([1, 2, 3, 7, 64, reading.CHUNK_BYTES]),
)
def test_reader_round_trips_rows_written_by_csv_writer(
    tmp_path_factory, rows, delimiter, encoding, lineterminator, quote_all, chunk_bytes
):
    header = ["id", "name", "note"]
    buffer = io.StringIO(newline="")
    # csv.writer quotes only the line-break characters of its own terminator: with "\n" or "\r" alone, every
    # field must be quoted for a lone "\r" or "\n" inside a value to survive.
    quoting = csv.QUOTE_ALL if quote_all or lineterminator != "\r\n" else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator, quoting=quoting)
    writer.writerow(header)
    expected = []
    line = 2
    for cells in rows:
        start = buffer.tell()
        writer.writerow(cells)
        record = buffer.getvalue()[start:]
        stripped = [cell.strip() for cell in cells]
        if any(stripped):
            expected.append(CsvRow(line=line, values=dict(zip(header, stripped, strict=True)), problem=None))
        line += len(io.StringIO(record, newline="").readlines())
    path = tmp_path_factory.mktemp("round_trip") / "rows.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))

    # GB18030 is given rather than detected: a few of its byte pairs are also valid UTF-8.
    options = {"encoding": "gb18030"} if encoding == "gb18030" else {}
    with mock.patch.object(reading, "CHUNK_BYTES", chunk_bytes), open_csv(path, **options) as source:
        assert (source.delimiter, source.header) == (delimiter, header)
        assert list(source) == expected
