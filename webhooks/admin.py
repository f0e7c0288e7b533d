from django.contrib import admin

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "organization", "is_active", "disabled_at", "created_at")
    list_filter = ("is_active",)
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "organization", "endpoint", "status", "attempts", "last_response_code", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("endpoint", "event", "redelivery_of")
