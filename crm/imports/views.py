"""Import pages for ops: upload, preview and confirm, live progress, summary with the rejected rows."""

from __future__ import annotations

import csv
from itertools import islice

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from accounts.decorators import organization_required, role_required
from accounts.permissions import CRM_WRITERS
from accounts.services import Actor
from config.forms import ServiceErrorsForm
from crm import selectors
from crm.imports.kinds import KINDS
from crm.imports.pipeline import (
    ImportProgress,
    import_job_confirm,
    import_job_create,
    import_job_discard,
    progress_cache_key,
    rejections_csv_rows,
)
from crm.imports.reading import CsvFormatError, open_csv
from crm.models import ImportJob, ImportKind, ImportStatus

PREVIEW_ROWS = 8
REJECTIONS_SHOWN = 50


class ImportUploadForm(ServiceErrorsForm):
    kind = forms.ChoiceField(label=gettext_lazy("What the file holds"), choices=ImportKind.choices)
    file = forms.FileField(label=gettext_lazy("CSV file"))
    create_missing_customers = forms.BooleanField(
        label=gettext_lazy("Create a bare customer for an unknown customer_external_id (orders, events, feedback)"),
        required=False,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.CUSTOPS_IMPORT_MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than an upload accepts; use the import_csv command."))
        return upload


def _job_or_404(request: HttpRequest, pk: int) -> ImportJob:
    job = selectors.import_jobs_list(org=request.organization).filter(pk=pk).first()
    if job is None:
        raise Http404(_("No such import."))
    return job


def _can_import(request: HttpRequest) -> bool:
    return request.membership.role in CRM_WRITERS


@require_safe
@organization_required
def import_list(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm()
    page = Paginator(selectors.import_jobs_list(org=request.organization), 25).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "can_import": _can_import(request), "kinds": KINDS}
    return render(request, "crm/imports/import_list.html", context)


@role_required(CRM_WRITERS)
@require_POST
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_job_create(
                org=request.organization,
                actor=Actor(user=request.user),
                kind=form.cleaned_data["kind"],
                source=upload.file,
                original_filename=upload.name,
                create_missing_customers=form.cleaned_data["create_missing_customers"],
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            return redirect("crm:import-detail", pk=job.pk)
    page = Paginator(selectors.import_jobs_list(org=request.organization), 25).get_page(1)
    return render(
        request, "crm/imports/import_list.html", {"form": form, "page": page, "can_import": True, "kinds": KINDS}
    )


def _preview(job: ImportJob) -> dict:
    """The first rows and how each column of the file maps onto the kind's columns."""
    spec = KINDS[job.kind]
    try:
        with open_csv(job.stored_path) as source:
            rows = list(islice(source, PREVIEW_ROWS))
            header = source.header
            encoding, delimiter = source.encoding, source.delimiter
    except CsvFormatError as exc:
        return {"error": str(exc)}
    except OSError:
        return {"error": _("The uploaded file is no longer available; upload it again.")}
    mapping = [
        {"column": column, "used": column in spec.columns, "required": column in spec.required} for column in header
    ]
    missing = [column for column in spec.required if column not in header]
    return {
        "header": header,
        "rows": [(row.line, [row.values.get(column, "") for column in header]) for row in rows],
        "mapping": mapping,
        "missing": missing,
        "encoding": encoding,
        "delimiter": {"\t": "tab", ",": "comma", ";": "semicolon"}.get(delimiter, delimiter),
    }


def _progress(job: ImportJob) -> ImportProgress | None:
    state = cache.get(progress_cache_key(job.pk))
    return ImportProgress(**state) if state else None


@require_safe
@organization_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(request, pk)
    context = {
        "job": job,
        "can_import": _can_import(request),
        "progress": _progress(job),
        "rejections": selectors.import_rejections(job=job)[:REJECTIONS_SHOWN],
        "kind_spec": KINDS[job.kind],
    }
    if job.status == ImportStatus.QUEUED and not job.started_at:
        context["preview"] = _preview(job)
    template = (
        "crm/imports/_import_status.html"
        if request.htmx and request.GET.get("poll")
        else "crm/imports/import_detail.html"
    )
    return render(request, template, context)


@role_required(CRM_WRITERS)
@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(request, pk)
    if not import_job_confirm(job=job):
        messages.info(request, _("This import has already been started."))
    return redirect("crm:import-detail", pk=job.pk)


@require_safe
@organization_required
def import_rejections_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = _job_or_404(request, pk)

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    stream = (writer.writerow(row) for row in rejections_csv_rows(job))
    response = StreamingHttpResponse(_with_bom(stream), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected-rows.csv"'
    return response


def _with_bom(stream):
    """A UTF-8 byte-order mark first, so spreadsheet programs read Chinese text correctly."""
    yield "\ufeff"
    yield from stream


@role_required(CRM_WRITERS)
@require_POST
def import_discard(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(request, pk)
    if import_job_discard(job=job, actor=Actor(user=request.user)):
        messages.success(request, _("The upload was discarded; nothing was imported."))
    else:
        messages.info(request, _("This import has already been started."))
    return redirect("crm:import-list")
