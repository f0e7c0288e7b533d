import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext
from tqdm import tqdm

from accounts.models import Organization
from reporting import nightly
from reporting.models import JobStatus


class Command(BaseCommand):
    help = "Run the nightly pipeline synchronously for one organization (or all) as of a date (default: yesterday)."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug; without it, every organization")
        parser.add_argument("--as-of", help="YYYY-MM-DD; only data on or before this date counts")
        parser.add_argument(
            "--nights",
            type=int,
            default=1,
            help="run this many nights ending at --as-of (or yesterday), oldest first, e.g. to fill trend history",
        )

    def handle(self, *args, org=None, as_of=None, nights=1, **options):
        if not 1 <= nights <= 400:
            raise CommandError(f"--nights must be between 1 and 400, not {nights}.")
        if org:
            organizations = list(Organization.objects.filter(slug=org))
            if not organizations:
                raise CommandError(f"No organization with slug '{org}'.")
        else:
            organizations = list(Organization.objects.order_by("slug"))
        as_of_date = None
        if as_of:
            try:
                as_of_date = datetime.date.fromisoformat(as_of)
            except ValueError as exc:
                raise CommandError(f"--as-of must be a date like 2026-01-31, not '{as_of}'.") from exc
        now = timezone.now()
        if as_of_date is not None:
            for organization in organizations:
                yesterday = nightly.local_yesterday(organization, now)
                if as_of_date > yesterday:
                    raise CommandError(
                        gettext(
                            "--as-of %(as_of)s is not over yet for organization %(slug)s; the latest day to score "
                            "is %(yesterday)s."
                        )
                        % {
                            "as_of": as_of_date.isoformat(),
                            "slug": organization.slug,
                            "yesterday": yesterday.isoformat(),
                        }
                    )
        failed = 0
        runs = [
            (organization, (as_of_date or nightly.local_yesterday(organization, now)) - datetime.timedelta(days=back))
            for organization in organizations
            for back in range(nights - 1, -1, -1)
        ]
        for organization, day in runs:
            with tqdm(total=len(nightly.NIGHTLY_STEPS), desc=organization.slug, unit="step", file=self.stderr) as bar:

                def progress(step_name: str, bar=bar) -> None:
                    bar.set_postfix_str(step_name)
                    bar.update(1)

                try:
                    job = nightly.run_nightly(org=organization, as_of=day, triggered_by="command", progress=progress)
                except nightly.RETRYABLE_DATABASE_ERRORS as exc:
                    failed += 1
                    self.stdout.write(
                        self.style.ERROR(f"{organization.slug} as of {day}: failed, {nightly.error_summary(exc)}")
                    )
                    continue
            line = (
                f"{organization.slug} as of {day}: {job.status} in {job.duration_seconds:.2f}s, rows {job.row_counts}"
            )
            if job.status == JobStatus.SUCCEEDED:
                self.stdout.write(self.style.SUCCESS(line))
            else:
                failed += 1
                self.stdout.write(self.style.ERROR(f"{line}\n{job.error}"))
        if failed:
            raise CommandError(f"{failed} nightly run(s) did not succeed.")
