from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, AuditLog, Membership, Organization, Role, User


class OrganizationScopedAdmin(admin.ModelAdmin):
    """Superusers see every organization; other staff see only rows of organizations they administer."""

    list_filter = ["organization"]
    list_select_related = ["organization"]

    def administered_organization_ids(self, request) -> list[int]:
        return list(
            Membership.objects.filter(user=request.user, role=Role.ADMIN).values_list("organization_id", flat=True)
        )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(organization_id__in=self.administered_organization_ids(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization" and not request.user.is_superuser:
            kwargs["queryset"] = Organization.objects.filter(id__in=self.administered_organization_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__user=request.user, memberships__role=Role.ADMIN)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        administered = Membership.objects.filter(user=request.user, role=Role.ADMIN).values("organization_id")
        return queryset.filter(organization_id__in=administered)


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    """Keys are created with ``create_api_key`` (the secret is shown once); here they can only be reviewed or revoked."""

    list_display = ["name", "organization", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["organization"]
    readonly_fields = ["organization", "prefix", "key_digest", "scopes", "created_by", "created_at", "last_used_at"]
    search_fields = ["name", "prefix"]

    def has_add_permission(self, request):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(OrganizationScopedAdmin):
    list_display = ["created_at", "organization", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["organization", "action", "object_type"]
    search_fields = ["actor_label", "object_id", "action"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
