"""Give the demo organization a few segments and the tier playbook's campaigns, as drafts to explore."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.services import Actor
from campaigns import services
from campaigns.models import Campaign
from segmentation.models import Segment
from segmentation.services import segment_create

DEMO_SEGMENTS = (
    (
        "Loyal buyers who accept e-mail",
        "Three or more orders and e-mail consent.",
        {
            "all": [
                {"field": "orders_count", "op": "gte", "value": 3},
                {"field": "consent_email", "op": "eq", "value": True},
            ]
        },
    ),
    (
        "Big spenders slipping away",
        "Valuable customers who have not bought for a while or are flagged at risk.",
        {
            "all": [
                {"field": "tier", "op": "in", "value": ["high", "mid"]},
                {
                    "any": [
                        {"field": "last_order_days_ago", "op": "gte", "value": 60},
                        {"field": "at_risk", "op": "eq", "value": True},
                    ]
                },
                {"not": {"field": "consent_email", "op": "eq", "value": False}},
            ]
        },
    ),
    (
        "One-time buyers",
        "Exactly one order: the repurchase campaign's natural audience.",
        {"all": [{"field": "orders_count", "op": "eq", "value": 1}]},
    ),
)


class Command(BaseCommand):
    help = "Add demo segments and the three tier campaigns (drafts) to an organization; safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", default="demo", help="Organization slug (default: demo).")

    def handle(self, *args, org: str, **options) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}; run seed_demo first.")
        actor = Actor(label="seed_demo_campaigns")
        # The demo runs tasks eagerly without a scheduler: quiet hours would hold a launched campaign forever.
        organization.quiet_hours_start = organization.quiet_hours_end = 0
        organization.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
        made = 0
        for name, description, rules in DEMO_SEGMENTS:
            if not Segment.objects.for_org(organization).filter(name=name).exists():
                segment_create(org=organization, actor=actor, name=name, description=description, rules=rules)
                made += 1
        campaigns = 0
        if not Campaign.objects.for_org(organization).filter(kind="tier").exists():
            campaigns = len(services.tier_campaigns_create(org=organization, actor=actor, suffix="demo"))
        self.stdout.write(
            f"{organization.slug}: {made} segments and {campaigns} tier campaigns (drafts) added; quiet hours off."
        )
