"""Django's Redis cache, made to ride out a Redis outage: reads miss and writes are dropped, with a warning.

Nothing custops keeps in the cache is the only copy of anything: home-page counts are recomputed, import
progress is a courtesy (the job row is the truth; on PostgreSQL the job's lock tells whether it is alive),
rate-limit windows fail open (config/api/throttling.py). So while Redis is down or restarting, pages and the API
keep answering from PostgreSQL instead of failing with the cache. The health probes still report the outage.

After a failure the cache stays "open" (skipped without a try) for ``SKIP_AFTER_FAILURE_SECONDS``: an unreachable
host costs each connection attempt its timeout, and a page does several cache calls.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

#: Redis unreachable, too slow, or a replica being promoted (read-only for a moment).
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
#: At most one warning per this many seconds and process, so an outage does not flood the log.
WARN_EVERY_SECONDS = 30.0
SKIP_AFTER_FAILURE_SECONDS = 5.0


class OutageTolerantRedisCache(RedisCache):
    """``add`` and ``incr`` still raise: their callers count with them and decide what an outage means."""

    _last_warning = 0.0
    _skip_until = 0.0

    def _skipping(self) -> bool:
        return time.monotonic() < OutageTolerantRedisCache._skip_until

    def _outage(self, operation: str) -> None:
        now = time.monotonic()
        OutageTolerantRedisCache._skip_until = now + SKIP_AFTER_FAILURE_SECONDS
        if now - OutageTolerantRedisCache._last_warning >= WARN_EVERY_SECONDS:
            OutageTolerantRedisCache._last_warning = now
            logger.warning("cache unavailable (Redis unreachable); %s skipped", operation, exc_info=True)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        if self._skipping():
            return default
        try:
            return super().get(key, default, version)
        except REDIS_DOWN:
            self._outage("get")
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict:
        if self._skipping():
            return {}
        try:
            return super().get_many(keys, version)
        except REDIS_DOWN:
            self._outage("get_many")
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        if self._skipping():
            return False
        try:
            return super().has_key(key, version)
        except REDIS_DOWN:
            self._outage("has_key")
            return False

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        if self._skipping():
            return
        try:
            super().set(key, value, timeout, version)
        except REDIS_DOWN:
            self._outage("set")

    def set_many(self, data: dict, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list:
        if self._skipping():
            return list(data)
        try:
            return super().set_many(data, timeout, version)
        except REDIS_DOWN:
            self._outage("set_many")
            return list(data)

    def delete(self, key: Any, version: int | None = None) -> bool:
        if self._skipping():
            return False
        try:
            return super().delete(key, version)
        except REDIS_DOWN:
            self._outage("delete")
            return False

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        if self._skipping():
            return
        try:
            super().delete_many(keys, version)
        except REDIS_DOWN:
            self._outage("delete_many")

    def reachable(self) -> bool:
        """Whether Redis answers a PING now (ignores and resets the skip window)."""
        try:
            self._cache.get_client(write=False).ping()
        except REDIS_DOWN:
            self._outage("ping")
            return False
        OutageTolerantRedisCache._skip_until = 0.0
        return True


def cache_reachable() -> bool:
    """Whether the default cache answers: a miss during a Redis outage is no answer to rely on. True for caches
    that cannot be unreachable (local memory)."""
    from django.core.cache import caches

    backend = caches["default"]
    return backend.reachable() if isinstance(backend, OutageTolerantRedisCache) else True
