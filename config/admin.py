"""The Django admin is the platform operators' tool: superusers only.

It spans every organization by design, so it is closed to everyone else; an organization's own admins
manage their members, keys and settings on the Organization pages, where every change goes through the
services and the audit log.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class PlatformAdminSite(AdminSite):
    site_header = "custops platform admin"
    site_title = "custops admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser


class PlatformAdminConfig(AdminConfig):
    default_site = "config.admin.PlatformAdminSite"
