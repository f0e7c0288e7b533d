from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an organization. The key is printed once; only its digest is stored."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--name", required=True, help="what the key is for, e.g. 'shop sync'")
        parser.add_argument("--scopes", default="read", help="comma-separated: read, write (default: read)")

    def handle(self, *args, org, name, scopes, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(
                f"No organization with slug '{org}'. Create it with: manage.py create_org {org} --name ..."
            )
        scope_list = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        try:
            key, plaintext = api_key_create(org=organization, name=name, scopes=scope_list)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from exc
        self.stdout.write(f"API key '{key.name}' for {organization.slug} (scopes: {', '.join(key.scopes)}):")
        self.stdout.write(self.style.SUCCESS(plaintext))
        self.stdout.write("Store it now: it cannot be shown again. Use it as 'Authorization: Bearer <key>'.")
