"""Idempotency keys: a write retried with the same ``Idempotency-Key`` runs once and gets the same answer.

An integration that lost the answer to a write (timeout, dropped connection) cannot know whether it happened.
With the header it can send the same request again: the first answer is replayed instead of, say, creating
a second order. The key is honoured on every unsafe method (POST, PUT, PATCH, DELETE) of every API view:
a retried DELETE then answers 204 again instead of a confusing 404, and a retried PATCH does not log and
notify the same change twice.

Two halves, because DRF has no single hook around a view:

- ``IdempotencyGate`` sits in ``DEFAULT_THROTTLE_CLASSES`` after the rate limits. Throttles are the last step
  of ``APIView.initial()``: authentication, permissions and the rate limit have all passed, so the credential
  is the one DRF itself resolved (an API key or the signed-in user) and a refused request never takes a key.
  It claims the key by inserting a row (the unique constraint is the lock, so two concurrent requests can
  never both run the view) or, when the key is known, answers in place of the view (replay, 409, 400) by
  swapping the view's handler for that one request. It never refuses as a throttle would.
- ``IdempotencyMiddleware`` sees the rendered response and stores it on the claimed row, or deletes the
  claim when the answer must not be replayed (5xx, 401, 403, 409, 429, streamed bodies), so the key can be
  retried.

Answers that carry a secret shown once (the signing ``secret`` of a new webhook endpoint) must not sit in the
key table for 24 hours nor be handed to whoever replays the key. A view opts out with
``idempotency_store_response = False`` (a class attribute, or a property that looks at ``self.action``): the
key is still claimed, so a concurrent or later duplicate never runs the view twice, but only the fact that it
succeeded is kept, and a replay answers 409 "the answer of this request cannot be replayed; fetch the resource".

A worker killed between the view's write and storing the answer leaves the claim "in progress"; after
``CUSTOPS_IDEMPOTENCY_LEASE_SECONDS`` (longer than any request may run) a retry takes the claim over and runs
the view again. That window is the one case where a retry can repeat a write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey, IdempotencyKey, IdempotencyKeyState
from accounts.permissions import organization_for_api_request

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Methods whose requests honour the header; on GET, HEAD and OPTIONS it is ignored.
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: 1 to 255 visible ASCII characters (no spaces): UUIDs, ULIDs, "order-1234-attempt" all fit.
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
#: Headers kept with the answer and sent again on a replay (the rest are recomputed per response).
STORED_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified", "Content-Language")
#: Answers that say nothing about the request itself (who asks, when, a collision with another write):
#: not stored, so the same key may be retried once the cause is gone. 5xx are never stored either.
NOT_STORED_STATUSES = frozenset({401, 403, 409, 429})
MIDDLEWARE_PATH = "config.api.idempotency.IdempotencyMiddleware"
#: Stored in ``response_headers`` instead of the answer of a view with ``idempotency_store_response = False``.
NOT_REPLAYABLE_MARKER = "x-custops-not-replayable"
_CLAIM_ATTRIBUTE = "_idempotency_claim"
_MIDDLEWARE_ATTRIBUTE = "_idempotency_middleware"
#: Set on the Django request by the rate throttles when they refuse it: the 429 wins, no key is taken.
THROTTLED_ATTRIBUTE = "_api_throttled"


def key_ttl() -> timedelta:
    return timedelta(hours=settings.CUSTOPS_IDEMPOTENCY_TTL_HOURS)


def claim_lease() -> timedelta:
    return timedelta(seconds=settings.CUSTOPS_IDEMPOTENCY_LEASE_SECONDS)


class Outcome(Enum):
    CLAIMED = "claimed"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Claim:
    """The row this request took, identified with the claim time so a later take-over is never overwritten."""

    pk: int
    claimed_at: datetime
    #: False when the view's answer must not be stored (it carries a secret): see the module docstring.
    store_body: bool = True


def credential_for(request) -> str | None:
    """``key:<id>`` for an API key, ``user:<id>`` for a signed-in person; keys of one never match the other's."""
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    user = request.user
    if user is not None and user.is_authenticated and user.pk is not None:
        return f"user:{user.pk}"
    return None


def request_fingerprint(request) -> str:
    """SHA-256 of method, full path (with query) and the body as parsed.

    Hashing the parsed body rather than its bytes makes the same JSON with other spacing or key order the same
    request, and a re-sent multipart upload (a new random boundary each time) too; files count by content.
    """
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    data = request.data
    if isinstance(data, QueryDict):
        data = {
            name: [_file_marker(v) if isinstance(v, UploadedFile) else v for v in data.getlist(name)] for name in data
        }
    digest.update(json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode())
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest.update(f"\0file:{name}:{upload.name}:{upload.size}\0".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def _file_marker(upload: UploadedFile) -> str:
    return f"<file {upload.name}>"


def claim_key(*, organization, credential: str, key: str, fingerprint: str, method: str, path: str):
    """Take the key for this request, or say why not. Returns ``(Outcome, IdempotencyKey | None)``.

    The INSERT is the lock: PostgreSQL makes a concurrent INSERT of the same (organization, credential, key)
    wait for the first and then fail, so exactly one request gets ``CLAIMED``. Expired keys and claims whose
    lease ran out are taken over with a compare-and-swap on ``claimed_at``, again by one request only.
    """
    fields = {"fingerprint": fingerprint, "method": method, "path": path[:2000]}
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    organization=organization, credential=credential, key=key, created_at=now, claimed_at=now, **fields
                )
            return Outcome.CLAIMED, row
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.for_org(organization).filter(credential=credential, key=key).first()
        if row is None:
            continue  # purged between our INSERT and SELECT: try the INSERT again
        expired = row.created_at <= now - key_ttl()
        if not expired and row.fingerprint != fingerprint:
            return Outcome.MISMATCH, row
        abandoned = row.state == IdempotencyKeyState.IN_PROGRESS and row.claimed_at <= now - claim_lease()
        if not expired and not abandoned:
            return (Outcome.IN_PROGRESS if row.state == IdempotencyKeyState.IN_PROGRESS else Outcome.REPLAY), row
        reset = {
            **fields,
            "state": IdempotencyKeyState.IN_PROGRESS,
            "claimed_at": now,
            "created_at": now if expired else row.created_at,
            "response_status": None,
            "response_headers": {},
            "response_body": b"",
        }
        taken = IdempotencyKey.objects.filter(pk=row.pk, claimed_at=row.claimed_at, state=row.state).update(**reset)
        if taken:
            for name, value in reset.items():
                setattr(row, name, value)
            return Outcome.CLAIMED, row
        return Outcome.IN_PROGRESS, row
    return Outcome.IN_PROGRESS, None


def store_response(claim: Claim, response: HttpResponseBase) -> bool:
    """Keep the answer for replays, or free the key when it must not be replayed. True when stored."""
    mine = IdempotencyKey.objects.filter(pk=claim.pk, claimed_at=claim.claimed_at)
    code = response.status_code
    if code >= 500 or code in NOT_STORED_STATUSES or response.streaming:
        mine.delete()
        return False
    if not claim.store_body:
        updated = mine.update(
            state=IdempotencyKeyState.DONE,
            response_status=code,
            response_headers={NOT_REPLAYABLE_MARKER: "true"},
            response_body=b"",
        )
        return bool(updated)
    headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
    updated = mine.update(
        state=IdempotencyKeyState.DONE,
        response_status=code,
        response_headers=headers,
        response_body=bytes(response.content),
    )
    return bool(updated)


def replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(row.response_body), status=row.response_status)
    for name, value in row.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def purge_expired_keys(*, batch_size: int = 5000) -> int:
    """Delete keys older than the TTL (the beat task runs this); they are ignored when found anyway."""
    cutoff = timezone.now() - key_ttl()
    deleted = 0
    while True:
        ids = list(IdempotencyKey.objects.filter(created_at__lte=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids, created_at__lte=cutoff).delete()[0]


def _error(detail: str, message: str, code: int, headers: dict | None = None) -> Response:
    return Response({"detail": detail, "errors": {HEADER: [message]}}, status=code, headers=headers)


def _answer_instead_of_view(view, request, response: HttpResponseBase) -> None:
    """Make ``dispatch`` call a function that returns ``response`` instead of the view's handler.

    The response still goes through ``finalize_response`` (renderer, Vary, rate-limit headers) like any other.
    """
    setattr(view, request.method.lower(), lambda *args, **kwargs: response)


class IdempotencyGate(BaseThrottle):
    """Claims, replays or refuses an ``Idempotency-Key`` right before the view runs (see the module docstring).

    Listed in ``DEFAULT_THROTTLE_CLASSES`` only because that is the last hook of ``APIView.initial()``; it
    always allows the request. A view that sets its own ``throttle_classes`` must keep it (a test checks that
    every API route has it).
    """

    def allow_request(self, request, view) -> bool:
        raw = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if raw is None or request.method not in IDEMPOTENT_METHODS:
            return True
        django_request: HttpRequest = request._request
        if getattr(django_request, THROTTLED_ATTRIBUTE, False) or not hasattr(view, request.method.lower()):
            return True  # the 429 (or 405) comes next; nothing runs, nothing to claim
        if not KEY_PATTERN.fullmatch(raw):
            message = _("Send 1 to 255 visible ASCII characters (no spaces), e.g. a UUID.")
            _answer_instead_of_view(
                view,
                request,
                Response(
                    {"detail": _("Invalid input: %(fields)s.") % {"fields": HEADER}, "errors": {HEADER: [message]}},
                    status=status.HTTP_400_BAD_REQUEST,
                ),
            )
            return True
        organization = organization_for_api_request(request)
        credential = credential_for(request)
        if organization is None or credential is None:
            return True
        if not getattr(django_request, _MIDDLEWARE_ATTRIBUTE, False):
            raise ImproperlyConfigured(f"Add {MIDDLEWARE_PATH} to MIDDLEWARE: without it keys are never released.")
        outcome, row = claim_key(
            organization=organization,
            credential=credential,
            key=raw,
            fingerprint=request_fingerprint(request),
            method=request.method,
            path=request.get_full_path(),
        )
        if outcome is Outcome.CLAIMED:
            store_body = bool(getattr(view, "idempotency_store_response", True))
            setattr(
                django_request, _CLAIM_ATTRIBUTE, Claim(pk=row.pk, claimed_at=row.claimed_at, store_body=store_body)
            )
        elif outcome is Outcome.REPLAY and row.response_headers.get(NOT_REPLAYABLE_MARKER):
            _answer_instead_of_view(
                view,
                request,
                _error(
                    _("The answer of this request cannot be replayed; fetch the resource."),
                    _(
                        "The request with this key succeeded, but its answer carried a secret that is shown "
                        "only once and is not kept; list the resource to find what it created."
                    ),
                    status.HTTP_409_CONFLICT,
                ),
            )
        elif outcome is Outcome.REPLAY:
            _answer_instead_of_view(view, request, replay(row))
        elif outcome is Outcome.MISMATCH:
            _answer_instead_of_view(
                view,
                request,
                _error(
                    _("This Idempotency-Key was already used for a different request."),
                    _(
                        "Within 24 hours a key may only be sent again with the same method, path and body; "
                        "use a new key for a new request."
                    ),
                    status.HTTP_409_CONFLICT,
                ),
            )
        else:
            _answer_instead_of_view(
                view,
                request,
                _error(
                    _("A request with this key is in progress; retry."),
                    _("The first request with this key has not finished yet."),
                    status.HTTP_409_CONFLICT,
                    headers={"Retry-After": "1"},
                ),
            )
        return True

    def wait(self) -> None:
        return None


class IdempotencyMiddleware:
    """Stores the answer of a request that claimed a key, or frees the key (see ``store_response``).

    It must be in ``MIDDLEWARE`` (the gate refuses to claim without it) and sees the response after rendering,
    including the 500 Django makes of an exception, so a crashed request always frees its key.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        setattr(request, _MIDDLEWARE_ATTRIBUTE, True)
        response = self.get_response(request)
        claim = request.__dict__.pop(_CLAIM_ATTRIBUTE, None)
        if claim is not None:
            try:
                store_response(claim, response)
            except Exception:
                # The view's work is done and its answer is on its way; a key we could not store stays claimed
                # until its lease ends, which makes retries wait rather than repeat the write.
                logger.exception("could not store the response for idempotency key row %s", claim.pk)
        return response
