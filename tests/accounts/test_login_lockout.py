"""Sign-in lockout (django-axes): repeated failures for one e-mail address from one client address are refused
for a while, on the login page and with the reason; the organization's audit log records it."""

from __future__ import annotations

import datetime
import logging

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from django.urls import reverse

from accounts.client_address import client_ip_address
from accounts.models import AuditLog
from accounts.services import LOGIN_LOCKED_OUT
from tests.factories import TEST_PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"


def _login(client, email: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=address)


def _fail(client, email: str, times: int, address: str = "203.0.113.7"):
    return [_login(client, email, WRONG, address) for _ in range(times)]


def test_the_failure_that_reaches_the_limit_shows_the_login_page_with_the_lockout_message(client, ops_user):
    *earlier, last = _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT)

    assert all(response.status_code == 200 for response in earlier)
    assert last.status_code == 429
    assert "accounts/login.html" in [template.name for template in last.templates]
    page = last.content.decode()
    assert 'id="lockout-message"' in page and "Too many failed sign-ins" in page
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"{minutes} minutes" in page
    assert 'id="login-form"' in page and ops_user.email in page


def test_a_locked_out_person_is_refused_even_with_the_right_password(client, ops_user):
    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT)

    response = _login(client, ops_user.email, TEST_PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_holds_only_for_that_address_and_that_e_mail(client, ops_user, member_factory, org):
    colleague = member_factory(org)
    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT)

    assert _login(client, ops_user.email, TEST_PASSWORD, address="198.51.100.20").status_code == 302
    client.post(reverse("accounts:logout"))
    assert _login(client, colleague.email, TEST_PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client, ops_user):
    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT - 1)
    assert _login(client, ops_user.email, TEST_PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))

    responses = _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT - 1)

    assert [response.status_code for response in responses] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert _login(client, ops_user.email, TEST_PASSWORD).status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, ops_user):
    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT)
    AccessAttempt.objects.update(
        attempt_time=datetime.datetime.now(datetime.UTC) - settings.AXES_COOLOFF_TIME - datetime.timedelta(seconds=1)
    )

    assert _login(client, ops_user.email, TEST_PASSWORD).status_code == 302


def test_attempts_during_the_lock_do_not_extend_it(client, ops_user):
    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT)
    locked_at = AccessAttempt.objects.get().attempt_time

    _fail(client, ops_user.email, 2)

    assert AccessAttempt.objects.get().attempt_time == locked_at


def test_the_unlock_command_lets_the_person_in_again(client, ops_user):
    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT)

    call_command("axes_reset_username", ops_user.email)

    assert _login(client, ops_user.email, TEST_PASSWORD).status_code == 302


def test_a_lockout_is_audited_once_in_every_organization_of_the_person(client, ops_user, org, other_org):
    MembershipFactory(user=ops_user, organization=other_org)

    _fail(client, ops_user.email, settings.AXES_FAILURE_LIMIT + 2)

    entries = AuditLog.objects.filter(action=LOGIN_LOCKED_OUT)
    assert sorted(entries.values_list("organization__slug", flat=True)) == sorted([org.slug, other_org.slug])
    entry = entries.first()
    assert entry.object_type == "user" and entry.object_id == str(ops_user.pk)
    assert entry.after["ip_address"] == "203.0.113.7" and entry.after["email"] == ops_user.email
    assert WRONG not in str(entry.after) and entry.actor_user is None


def test_a_lockout_of_an_unknown_address_is_logged_without_the_password(client, caplog, org):
    with caplog.at_level(logging.WARNING, logger="accounts.services"):
        _fail(client, "nobody@example.com", settings.AXES_FAILURE_LIMIT)

    assert not AuditLog.objects.filter(action=LOGIN_LOCKED_OUT).exists()
    lines = [record.getMessage() for record in caplog.records if record.name == "accounts.services"]
    assert any("nobody@example.com" in line and "203.0.113.7" in line for line in lines), lines
    assert all(WRONG not in record.getMessage() for record in caplog.records)


def test_failed_attempts_keep_neither_the_password_nor_the_csrf_token(client, ops_user):
    token = "a-csrf-token-value-0123456789"
    client.post(
        reverse("accounts:login"),
        {"username": ops_user.email, "password": WRONG, "csrfmiddlewaretoken": token},
        REMOTE_ADDR="203.0.113.7",
    )

    attempt = AccessAttempt.objects.get()
    assert "password=" in attempt.post_data and "csrfmiddlewaretoken=" in attempt.post_data
    assert WRONG not in attempt.post_data and token not in attempt.post_data


def test_the_client_address_is_remote_addr_without_trusted_proxies():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6")

    assert client_ip_address(request) == "10.0.0.5"


@override_settings(CUSTOPS_TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_client_address_is_the_one_the_proxy_appended():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")

    assert client_ip_address(request) == "203.0.113.9"


@override_settings(CUSTOPS_TRUSTED_PROXY_COUNT=2)
def test_a_forwarded_header_shorter_than_the_proxy_chain_is_not_believed():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert client_ip_address(request) == "10.0.0.5"
