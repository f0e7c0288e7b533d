"""Worker heartbeats in Redis, so the web's readiness probe can tell how long ago a worker was alive.

Each worker writes ``{hostname: unix time}`` into one Redis hash on the broker's database when it becomes
ready and then every ``CUSTOPS_WORKER_HEARTBEAT_WRITE_SECONDS`` (from Celery's own 2-second heartbeat), and
removes its entry when it shuts down cleanly. Entries older than a day are pruned.
"""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings

HEARTBEAT_KEY = "custops:worker-heartbeats"
_PRUNE_AFTER_SECONDS = 24 * 60 * 60


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def broker_client() -> redis.Redis | None:
    """A Redis client on the Celery broker's database, or None when tasks run without Redis (eagerly)."""
    if not settings.REDIS_URL:
        return None
    return _client(settings.CELERY_BROKER_URL)


def heartbeat_record(*, worker: str, now: float | None = None) -> None:
    client = broker_client()
    if client is None:
        return
    now = time.time() if now is None else now
    client.hset(HEARTBEAT_KEY, worker, f"{now:.3f}")
    stale = [name for name, at in client.hgetall(HEARTBEAT_KEY).items() if now - float(at) > _PRUNE_AFTER_SECONDS]
    if stale:
        client.hdel(HEARTBEAT_KEY, *stale)


def heartbeat_forget(*, worker: str) -> None:
    client = broker_client()
    if client is not None:
        client.hdel(HEARTBEAT_KEY, worker)


def heartbeat_ages(*, now: float | None = None) -> list[float]:
    """Seconds since each known worker's last heartbeat, newest first (empty when none was ever recorded)."""
    client = broker_client()
    if client is None:
        return []
    now = time.time() if now is None else now
    return sorted(max(0.0, now - float(at)) for at in client.hgetall(HEARTBEAT_KEY).values())
