"""The import pipeline end to end on the real database: upserts, rejections, encodings, and all-or-nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from accounts.services import Actor
from crm.imports import kinds as import_kinds
from crm.imports import pipeline
from crm.models import ChannelSpend, Customer, Event, Feedback, ImportStatus, Order
from tests.factories import ChannelFactory, CustomerFactory

pytestmark = pytest.mark.django_db

IMPORTER = Actor(label="test")


def run(
    org, kind: str, text: str | bytes, tmp_path: Path, *, name: str = "file.csv", encoding: str = "utf-8", **options
):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    job = pipeline.import_job_create(org=org, actor=IMPORTER, kind=kind, source=path, original_filename=name, **options)
    return pipeline.import_job_run(job=job)


def rejections(job) -> list[tuple[int, str, str]]:
    return [(r.line, r.column, r.reason) for r in job.rejections.order_by("line")]


CUSTOMERS = "external_id,name,email,channel,created_at,consent_email\nC1,Wang Wei,wang@example.com,,2025-03-01,yes\nC2,Li Na,li@example.com,,2025/03/02,no\n"


def test_customers_are_created_then_unchanged_on_reimport_then_only_changes_applied(org, tmp_path):
    first = run(org, "customers", CUSTOMERS, tmp_path)
    assert (first.status, first.rows_created, first.rows_updated, first.rows_unchanged) == ("succeeded", 2, 0, 0)
    wang = Customer.objects.for_org(org).get(external_id="C1")
    assert (wang.name, wang.email, wang.consent_email) == ("Wang Wei", "wang@example.com", True)
    updated_at = wang.updated_at

    again = run(org, "customers", CUSTOMERS, tmp_path)
    assert (again.rows_created, again.rows_updated, again.rows_unchanged) == (0, 0, 2)
    assert Customer.objects.for_org(org).get(external_id="C1").updated_at == updated_at

    corrected = run(org, "customers", CUSTOMERS.replace("Li Na", "Li Na (VIP)"), tmp_path)
    assert (corrected.rows_created, corrected.rows_updated, corrected.rows_unchanged) == (0, 1, 1)
    assert Customer.objects.for_org(org).get(external_id="C2").name == "Li Na (VIP)"


def test_an_empty_cell_leaves_the_stored_value_alone(org, tmp_path):
    CustomerFactory(organization=org, external_id="C1", name="Kept Name", email="kept@example.com")
    job = run(org, "customers", "external_id,name,email\nC1,,new@example.com\n", tmp_path)
    customer = Customer.objects.for_org(org).get(external_id="C1")
    assert (job.rows_updated, customer.name, customer.email) == (1, "Kept Name", "new@example.com")


def test_orders_for_unknown_customers_are_rejected_with_line_and_reason(org, tmp_path):
    CustomerFactory(organization=org, external_id="C1")
    job = run(
        org,
        "orders",
        'external_id,customer_external_id,ordered_at,amount\nO1,C1,2025-05-01 10:00,"1,299.00"\nO2,NOPE,2025-05-02,10\n',
        tmp_path,
    )
    assert (job.rows_created, job.rows_rejected) == (1, 1)
    ((line, column, reason),) = rejections(job)
    assert (line, column) == (3, "customer_external_id")
    assert "NOPE" in reason
    order = Order.objects.for_org(org).get(external_id="O1")
    assert order.amount == Decimal("1299.00")
    assert order.ordered_at == datetime.datetime(2025, 5, 1, 10, 0, tzinfo=datetime.UTC)  # the org is on UTC


def test_create_missing_customers_creates_bare_customers(org, tmp_path):
    job = run(
        org,
        "orders",
        "external_id,customer_external_id,ordered_at,amount\nO1,NEW-1,2025-05-01,10\n",
        tmp_path,
        create_missing_customers=True,
    )
    assert job.rows_created == 1
    assert Order.objects.for_org(org).get().customer.external_id == "NEW-1"


def test_another_organizations_customer_is_unknown_here_and_untouched(org, other_org, tmp_path):
    theirs = CustomerFactory(organization=other_org, external_id="SHARED-1", name="Theirs")
    job = run(
        org, "orders", "external_id,customer_external_id,ordered_at,amount\nO1,SHARED-1,2025-05-01,10\n", tmp_path
    )
    assert job.rows_rejected == 1
    assert not Order.objects.exists()
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


@pytest.mark.parametrize(("amount", "words"), [("abc", "amount"), ("-5", "negative"), ("1e309", "amount")])
def test_bad_amounts_are_rejected_naming_the_column(org, tmp_path, amount, words):
    CustomerFactory(organization=org, external_id="C1")
    job = run(
        org, "orders", f"external_id,customer_external_id,ordered_at,amount\nO1,C1,2025-05-01,{amount}\n", tmp_path
    )
    ((line, column, reason),) = rejections(job)
    assert (line, column) == (2, "amount")
    assert reason


@pytest.mark.parametrize("when", ["2024-02-30", "0000-00-00", "2999-01-01"])
def test_impossible_or_future_dates_are_rejected(org, tmp_path, when):
    CustomerFactory(organization=org, external_id="C1")
    job = run(org, "orders", f"external_id,customer_external_id,ordered_at,amount\nO1,C1,{when},5\n", tmp_path)
    assert [(line, column) for line, column, _ in rejections(job)] == [(2, "ordered_at")]


def test_a_repeated_external_id_in_one_file_keeps_the_last_and_says_so(org, tmp_path):
    job = run(org, "customers", "external_id,name\nC1,First\nC2,Other\nC1,Last\n", tmp_path)
    assert Customer.objects.for_org(org).get(external_id="C1").name == "Last"
    assert any("last one was kept" in warning and "4" in warning for warning in job.warnings)


def test_missing_required_column_fails_the_job_with_the_columns_named(org, tmp_path):
    job = run(org, "orders", "external_id,amount\nO1,5\n", tmp_path)
    assert job.status == ImportStatus.FAILED
    assert "customer_external_id" in job.error and "ordered_at" in job.error


def test_unused_columns_are_ignored_with_a_warning(org, tmp_path):
    job = run(org, "customers", "external_id,shoe_size\nC1,42\n", tmp_path)
    assert job.rows_created == 1
    assert any("shoe_size" in warning for warning in job.warnings)


def test_empty_file_fails_and_header_only_imports_nothing(org, tmp_path):
    assert run(org, "customers", "", tmp_path).status == ImportStatus.FAILED
    header_only = run(org, "customers", "external_id,name\n", tmp_path)
    assert (header_only.status, header_only.rows_total) == (ImportStatus.SUCCEEDED, 0)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-16"])
def test_chinese_names_arrive_intact_whatever_the_encoding(org, tmp_path, encoding):
    job = run(org, "customers", "external_id,name\nC1,王伟\nC2,李娜\n", tmp_path, encoding=encoding)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert set(Customer.objects.for_org(org).values_list("name", flat=True)) == {"王伟", "李娜"}


def test_a_crash_in_the_middle_leaves_nothing_of_the_job(org, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)
    real_write = import_kinds.write_batch
    calls = {"n": 0}

    def failing_write(spec, rows, context):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_write(spec, rows, context)

    monkeypatch.setattr(pipeline, "write_batch", failing_write)
    job = run(org, "customers", "external_id\nC1\nC2\nC3\nC4\n", tmp_path)
    assert job.status == ImportStatus.FAILED
    assert "nothing of this file was saved" in job.error
    assert not Customer.objects.for_org(org).exists()
    assert job.rows_created == 0


def test_channel_spend_takes_months_and_upserts_by_channel_and_month(org, tmp_path):
    ChannelFactory(organization=org, code="wechat")
    run(org, "channel_spend", 'channel,date,amount\nwechat,2025-03,"12,000"\n', tmp_path)
    job = run(org, "channel_spend", "channel,date,amount\nwechat,2025-03-01,13000\nnope,2025-03,1\n", tmp_path)
    spend = ChannelSpend.objects.for_org(org).get()
    assert (spend.date, spend.amount) == (datetime.date(2025, 3, 1), Decimal("13000.00"))
    assert (job.rows_updated, job.rows_rejected) == (1, 1)


def test_events_and_feedback_are_idempotent(org, tmp_path):
    CustomerFactory(organization=org, external_id="C1")
    events = "customer_external_id,name,occurred_at\nC1,login,2025-05-01T10:00:00+08:00\n"
    feedback = "customer_external_id,kind,score,answered_at,comment\nC1,nps,9,2025-05-02,great\nC1,nps,11,2025-05-03,\n"
    run(org, "events", events, tmp_path)
    run(org, "events", events, tmp_path)
    first = run(org, "feedback", feedback, tmp_path)
    run(org, "feedback", feedback, tmp_path)
    assert Event.objects.for_org(org).count() == 1
    assert Feedback.objects.for_org(org).count() == 1
    assert [(line, column) for line, column, _ in rejections(first)] == [(3, "score")]


def test_malformed_rows_are_rejected_and_the_rest_imported(org, tmp_path):
    job = run(org, "customers", 'external_id,name\nC1,Ok\nC2,Too,Many\nC3,"never closed\n', tmp_path)
    assert Customer.objects.for_org(org).filter(external_id="C1").exists()
    assert job.rows_rejected >= 1
    assert any(line == 3 for line, _, _ in rejections(job))


def test_rejections_csv_has_the_cells_then_line_column_and_reason_and_defuses_formulas(org, tmp_path):
    job = run(org, "customers", 'external_id,name,email\nC1,=HYPERLINK("x"),not-an-email\n', tmp_path)
    rows = list(pipeline.rejections_csv_rows(job))
    assert rows[0][-3:] == ["line", "column", "reason"]
    assert rows[1][rows[0].index("name")] == '\'=HYPERLINK("x")'
    assert rows[1][-3:-1] == ["2", "email"]


def test_a_key_repeated_in_a_later_batch_is_reported_too(org, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)
    job = run(org, "customers", "external_id,name\nC1,a\nC2,b\nC3,c\nC1,last\n", tmp_path)
    assert Customer.objects.for_org(org).get(external_id="C1").name == "last"
    assert any("1 row(s) repeated" in warning and "5" in warning for warning in job.warnings)


def test_seen_keys_finds_repeats_across_many_merged_levels():
    seen = pipeline.SeenKeys()
    for start in range(0, 100, 10):
        assert not seen.add_and_find_repeats([("k", n) for n in range(start, start + 10)]).any()
    assert len(seen.levels) <= pipeline.SeenKeys.MAX_LEVELS
    assert seen.add_and_find_repeats([("k", 5), ("k", 99), ("k", 100)]).tolist() == [True, True, False]


def test_empty_optional_cells_keep_stored_order_and_feedback_values_and_new_orders_get_org_defaults(org, tmp_path):
    org.currency = "USD"
    org.save()
    CustomerFactory(organization=org, external_id="C1")
    run(
        org,
        "orders",
        "external_id,customer_external_id,ordered_at,amount,currency,status\nO1,C1,2025-05-01,10,EUR,refunded\n",
        tmp_path,
    )
    again = run(
        org,
        "orders",
        "external_id,customer_external_id,ordered_at,amount,currency,status\nO1,C1,2025-05-01,10,,\nO2,C1,2025-05-02,5,,\n",
        tmp_path,
    )
    first, second = Order.objects.for_org(org).order_by("external_id")
    assert (first.currency, first.status) == ("EUR", "refunded")
    assert (second.currency, second.status) == ("USD", "completed")
    assert (again.rows_unchanged, again.rows_created) == (1, 1)

    feedback = "customer_external_id,kind,score,answered_at,comment\nC1,nps,9,2025-05-02,{comment}\n"
    run(org, "feedback", feedback.format(comment="great service"), tmp_path)
    run(org, "feedback", feedback.format(comment=""), tmp_path)
    assert Feedback.objects.for_org(org).get().comment == "great service"


def test_a_channel_needs_a_name(org, tmp_path):
    job = run(org, "channels", "code,name\nweb,\n", tmp_path)
    assert [(line, column) for line, column, _ in rejections(job)] == [(2, "name")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="locks of PostgreSQL's staging tables")
def test_a_long_import_holds_the_same_few_locks_from_its_first_batch_to_its_last(org, tmp_path, monkeypatch):
    """Each batch used to create and drop its own staging table; their locks piled up until the job committed."""
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)
    CustomerFactory(organization=org, external_id="C1")
    locks_held = []

    def count_locks(_state):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()")
            locks_held.append(cursor.fetchone()[0])

    monkeypatch.setattr(pipeline, "PROGRESS_EVERY_ROWS", 2)
    rows = "".join(f"O{number},C1,2025-01-{number % 28 + 1:02d},{number}\n" for number in range(40))
    path = tmp_path / "orders.csv"
    path.write_text("external_id,customer_external_id,ordered_at,amount\n" + rows)
    job = pipeline.import_job_create(org=org, actor=IMPORTER, kind="orders", source=path, original_filename="o.csv")
    job = pipeline.import_job_run(job=job, progress=count_locks)
    assert job.rows_created == 40, job.error
    assert len(locks_held) >= 10
    assert max(locks_held[2:]) == locks_held[2]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the seen-keys table of PostgreSQL imports")
def test_postgres_seen_keys_finds_repeats_across_batches_and_within_none():
    seen = pipeline.PostgresSeenKeys()
    assert not seen.add_and_find_repeats([("k", n) for n in range(10)]).any()
    assert seen.add_and_find_repeats([("k", 5), ("k", 9), ("k", 10)]).tolist() == [True, True, False]
    assert seen.add_and_find_repeats([("k", 10), ("other", 10)]).tolist() == [True, False]


def test_a_spend_month_is_stored_as_a_month_and_a_spend_date_as_a_day(org, tmp_path):
    ChannelFactory(organization=org, code="wechat")
    job = run(org, "channel_spend", "channel,date,amount\nwechat,2025-04,3000\nwechat,2025-05-01,40\n", tmp_path)
    assert job.rows_created == 2, job.error
    periods = dict(ChannelSpend.objects.for_org(org).values_list("date", "period"))
    assert periods == {datetime.date(2025, 4, 1): "month", datetime.date(2025, 5, 1): "day"}
