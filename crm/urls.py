from django.urls import path

from crm import views

app_name = "crm"

urlpatterns = [
    path("customers/", views.customer_list, name="customer-list"),
    path("customers/<int:pk>/", views.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/notes/", views.customer_note_add, name="customer-note-add"),
    path("customers/<int:pk>/tasks/", views.customer_task_add, name="customer-task-add"),
    path("tasks/", views.task_inbox, name="task-inbox"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
]
