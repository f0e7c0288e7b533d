from django.contrib import admin

from campaigns.models import Campaign, Delivery, Suppression, Variant


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["position", "name", "subject", "offer_code", "weight"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "status", "channel", "tier", "launched_at"]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["name"]
    inlines = [VariantInline]
    readonly_fields = ["audience_at_launch", "launched_at", "launched_by_label", "finished_at", "last_enrolled_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries change only through sending, so the exactly-once record stays true."""

    list_display = ["campaign", "customer_id", "variant", "status", "skip_reason", "sent_at"]
    list_filter = ["status", "skip_reason"]
    raw_id_fields = ["campaign", "customer", "variant"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email"]
    raw_id_fields = ["delivery"]
