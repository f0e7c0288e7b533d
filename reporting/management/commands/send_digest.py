import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from accounts.timekeeping import local_today
from reporting import digest


class Command(BaseCommand):
    help = (
        "Send an organization's weekly digest (last ISO week's KPI tiles and open alerts) to its opted-in members. "
        "Members already sent that week's digest are skipped unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--force", action="store_true", help="send again to members who already got it")
        parser.add_argument(
            "--week", help="YYYY-MM-DD: any day of the week to report on (default: last week, organization time)"
        )

    def handle(self, *args, org, force=False, week=None, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{org}'.")
        if week:
            try:
                day = datetime.date.fromisoformat(week)
            except ValueError as exc:
                raise CommandError(f"--week must be a date like 2026-01-26, not '{week}'.") from exc
            week_start = day - datetime.timedelta(days=day.weekday())
        else:
            week_start = digest.digest_week_start(local_today(organization, timezone.now()))
        recipients = len(digest.digest_recipients(org=organization))
        if not recipients:
            self.stdout.write(f"{organization.slug}: no member has the weekly digest turned on; nothing sent.")
            return
        try:
            result = digest.digest_send(org=organization, week_start=week_start, force=force)
        except Exception as exc:
            raise CommandError(
                f"{organization.slug}: the mail server refused or could not be reached ({exc}); members not yet "
                "sent to will be tried again by the next run."
            ) from exc
        self.stdout.write(
            f"{organization.slug}: weekly digest for the week of {week_start.isoformat()}: sent {result.sent}, "
            f"already sent earlier {result.already_sent}" + ("" if force else " (use --force to send again)") + "."
        )
