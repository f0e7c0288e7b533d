from django.urls import path

from reporting import views

app_name = "reporting"

urlpatterns = [
    path("jobs/", views.job_list, name="job-list"),
]
