from django.urls import path

from reporting import at_risk, views

app_name = "reporting"

urlpatterns = [
    path("", views.kpi_overview, name="kpi-overview"),
    path("channels/", views.channel_report, name="channel-report"),
    path("cohorts/", views.cohort_report, name="cohort-report"),
    path("scores/", views.score_list, name="score-list"),
    path("models/clv/", views.clv_model_report, name="clv-model"),
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="alert-acknowledge"),
    path("alerts/rules/<int:pk>/", views.alert_rule_edit, name="alert-rule-edit"),
    path("jobs/", views.job_list, name="job-list"),
    path("at-risk/", at_risk.at_risk_list, name="at-risk"),
]
