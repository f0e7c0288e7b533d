from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, AuditLog, Membership, Organization, User
from accounts.services import Actor, api_key_revoke


class ReadOnlyTenantAdmin(admin.ModelAdmin):
    """Tenant records are read-only here: writes go through the services, which validate and audit them."""

    list_filter = ["organization"]
    list_select_related = ["organization"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "currency", "churn_window_days", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["user"]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyTenantAdmin):
    """Keys are created on the Organization page or with ``create_api_key``; here they are reviewed or revoked."""

    list_display = ["name", "organization", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_keys"]

    @admin.action(description=_("Revoke the selected keys"))
    def revoke_keys(self, request, queryset) -> None:
        actor = Actor(user=request.user)
        for key in queryset.filter(revoked_at__isnull=True).select_related("organization"):
            api_key_revoke(key=key, actor=actor)

    def has_change_permission(self, request, obj=None) -> bool:
        # The changelist action needs "change"; the form itself shows every field read-only.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in ApiKey._meta.fields]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "organization", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["organization", "action", "object_type"]
    search_fields = ["actor_label", "object_id", "action"]
    date_hierarchy = "created_at"
