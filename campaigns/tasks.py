"""Celery tasks for sending campaigns: thin wrappers around campaigns.services.

``send_batch`` is safe to run twice, concurrently or after a crash (every delivery is claimed before it is
sent), so it is acknowledged late and re-queued when its worker dies: a lost batch is re-run, never skipped.
"""

from __future__ import annotations

import logging

from celery import shared_task

from campaigns import services

logger = logging.getLogger(__name__)

#: Back-off (seconds) between retries of a batch the mail server refused for now: 30 s, 1 min, 2 min, … 30 min.
RETRY_DELAYS = (30, 60, 120, 300, 600, 1200, 1800)


#: Run eagerly (no broker to schedule a retry), a refused batch is tried again at once this many times; then its
#: rows stay pending for the next tick.
EAGER_ATTEMPTS = 3


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=len(RETRY_DELAYS))
def send_batch(self, campaign_id: int, delivery_ids: list[int]) -> dict[str, int]:
    attempts = EAGER_ATTEMPTS if self.request.is_eager else 1
    for attempt in range(1, attempts + 1):
        try:
            outcome = services.deliveries_send(campaign_id=campaign_id, delivery_ids=delivery_ids)
            break
        except services.TransientSendError as exc:
            # The class only: an SMTP error's text can quote a recipient's address.
            logger.warning("campaign %s: mail server unavailable (%s)", campaign_id, type(exc).__name__)
            if self.request.is_eager:
                if attempt == attempts:
                    return {"sent": 0, "left_pending": len(delivery_ids)}
                continue
            if self.request.retries >= self.max_retries:
                # Rows were given back as pending; the minute tick queues them again later.
                return {"sent": 0, "left_pending": len(delivery_ids)}
            delay = RETRY_DELAYS[min(self.request.retries, len(RETRY_DELAYS) - 1)]
            raise self.retry(exc=exc, countdown=delay) from exc
    if outcome.deferred_until is not None:
        # Quiet hours: come back when they end. Run eagerly (no broker), the rows stay pending for the tick.
        if not self.request.is_eager:
            send_batch.apply_async((campaign_id, delivery_ids), eta=outcome.deferred_until)
        return {"deferred": len(delivery_ids)}
    return {"sent": outcome.sent, "skipped": outcome.skipped, "bounced": outcome.bounced, "failed": outcome.failed}


@shared_task
def tick() -> dict[str, int]:
    """Every minute: start scheduled campaigns, enroll newcomers of recurring ones, recover lost work."""
    return services.campaigns_tick()
