from django.urls import path

from segmentation import views

app_name = "segmentation"

urlpatterns = [
    path("", views.segment_list, name="segment-list"),
    path("new/", views.segment_create_view, name="segment-create"),
    path("preview/", views.segment_preview, name="segment-preview"),
    path("<int:pk>/", views.segment_detail, name="segment-detail"),
    path("<int:pk>/edit/", views.segment_edit, name="segment-edit"),
    path("<int:pk>/delete/", views.segment_delete_view, name="segment-delete"),
    path("<int:pk>/explain/", views.segment_explain, name="segment-explain"),
    path("<int:pk>/snapshots/", views.segment_take_snapshot, name="segment-take-snapshot"),
    path("snapshots/<int:pk>/members.csv", views.segment_snapshot_members_csv, name="segment-snapshot-members"),
    path("customer/<int:customer_pk>/", views.customer_segments, name="customer-segments"),
]
