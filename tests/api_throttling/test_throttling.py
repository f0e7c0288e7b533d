"""Rate limits per API key and per person: headers, 429, windows, separation, shared counters (config/api/throttling.py)."""

from __future__ import annotations

import random

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

from accounts.models import ApiKey, IdempotencyKey, Role
from config.api import throttling
from config.api.throttling import Rate, parse_rate

URL = "/api/v1/customers/"


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """A window of our own: counters left in a shared Redis by earlier runs (same ids) never collide."""

    class Clock:
        now = float(random.randrange(10**9, 2 * 10**9) * 3600 + 5)

        def advance(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(throttling, "_now", lambda: clock.now)
    return clock


@pytest.fixture
def tiny(settings):
    settings.CUSTOPS_API_RATE_PER_KEY = "3/min"
    settings.CUSTOPS_API_RATE_PER_USER = "2/min"
    return settings


def test_parse_rate():
    assert parse_rate("1200/min") == Rate(1200, 60)
    assert parse_rate("20/s") == Rate(20, 1)
    assert parse_rate("100/10s") == Rate(100, 10)
    assert parse_rate("5000/day") == Rate(5000, 86400)
    assert parse_rate("600/minute") == Rate(600, 60)
    assert parse_rate("50/hours") == Rate(50, 3600)
    assert parse_rate("off") is None and parse_rate("") is None
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_every_response_tells_the_limit_what_is_left_and_when_it_resets(org, write_api, tiny, clock):
    response = write_api.get(URL)

    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "2"
    assert response["X-RateLimit-Reset"] == "55"  # seconds until the minute ends (the clock is at :05)
    write_api.get(URL)
    error = write_api.post(URL, {"email": "bad"}, format="json")
    assert error.status_code == 400 and error["X-RateLimit-Remaining"] == "0"


def test_over_the_limit_is_a_429_with_retry_after_until_the_window_ends(org, write_api, tiny, clock):
    for _ in range(3):
        assert write_api.get(URL).status_code == 200

    refused = write_api.get(URL)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "55"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert set(refused.json()) == {"detail", "errors"}
    clock.advance(54)
    assert write_api.get(URL).status_code == 429
    clock.advance(1)
    assert write_api.get(URL).status_code == 200


def test_keys_and_people_have_separate_allowances(org, write_api, api_key_client, session_api, member_factory, tiny):
    person = session_api(member_factory(org, Role.OPS))
    other_key = api_key_client(org)

    assert [person.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    assert person.get(URL)["X-RateLimit-Limit"] == "2"
    assert [write_api.get(URL).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert other_key.get(URL).status_code == 200
    colleague = session_api(member_factory(org, Role.OPS))
    assert colleague.get(URL).status_code == 200


def test_the_count_is_shared_by_every_client_of_the_same_key(org, tiny):
    from accounts.services import api_key_create

    _, plaintext = api_key_create(org=org, name="shared", scopes=["read"])
    first, second = APIClient(), APIClient()
    for client in (first, second):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    statuses = [client.get(URL).status_code for client in (first, second, first, second)]

    assert statuses == [200, 200, 200, 429]


def test_with_redis_the_counter_lives_in_redis_for_every_worker(org, write_api, tiny, clock):
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("only with REDIS_URL: the counter lives in Redis")
    write_api.get(URL)
    write_api.get(URL)

    import redis
    from django.conf import settings

    window = int(clock.now // 60)
    key_id = ApiKey.objects.for_org(org).get().pk
    raw = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])  # what another worker would read
    assert raw.get(cache.make_key(f"ratelimit:key:{key_id}:60:{window}")) == b"2"


def test_a_refused_write_takes_no_idempotency_key(org, write_api, tiny):
    for _ in range(3):
        write_api.get(URL)

    refused = write_api.post(URL, {"name": "Ada"}, format="json", headers={"Idempotency-Key": "k"})

    assert refused.status_code == 429
    assert not IdempotencyKey.objects.exists()


def test_a_replay_counts_and_carries_the_headers(org, write_api, tiny):
    write_api.post(URL, {"name": "Ada"}, format="json", headers={"Idempotency-Key": "k"})
    replay = write_api.post(URL, {"name": "Ada"}, format="json", headers={"Idempotency-Key": "k"})

    assert replay["Idempotent-Replayed"] == "true"
    assert replay["X-RateLimit-Remaining"] == "1"


def test_off_disables_the_limit(org, write_api, settings):
    settings.CUSTOPS_API_RATE_PER_KEY = "off"
    response = write_api.get(URL)
    assert response.status_code == 200
    assert not response.has_header("X-RateLimit-Limit")


def test_an_unreachable_cache_lets_requests_through(org, write_api, tiny, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(throttling.cache, "incr", down)
    monkeypatch.setattr(throttling.cache, "add", down)
    assert [write_api.get(URL).status_code for _ in range(5)] == [200] * 5
