"""The PostgreSQL write path of an import batch: ``COPY`` into a staging table, then one upsert.

The ORM path (``crm.imports.kinds.write_batch``) reads the batch's existing rows into Python, compares them
field by field and writes with ``bulk_create`` and ``bulk_update``. Here PostgreSQL does the same work set-based:
the cleaned rows are copied into a temporary table, and one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``
inserts the new keys and updates only the rows where a field given in the file differs
(``IS DISTINCT FROM``). ``RETURNING (xmax = 0)`` tells created from updated; keys missing from ``RETURNING``
were unchanged. Only kinds with a unique key in the database can use it (``UPSERT_KINDS``).

Rows of one batch may carry different fields (an empty cell keeps the stored value), so the batch is
written in groups of rows with the same fields. Outcomes, counts and stored values match the ORM path;
``tests/crm/imports/test_writer_parity.py`` runs both on the same scenarios.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from psycopg import sql

from crm.models import ImportKind

if TYPE_CHECKING:
    from crm.imports.kinds import BatchResult, CleanRow, ImportContext, KindSpec

#: Kinds whose key is a unique constraint ``(organization, *key_fields)``, which ``ON CONFLICT`` needs.
UPSERT_KINDS = frozenset({ImportKind.CUSTOMERS, ImportKind.ORDERS, ImportKind.CHANNELS, ImportKind.CHANNEL_SPEND})
STAGING_TABLE = "import_staging"


def can_upsert(spec: KindSpec) -> bool:
    return connection.vendor == "postgresql" and spec.kind in UPSERT_KINDS


def upsert_batch(spec: KindSpec, rows: list[CleanRow], context: ImportContext, result: BatchResult) -> None:
    """Write rows (unique by key, references already resolved) and set each row's outcome and record id."""
    groups: dict[tuple[str, ...], list[CleanRow]] = defaultdict(list)
    for row in rows:
        groups[tuple(row.fields)].append(row)
    # No savepoint: a staging table created earlier in this transaction is then emptied in place by TRUNCATE.
    with transaction.atomic(savepoint=False):
        for names, group in groups.items():
            _upsert_group(spec, names, group, context, result)


def _upsert_group(
    spec: KindSpec, names: tuple[str, ...], rows: list[CleanRow], context: ImportContext, result: BatchResult
) -> None:
    model = spec.model
    meta = model._meta
    table = sql.Identifier(meta.db_table)
    staged = [meta.get_field(name) for name in names]
    staged_columns = [field.column for field in staged]
    key_columns = ["organization_id", *(meta.get_field(name).column for name in spec.key_fields)]
    compared = [
        field.column
        for name, field in zip(names, staged, strict=True)
        if name not in spec.create_only and name not in spec.key_fields
    ]
    now = context.now
    staging = sql.Identifier(_staging_table_name(meta.db_table, staged_columns))

    # Values for the columns the rows do not give: the model's defaults, as bulk_create would store them.
    template = model(organization=context.org, **spec.defaults_for_new_records(context))
    insert_columns: list[sql.Composable] = []
    insert_values: list[sql.Composable] = []
    params: list[Any] = []
    for field in meta.concrete_fields:
        if field.primary_key:
            continue
        insert_columns.append(sql.Identifier(field.column))
        if field.column in staged_columns:
            insert_values.append(sql.SQL("s.{}").format(sql.Identifier(field.column)))
        elif field.attname == "consent_email_at" and "consent_email" in staged_columns:
            insert_values.append(sql.SQL("CASE WHEN s.consent_email THEN %s::timestamptz END"))
            params.append(now)
        else:
            insert_values.append(sql.SQL("CAST(%s AS {})").format(sql.SQL(field.db_type(connection))))
            params.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))

    assignments = [sql.SQL("{column} = EXCLUDED.{column}").format(column=sql.Identifier(column)) for column in compared]
    if compared and spec.kind == ImportKind.CUSTOMERS and "consent_email" in compared:
        assignments.append(
            sql.SQL(
                "consent_email_at = CASE WHEN {table}.consent_email IS DISTINCT FROM EXCLUDED.consent_email "
                "THEN %s::timestamptz ELSE {table}.consent_email_at END"
            ).format(table=table)
        )
        params.append(now)
    if compared and any(field.attname == "updated_at" for field in meta.concrete_fields):
        # Only rows that really change are updated (the WHERE below), so only they move in ``?updated_since=``.
        assignments.append(sql.SQL("updated_at = %s::timestamptz"))
        params.append(now)
    if compared:
        old = sql.SQL(", ").join(sql.SQL("{}.{}").format(table, sql.Identifier(column)) for column in compared)
        new = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(column)) for column in compared)
        on_conflict = sql.SQL("DO UPDATE SET {assignments} WHERE ROW({old}) IS DISTINCT FROM ROW({new})").format(
            assignments=sql.SQL(", ").join(assignments), old=old, new=new
        )
    else:
        on_conflict = sql.SQL("DO NOTHING")
    keys = sql.SQL(", ").join(map(sql.Identifier, key_columns))
    pk = sql.Identifier(meta.pk.column)
    # Rows go in sorted by the index they scatter most (customer for orders), so each index page is
    # visited once per batch instead of once per row.
    sort_columns = ["customer_id"] if "customer_id" in staged_columns else key_columns[1:]
    upsert = sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {values} FROM {staging} AS s ORDER BY {order} "
        "ON CONFLICT ({keys}) {on_conflict} RETURNING {pk}, {keys}, (xmax = 0)"
    ).format(
        order=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(column)) for column in sort_columns),
        table=table,
        columns=sql.SQL(", ").join(insert_columns),
        values=sql.SQL(", ").join(insert_values),
        staging=staging,
        keys=keys,
        on_conflict=on_conflict,
        pk=pk,
    )
    staged_list = sql.SQL(", ").join(map(sql.Identifier, staged_columns))

    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
            ).format(staging=staging, columns=staged_list, table=table)
        )
        raw.execute(sql.SQL("TRUNCATE {}").format(staging))
        with raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, staged_list)) as copy:
            for row in rows:
                copy.write_row(tuple(row.fields.values()))
        raw.execute(upsert, params)
        written = {tuple(found[2:-1]): (found[0], found[-1]) for found in raw.fetchall()}
        existing: dict[tuple, int] = {}
        unchanged = [row for row in rows if _key(spec, row) not in written]
        if unchanged:
            join = sql.SQL(" AND ").join(
                sql.SQL("t.{column} = s.{column}").format(column=sql.Identifier(column)) for column in key_columns[1:]
            )
            raw.execute(
                sql.SQL(
                    "SELECT t.{pk}, {keys} FROM {table} AS t JOIN {staging} AS s ON {join} WHERE t.organization_id = %s"
                ).format(
                    pk=pk,
                    keys=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in key_columns[1:]),
                    table=table,
                    staging=staging,
                    join=join,
                ),
                [context.org.pk],
            )
            existing = {tuple(found[1:]): found[0] for found in raw.fetchall()}

    for row in rows:
        key = _key(spec, row)
        if key in written:
            row.record_id, inserted = written[key]
            row.outcome = "created" if inserted else "updated"
            if inserted:
                result.created += 1
            else:
                result.updated += 1
        else:
            row.record_id = existing[key]
            row.outcome = "unchanged"
            result.unchanged += 1


def _staging_table_name(table: str, columns: list[str]) -> str:
    """One staging table per target table and column set, kept for the whole transaction.

    A table created and dropped per batch would hold its locks until the job commits: a 10-million-row
    import made 2,000 of them and ran out of PostgreSQL's lock table. Reused and emptied with ``TRUNCATE``
    (in place, as the table was created in this transaction), it holds one.
    """
    digest = hashlib.blake2b(",".join(columns).encode(), digest_size=6).hexdigest()
    return f"{STAGING_TABLE}_{table}_{digest}"[:63]


def _key(spec: KindSpec, row: CleanRow) -> tuple:
    return tuple(row.fields[name] for name in spec.key_fields)
