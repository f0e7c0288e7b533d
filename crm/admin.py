from django.contrib import admin

from accounts.admin import ReadOnlyTenantAdmin
from crm.models import Channel, ChannelSpend, Customer, Event, Feedback, Note, Order, Task


@admin.register(Channel)
class ChannelAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "code", "kind", "is_active", "organization"]
    list_filter = ["organization", "kind", "is_active"]
    search_fields = ["name", "code"]


@admin.register(ChannelSpend)
class ChannelSpendAdmin(ReadOnlyTenantAdmin):
    list_display = ["date", "channel", "amount", "organization"]
    date_hierarchy = "date"
    raw_id_fields = ["channel"]


@admin.register(Customer)
class CustomerAdmin(ReadOnlyTenantAdmin):
    list_display = ["external_id", "name", "email", "channel", "owner", "created_at", "organization"]
    search_fields = ["external_id", "name", "email", "phone"]
    raw_id_fields = ["channel", "owner"]
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(ReadOnlyTenantAdmin):
    list_display = ["external_id", "customer", "ordered_at", "amount", "currency", "status", "organization"]
    list_filter = ["organization", "status"]
    search_fields = ["external_id", "customer__external_id"]
    raw_id_fields = ["customer", "channel"]
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "customer", "occurred_at", "organization"]
    search_fields = ["name", "customer__external_id"]
    raw_id_fields = ["customer"]
    show_full_result_count = False


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyTenantAdmin):
    list_display = ["kind", "score", "scale_max", "customer", "answered_at", "organization"]
    list_filter = ["organization", "kind"]
    raw_id_fields = ["customer"]


@admin.register(Note)
class NoteAdmin(ReadOnlyTenantAdmin):
    list_display = ["customer", "author", "created_at", "organization"]
    raw_id_fields = ["customer", "author"]


@admin.register(Task)
class TaskAdmin(ReadOnlyTenantAdmin):
    list_display = ["title", "customer", "owner", "due_date", "status", "organization"]
    list_filter = ["organization", "status"]
    raw_id_fields = ["customer", "owner", "created_by"]
