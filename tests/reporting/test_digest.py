"""The weekly digest: opted-in members get last week's KPI tiles and open alerts once per week, in their language."""

from __future__ import annotations

import datetime
import smtplib

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from accounts.models import AuditLog, Membership, Role
from reporting import digest, tasks
from reporting.models import Alert, AlertKind, DigestDelivery, DigestStatus, KpiSnapshot

pytestmark = pytest.mark.django_db

#: Monday 2026-11-23; the digest sent that day reports the ISO week 2026-11-16 .. 2026-11-22 (week 47).
MONDAY = datetime.date(2026, 11, 23)
WEEK_START = datetime.date(2026, 11, 16)
WEEK_END = datetime.date(2026, 11, 22)


@pytest.fixture
def opted_in(org, member_factory):
    user = member_factory(org, Role.VIEWER, email="exec@example.com")
    Membership.objects.filter(user=user, organization=org).update(weekly_digest=True)
    return user


@pytest.fixture
def week_figures(org):
    KpiSnapshot.objects.create(
        organization=org,
        day=WEEK_END - datetime.timedelta(days=7),
        values={"revenue": 10000.0, "monthly_churn_rate": 0.08, "new_customers": 30, "nps": None},
    )
    KpiSnapshot.objects.create(
        organization=org,
        day=WEEK_END,
        values={"revenue": 12500.5, "monthly_churn_rate": 0.07, "new_customers": 42, "nps": 55.0},
    )
    Alert.objects.create(
        organization=org, kind=AlertKind.CAC_SPIKE, raised_on=WEEK_END, message="CAC of search rose 40%"
    )
    Alert.objects.create(
        organization=org,
        kind=AlertKind.MONTHLY_CHURN,
        raised_on=WEEK_END,
        message="Already handled",
        acknowledged_at=datetime.datetime(2026, 11, 22, tzinfo=datetime.UTC),
    )


def test_digest_reports_the_iso_week_before_the_one_it_is_sent_in():
    assert digest.digest_week_start(MONDAY) == WEEK_START
    assert digest.digest_week_start(MONDAY + datetime.timedelta(days=6)) == WEEK_START


def test_only_opted_in_members_get_the_digest_with_tiles_changes_and_open_alerts(
    org, opted_in, member_factory, week_figures
):
    member_factory(org, Role.ADMIN, email="not-opted-in@example.com")

    result = digest.digest_send(org=org, week_start=WEEK_START)

    assert result.sent == 1
    (message,) = mail.outbox
    assert message.to == ["exec@example.com"]
    assert message.subject == "[custops] Acme Retail: weekly digest, week 2026-W47"
    text = message.body
    assert "Revenue: 12,500.50 (+2,500.50)" in text
    assert "Monthly churn rate: 7.0% (-1.0 pp)" in text
    assert "New customers: 42 (+12)" in text
    assert "NPS: 55.0 (—)" in text
    assert "1 open alert" in text and "CAC of search rose 40%" in text
    assert "Already handled" not in text
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "12,500.50" in html and "CAC of search rose 40%" in html
    assert settings.CUSTOPS_PUBLIC_URL + reverse("reporting:kpi-overview") in text


def test_running_the_digest_twice_for_a_week_sends_once(org, opted_in, week_figures):
    digest.digest_send(org=org, week_start=WEEK_START)
    again = digest.digest_send(org=org, week_start=WEEK_START)

    assert len(mail.outbox) == 1
    assert (again.sent, again.already_sent) == (0, 1)
    delivery = DigestDelivery.objects.get(organization=org, user=opted_in, week_start=WEEK_START)
    assert delivery.status == DigestStatus.SENT and delivery.sent_at is not None


def test_force_sends_again(org, opted_in, week_figures):
    digest.digest_send(org=org, week_start=WEEK_START)
    digest.digest_send(org=org, week_start=WEEK_START, force=True)

    assert len(mail.outbox) == 2


def test_a_digest_another_worker_is_sending_is_not_sent_twice_until_its_claim_expires(org, opted_in, week_figures):
    now = datetime.datetime(2026, 11, 23, 8, 20, tzinfo=datetime.UTC)
    DigestDelivery.objects.create(
        organization=org, user=opted_in, week_start=WEEK_START, status=DigestStatus.SENDING, claimed_at=now
    )

    digest.digest_send(org=org, week_start=WEEK_START, now=now + datetime.timedelta(minutes=5))
    assert mail.outbox == []

    digest.digest_send(org=org, week_start=WEEK_START, now=now + digest.DIGEST_CLAIM_LEASE * 2)
    assert len(mail.outbox) == 1


def test_a_refused_message_is_marked_failed_raised_for_retry_and_sent_by_the_next_run(
    org, opted_in, week_figures, monkeypatch
):
    def refuse(self, fail_silently=False):
        raise smtplib.SMTPServerDisconnected("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(mail.EmailMultiAlternatives, "send", refuse)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            digest.digest_send(org=org, week_start=WEEK_START)
    delivery = DigestDelivery.objects.get(user=opted_in)
    assert delivery.status == DigestStatus.FAILED and "connection lost" in delivery.error

    assert digest.digest_send(org=org, week_start=WEEK_START).sent == 1
    assert len(mail.outbox) == 1


def test_digest_is_written_in_the_recipients_language(org, opted_in, week_figures, monkeypatch):
    """Neither User nor Organization stores a language yet: a ``language`` on the user is followed once it exists."""
    monkeypatch.setattr(digest, "digest_language", lambda *, user, org: "zh-hans")

    digest.digest_send(org=org, week_start=WEEK_START)

    (message,) = mail.outbox
    with translation.override("zh-hans"):
        revenue = translation.gettext("Revenue")
    assert revenue == "收入"
    assert f"{revenue}: 12,500.50" in message.body
    assert translation.get_language() == settings.LANGUAGE_CODE


def test_digest_language_falls_back_to_the_site_default(org, opted_in):
    assert digest.digest_language(user=opted_in, org=org) == settings.LANGUAGE_CODE
    opted_in.language = "zh-hans"
    assert digest.digest_language(user=opted_in, org=org) == "zh-hans"
    opted_in.language = "fr"
    assert digest.digest_language(user=opted_in, org=org) == settings.LANGUAGE_CODE


def test_digest_before_any_nightly_run_says_there_are_no_figures(org, opted_in):
    digest.digest_send(org=org, week_start=WEEK_START)

    assert "No figures yet" in mail.outbox[0].body


def test_an_org_is_due_on_monday_from_eight_in_its_own_time_zone(org, opted_in):
    org.time_zone = "Asia/Shanghai"
    org.save()
    sunday_late_utc = datetime.datetime(2026, 11, 22, 23, 30, tzinfo=datetime.UTC)  # Monday 07:30 in Shanghai
    monday_utc = datetime.datetime(2026, 11, 23, 0, 30, tzinfo=datetime.UTC)  # Monday 08:30 in Shanghai
    tuesday_utc = datetime.datetime(2026, 11, 23, 16, 30, tzinfo=datetime.UTC)  # Tuesday 00:30 in Shanghai

    assert digest.digest_organizations_due(now=sunday_late_utc) == []
    assert digest.digest_organizations_due(now=monday_utc) == [(org, WEEK_START)]
    assert digest.digest_organizations_due(now=tuesday_utc) == []


def test_an_org_without_opted_in_members_is_never_due(org, member_factory):
    member_factory(org, Role.ADMIN)

    assert digest.digest_organizations_due(now=datetime.datetime(2026, 11, 23, 9, tzinfo=datetime.UTC)) == []


def test_fanout_task_sends_each_due_org_once_even_when_beat_asks_again(org, opted_in, week_figures, monkeypatch):
    monday_nine = datetime.datetime(2026, 11, 23, 9, 20, tzinfo=datetime.UTC)
    monkeypatch.setattr(tasks.timezone, "now", lambda: monday_nine)

    assert tasks.weekly_digest_fanout() == [org.pk]
    assert tasks.weekly_digest_fanout() == [org.pk]

    assert len(mail.outbox) == 1
    assert "2026-11-16" in mail.outbox[0].body


def test_beat_schedules_the_digest_fanout_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["weekly-digest-fanout"]

    assert entry["task"] == "reporting.tasks.weekly_digest_fanout"
    assert entry["task"] in tasks.weekly_digest_fanout.app.tasks


def test_send_digest_command_sends_and_then_skips_unless_forced(org, opted_in, week_figures, capsys):
    call_command("send_digest", "--org", "acme", "--week", "2026-11-18")
    call_command("send_digest", "--org", "acme", "--week", "2026-11-18")
    call_command("send_digest", "--org", "acme", "--week", "2026-11-18", "--force")

    out = capsys.readouterr().out
    assert "acme: weekly digest for the week of 2026-11-16: sent 1, already sent earlier 0" in out
    assert "sent 0, already sent earlier 1 (use --force to send again)" in out
    assert len(mail.outbox) == 2


def test_send_digest_command_rejects_an_unknown_org_and_a_bad_week(org):
    with pytest.raises(CommandError, match="No organization with slug 'nope'"):
        call_command("send_digest", "--org", "nope")
    with pytest.raises(CommandError, match="--week must be a date"):
        call_command("send_digest", "--org", "acme", "--week", "last")


def test_admin_turns_a_members_digest_on_and_off_from_the_members_page(client, org, admin_user, viewer_user):
    membership = Membership.objects.get(user=viewer_user, organization=org)
    client.force_login(admin_user)
    url = reverse("accounts:membership-weekly-digest", args=[membership.pk])

    assert 'name="weekly_digest"' in client.get(reverse("accounts:organization-members")).content.decode()
    client.post(url, {"weekly_digest": "on"})
    membership.refresh_from_db()
    assert membership.weekly_digest is True
    client.post(url, {})
    membership.refresh_from_db()
    assert membership.weekly_digest is False
    assert AuditLog.objects.filter(organization=org, action="membership.update").count() == 2


def test_only_admins_may_choose_who_gets_the_digest(client, org, ops_user, viewer_user):
    membership = Membership.objects.get(user=viewer_user, organization=org)
    client.force_login(ops_user)

    response = client.post(reverse("accounts:membership-weekly-digest", args=[membership.pk]), {"weekly_digest": "on"})

    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.weekly_digest is False
