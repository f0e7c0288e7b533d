"""The Jobs page: what the nightly pipeline did, when, and what went wrong."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import organization_required
from reporting import selectors
from reporting.models import JobStatus


@organization_required
def job_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in JobStatus.values:
        status = ""
    runs = selectors.job_runs_list(org=request.organization, status=status)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(request, "reporting/job_list.html", {"page": page, "status": status, "statuses": JobStatus.choices})
