"""Webhook endpoints of an organization, the events emitted to them, and every delivery attempt.

An event is stored once (``WebhookEvent``, its ``event_id`` is what receivers de-duplicate on); each subscribed
endpoint gets one ``WebhookDelivery`` whose row state drives the retries, and each HTTP attempt leaves a
``WebhookDeliveryAttempt`` so a person can see what happened.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel


class EventType(models.TextChoices):
    CUSTOMER_CREATED = "customer.created", _("Customer created")
    CUSTOMER_UPDATED = "customer.updated", _("Customer updated")
    CUSTOMER_ERASED = "customer.erased", _("Customer erased (personal data removed)")
    ORDER_CREATED = "order.created", _("Order created")
    SEGMENT_ENTERED = "segment.entered", _("Customers entered a segment")
    SEGMENT_LEFT = "segment.left", _("Customers left a segment")
    CHURN_FLAGGED = "churn.flagged", _("Customers flagged as churned")
    TIER_CHANGED = "tier.changed", _("Customers changed value tier")
    CAMPAIGN_FINISHED = "campaign.finished", _("Campaign finished")
    IMPORT_FINISHED = "import.finished", _("Import finished")
    NIGHTLY_FINISHED = "nightly.finished", _("Nightly run finished")


#: Sent only by the "send test event" button, to the one endpoint it was pressed for; not subscribable.
TEST_EVENT_TYPE = "webhook.test"


class WebhookEndpoint(TenantModel):
    """A URL of the organization's that receives signed events; ``event_types`` empty means every type."""

    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    #: Kept in clear because every delivery is signed with it; shown to people once, when created.
    secret = models.CharField(_("signing secret"), max_length=100)
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "is_active"], name="webhookendpoint_org_active")]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(TenantModel):
    """Something that happened, as sent: the same ``event_id`` and payload on every attempt and redelivery."""

    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(_("event type"), max_length=40)
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "event_type", "-created_at"], name="webhookevent_org_type")]
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    ABANDONED = "abandoned", _("Abandoned")


class WebhookDelivery(TenantModel):
    """One event to one endpoint. ``pending`` rows with a due ``next_attempt_at`` are sent (again) by whichever
    worker claims them first; ``claimed_until`` is the lease that keeps a second worker off the same attempt and
    lets a dead worker's attempt be retried once it lapses.

    ``failed`` is reserved for a delivery whose last attempt failed and that will not be retried for another
    reason than age (e.g. its endpoint was disabled); one that kept failing for the whole retry window is
    ``abandoned``.
    """

    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        WebhookEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", verbose_name=_("redelivery of"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
            models.Index(fields=["endpoint", "-id"], name="webhookdelivery_endpoint"),
        ]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id}: {self.status}"


class WebhookDeliveryAttempt(TenantModel):
    """One HTTP attempt of a delivery: when, how long, what came back (a status code or an error)."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField(_("attempted at"))
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["delivery", "-attempted_at"], name="webhookattempt_delivery")]
        verbose_name = _("webhook delivery attempt")
        verbose_name_plural = _("webhook delivery attempts")

    def __str__(self) -> str:
        return f"attempt of delivery {self.delivery_id} at {self.attempted_at}: {self.response_code or self.error}"
