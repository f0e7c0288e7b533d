"""Records of the nightly pipeline; KPI snapshots, targets and alerts arrive with their capabilities."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel


class JobStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


#: The ``kind`` of the nightly pipeline's runs.
NIGHTLY = "nightly"


class JobRun(TenantModel):
    """One run of the nightly pipeline for one organization and one "as of" date."""

    kind = models.CharField(_("kind"), max_length=40, default=NIGHTLY)
    as_of = models.DateField(_("as of"))
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    step_seconds = models.JSONField(_("seconds per step"), default=dict, blank=True)
    row_counts = models.JSONField(_("rows per step"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.CharField(_("triggered by"), max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "kind", "-started_at"], name="jobrun_org_kind_started")]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")

    def __str__(self) -> str:
        return f"{self.kind} {self.as_of} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
