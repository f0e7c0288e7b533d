"""The address a request came from, as far as this deployment's reverse proxies can vouch for it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or with ``CUSTOPS_TRUSTED_PROXY_COUNT`` proxies in front, the address the outermost one saw.

    Each trusted proxy appends the address it received the request from to X-Forwarded-For, so the client's
    address is the entry that many places from the right. Entries further left were written by the client
    itself and prove nothing; a header shorter than expected means the request bypassed a proxy, and then only
    REMOTE_ADDR is certain.
    """
    proxies = settings.CUSTOPS_TRUSTED_PROXY_COUNT
    remote_addr = request.META.get("REMOTE_ADDR")
    if proxies <= 0:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote_addr
    return forwarded[-proxies]
