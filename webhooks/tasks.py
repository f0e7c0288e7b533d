"""Celery tasks of webhooks: thin wrappers around webhooks.services.

``deliver`` is safe to run twice or concurrently (a lease decides who sends), so it is acknowledged late and
re-queued when its worker dies; ``retry_due`` (beat, every minute) is the safety net for lost messages.
"""

from __future__ import annotations

from celery import shared_task

from webhooks import services
from webhooks.models import DeliveryStatus


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(self, delivery_id: int) -> str:
    """Attempt once; after a failure, queue the next attempt for its time (if that message is lost, the beat
    task still finds the due row). Run eagerly there is no broker to hold it: the beat task or a rerun does."""
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None and not self.request.is_eager:
        deliver.apply_async((delivery.pk,), eta=delivery.next_attempt_at)
    return delivery.status


@shared_task(ignore_result=True)
def retry_due() -> int:
    """Queue every due, unleased pending delivery: retries whose message was lost and dead workers' attempts."""
    ids = services.deliveries_retry_due()
    services.deliveries_enqueue(ids)
    return len(ids)
