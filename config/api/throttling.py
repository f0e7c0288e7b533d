"""Rate limits per API key and per signed-in person, shared by every web worker through Django's cache.

Fixed windows counted with ``cache.incr`` (an atomic INCR in Redis) replace DRF's ``SimpleRateThrottle``,
which reads a list of timestamps, appends and writes it back: two workers doing that at once both see room
and one request is lost from the count, and the list costs O(limit) per request. A fixed window needs one
counter per client, gives exact ``X-RateLimit-Remaining`` and a ``X-RateLimit-Reset`` that does not move;
its known cost is that a client may spend one window's allowance at its end and the next one's at the start.

Windows are aligned to the Unix epoch (a "1200/min" window is a calendar minute, the same in every worker).
Requests refused with 429 count too, which does not lengthen the wait: the window ends when it ends.

Rates come from settings at each request (``CUSTOPS_API_RATE_PER_KEY``, ``CUSTOPS_API_RATE_PER_USER``,
``"<count>/<period>"`` with period s, min, h or day, optionally ``"100/10s"``; empty or "off" disables), so
``override_settings`` works. If the cache is unreachable the request is let through without headers: a
Redis outage must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey
from config.api.idempotency import THROTTLED_ATTRIBUTE

logger = logging.getLogger(__name__)

LIMIT_HEADER = "X-RateLimit-Limit"
REMAINING_HEADER = "X-RateLimit-Remaining"
RESET_HEADER = "X-RateLimit-Reset"
CACHE_PREFIX = "ratelimit"

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_PERIODS |= {"d": 86400, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


def parse_rate(text: str | None) -> Rate | None:
    """``"1200/min"`` → Rate(1200, 60); ``"100/10s"`` → Rate(100, 10); empty, "off" or "none" → None."""
    if text is None or text.strip().lower() in {"", "off", "none"}:
        return None
    match = _RATE.fullmatch(text)
    unit = match and (_PERIODS.get(match[3].lower()) or _PERIODS.get(match[3].lower().rstrip("s")))
    if not match or not unit:
        raise ValueError(f"Rate {text!r}: write '<count>/<period>', e.g. '1200/min', '20/s', '100/10s', '5000/day'.")
    return Rate(limit=int(match[1]), period=int(match[2] or 1) * unit)


def _now() -> float:
    return time.time()


def _increment(key: str, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)


class FixedWindowRateThrottle(BaseThrottle):
    """One counter per client and window in the cache; subclasses say who the client is and which rate applies."""

    scope: str = ""
    rate_setting: str = ""

    def __init__(self) -> None:
        self._wait: int | None = None

    def client_id(self, request) -> str | None:  # None: this throttle does not apply to the request
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        client = self.client_id(request)
        if client is None:
            return True
        rate = parse_rate(getattr(settings, self.rate_setting, None))
        if rate is None:
            return True
        now = _now()
        window = int(now // rate.period)
        reset = max(1, math.ceil((window + 1) * rate.period - now))
        key = f"{CACHE_PREFIX}:{self.scope}:{client}:{rate.period}:{window}"
        try:
            count = _increment(key, timeout=rate.period + 60)
        except Exception:
            logger.warning("rate limit counter unavailable; letting the request through", exc_info=True)
            return True
        headers = getattr(view, "headers", None)
        if isinstance(headers, dict):
            headers[LIMIT_HEADER] = str(rate.limit)
            headers[REMAINING_HEADER] = str(max(0, rate.limit - count))
            headers[RESET_HEADER] = str(reset)
        if count > rate.limit:
            self._wait = reset
            setattr(request._request, THROTTLED_ATTRIBUTE, True)
            return False
        return True

    def wait(self) -> int | None:
        return self._wait


class ApiKeyRateThrottle(FixedWindowRateThrottle):
    """``CUSTOPS_API_RATE_PER_KEY`` for each API key (each integration has its own allowance)."""

    scope = "key"
    rate_setting = "CUSTOPS_API_RATE_PER_KEY"

    def client_id(self, request) -> str | None:
        return str(request.auth.pk) if isinstance(request.auth, ApiKey) else None


class UserRateThrottle(FixedWindowRateThrottle):
    """``CUSTOPS_API_RATE_PER_USER`` for each signed-in person, across all their organizations and tabs."""

    scope = "user"
    rate_setting = "CUSTOPS_API_RATE_PER_USER"

    def client_id(self, request) -> str | None:
        if isinstance(request.auth, ApiKey):
            return None
        user = request.user
        if user is None or not user.is_authenticated or user.pk is None:
            return None
        return str(user.pk)
