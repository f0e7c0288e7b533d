"""The REST API v1 router. Later capabilities register their resources here too."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from campaigns import api as campaigns_api
from crm import api as crm_api
from crm.imports import api as import_api
from reporting import api as reporting_api
from reporting import channel_api, customer_mix_api
from reporting import retention_api as retention_trend_api
from retention import api as retention_api
from segmentation import api as segmentation_api
from webhooks import api as webhooks_api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("customers", crm_api.CustomerViewSet, basename="customer")
router.register("orders", crm_api.OrderViewSet, basename="order")
router.register("channels", crm_api.ChannelViewSet, basename="channel")
router.register("channel-spend", crm_api.ChannelSpendViewSet, basename="channel-spend")
router.register("events", crm_api.EventViewSet, basename="event")
router.register("feedback", crm_api.FeedbackViewSet, basename="feedback")
router.register("notes", crm_api.NoteViewSet, basename="note")
router.register("tasks", crm_api.TaskViewSet, basename="task")
router.register("consent-changes", crm_api.ConsentChangeViewSet, basename="consent-change")
router.register("imports", import_api.ImportJobViewSet, basename="import")
router.register("jobs", reporting_api.JobRunViewSet, basename="job")
router.register("scores", segmentation_api.CustomerScoreViewSet, basename="score")
router.register("kpis", reporting_api.KpiSnapshotViewSet, basename="kpi")
router.register("channel-metrics", reporting_api.ChannelMetricViewSet, basename="channel-metric")
router.register("cohorts", reporting_api.CohortCellViewSet, basename="cohort")
router.register("retention-trend", retention_trend_api.RetentionTrendViewSet, basename="retention-trend")
router.register("alerts", reporting_api.AlertViewSet, basename="alert")
router.register("targets", reporting_api.TargetViewSet, basename="target")
router.register("models/clv", retention_api.ClvModelReportViewSet, basename="clv-model")
router.register("customer-mix", customer_mix_api.CustomerMixViewSet, basename="customer-mix")
router.register("segments", segmentation_api.SegmentViewSet, basename="segment")
router.register("campaigns", campaigns_api.CampaignViewSet, basename="campaign")
router.register("suppressions", campaigns_api.SuppressionViewSet, basename="suppression")
router.register("webhooks", webhooks_api.WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", webhooks_api.WebhookDeliveryViewSet, basename="webhook-delivery")

api_v1_patterns = [
    *router.urls,
    path("channel-budget/", channel_api.ChannelBudgetView.as_view(), name="channel-budget"),
]
