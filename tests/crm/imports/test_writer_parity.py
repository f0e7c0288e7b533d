"""The PostgreSQL upsert path writes exactly what the ORM path writes, with the same outcome for every row.

Each scenario is a sequence of batches run through ``write_batch`` twice: once in one organization with the
ORM path forced, once in another with the ``COPY`` + ``INSERT ... ON CONFLICT`` path. The stored rows (by
natural key, with "now" timestamps replaced by the batch that set them), the counts, the rejections and
each row's outcome and record must be the same.
"""

from __future__ import annotations

import datetime

import pytest
from django.db import connection

from crm.imports import kinds, postgres_writer
from crm.imports.kinds import KINDS, CleanRow, ImportContext, RowError
from crm.models import Channel, ChannelSpend, Customer, ImportKind, Order
from tests.factories import ChannelFactory, CustomerFactory, OrganizationFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the COPY + ON CONFLICT writer exists only on PostgreSQL (CI runs the suite there)",
    ),
]


def _natural_key(obj) -> tuple:
    if isinstance(obj, (Customer, Order)):
        return (obj.external_id,)
    if isinstance(obj, Channel):
        return (obj.code,)
    return (obj.channel.code, obj.date)


class Run:
    """One organization's pass through the scenario, with the window of each batch for "now" timestamps."""

    def __init__(self, slug: str) -> None:
        self.started = datetime.datetime.now(datetime.UTC)
        self.org = OrganizationFactory(slug=slug, name=slug, time_zone="Asia/Shanghai")
        for code in ("web", "store"):
            ChannelFactory(organization=self.org, code=code, name=code.title())
        self.windows: list[tuple[datetime.datetime, datetime.datetime]] = []
        self.batches: list[dict] = []

    def write(self, kind: str, records: list[dict[str, str]], *, create_missing_customers: bool = False) -> None:
        spec = KINDS[kind]
        context = ImportContext.for_org(self.org, create_missing_customers=create_missing_customers)
        rows, cleaning_errors = [], []
        for line, values in enumerate(records, start=2):
            try:
                key, fields, customer_external_id = spec.clean(values, context)
            except RowError as exc:
                cleaning_errors.append((line, exc.column))
                continue
            rows.append(CleanRow(line, values, key, fields, customer_external_id))
        started = context.now
        result = kinds.write_batch(spec, rows, context)
        self.windows.append((min(started, context.now), datetime.datetime.now(datetime.UTC)))
        self.batches.append(
            {
                "counts": (result.created, result.updated, result.unchanged),
                "rejected": [(row.line, column, reason) for row, column, reason in result.rejected],
                "cleaning_errors": cleaning_errors,
                "outcomes": [(row.line, row.outcome, self._record(spec, row)) for row in rows],
            }
        )

    def _record(self, spec, row: CleanRow) -> tuple | None:
        if row.record_id is None:
            return None
        obj = spec.model.objects.get(pk=row.record_id)
        assert obj.organization_id == self.org.pk
        return _natural_key(obj)

    def when(self, moment: datetime.datetime | None) -> object:
        """A timestamp, or which batch's "now" it is (the two runs cannot share the clock)."""
        if moment is None:
            return None
        for number, (start, end) in enumerate(self.windows):
            if start <= moment <= end:
                return f"now of batch {number}"
        return "now before the batches" if moment >= self.started else moment

    def contents(self) -> dict:
        customers = Customer.objects.for_org(self.org).select_related("channel")
        orders = Order.objects.for_org(self.org).select_related("customer", "channel")
        return {
            "customers": sorted(
                (
                    c.external_id,
                    c.name,
                    c.email,
                    c.phone,
                    c.channel.code if c.channel else None,
                    self.when(c.created_at),
                    self.when(c.updated_at),
                    c.consent_email,
                    self.when(c.consent_email_at),
                    c.consent_sms,
                    c.consent_sms_at,
                    c.tags,
                    c.attributes,
                    c.owner_id,
                )
                for c in customers
            ),
            "orders": sorted(
                (
                    o.external_id,
                    o.customer.external_id,
                    o.ordered_at,
                    o.amount,
                    o.currency,
                    o.status,
                    o.channel.code if o.channel else None,
                    self.when(o.created_at),
                )
                for o in orders
            ),
            "channels": sorted(
                (c.code, c.name, c.kind, c.is_active, self.when(c.created_at))
                for c in Channel.objects.for_org(self.org)
            ),
            "spend": sorted(
                (s.channel.code, s.date, s.amount)
                for s in ChannelSpend.objects.for_org(self.org).select_related("channel")
            ),
        }


@pytest.fixture
def both_writers(monkeypatch):
    """Run a scenario with the ORM path, then with the PostgreSQL path; return both runs."""

    def run(scenario) -> tuple[Run, Run]:
        with monkeypatch.context() as patch:
            patch.setattr(postgres_writer, "can_upsert", lambda spec: False)
            orm = Run("orm-path")
            scenario(orm)
        calls = []
        upsert_batch = postgres_writer.upsert_batch

        def counted(*args, **kwargs):
            calls.append(args[0].kind)
            return upsert_batch(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(postgres_writer, "upsert_batch", counted)
            fast = Run("postgres-path")
            scenario(fast)
        assert calls, "the PostgreSQL path was not used"
        return orm, fast

    return run


def assert_same(orm: Run, fast: Run) -> None:
    assert fast.batches == orm.batches
    assert fast.contents() == orm.contents()


def customers_scenario(run: Run) -> None:
    run.write(
        ImportKind.CUSTOMERS,
        [
            {"external_id": "C1", "name": "Wang Wei", "email": "Wang@Example.com", "consent_email": "yes"},
            {"external_id": "C2", "name": "Li Na", "created_at": "2025-03-02 09:30", "channel": "web"},
            {"external_id": "C3", "consent_email": "no", "phone": "+86 10 1234"},
            {"external_id": "C4"},
            {"external_id": "C5", "name": "Bad", "email": "not-an-email"},
        ],
    )
    run.write(
        ImportKind.CUSTOMERS,
        [
            {"external_id": "C1", "name": "Wang Wei", "email": "wang@example.com", "consent_email": "yes"},
            {"external_id": "C2", "name": "Li Na (VIP)", "created_at": "2025-03-02 09:30"},
            {"external_id": "C3", "consent_email": "yes"},
            {"external_id": "C4", "name": ""},
            {"external_id": "C6", "name": "Zhao Lei", "consent_email": "true", "channel": "store"},
        ],
    )
    run.write(
        ImportKind.CUSTOMERS,
        [
            {"external_id": "C1", "consent_email": "no"},
            {"external_id": "C2", "created_at": "2024-12-31"},
            {"external_id": "C3", "email": "c3@example.com", "consent_email": "yes"},
            {"external_id": "C6", "channel": "web"},
            {"external_id": "C7"},
        ],
    )


def orders_scenario(run: Run) -> None:
    for number in (1, 2, 3):
        CustomerFactory(
            organization=run.org,
            external_id=f"C{number}",
            name=f"Customer {number}",
            email=f"c{number}@example.com",
            created_at=datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC),
        )
    run.write(
        ImportKind.ORDERS,
        [
            {"external_id": "O1", "customer_external_id": "C1", "ordered_at": "2025-01-05 10:00", "amount": "12.5"},
            {
                "external_id": "O2",
                "customer_external_id": "C2",
                "ordered_at": "2025-01-06T10:00:00+08:00",
                "amount": "¥1,200.00",
                "currency": "usd",
                "status": "pending",
                "channel": "web",
            },
            {"external_id": "O3", "customer_external_id": "C404", "ordered_at": "2025-01-07", "amount": "3"},
            {"external_id": "O4", "customer_external_id": "C3", "ordered_at": "2025-01-08", "amount": "0"},
        ],
    )
    run.write(
        ImportKind.ORDERS,
        [
            {"external_id": "O1", "customer_external_id": "C1", "ordered_at": "2025-01-05 10:00", "amount": "12.50"},
            {
                "external_id": "O2",
                "customer_external_id": "C2",
                "ordered_at": "2025-01-06 10:00",
                "amount": "1200",
                "currency": "USD",
                "status": "completed",
            },
            {"external_id": "O4", "customer_external_id": "C1", "ordered_at": "2025-01-08", "amount": "0"},
            {"external_id": "O5", "customer_external_id": "C404", "ordered_at": "2025-01-09", "amount": "7"},
        ],
        create_missing_customers=True,
    )


def channels_and_spend_scenario(run: Run) -> None:
    run.write(
        ImportKind.CHANNELS,
        [
            {"code": "Web", "name": "Website"},
            {"code": "tv", "name": "Television", "kind": "paid"},
            {"code": "radio", "name": ""},
        ],
    )
    run.write(
        ImportKind.CHANNELS,
        [
            {"code": "tv", "name": "Television", "kind": "paid"},
            {"code": "radio", "name": "Radio"},
            {"code": "store", "name": "Store", "kind": "offline"},
        ],
    )
    run.write(
        ImportKind.CHANNEL_SPEND,
        [
            {"channel": "tv", "date": "2025-01", "amount": "1000"},
            {"channel": "web", "date": "2025-01-15", "amount": "20.10"},
            {"channel": "nope", "date": "2025-01", "amount": "1"},
        ],
    )
    run.write(
        ImportKind.CHANNEL_SPEND,
        [
            {"channel": "tv", "date": "2025/01", "amount": "1000.00"},  # the same month's spend: unchanged
            {"channel": "web", "date": "2025-01-15", "amount": "25"},
            {"channel": "tv", "date": "2025-02", "amount": "900"},
        ],
    )


def test_customers_are_written_the_same_by_both_paths(both_writers):
    """Mixed field sets, consent changes, empty cells and re-imports give the same rows and outcomes."""
    orm, fast = both_writers(customers_scenario)
    assert [batch["counts"] for batch in orm.batches] == [(4, 0, 0), (1, 2, 2), (1, 4, 0)]
    assert_same(orm, fast)


def test_orders_are_written_the_same_by_both_paths(both_writers):
    """Equal amounts written differently, changed customers, unknown and created customers match."""
    orm, fast = both_writers(orders_scenario)
    assert [batch["counts"] for batch in orm.batches] == [(3, 0, 0), (1, 2, 1)]
    assert_same(orm, fast)


def test_channels_and_spend_are_written_the_same_by_both_paths(both_writers):
    """Channels (by code) and spend (by channel and day) upsert alike."""
    orm, fast = both_writers(channels_and_spend_scenario)
    # "radio" has an empty name: the required cell is rejected, so it is created only by the second file.
    assert [batch["counts"] for batch in orm.batches] == [(1, 1, 0), (1, 1, 1), (2, 0, 0), (1, 1, 1)]
    assert_same(orm, fast)
