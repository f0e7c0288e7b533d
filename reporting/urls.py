from django.urls import path

from reporting import at_risk, channel_views, customer_views, export_views, retention_views, views

app_name = "reporting"

urlpatterns = [
    path("", views.kpi_overview, name="kpi-overview"),
    path("channels/", channel_views.channel_report, name="channel-report"),
    path("channels/<str:code>/", channel_views.channel_detail, name="channel-detail"),
    path("cohorts/", retention_views.retention_report, name="cohort-report"),
    path("scores/", views.score_list, name="score-list"),
    path("models/clv/", views.clv_model_report, name="clv-model"),
    path("customers/", customer_views.customer_value, name="customer-value"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="alert-acknowledge"),
    path("alerts/rules/<int:pk>/", views.alert_rule_edit, name="alert-rule-edit"),
    path("jobs/", views.job_list, name="job-list"),
    path("targets/new/", views.target_create_view, name="target-create"),
    path("targets/<int:pk>/edit/", views.target_edit_view, name="target-edit"),
    path("targets/<int:pk>/delete/", views.target_delete_view, name="target-delete"),
    path("at-risk/", at_risk.at_risk_list, name="at-risk"),
]

# Downloads: every report table as CSV and XLSX, with its page's filters, and the executive PDF.
urlpatterns += [
    path(f"export/{table}.{fmt}", export_views.table_export, {"table": table, "fmt": fmt}, name=f"export-{table}-{fmt}")
    for table in export_views.EXPORT_TABLES
    for fmt in export_views.EXPORT_FORMATS
]
urlpatterns.append(path("export/executive.pdf", export_views.executive_pdf, name="export-executive-pdf"))
