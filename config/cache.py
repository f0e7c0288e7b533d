"""Django's Redis cache, made to ride out a Redis outage: reads miss and writes are dropped, with a warning.

Nothing custops keeps in the cache is the only copy of anything: home-page counts are recomputed, import
progress is a courtesy (the job row is the truth), rate-limit windows fail open (config/api/throttling.py).
So while Redis is down or restarting, pages and the API keep answering from PostgreSQL instead of failing
with the cache. The health probe still reports the outage: it checks Redis itself.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
#: At most one warning per this many seconds and process, so an outage does not flood the log.
WARN_EVERY_SECONDS = 30.0


class OutageTolerantRedisCache(RedisCache):
    """``add`` and ``incr`` still raise: their callers count with them and decide what an outage means."""

    _last_warning = 0.0

    def _outage(self, operation: str) -> None:
        now = time.monotonic()
        if now - OutageTolerantRedisCache._last_warning >= WARN_EVERY_SECONDS:
            OutageTolerantRedisCache._last_warning = now
            logger.warning("cache unavailable (Redis unreachable); %s skipped", operation, exc_info=True)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except REDIS_DOWN:
            self._outage("get")
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict:
        try:
            return super().get_many(keys, version)
        except REDIS_DOWN:
            self._outage("get_many")
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except REDIS_DOWN:
            self._outage("has_key")
            return False

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except REDIS_DOWN:
            self._outage("set")

    def set_many(self, data: dict, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list:
        try:
            return super().set_many(data, timeout, version)
        except REDIS_DOWN:
            self._outage("set_many")
            return list(data)

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except REDIS_DOWN:
            self._outage("delete")
            return False

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except REDIS_DOWN:
            self._outage("delete_many")
