from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhooks_page, name="webhooks"),
    path("endpoints/<int:pk>/edit/", views.endpoint_edit, name="webhook-endpoint-edit"),
    path("endpoints/<int:pk>/disable/", views.endpoint_disable, name="webhook-endpoint-disable"),
    path("endpoints/<int:pk>/enable/", views.endpoint_enable, name="webhook-endpoint-enable"),
    path("endpoints/<int:pk>/delete/", views.endpoint_delete, name="webhook-endpoint-delete"),
    path("endpoints/<int:pk>/test/", views.endpoint_test, name="webhook-endpoint-test"),
    path("deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="webhook-delivery-redeliver"),
]
