"""Schemathesis against the OpenAPI schema the API serves: no 5xx, and every response as the schema says.

Integrators generate clients from /api/schema/, so a response the schema does not describe (an undocumented
status code, a body or a content type that does not match) breaks them as surely as a 500 does. Every operation
of the schema is exercised in-process through the Django WSGI application (no live server), with a read+write
API key of an organization seeded with a small scored demo (customers, orders, channels, segments, campaigns,
KPI snapshots...), a bounded number of generated requests per operation and a fixed seed, so a CI failure
replays the same way on a laptop.

Path ids are mostly swapped for ids that exist in the seeded organization, so detail routes and their actions
run on real rows instead of answering 404 to every random integer; a quarter keep the generated value, which
keeps the 404 path covered. Deletions run last, in a test of their own: run in schema order, they would remove
the rows the operations after them need. The organization is seeded once for the module and its rows are
committed, as on a live server (the requests of one operation leave their rows for the next); the database is
flushed at the end, as after a transactional test.

It needs PostgreSQL (the database production runs): without DATABASE_URL=postgres://... it skips, except
under CI=true, where it fails. Runtime is bounded by MAX_EXAMPLES; `CUSTOPS_SCHEMATHESIS_EXAMPLES` raises it
for a deeper local run. A failure prints the request as a curl command (key filtered); one operation alone:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/custops pytest tests/integration/test_api_schemathesis.py \
        -k "test_every_operation and orders and PATCH"
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_key_create
from config.wsgi import application
from crm.demo import demo_organization_seed
from crm.demo_data import simulate_demo
from reporting import nightly
from tests.integration.conftest import require

#: Generated requests per operation (positive and negative). 20 keeps the whole run at a few minutes on CI.
MAX_EXAMPLES = int(os.environ.get("CUSTOPS_SCHEMATHESIS_EXAMPLES", "20"))
SEED = 20260801
#: The contract this test enforces: no server error; the status code, content type and body documented.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SLUG = "schemathesis"

if connection.vendor != "postgresql" and os.environ.get("CI") != "true":
    # Skip before reading the schema: collecting this module on SQLite should cost nothing.
    pytest.skip("the API contract test needs DATABASE_URL=postgres://...", allow_module_level=True)


def _load_schema() -> tuple[schemathesis.BaseSchema | None, str]:
    """The schema as /api/schema/ serves it, read in-process through the WSGI application at collection.

    A schema that does not build is reported as one failing test rather than a collection error, which would
    stop the whole test run.
    """
    try:
        loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    except Exception as error:  # any failure to serve the schema is the finding
        return None, f"{type(error).__name__}: {error}"
    loaded.config.seed = SEED
    loaded.config.generation.update(max_examples=MAX_EXAMPLES)
    return loaded, ""


schema, SCHEMA_ERROR = _load_schema()

HYPOTHESIS_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # No shrinking: it replays requests against a database the previous examples changed, which costs
    # minutes and does not make an HTTP reproduction any clearer than the first failing request.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _seed_organization() -> str:
    """A small scored demo organization (segments, campaigns, targets too); returns a read+write key."""
    today = timezone.localdate()
    report = demo_organization_seed(slug=SLUG, data=simulate_demo(customers=120, seed=7, today=today))
    org = report.org
    job = nightly.run_nightly(org=org, as_of=today - datetime.timedelta(days=1))
    assert job.status == "succeeded", job.error
    call_command("seed_demo_campaigns", org=SLUG, stdout=io.StringIO())
    call_command("seed_demo_targets", org=SLUG, stdout=io.StringIO())
    _, plaintext = api_key_create(org=org, name="schemathesis", scopes=["read", "write"])
    return plaintext


def _collect_ids(key: str) -> dict[str, list[Any]]:
    """For each collection path of the schema, the identifiers its first page lists (``id`` or ``customer``)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    ids: dict[str, list[Any]] = {}
    for path, operations in schema.raw_schema["paths"].items():
        if "{" in path or "get" not in operations:
            continue
        response = client.get(path, {"page_size": 100})
        if response.status_code != 200:
            continue
        body = response.json()
        rows = body.get("results", body) if isinstance(body, dict) else body
        if not isinstance(rows, list):
            continue
        for field in ("id", "customer"):
            values = [row[field] for row in rows if isinstance(row, dict) and isinstance(row.get(field), int)]
            if values:
                ids[f"{path}{{{field}}}/"] = values
                break
    return ids


def _real_id(case: schemathesis.Case, ids: dict[str, list[Any]]) -> None:
    """Swap three generated integer path ids in four for an id that exists, deterministically."""
    for name, value in list((case.path_parameters or {}).items()):
        if not isinstance(value, int) or isinstance(value, bool) or value % 4 == 0:
            continue
        existing = ids.get(case.path.split(f"{{{name}}}")[0] + f"{{{name}}}/")
        if existing:
            case.path_parameters[name] = existing[value % len(existing)]


@pytest.fixture(scope="module")
def seeded_api(django_db_setup, django_db_blocker) -> Iterator[dict[str, Any]]:
    """One seeded organization for the whole module, committed like a real server's, flushed at the end.

    Seeding per operation (a fresh transactional database each) would cost minutes; the requests of one
    operation leave their rows for the next, as on a live server.
    """
    with django_db_blocker.unblock():
        require(connection.vendor == "postgresql", "the API contract test needs DATABASE_URL=postgres://...")
        try:
            key = _seed_organization()
            yield {"key": key, "ids": _collect_ids(key)}
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _database(django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield


def _call(case: schemathesis.Case, seeded_api: dict[str, Any]) -> None:
    _real_id(case, seeded_api["ids"])
    case.call_and_validate(headers={"Authorization": f"Bearer {seeded_api['key']}"}, checks=CHECKS)


def test_the_seeded_key_lists_customers(db, seeded_api):
    """The fixture works before the fuzzing starts; its ``db`` also makes pytest-django create the test database."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {seeded_api['key']}")
    response = client.get("/api/v1/customers/")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 50
    assert seeded_api["ids"].get("/api/v1/customers/{id}/"), seeded_api["ids"]


if schema is None:

    def test_the_schema_is_served():
        pytest.fail(f"GET /api/schema/ failed, so no operation could be tested: {SCHEMA_ERROR}")

else:

    @schema.exclude(method="DELETE").parametrize()
    @HYPOTHESIS_SETTINGS
    def test_every_operation_answers_as_documented(case, seeded_api):
        _call(case, seeded_api)

    # Last, on rows the operations above have read and changed: run earlier, they would remove what those need.
    @schema.include(method="DELETE").parametrize()
    @HYPOTHESIS_SETTINGS
    def test_every_deletion_answers_as_documented(case, seeded_api):
        _call(case, seeded_api)
