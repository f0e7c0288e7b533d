from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="campaign-list"),
    path("new/", views.campaign_create_view, name="campaign-create"),
    path("tier-playbook/", views.tier_campaigns_create_view, name="tier-campaigns-create"),
    path("<int:pk>/", views.campaign_detail, name="campaign-detail"),
    path("<int:pk>/edit/", views.campaign_edit_view, name="campaign-edit"),
    path("<int:pk>/export.csv", views.campaign_export, name="campaign-export"),
    path("<int:pk>/launch/", views.campaign_action, {"action": "launch"}, name="campaign-launch"),
    path("<int:pk>/stop/", views.campaign_action, {"action": "stop"}, name="campaign-stop"),
    path(
        "<int:pk>/resend-unknown/", views.campaign_action, {"action": "resend-unknown"}, name="campaign-resend-unknown"
    ),
    path("<int:pk>/delete/", views.campaign_action, {"action": "delete"}, name="campaign-delete"),
    path("t/o/<str:token>.gif", views.track_open, name="track-open"),
    path("t/c/<str:token>/", views.track_click, name="track-click"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
