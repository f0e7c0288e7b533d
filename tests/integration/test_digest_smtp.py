"""The weekly digest leaves through a real SMTP conversation, as text and HTML, once per member and week."""

from __future__ import annotations

import datetime

import pytest

from accounts.models import Membership, Role
from reporting import digest, tasks
from reporting.models import Alert, AlertKind, KpiSnapshot

pytestmark = pytest.mark.integration

WEEK_START = datetime.date(2026, 11, 16)


@pytest.fixture
def opted_in_members(db, org, member_factory):
    users = [member_factory(org, role, email=f"{role}@example.com") for role in (Role.ADMIN, Role.VIEWER)]
    Membership.objects.filter(organization=org, user__in=users).update(weekly_digest=True)
    member_factory(org, Role.OPS, email="ops-not-opted-in@example.com")
    KpiSnapshot.objects.create(organization=org, day=datetime.date(2026, 11, 15), values={"revenue": 900.0})
    KpiSnapshot.objects.create(organization=org, day=datetime.date(2026, 11, 22), values={"revenue": 1200.0})
    Alert.objects.create(
        organization=org, kind=AlertKind.CAC_SPIKE, raised_on=datetime.date(2026, 11, 20), message="CAC up"
    )
    return users


def test_digest_task_reaches_the_smtp_server_as_text_and_html_once_per_member(org, opted_in_members, smtp_sink):
    sent = tasks.send_weekly_digest.delay(org.pk, WEEK_START.isoformat()).get()
    again = tasks.send_weekly_digest.delay(org.pk, WEEK_START.isoformat()).get()

    assert (sent, again) == (2, 0)
    assert sorted(rcpt for _sender, rcpts in smtp_sink.envelopes for rcpt in rcpts) == [
        "admin@example.com",
        "viewer@example.com",
    ]
    message = smtp_sink.messages[0]
    assert message.get_content_type() == "multipart/alternative"
    assert "weekly digest, week 2026-W47" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Revenue: 1,200.00 (+300.00)" in text
    assert "CAC up" in text and "CAC up" in html
    assert "<table" in html and "1,200.00" in html


def test_chinese_digest_survives_the_smtp_round_trip(org, opted_in_members, smtp_sink, monkeypatch):
    monkeypatch.setattr(digest, "digest_language", lambda *, user, org: "zh-hans")
    org.name = "上海零售"
    org.save()

    digest.digest_send(org=org, week_start=WEEK_START)

    message = smtp_sink.messages[0]
    assert "上海零售" in message["Subject"]
    assert "收入: 1,200.00" in message.get_body(("plain",)).get_content()
