"""``manage.py seed_demo`` end to end, on whichever database the tests run on (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Membership, Organization, Role, User
from crm.demo import DEMO_PASSWORD, demo_logins
from crm.demo_data import simulate_demo
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Note, Order, Task
from tests.factories import CustomerFactory

CUSTOMERS = 300
SEED = 11


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def today_in_shanghai() -> datetime.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).date()


def snapshot(org: Organization) -> dict[str, list[tuple]]:
    """What a seed wrote, without database ids, in a stable order, so two seeds can be compared."""
    tables = {
        "customers": Customer.objects.for_org(org).values_list(
            "external_id", "name", "email", "phone", "channel__code", "created_at", "tags", "attributes"
        ),
        "orders": Order.objects.for_org(org).values_list(
            "external_id", "customer__external_id", "ordered_at", "amount", "status", "channel__code"
        ),
        "events": Event.objects.for_org(org).values_list("customer__external_id", "name", "occurred_at", "properties"),
        "feedback": Feedback.objects.for_org(org).values_list(
            "customer__external_id", "kind", "score", "answered_at", "comment"
        ),
        "spend": ChannelSpend.objects.for_org(org).values_list("channel__code", "date", "amount"),
    }
    return {name: sorted(rows, key=repr) for name, rows in tables.items()}


@pytest.fixture
def seeded(db) -> tuple[Organization, str]:
    output = seed(customers=CUSTOMERS, seed=SEED)
    return Organization.objects.get(slug="demo"), output


def test_seed_writes_exactly_what_the_simulator_made(seeded):
    org, output = seeded
    data = simulate_demo(customers=CUSTOMERS, seed=SEED, today=today_in_shanghai())
    assert Customer.objects.for_org(org).count() == CUSTOMERS
    assert Order.objects.for_org(org).count() == len(data.orders)
    assert Event.objects.for_org(org).count() == len(data.events)
    assert Feedback.objects.for_org(org).count() == len(data.feedback)
    assert ChannelSpend.objects.for_org(org).count() == len(data.spend.cents)
    assert Note.objects.for_org(org).count() == len(data.notes)
    assert Task.objects.for_org(org).count() == len(data.tasks)
    assert f"{len(data.orders):>12,}" in output
    total = Order.objects.for_org(org).values_list("amount", flat=True)
    assert sum(total) == Decimal(int(data.orders.cents.sum())).scaleb(-2)


def test_the_organization_is_chinese_retail_with_8_to_12_channels(seeded):
    org, _ = seeded
    assert (org.time_zone, org.currency) == ("Asia/Shanghai", "CNY")
    channels = Channel.objects.for_org(org)
    assert 8 <= channels.count() <= 12
    assert {"search-ads", "wechat", "douyin", "referral", "offline-store"} <= set(
        channels.values_list("code", flat=True)
    )
    assert len(set(channels.values_list("kind", flat=True))) >= 5


def test_channel_spend_is_monthly_on_the_first(seeded):
    org, _ = seeded
    dates = set(ChannelSpend.objects.for_org(org).values_list("date", flat=True))
    assert {day.day for day in dates} == {1}
    assert 24 <= len(dates) <= 25


def test_every_row_points_at_a_customer_of_the_same_organization(seeded):
    org, _ = seeded
    for model in (Order, Event, Feedback, Note, Task):
        rows = model.objects.for_org(org)
        assert rows.exists(), model.__name__
        assert not rows.exclude(customer__organization=org).exists(), model.__name__
    assert not Order.objects.for_org(org).exclude(channel__isnull=True).exclude(channel__organization=org).exists()


def test_orders_lie_between_acquisition_and_now(seeded):
    org, _ = seeded
    orders = Order.objects.for_org(org)
    assert not orders.filter(ordered_at__lt=F("customer__created_at")).exists()
    assert not orders.filter(ordered_at__gt=timezone.now()).exists()
    assert orders.values("external_id").distinct().count() == orders.count()


def test_some_customers_never_ordered_and_a_few_are_vips_with_an_owner(seeded):
    org, _ = seeded
    customers = Customer.objects.for_org(org).annotate(order_count=Count("orders"))
    never = customers.filter(order_count=0).count()
    assert 0.15 * CUSTOMERS < never < 0.5 * CUSTOMERS
    vips = [customer for customer in customers.exclude(owner=None) if "vip" in customer.tags]
    assert vips
    assert all(Membership.objects.get(user=vip.owner, organization=org).role == Role.OPS for vip in vips)


def test_every_demo_login_works_with_the_printed_password(seeded, client):
    org, output = seeded
    assert "http://127.0.0.1:8000/" in output and DEMO_PASSWORD in output
    for email, role in demo_logins("demo"):
        assert email in output
        assert Membership.objects.get(user__email=email, organization=org).role == role
        signed_in = client.post(reverse("accounts:login"), {"username": email, "password": DEMO_PASSWORD})
        assert signed_in.status_code == 302 and signed_in["Location"] == reverse("home"), email
        client.post(reverse("accounts:logout"))
    assert [email for email, _ in demo_logins("demo")][:2] == ["admin1@demo.custops.local", "admin2@demo.custops.local"]


def test_admin1_may_use_the_django_admin(seeded, client):
    admin1 = User.objects.get(email="admin1@demo.custops.local")
    assert admin1.is_staff and admin1.is_superuser
    assert not User.objects.get(email="viewer1@demo.custops.local").is_staff
    assert (
        client.post(reverse("accounts:login"), {"username": admin1.email, "password": DEMO_PASSWORD}).status_code == 302
    )
    assert client.get("/admin/").status_code == 200


def test_the_seed_is_recorded_in_the_audit_log(seeded):
    org, _ = seeded
    entry = AuditLog.objects.for_org(org).get(action="demo.seed")
    assert entry.after["customers"] == CUSTOMERS
    assert entry.after["seed"] == SEED
    assert entry.after["orders"] == Order.objects.for_org(org).count()


def test_an_existing_organization_without_a_flag_is_refused_naming_both_flags(seeded):
    with pytest.raises(CommandError) as error:
        seed(customers=CUSTOMERS, seed=SEED)
    assert "--replace" in str(error.value) and "--if-missing" in str(error.value)
    assert Organization.objects.filter(slug="demo").count() == 1


def test_if_missing_keeps_the_organization_and_prints_the_logins_again(seeded):
    org, _ = seeded
    output = seed(customers=50, seed=99, if_missing=True)
    assert "already exists" in output
    assert "admin1@demo.custops.local" in output and DEMO_PASSWORD in output
    assert Organization.objects.get(slug="demo").pk == org.pk
    assert Customer.objects.for_org(org).count() == CUSTOMERS


def test_replace_with_the_same_seed_rebuilds_the_same_data(seeded):
    org, _ = seeded
    before = snapshot(org)
    seed(customers=CUSTOMERS, seed=SEED, replace=True)
    rebuilt = Organization.objects.get(slug="demo")
    assert rebuilt.pk != org.pk
    assert snapshot(rebuilt) == before
    assert Customer.objects.filter(organization_id=org.pk).count() == 0


def test_replace_deletes_everything_of_the_old_organization_and_nothing_of_others(seeded, other_org):
    org, _ = seeded
    stranger = CustomerFactory(organization=other_org)
    seed(customers=40, seed=1, replace=True)
    rebuilt = Organization.objects.get(slug="demo")
    assert Customer.objects.for_org(rebuilt).count() == 40
    assert not Organization.objects.filter(pk=org.pk).exists()
    for model in (Customer, Order, Event, Feedback, Note, Task, ChannelSpend, Channel, AuditLog):
        assert not model.objects.filter(organization_id=org.pk).exists(), model.__name__
    assert Customer.objects.filter(pk=stranger.pk).exists()
    assert User.objects.filter(email__endswith="@demo.custops.local").count() == 8


def test_another_slug_gets_its_own_organization_and_users(seeded):
    seed(org="trial", customers=30, seed=3)
    assert Customer.objects.for_org(Organization.objects.get(slug="trial")).count() == 30
    assert Customer.objects.for_org(Organization.objects.get(slug="demo")).count() == CUSTOMERS
    assert User.objects.filter(email="ops2@trial.custops.local").exists()


def test_a_different_seed_gives_different_data(seeded):
    org, _ = seeded
    seed(org="other-seed", customers=CUSTOMERS, seed=SEED + 1)
    assert snapshot(Organization.objects.get(slug="other-seed"))["orders"] != snapshot(org)["orders"]


@pytest.mark.django_db
def test_rejects_fewer_than_one_customer():
    with pytest.raises(CommandError, match="at least 1"):
        seed(customers=0)
    assert not Organization.objects.filter(slug="demo").exists()
