from django.contrib import admin

from accounts.admin import OrganizationScopedAdmin
from reporting.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(OrganizationScopedAdmin):
    list_display = ["started_at", "organization", "kind", "as_of", "status", "finished_at", "triggered_by"]
    list_filter = ["organization", "status", "kind"]
    readonly_fields = [f.name for f in JobRun._meta.fields]

    def has_add_permission(self, request):
        return False
