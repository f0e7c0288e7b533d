"""Retention: events older than the organization's policy and webhook history older than 30 days are deleted
daily in bounded batches, every purge audit-logged; campaign deliveries are kept for campaign results."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from accounts.services import organization_update
from campaigns.models import Campaign, Delivery, DeliveryStatus
from crm import privacy, tasks
from crm.models import Event
from tests.factories import CustomerFactory, EventFactory
from webhooks.models import DeliveryStatus as WebhookDeliveryStatus
from webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


def days_ago(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def test_without_a_policy_events_are_kept_forever(org):
    EventFactory(customer=CustomerFactory(organization=org), occurred_at=days_ago(3000))

    outcome = privacy.retention_purge(org=org, now=NOW)

    assert (outcome.events, Event.objects.count()) == (0, 1)
    assert not AuditLog.objects.filter(action="retention.purge").exists()


def test_events_older_than_the_policy_go_and_the_purge_is_audit_logged_with_counts(org, other_org):
    organization_update(org=org, event_retention_days=90)
    customer = CustomerFactory(organization=org)
    old = [EventFactory(customer=customer, occurred_at=days_ago(91)) for _ in range(3)]
    kept = EventFactory(customer=customer, occurred_at=days_ago(89))
    theirs = EventFactory(customer=CustomerFactory(organization=other_org), occurred_at=days_ago(400))

    outcome = privacy.retention_purge(org=org, now=NOW)

    assert outcome.events == 3 and not outcome.more
    assert set(Event.objects.values_list("pk", flat=True)) == {kept.pk, theirs.pk}
    assert not Event.objects.filter(pk__in=[event.pk for event in old]).exists()
    entry = AuditLog.objects.for_org(org).get(action="retention.purge")
    assert entry.after["events"] == 3 and entry.after["event_retention_days"] == 90


def test_a_large_backlog_is_deleted_in_batches_and_the_task_queues_itself_until_done(org, monkeypatch):
    organization_update(org=org, event_retention_days=30)
    customer = CustomerFactory(organization=org)
    Event.objects.bulk_create(
        Event(
            organization=org,
            customer=customer,
            name="page_view",
            occurred_at=timezone.now() - datetime.timedelta(days=40 + n),
        )
        for n in range(25)
    )
    monkeypatch.setattr(privacy, "EVENT_PURGE_BATCH", 10)

    deleted, more = privacy.events_purge_expired(org=org, now=timezone.now(), max_batches=2)
    assert (deleted, more) == (20, True)

    monkeypatch.setattr(privacy, "PURGE_MAX_BATCHES", 1)
    tasks.retention_purge_fanout()  # eager in tests: each run deletes one batch, then queues the next

    assert not Event.objects.exists()
    purges = AuditLog.objects.for_org(org).filter(action="retention.purge").order_by("id")
    assert [row.after["events"] for row in purges] == [5]

    Event.objects.bulk_create(
        Event(
            organization=org,
            customer=customer,
            name="page_view",
            occurred_at=timezone.now() - datetime.timedelta(days=40),
        )
        for _ in range(25)
    )
    tasks.retention_purge_for_org(org.pk)

    assert not Event.objects.exists()
    assert [row.after["events"] for row in purges.all()] == [5, 10, 10, 5]
    assert [row.after["more_to_delete"] for row in purges.all()] == [False, True, True, False]


def webhook_event(org, *, created_days_ago: int, status: str = WebhookDeliveryStatus.SUCCEEDED) -> WebhookEvent:
    endpoint = WebhookEndpoint.objects.filter(organization=org).first() or WebhookEndpoint.objects.create(
        organization=org, url="https://hooks.example.com/in", secret="whsec_x"
    )
    event = WebhookEvent.objects.create(organization=org, event_type="customer.updated", payload={"customer_ids": [1]})
    delivery = WebhookDelivery.objects.create(organization=org, endpoint=endpoint, event=event, status=status)
    WebhookDeliveryAttempt.objects.create(organization=org, delivery=delivery, attempted_at=days_ago(created_days_ago))
    created = days_ago(created_days_ago)
    WebhookEvent.objects.filter(pk=event.pk).update(created_at=created)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=created)
    return event


def test_webhook_history_older_than_thirty_days_goes_with_its_deliveries_and_attempts(org):
    old = webhook_event(org, created_days_ago=settings.WEBHOOK_HISTORY_DAYS + 1)
    recent = webhook_event(org, created_days_ago=settings.WEBHOOK_HISTORY_DAYS - 1)
    still_pending = webhook_event(
        org, created_days_ago=settings.WEBHOOK_HISTORY_DAYS + 5, status=WebhookDeliveryStatus.PENDING
    )

    outcome = privacy.retention_purge(org=org, now=NOW)

    assert (outcome.webhook_events, outcome.webhook_deliveries, outcome.webhook_attempts) == (1, 1, 1)
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {recent.pk, still_pending.pk}
    assert not WebhookDelivery.objects.filter(event_id=old.pk).exists()
    assert AuditLog.objects.for_org(org).get(action="retention.purge").after["webhook_events"] == 1


def test_campaign_deliveries_are_kept_whatever_their_age(org):
    organization_update(org=org, event_retention_days=30)
    campaign = Campaign.objects.create(organization=org, name="Old spring")
    Delivery.objects.create(
        organization=org,
        campaign=campaign,
        customer=CustomerFactory(organization=org),
        status=DeliveryStatus.SENT,
        assigned_at=days_ago(900),
        opened_at=days_ago(899),
        open_count=1,
    )

    privacy.retention_purge(org=org, now=NOW)

    assert Delivery.objects.get().open_count == 1


def test_the_policy_has_a_minimum_and_admins_set_it_on_the_settings_page(org, client, admin_user):
    with pytest.raises(ValidationError) as refused:
        organization_update(org=org, event_retention_days=7)
    assert "event_retention_days" in refused.value.message_dict
    client.force_login(admin_user)
    form = client.get(reverse("accounts:organization-settings")).context["form"]
    data = {name: value for name, value in form.initial.items() if name in form.fields and value is not None}
    data["event_retention_days"] = 365

    response = client.post(reverse("accounts:organization-settings"), data)

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.event_retention_days == 365


def test_beat_runs_the_purge_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["privacy-retention-purge"]

    assert entry["task"] == "crm.tasks.retention_purge_fanout"
    assert entry["task"] in tasks.retention_purge_fanout.app.tasks
