"""``python manage.py seed_demo``: a realistic demo organization, seconds on SQLite, minutes for a million customers.

The simulation lives in ``crm/demo_data.py`` and the writing in ``crm/demo.py``; this command parses the
options, shows progress and prints what it did and how to sign in.
"""

from __future__ import annotations

import datetime
import sys
import time
import zoneinfo

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from accounts.models import Membership, Organization
from crm.demo import (
    DEMO_PASSWORD,
    DEMO_TIME_ZONE,
    DEMO_URL,
    SeedReport,
    demo_logins,
    demo_organization_seed,
    total_rows,
)
from crm.demo_data import DemoData, simulate_demo


class Command(BaseCommand):
    help = (
        "Build a realistic demo organization: channels with monthly spend, customers with two years of orders "
        "(buy-till-you-die), events, NPS/CSAT answers, notes, tasks, and two users per role. Prints the logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", default="demo", help="slug of the demo organization (default: demo)")
        parser.add_argument("--customers", type=int, default=3000, help="number of customers (default: 3000)")
        parser.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--if-missing", action="store_true", help="if the organization exists, keep it and print the logins"
        )
        existing.add_argument(
            "--replace", action="store_true", help="if the organization exists, delete it with all its data first"
        )

    def handle(self, *args, org: str, customers: int, seed: int, if_missing: bool, replace: bool, **options) -> None:
        if customers < 1:
            raise CommandError(f"--customers must be at least 1 (got {customers}).")
        if seed < 0:
            raise CommandError(f"--seed must be zero or positive (got {seed}).")
        existing = Organization.objects.filter(slug=org).first()
        if existing is not None and if_missing:
            self.stdout.write(f"The demo organization {org} already exists; nothing changed.")
            self._print_logins(existing)
            return
        if existing is not None and not replace:
            raise CommandError(
                f"The organization {org} already exists. Run again with --replace to delete it with all its data "
                f"and build it anew, or with --if-missing to keep it and print the logins."
            )

        started = time.perf_counter()
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(DEMO_TIME_ZONE)).date()
        offset = zoneinfo.ZoneInfo(DEMO_TIME_ZONE).utcoffset(datetime.datetime.combine(today, datetime.time()))
        data = simulate_demo(
            customers=customers, seed=seed, today=today, utc_offset_hours=int(offset.total_seconds() // 3600)
        )
        simulated = time.perf_counter() - started
        with tqdm(
            total=total_rows(data), desc="organization", unit=" rows", unit_scale=True, file=sys.stderr, mininterval=0.5
        ) as bar:
            try:
                report = demo_organization_seed(slug=org, data=data, replace=replace, progress=bar)
            except ValidationError as exc:
                raise CommandError("; ".join(" ".join(messages) for messages in exc.message_dict.values())) from exc
        report.timings = {"simulate": simulated, **report.timings}
        self._print_summary(report, data, time.perf_counter() - started)
        self._print_logins(report.org)

    def _print_summary(self, report: SeedReport, data: DemoData, elapsed: float) -> None:
        counts = report.counts
        org = report.org
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded the demo organization {org.slug} ({org.name}) on {connection.vendor}: "
                f"seed {data.seed}, history up to {data.today:%Y-%m-%d} ({DEMO_TIME_ZONE})."
            )
        )
        rows = [
            ("channels", counts["channels"]),
            ("channel spend (months)", counts["channel_spend"]),
            ("customers", counts["customers"]),
            ("  of whom never ordered", counts["customers_without_orders"]),
            ("orders", counts["orders"]),
            ("events", counts["events"]),
            ("feedback (NPS, CSAT)", counts["feedback"]),
            ("notes", counts["notes"]),
            ("tasks", counts["tasks"]),
        ]
        for label, value in rows:
            self.stdout.write(f"  {label:<24}{value:>12,}")
        self.stdout.write("Timings:")
        for label, seconds in report.timings.items():
            self.stdout.write(f"  {label:<30}{seconds:>9.2f} s")
        self.stdout.write(f"  {'total':<30}{elapsed:>9.2f} s")

    def _print_logins(self, org: Organization) -> None:
        members = dict(
            Membership.objects.filter(
                organization=org, user__email__in=[email for email, _ in demo_logins(org.slug)]
            ).values_list("user__email", "role")
        )
        if not members:
            self.stdout.write(f"The organization {org.slug} has no demo users.")
            return
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Sign in at {DEMO_URL} with the password {DEMO_PASSWORD}"))
        for email, _ in demo_logins(org.slug):
            if email in members:
                note = "  (also Django admin: " + DEMO_URL + "admin/)" if email.startswith("admin1@") else ""
                self.stdout.write(f"  {email:<36}{members[email]}{note}")
        self.stdout.write("Passwords changed since the seed stay changed; run with --replace to reset them.")
