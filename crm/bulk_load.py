"""Write columns computed in numpy straight into a table: PostgreSQL ``COPY``, batched ``bulk_create`` elsewhere.

Why not the ORM row by row: a saved model costs around a millisecond, so a million customers with millions
of orders would take hours. ``COPY ... FROM STDIN`` streams rows in the text format at the speed the
server can index them; the rows are formatted per column with numpy string operations, a chunk at a time
so memory stays flat, and handed to psycopg's queued writer so that Python formats the next chunk while
the previous one is on the wire. On SQLite (the laptop default, small data) the same columns become model
instances and go through ``bulk_create`` in batches.

Writes run on the Django connection, so they join the caller's ``transaction.atomic()`` block: a failure
leaves nothing behind. Like every bulk path, this skips ``full_clean()`` and ``save()``: the caller is
trusted to hand over valid rows (here, the demo simulator), and the database constraints still apply.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections, models
from numpy.dtypes import StringDType
from psycopg.copy import QueuedLibpqWriter

DEFAULT_CHUNK_ROWS = 200_000
SQLITE_CHUNK_ROWS = 5_000
TEXT = StringDType()
NULL = "\\N"


class Kind(enum.Enum):
    """How a column's numpy values map to database values."""

    INTEGER = "integer"  # any integer dtype
    TEXT = "text"  # str or StringDType
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # datetime64 in UTC; NaT is NULL
    DATE = "date"  # datetime64[D]; NaT is NULL
    MONEY = "money"  # integer cents, written as a decimal with two places
    FLOAT = "float"  # float64; NaN is NULL
    JSON = "json"  # JSON text, already rendered


Values = np.ndarray | int | str | bool | None | Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class Column:
    """One column of a bulk write.

    ``values`` is an array with one entry per row, a scalar shared by every row, or a function
    ``(start, stop) -> array`` that makes the values of rows ``start .. stop - 1`` on demand, for columns
    that are cheap to compute and costly to hold for millions of rows (external ids, JSON). ``null``
    marks NULLs where the values cannot (NaT already does for timestamps and dates).
    """

    kind: Kind
    values: Values
    null: np.ndarray | None = None

    def chunk(self, start: int, stop: int) -> tuple[Any, np.ndarray | None]:
        """The values and NULL mask of rows ``start .. stop - 1``; a scalar stays a scalar."""
        if callable(self.values):
            values = self.values(start, stop)
        elif isinstance(self.values, np.ndarray):
            values = self.values[start:stop]
        else:
            values = self.values
        null = None if self.null is None else self.null[start:stop]
        if self.kind in (Kind.TIMESTAMP, Kind.DATE) and isinstance(values, np.ndarray):
            missing = np.isnat(values)
            null = missing if null is None else null | missing
        elif self.kind is Kind.FLOAT and isinstance(values, np.ndarray):
            missing = np.isnan(values.astype(np.float64))
            null = missing if null is None else null | missing
        return values, null


def bulk_insert(
    model: type[models.Model],
    columns: Mapping[str, Column],
    *,
    rows: int,
    returning_ids: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> np.ndarray | None:
    """Insert ``rows`` rows given column by column (keyed by field ``attname``, e.g. ``customer_id``).

    Every non-null column without a default in the database must be given, on every backend alike, so a
    write that works on SQLite also works on PostgreSQL. With ``returning_ids`` the new primary keys come
    back in row order (on PostgreSQL they are taken from the table's sequence before the ``COPY``).
    ``progress`` is called with the number of rows of each chunk handed over.
    """
    _check_columns(model, columns)
    if rows == 0:
        return np.zeros(0, dtype=np.int64) if returning_ids else None
    connection = connections[using]
    if connection.vendor == "postgresql":
        ids = None
        if returning_ids:
            ids = allocate_ids(model, rows, using=using)
            columns = {model._meta.pk.attname: Column(Kind.INTEGER, ids), **columns}
        _copy_postgresql(model, columns, rows=rows, chunk_rows=chunk_rows, progress=progress, using=using)
        return ids
    return _bulk_create(
        model, columns, rows=rows, returning_ids=returning_ids, chunk_rows=min(chunk_rows, SQLITE_CHUNK_ROWS),
        progress=progress, using=using,
    )  # fmt: skip


def allocate_ids(model: type[models.Model], count: int, *, using: str = DEFAULT_DB_ALIAS) -> np.ndarray:
    """Take ``count`` primary keys from the table's sequence (PostgreSQL), so rows can be written with
    their ids known in advance and other tables can refer to them in the same transaction.

    ``nextval`` is never rolled back and is safe with concurrent writers: the ids returned are reserved
    for this caller even if they are not contiguous.
    """
    table = model._meta.db_table
    pk_column = model._meta.pk.column
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk_column, count]
        )
        return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64, count=count)


def _check_columns(model: type[models.Model], columns: Mapping[str, Column]) -> None:
    fields = {field.attname: field for field in model._meta.concrete_fields}
    unknown = sorted(set(columns) - set(fields))
    if unknown:
        raise ValueError(f"{model.__name__} has no field(s) {', '.join(unknown)}")
    required = [
        name
        for name, field in fields.items()
        if not field.null and not field.primary_key and field.db_default is models.NOT_PROVIDED
    ]
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValueError(f"{model.__name__} needs values for {', '.join(missing)}")


# PostgreSQL: COPY in the text format ----------------------------------------------------------------------


def _copy_postgresql(
    model: type[models.Model],
    columns: Mapping[str, Column],
    *,
    rows: int,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    using: str,
) -> None:
    connection = connections[using]
    connection.ensure_connection()
    quote = connection.ops.quote_name
    fields = {field.attname: field for field in model._meta.concrete_fields}
    column_sql = ", ".join(quote(fields[name].column) for name in columns)
    statement = f"COPY {quote(model._meta.db_table)} ({column_sql}) FROM STDIN"
    # Wrapped, psycopg's own errors (a dropped connection mid-COPY) arrive as Django's, as from any query.
    with (
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        for start in range(0, rows, chunk_rows):
            stop = min(start + chunk_rows, rows)
            copy.write(copy_text(columns, start, stop))
            if progress is not None:
                progress(stop - start)


def copy_text(columns: Mapping[str, Column], start: int, stop: int) -> bytes:
    """Rows ``start .. stop - 1`` in PostgreSQL's ``COPY`` text format, built column by column."""
    count = stop - start
    formatted: list[Iterable[str]] = []
    for column in columns.values():
        values, null = column.chunk(start, stop)
        if not isinstance(values, np.ndarray):
            formatted.append(itertools.repeat(NULL if values is None else _copy_scalar(column.kind, values), count))
            continue
        if len(values) != count:
            raise ValueError(f"a column has {len(values)} values for {count} rows")
        text = _COPY_FORMATTERS[column.kind](values)
        if null is not None and null.any():
            text = np.where(null, NULL, text)
        formatted.append(text.tolist())
    return ("\n".join(map("\t".join, zip(*formatted, strict=True))) + "\n").encode()


def _copy_scalar(kind: Kind, value: Any) -> str:
    return str(_COPY_FORMATTERS[kind](np.array([value]))[0])


def _escape(values: np.ndarray) -> np.ndarray:
    """Backslash-escape what the text format treats specially (backslash, tab, newline, carriage return)."""
    text = values.astype(TEXT)
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        if np.strings.find(text, raw).max(initial=-1) >= 0:
            text = np.strings.replace(text, raw, escaped)
    return text


def _format_money(cents: np.ndarray) -> np.ndarray:
    cents = cents.astype(np.int64)
    magnitude = np.abs(cents)
    text = np.strings.add(
        np.strings.add((magnitude // 100).astype(TEXT), "."), np.strings.zfill((magnitude % 100).astype(TEXT), 2)
    )
    return np.where(cents < 0, np.strings.add("-", text), text)


def _format_timestamp(values: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(values, timezone="UTC").astype(TEXT)


_COPY_FORMATTERS: dict[Kind, Callable[[np.ndarray], np.ndarray]] = {
    Kind.INTEGER: lambda values: values.astype(np.int64).astype(TEXT),
    Kind.TEXT: _escape,
    Kind.BOOLEAN: lambda values: np.where(values.astype(bool), "t", "f").astype(TEXT),
    Kind.TIMESTAMP: _format_timestamp,
    Kind.DATE: lambda values: np.datetime_as_string(values.astype("datetime64[D]")).astype(TEXT),
    Kind.MONEY: _format_money,
    Kind.FLOAT: lambda values: np.nan_to_num(values.astype(np.float64)).astype(TEXT),
    Kind.JSON: _escape,
}


# Other databases: bulk_create in batches --------------------------------------------------------------------


def _bulk_create(
    model: type[models.Model],
    columns: Mapping[str, Column],
    *,
    rows: int,
    returning_ids: bool,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    using: str,
) -> np.ndarray | None:
    names = list(columns)
    json_cache: dict[str, Any] = {}
    ids: list[int] = []
    for start in range(0, rows, chunk_rows):
        stop = min(start + chunk_rows, rows)
        values = [_python_values(column, start, stop, json_cache) for column in columns.values()]
        instances = [model(**dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]
        model._base_manager.using(using).bulk_create(instances)
        if returning_ids:
            ids.extend(instance.pk for instance in instances)
        if progress is not None:
            progress(stop - start)
    return np.array(ids, dtype=np.int64) if returning_ids else None


def _python_values(column: Column, start: int, stop: int, json_cache: dict[str, Any]) -> Iterable[Any]:
    values, null = column.chunk(start, stop)
    if not isinstance(values, np.ndarray):
        converted = _to_python(column.kind, np.array([values]), json_cache)[0] if values is not None else None
        return itertools.repeat(converted, stop - start)
    converted = _to_python(column.kind, values, json_cache)
    if null is not None and null.any():
        converted = [None if missing else value for value, missing in zip(converted, null.tolist(), strict=True)]
    return converted


def _to_python(kind: Kind, values: np.ndarray, json_cache: dict[str, Any]) -> list[Any]:
    if kind is Kind.TIMESTAMP:
        stamps = values.astype("datetime64[us]").astype(object)
        return [None if stamp is None else stamp.replace(tzinfo=datetime.UTC) for stamp in stamps]
    if kind is Kind.DATE:
        return values.astype("datetime64[D]").astype(object).tolist()
    if kind is Kind.MONEY:
        return [Decimal(cents).scaleb(-2) for cents in values.astype(np.int64).tolist()]
    if kind is Kind.JSON:
        # JSON columns repeat a few shapes many times: parse each distinct text once and share the (unmodified)
        # result between the instances.
        for text in set(values.tolist()) - json_cache.keys():
            json_cache[text] = json.loads(text)
        return [json_cache[text] for text in values.tolist()]
    if kind is Kind.BOOLEAN:
        return values.astype(bool).tolist()
    if kind is Kind.INTEGER:
        return values.astype(np.int64).tolist()
    if kind is Kind.FLOAT:
        return values.astype(np.float64).tolist()
    return values.astype(TEXT).tolist()
