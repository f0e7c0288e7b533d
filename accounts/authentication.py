"""Bearer API keys for the REST API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.services import api_key_authenticate


class ApiKeyPrincipal:
    """Stands in for ``request.user`` when a request is authenticated by an API key rather than a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.organization = api_key.organization

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <api key>``. Another scheme (or none) is left to the next authenticator.

    The scheme name is matched case-insensitively, as RFC 9110 §11.1 requires.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).decode("latin-1").split()
        if not parts or parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as 'Authorization: Bearer <api key>'."))
        key = api_key_authenticate(parts[1])
        if key is None:
            raise exceptions.AuthenticationFailed(_("The API key is unknown or has been revoked."))
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
