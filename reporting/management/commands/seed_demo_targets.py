"""Give an organization the playbook's SMART targets (DESIGN.md §1, issue 7), measured from its latest KPI snapshot.

Safe to run again: a target whose name exists already is kept as it is. Two playbook targets have no KPI in the
snapshot and are left out, saying so: "LTV +30%" (the snapshot has LTV/CAC, not customer value on its own) and
"core-channel conversion +25%" (conversion is kept per channel in the channel metrics, not as one KPI).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from accounts.services import Actor
from accounts.timekeeping import local_today
from reporting.models import Target
from reporting.selectors import latest_kpi_snapshot
from reporting.services import target_create

DEADLINE_DAYS = 365


@dataclass(frozen=True)
class PlaybookTarget:
    name: str
    metric: str
    description: str
    #: The target value itself, or None when it is the baseline times ``factor``.
    goal: Decimal | None = None
    factor: Decimal | None = None
    #: The baseline the playbook states, or None to take the measured value.
    baseline: Decimal | None = None


PLAYBOOK_TARGETS = (
    PlaybookTarget(
        "Monthly churn from 8% to 6%",
        "monthly_churn_rate",
        "Playbook: monthly churn from 8% to 6% within a year.",
        goal=Decimal("0.06"),
        baseline=Decimal("0.08"),
    ),
    PlaybookTarget(
        "High-value retention at least 90%",
        "high_value_retention",
        "Playbook: keep at least 90% of high-value customers.",
        goal=Decimal("0.90"),
    ),
    PlaybookTarget("CAC down 15%", "cac", "Playbook: acquisition cost 15% lower.", factor=Decimal("0.85")),
    PlaybookTarget("NPS at least 70", "nps", "Playbook: NPS of 70 or more.", goal=Decimal("70")),
    PlaybookTarget(
        "Repeat-purchase rate up 10%",
        "repeat_purchase_rate",
        "Playbook: repurchase +10%, read as a 10% higher repeat-purchase rate than today.",
        factor=Decimal("1.10"),
    ),
)

#: Playbook targets with no KPI in the snapshot, and why.
NOT_SEEDED = (
    ("LTV +30%", "no customer-value KPI in the snapshot (it has LTV/CAC, which CAC also moves)"),
    ("core-channel conversion +25%", "conversion is kept per channel (channel metrics), not as a snapshot KPI"),
)


class Command(BaseCommand):
    help = "Add the playbook's SMART targets to an organization from its latest KPI snapshot; safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", default="demo", help="Organization slug (default: demo).")

    def handle(self, *args, org: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}; run seed_demo first.")
        snapshot = latest_kpi_snapshot(org=organization)
        if snapshot is None:
            raise CommandError(f"{org} has no KPI snapshot yet; run `python manage.py run_nightly --org {org}` first.")
        actor = Actor(label="seed_demo_targets")
        today = local_today(organization, timezone.now())
        existing = set(Target.objects.for_org(organization).values_list("name", flat=True))
        added, kept, skipped = 0, 0, []
        for playbook in PLAYBOOK_TARGETS:
            if playbook.name in existing:
                kept += 1
                continue
            measured = snapshot.values.get(playbook.metric)
            baseline = playbook.baseline
            if baseline is None:
                if measured is None:
                    skipped.append((playbook.name, f"{playbook.metric} has no value on {snapshot.day}"))
                    continue
                baseline = Decimal(str(measured))
            goal = playbook.goal if playbook.goal is not None else baseline * playbook.factor
            try:
                target_create(
                    org=organization,
                    actor=actor,
                    today=today,
                    metric=playbook.metric,
                    name=playbook.name,
                    description=playbook.description,
                    baseline_value=baseline,
                    baseline_date=snapshot.day,
                    target_value=goal,
                    deadline=max(
                        snapshot.day + datetime.timedelta(days=DEADLINE_DAYS), today + datetime.timedelta(days=1)
                    ),
                )
            except ValidationError as exc:
                skipped.append((playbook.name, "; ".join(exc.messages)))
                continue
            added += 1
        self.stdout.write(
            f"{organization.slug}: {added} targets added, {kept} already there, baselines from the snapshot of "
            f"{snapshot.day}."
        )
        for name, reason in skipped:
            self.stdout.write(f"  skipped {name}: {reason}")
        for name, reason in NOT_SEEDED:
            self.stdout.write(f"  not seeded, {name}: {reason}")
