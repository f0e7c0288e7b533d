"""E-mail leaves through a real SMTP conversation: a local aiosmtpd sink receives what Django's SMTP backend sends."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Role
from accounts.services import invitation_send, member_invite

pytestmark = pytest.mark.integration


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
