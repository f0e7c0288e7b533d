"""The tenancy base every business model inherits: an ``organization`` and querysets scoped with ``for_org``.

Scoping is explicit rather than automatic (no thread-local "current organization"): a query that forgot
``for_org`` is visible in review, and Celery tasks, which have no request, scope the same way as views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from accounts.models import Organization


class TenantQuerySet(models.QuerySet):
    def for_org(self, org: Organization | int) -> TenantQuerySet:
        org_id = org if isinstance(org, int) else org.pk
        return self.filter(organization_id=org_id)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    pass


class TenantModel(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        abstract = True
