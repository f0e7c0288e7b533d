"""E-mail leaves through a real SMTP conversation: a local aiosmtpd sink receives what Django's SMTP backend sends."""

from __future__ import annotations

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from accounts.models import Role
from accounts.services import invitation_send, member_invite
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


class CollectingHandler:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink(settings):
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    yield handler
    controller.stop()


def test_password_reset_mail_reaches_the_smtp_server(client, ops_user, smtp_sink):
    response = client.post(reverse("accounts:password_reset"), {"email": ops_user.email})

    assert response.status_code == 302
    (message,) = smtp_sink.messages
    assert smtp_sink.envelopes[0][1] == [ops_user.email]
    assert "/accounts/reset/" in message.get_content()


def test_invitation_mail_reaches_the_smtp_server_with_a_working_link(client, org, smtp_sink):
    membership, _ = member_invite(org=org, email="invitee@example.com", role=Role.VIEWER)
    invitation_send(membership=membership, base_url="http://testserver")

    (message,) = smtp_sink.messages
    assert message["To"] == "invitee@example.com"
    assert org.name in message["Subject"]
    link = next(line for line in message.get_content().splitlines() if line.startswith("http://testserver/"))
    assert client.get(link.removeprefix("http://testserver"), follow=True).status_code == 200
