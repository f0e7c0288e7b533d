from django.contrib import admin

from accounts.admin import ReadOnlyTenantAdmin
from reporting.models import JobRun, Target


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyTenantAdmin):
    list_display = ["started_at", "organization", "kind", "as_of", "status", "finished_at", "triggered_by"]
    list_filter = ["organization", "status", "kind"]


@admin.register(Target)
class TargetAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "organization", "metric", "baseline_value", "target_value", "deadline", "owner"]
    list_filter = ["organization", "metric"]
