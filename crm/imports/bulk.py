"""Bulk JSON writes (``POST /api/v1/{customers,orders,events}/bulk/``): the import rules, one result per record.

Records go through the same cleaning and set-based batch writing as a CSV import, so a record that the
importer would reject is rejected here with the same reason, and the batch commits as a whole.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization
from accounts.services import Actor, audit_record
from crm.imports.kinds import KINDS, CleanRow, ImportContext, RowError, write_batch
from crm.models import ConsentSource

MAX_BULK_RECORDS = 10_000


def _cell(value: Any) -> str:
    """A JSON value as the text a CSV cell would hold; objects and lists have no place in a record."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(_("Give text, a number, true/false or null."))


def bulk_upsert(
    *, org: Organization, actor: Actor, kind: str, records: list[Any], create_missing_customers: bool = False
) -> dict[str, Any]:
    """Upsert up to ``MAX_BULK_RECORDS`` records; returns counts and a result per record, in request order."""
    spec = KINDS[kind]
    context = ImportContext.for_org(
        org,
        create_missing_customers=create_missing_customers,
        consent_source=ConsentSource.API,
        actor_label=actor.display,
    )
    results: list[dict[str, Any]] = [{} for _ in records]
    pending: dict[tuple, CleanRow] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            results[index] = {
                "index": index,
                "status": "rejected",
                "errors": {"non_field_errors": [_("Give a JSON object.")]},
            }
            continue
        errors: dict[str, list[str]] = {}
        values: dict[str, str] = {}
        for name, value in record.items():
            column = str(name).strip().lower()
            if column not in spec.columns:
                errors[column] = [_("Unknown field.")]
                continue
            try:
                values[column] = _cell(value).strip()
            except ValueError as exc:
                errors[column] = [str(exc)]
        if not errors:
            try:
                key, fields, customer_external_id = spec.clean(values, context)
            except RowError as exc:
                errors[exc.column or "non_field_errors"] = [exc.message]
        if errors:
            results[index] = {"index": index, "status": "rejected", "errors": errors}
            continue
        record_key = (customer_external_id, *key)
        earlier = pending.pop(record_key, None)
        if earlier is not None:
            results[earlier.line] = {
                "index": earlier.line,
                "status": "superseded",
                "errors": {
                    "non_field_errors": [
                        _("Record %(index)d repeats this one's key; the later one was kept.") % {"index": index}
                    ]
                },
            }
        pending[record_key] = CleanRow(index, values, key, fields, customer_external_id)
    with transaction.atomic():
        batch = write_batch(spec, list(pending.values()), context)
        for row, column, reason in batch.rejected:
            results[row.line] = {"index": row.line, "status": "rejected", "errors": {column: [reason]}}
        for row in pending.values():
            if row.outcome != "rejected":
                results[row.line] = {"index": row.line, "status": row.outcome, "id": row.record_id}
        counts = {
            status: sum(1 for result in results if result["status"] == status)
            for status in ("created", "updated", "unchanged", "rejected", "superseded")
        }
        audit_record(org=org, actor=actor, action=f"{kind}.bulk", object_type=kind, after=counts)
    return {**counts, "results": results}
