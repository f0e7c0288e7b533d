"""The Redis cache rides out an outage: a refused or silent Redis costs a request a second at most, then nothing.

Real sockets, no mocks: a port nobody listens on (refused at once) and a listener that accepts connections and
never answers (the silent host of a network partition).
"""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache.backends.redis import RedisCache

from config import cache as tolerant
from config.cache import OutageTolerantRedisCache


@pytest.fixture(autouse=True)
def _fresh_skip_window():
    tolerant.OutageTolerantRedisCache._skip_until = 0.0
    yield
    tolerant.OutageTolerantRedisCache._skip_until = 0.0


def _cache(port: int) -> OutageTolerantRedisCache:
    return OutageTolerantRedisCache(
        f"redis://127.0.0.1:{port}/0", {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    )


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


def test_a_refused_redis_reads_as_a_miss_and_writes_are_dropped():
    cache = _cache(_refused_port())

    assert cache.get("key", "fallback") == "fallback"
    cache.set("key", "value")
    assert cache.get_many(["a", "b"]) == {}
    assert cache.delete("key") is False
    assert cache.reachable() is False
    with pytest.raises(tolerant.REDIS_DOWN):
        cache.incr("counter")  # counters raise: their callers decide (rate limits fail open)


def test_a_silent_redis_costs_one_timeout_then_is_skipped_for_a_while():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts into the backlog, never answers
    try:
        cache = _cache(listener.getsockname()[1])
        started = time.monotonic()
        assert cache.get("key") is None
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(6):  # a page's worth of cache calls
            cache.set("key", "value")
            assert cache.get("key") is None
        rest = time.monotonic() - started
    finally:
        listener.close()
    assert 0.5 < first < 3  # the socket timeout, once
    assert rest < 0.1  # then skipped without trying


def test_the_local_memory_cache_is_always_reachable(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert tolerant.cache_reachable() is True
    assert issubclass(OutageTolerantRedisCache, RedisCache)
