"""Log lines: request and task ids, the request's route and ids, JSON in production, and no personal data."""

from __future__ import annotations

import io
import json
import logging

import pytest
from celery import shared_task
from django.core.files.uploadedfile import SimpleUploadedFile

from config.observability.logs import ContextFilter, JsonFormatter, PlainFormatter, logging_config
from crm.models import Customer, ImportJob

pytestmark = pytest.mark.django_db

task_logger = logging.getLogger("tests.ops.task")


@shared_task(name="tests.ops.log_probe")
def log_probe() -> None:
    task_logger.info("inside the task")


@pytest.fixture
def formatted_lines():
    """Records of every logger as the production handler writes them: ContextFilter + JsonFormatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(previous_level)


def _request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "custops.request"]


def test_logging_config_picks_the_format_and_keeps_sql_quiet():
    json_config = logging_config(log_format="json", level="DEBUG")
    plain_config = logging_config(log_format="plain", level="INFO")
    assert json_config["formatters"]["default"]["()"].endswith("JsonFormatter")
    assert plain_config["formatters"]["default"]["()"].endswith("PlainFormatter")
    assert json_config["loggers"]["django.db.backends"] == {"level": "WARNING"}
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")


def test_sql_is_never_logged_even_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    assert logging.getLogger("django.db.backends").getEffectiveLevel() == logging.WARNING


def test_json_lines_carry_the_extra_fields_and_the_exception_class():
    record = logging.LogRecord("custops.test", logging.ERROR, __file__, 1, "job %s failed", (7,), None)
    record.job_id = 7
    try:
        raise KeyError("missing")
    except KeyError:
        import sys

        record.exc_info = sys.exc_info()
    ContextFilter().filter(record)

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "job 7 failed"
    assert (line["level"], line["logger"], line["job_id"]) == ("ERROR", "custops.test", 7)
    assert line["exc_type"] == "KeyError" and "Traceback" in line["exc_info"]
    assert line["time"].endswith("+00:00")
    assert "request_id" not in line and "task_id" not in line  # empty context is left out


def test_a_sane_incoming_request_id_is_kept_and_echoed(client, formatted_lines):
    response = client.get("/health/live/", HTTP_X_REQUEST_ID="lb-7f3a.42:9")

    assert response["X-Request-ID"] == "lb-7f3a.42:9"
    assert _request_lines(formatted_lines())[-1]["request_id"] == "lb-7f3a.42:9"


@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 200, "<script>", "id\nInjected: header"])
def test_an_odd_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/health/live/", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_every_record_of_a_request_carries_its_id(client, org, write_api, formatted_lines):
    response = write_api.post("/api/v1/customers/", {"external_id": "LOG-1"}, format="json")

    request_id = response["X-Request-ID"]
    lines = [line for line in formatted_lines() if line.get("request_id") == request_id]
    assert lines and all(line["request_id"] == request_id for line in lines)


def test_the_request_line_has_route_status_duration_and_ids(client, org, ops_user, write_api, formatted_lines):
    client.force_login(ops_user)
    client.get("/customers/")
    write_api.get("/api/v1/customers/")

    page, api = _request_lines(formatted_lines())[-2:]
    assert (page["route"], page["method"], page["status"]) == ("crm:customer-list", "GET", 200)
    assert (page["organization_id"], page["user_id"], page["api_key_id"]) == (org.pk, ops_user.pk, None)
    assert isinstance(page["duration_ms"], float) and page["duration_ms"] >= 0
    assert (api["route"], api["status"], api["organization_id"], api["user_id"]) == (
        "api:customer-list",
        200,
        org.pk,
        None,
    )
    assert api["api_key_id"] is not None
    assert page["message"] == f"GET crm:customer-list 200 {page['duration_ms']:.1f} ms"


def test_task_records_carry_the_task_id_and_name(formatted_lines):
    result = log_probe.delay()

    (line,) = [line for line in formatted_lines() if line["message"] == "inside the task"]
    assert (line["task_id"], line["task_name"]) == (result.id, "tests.ops.log_probe")


def test_plain_lines_show_the_request_id():
    record = logging.LogRecord("custops.test", logging.INFO, __file__, 1, "hello", (), None)
    record.request_id, record.task_id, record.task_name = "abc123", "", ""
    assert "[request_id=abc123] hello" in PlainFormatter().format(record)


# Personal data never reaches a log record --------------------------------------------------------------------

NAME, EMAIL, PHONE = "Zebulon Quaxworthy", "zebulon.quax@leak-check.example", "+86 139 7777 3141"
CSV_NAME, CSV_EMAIL, CSV_PHONE = "Ottilie Vrabcova", "ottilie.vrab@leak-check.example", "+44 7700 900461"
BAD_EMAIL = "not-an-email-vrabcova"


def _record_texts(record: logging.LogRecord) -> list[str]:
    """Everything a handler could write for a record: message, arguments, extra fields, exception."""
    texts = [record.getMessage(), repr(record.args), JsonFormatter().format(record)]
    texts.extend(repr(value) for value in record.__dict__.values())
    return texts


def test_creating_and_importing_customers_logs_none_of_their_personal_data(
    caplog, org, write_api, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    csv_text = (
        "external_id,name,email,phone\n"
        f"PII-2,{CSV_NAME},{CSV_EMAIL},{CSV_PHONE}\n"
        f"PII-3,{CSV_NAME} Junior,{BAD_EMAIL},{CSV_PHONE}\n"
    )
    upload = SimpleUploadedFile("customers.csv", csv_text.encode(), content_type="text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        created = write_api.post(
            "/api/v1/customers/", {"external_id": "PII-1", "name": NAME, "email": EMAIL, "phone": PHONE}, format="json"
        )
        imported = write_api.post("/api/v1/imports/", {"kind": "customers", "file": upload}, format="multipart")
        duplicate = write_api.post("/api/v1/customers/", {"external_id": "PII-1", "email": EMAIL}, format="json")
    listed = write_api.get("/api/v1/customers/", {"q": EMAIL})

    assert created.status_code == 201, created.content
    assert imported.status_code == 202, imported.content
    assert duplicate.status_code == 400 and listed.status_code == 200
    assert Customer.objects.for_org(org).filter(email__in=[EMAIL, CSV_EMAIL]).count() == 2
    job = ImportJob.objects.for_org(org).get()
    assert (job.status, job.rows_created, job.rows_rejected) == ("succeeded", 1, 1)
    assert any(record.name == "custops.request" for record in caplog.records)
    secrets = [NAME, EMAIL, PHONE, CSV_NAME, CSV_EMAIL, CSV_PHONE, BAD_EMAIL, "Quaxworthy", "Vrabcova", "7777"]
    for record in caplog.records:
        for text in _record_texts(record):
            leaked = [secret for secret in secrets if secret in text]
            assert not leaked, f"{record.name} logged {leaked}: {text[:300]}"
