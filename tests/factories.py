"""Typed factories for tests. They build rows directly (fast); behaviour under test goes through services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Membership, Organization, Role, User
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Note, Order, Task

TEST_PASSWORD = "correct-horse-battery-staple"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.OPS


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.Sequence(lambda n: f"Channel {n}")
    kind = "paid"


class ChannelSpendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelSpend

    organization = factory.SelfAttribute("channel.organization")
    channel = factory.SubFactory(ChannelFactory)
    date = factory.Sequence(lambda n: datetime.date(2025, 1, 1) + datetime.timedelta(days=n))
    amount = Decimal("100.00")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    created_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=400))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    organization = factory.SelfAttribute("customer.organization")
    customer = factory.SubFactory(CustomerFactory)
    external_id = factory.Sequence(lambda n: f"O{n:07d}")
    ordered_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=30))
    amount = Decimal("59.90")
    currency = "CNY"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    organization = factory.SelfAttribute("customer.organization")
    customer = factory.SubFactory(CustomerFactory)
    name = "page_view"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=3))


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    organization = factory.SelfAttribute("customer.organization")
    customer = factory.SubFactory(CustomerFactory)
    kind = "nps"
    score = 9
    scale_max = 10
    answered_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=5))


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    organization = factory.SelfAttribute("customer.organization")
    customer = factory.SubFactory(CustomerFactory)
    body = factory.Faker("sentence")


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    organization = factory.SelfAttribute("customer.organization")
    customer = factory.SubFactory(CustomerFactory)
    title = factory.Faker("sentence", nb_words=4)
