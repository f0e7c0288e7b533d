from django.urls import path

from crm import views
from crm.imports import views as import_views

app_name = "crm"

urlpatterns = [
    path("customers/", views.customer_list, name="customer-list"),
    path("customers/<int:pk>/", views.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/notes/", views.customer_note_add, name="customer-note-add"),
    path("customers/<int:pk>/export.json", views.customer_export, name="customer-export"),
    path("customers/<int:pk>/erase/", views.customer_erase, name="customer-erase"),
    path("customers/<int:pk>/tasks/", views.customer_task_add, name="customer-task-add"),
    path("tasks/", views.task_inbox, name="task-inbox"),
    path("imports/", import_views.import_list, name="import-list"),
    path("imports/upload/", import_views.import_upload, name="import-upload"),
    path("imports/<int:pk>/", import_views.import_detail, name="import-detail"),
    path("imports/<int:pk>/start/", import_views.import_start, name="import-start"),
    path("imports/<int:pk>/discard/", import_views.import_discard, name="import-discard"),
    path("imports/<int:pk>/rejected-rows.csv", import_views.import_rejections_csv, name="import-rejections-csv"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
]
