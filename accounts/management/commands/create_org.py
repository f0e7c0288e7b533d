from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import organization_create


class Command(BaseCommand):
    help = "Create an organization (a tenant)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="short unique name used by commands, e.g. acme")
        parser.add_argument("--name", required=True, help="display name")
        parser.add_argument("--time-zone", default="UTC", help="IANA time zone, e.g. Asia/Shanghai")
        parser.add_argument("--currency", default="CNY", help="ISO 4217 code")

    def handle(self, *args, slug, name, time_zone, currency, **options):
        try:
            org = organization_create(slug=slug, name=name, time_zone=time_zone, currency=currency)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Created organization {org.slug} ({org.name}), id {org.pk}."))
