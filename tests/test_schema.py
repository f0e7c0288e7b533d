"""The OpenAPI 3 schema builds cleanly, documents bearer keys and the error shape, and the docs page renders."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


@pytest.fixture(scope="module")
def schema() -> dict:
    """The schema as ``manage.py spectacular --validate --fail-on-warn`` writes it (any warning fails)."""
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def test_schema_builds_without_warnings_and_validates_against_openapi_3(schema):
    assert schema["openapi"].startswith("3.")


@pytest.mark.parametrize(
    "resource", ["customers", "orders", "channels", "channel-spend", "events", "feedback", "notes", "tasks"]
)
def test_schema_lists_each_crm_resource_with_its_detail_route(schema, resource):
    assert f"/api/v1/{resource}/" in schema["paths"]
    assert f"/api/v1/{resource}/{{id}}/" in schema["paths"]


def test_schema_documents_api_keys_as_bearer_auth(schema):
    assert schema["components"]["securitySchemes"]["apiKey"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert {"apiKey": []} in schema["paths"]["/api/v1/customers/"]["get"]["security"]


def test_schema_documents_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail", "errors"]
    create = schema["paths"]["/api/v1/orders/"]["post"]["responses"]
    assert create["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    # 409: a conflict (duplicate, idempotency key reused with another body); 429: throttled.
    assert set(create) == {"201", "400", "401", "403", "409", "429"}


def test_schema_documents_404_on_detail_routes(schema):
    retrieve = schema["paths"]["/api/v1/customers/{id}/"]["get"]["responses"]
    # 304: If-None-Match matched the ETag; 400: an unknown ?fields=; 429: throttled.
    assert set(retrieve) == {"200", "304", "400", "401", "403", "404", "429"}


def test_schema_types_customer_references_as_integer_ids(schema):
    assert schema["components"]["schemas"]["OrderRequest"]["properties"]["customer"]["type"] == "integer"


def test_schema_documents_cursor_pagination_parameters(schema):
    names = {parameter["name"] for parameter in schema["paths"]["/api/v1/orders/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "ordered_after", "customer"} <= names


def test_schema_endpoint_serves_the_schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/customers/" in response.json()["paths"]


def test_docs_page_renders_swagger_ui(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    # The start-up script is a same-origin file, not inline, so the Content-Security-Policy needs no exception.
    assert b'<script src="/api/docs/?script="></script>' in response.content
    assert b"<script>" not in response.content and b"<style>" not in response.content
    script = APIClient().get("/api/docs/", {"script": ""})
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content
