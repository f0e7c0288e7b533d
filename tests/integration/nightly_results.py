"""What the nightly computed for an organization, comparable across organizations; waiting on it; its lock."""

from __future__ import annotations

import math
import time

from django.db import connection, models

from accounts import advisory_locks
from accounts.models import Organization
from reporting import nightly
from reporting.models import ChannelMetric, CohortCell, CustomerMixSnapshot, KpiSnapshot
from retention.models import RetentionTrend
from segmentation.models import CustomerScore

CUSTOMERS = 30_000
#: Fields that say when a row was written, not what was computed.
WHEN_WRITTEN = {"id", "organization", "computed_at", "created_at", "updated_at"}
RESULT_MODELS = (CustomerScore, KpiSnapshot, ChannelMetric, CohortCell, CustomerMixSnapshot, RetentionTrend)


def wait_for(condition, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def comparable(value):
    """Floats to 9 significant digits: the same data fitted twice may differ in the last bits, nothing more."""
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def nightly_results(org: Organization) -> dict[str, list]:
    """Everything the nightly computed for ``org``, with customers and channels named by their own keys."""
    results = {}
    for model in RESULT_MODELS:
        names = []
        for model_field in model._meta.concrete_fields:
            if model_field.name in WHEN_WRITTEN:
                continue
            if isinstance(model_field, models.ForeignKey):
                key = "external_id" if model_field.related_model._meta.model_name == "customer" else "code"
                names.append(f"{model_field.name}__{key}")
            else:
                names.append(model_field.name)
        rows = [comparable(row) for row in model.objects.for_org(org).values(*names)]
        results[model._meta.label] = sorted(rows, key=repr)
    return results


def nightly_lock_held(org_id: int) -> bool:
    """Whether a session holds the organization's nightly lock in this test's database."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS ({advisory_locks.HELD_SQL.format(namespace='%s', key='%s')})",
            [
                nightly.NIGHTLY_LOCK_NAMESPACE,
                org_id,
            ],
        )
        return cursor.fetchone()[0]
