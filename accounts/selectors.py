"""Reads about organizations and members."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey, AuditLog, Membership, Organization, User


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def organization_members(*, org: Organization) -> QuerySet[User]:
    return User.objects.filter(memberships__organization=org, is_active=True).order_by("email")


def is_member(*, org: Organization, user_id: int) -> bool:
    return Membership.objects.filter(organization=org, user_id=user_id, user__is_active=True).exists()


def api_keys_list(*, org: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_org(org).select_related("created_by")


def audit_log_for_object(*, org: Organization, object_type: str, object_id: str) -> QuerySet[AuditLog]:
    return AuditLog.objects.for_org(org).filter(object_type=object_type, object_id=str(object_id))


def memberships_of_organization(*, org: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=org).select_related("user").order_by("user__email")
