"""Every response carries the Content-Security-Policy and the other protective headers, signed in or not."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

STRICT_POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
}


def _directives(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    "url_name",
    ["home", "crm:customer-list", "reporting:kpi-overview", "accounts:organization-settings", "api-docs"],
)
def test_pages_carry_the_strict_policy_and_the_protective_headers(admin_client, url_name):
    response = admin_client.get(reverse(url_name))

    assert response.status_code == 200
    assert _directives(response) >= STRICT_POLICY
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]


def test_the_login_page_and_the_api_carry_the_policy_too(client, api_key_client, org):
    assert _directives(client.get(reverse("accounts:login"))) >= STRICT_POLICY
    assert _directives(api_key_client(org).get("/api/v1/customers/")) >= STRICT_POLICY


def test_session_and_csrf_cookies_are_out_of_scripts_reach_and_stay_home(client, admin_user):
    response = client.post(reverse("accounts:login"), {"username": admin_user.email, "password": TEST_PASSWORD})

    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert int(session["max-age"]) == settings.SESSION_COOKIE_AGE == 12 * 60 * 60
    csrf = Client().get(reverse("accounts:login")).cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def test_password_validation_asks_for_twelve_characters_and_the_standard_checks():
    names = [validator["NAME"].rsplit(".", 1)[1] for validator in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    assert settings.AUTH_PASSWORD_VALIDATORS[1]["OPTIONS"]["min_length"] == 12
