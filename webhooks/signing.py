"""The signature scheme of webhook requests, free of Django so receivers' code can be checked against it.

``Custops-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. Receivers recompute the
HMAC over the raw bytes they received, compare in constant time, and reject a ``t`` older than
``REPLAY_WINDOW_SECONDS`` (or that far in the future), so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_VERSION = "v1"
#: How old (in seconds) a signed timestamp may be before a receiver should refuse the request.
REPLAY_WINDOW_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SIGNATURE_VERSION}={signature(secret, timestamp, body)}"


#: Longest header a receiver should parse; a real one is about 80 characters.
MAX_HEADER_LENGTH = 1000
#: Digits of a Unix timestamp in seconds (good until the year 33658); more is not a timestamp.
MAX_TIMESTAMP_DIGITS = 12


def signature_verify(
    *, secret: str, header: str, body: bytes, now: float, tolerance: int = REPLAY_WINDOW_SECONDS
) -> bool:
    """What a receiver does: parse the header, check the age of ``t``, compare any ``v1`` in constant time.

    Any malformed header is a plain ``False``, never an exception: only ASCII, a bounded length, ``t`` made of at
    most ``MAX_TIMESTAMP_DIGITS`` ASCII digits (``str.isdigit`` alone accepts "²", which ``int`` refuses), and the
    signatures compared as bytes (``hmac.compare_digest`` raises on non-ASCII ``str``).
    """
    if not isinstance(header, str) or len(header) > MAX_HEADER_LENGTH or not header.isascii():
        return False
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value.strip() for key, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, value in parts if key.strip() == SIGNATURE_VERSION]
    if len(timestamps) != 1 or not candidates:
        return False
    raw = timestamps[0]
    if not raw or len(raw) > MAX_TIMESTAMP_DIGITS or not (raw.isascii() and raw.isdigit()):
        return False
    timestamp = int(raw)
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates)


def retry_delay_seconds(attempts: int, *, base: int, cap: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: base, 2×base, 4×base, … capped at ``cap``."""
    return min(cap, base * 2 ** max(0, attempts - 1))
