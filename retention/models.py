"""The fitted lifetime-value and churn models of each nightly run, kept so their quality can be read and compared."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantModel


class FitStatus(models.TextChoices):
    FITTED = "fitted", _("Fitted")
    #: The optimizer did not converge on this night's data; the scores use the last converged fit.
    KEPT_PREVIOUS = "kept_previous", _("Not converged: previous fit kept")
    #: Not converged and no earlier fit to fall back on: lifetime values are not predicted this night.
    NOT_CONVERGED = "not_converged", _("Not converged")
    #: Too few repeat buyers to fit at all.
    INSUFFICIENT_DATA = "insufficient_data", _("Too little data")


class ChurnModelKind(models.TextChoices):
    BGNBD = "bgnbd", _("BG/NBD: P(no purchase in the churn window)")
    GRADIENT_BOOSTING = "gradient_boosting", _("Gradient boosting classifier")


class ClvModelReport(TenantModel):
    """What the nightly run fitted as of a date: BG/NBD + Gamma-Gamma parameters, fit quality and the churn model.

    One row per (organization, as_of): replaying a night replaces its report. Parameters are in days, the
    time unit of every model input (DESIGN.md §7).
    """

    as_of = models.DateField(_("as of"))
    created_at = models.DateTimeField(_("computed at"), default=timezone.now)
    time_unit = models.CharField(_("time unit"), max_length=8, default="days")
    status = models.CharField(_("status"), max_length=20, choices=FitStatus.choices)
    message = models.TextField(_("message"), blank=True)
    customers = models.PositiveIntegerField(_("buying customers"), default=0)
    repeaters = models.PositiveIntegerField(_("repeat buyers"), default=0)
    compressed_rows = models.PositiveIntegerField(_("distinct (x, t_x, T) rows"), default=0)
    fit_seconds = models.FloatField(_("fit time (s)"), default=0)
    bgnbd_r = models.FloatField(null=True, blank=True)
    bgnbd_alpha = models.FloatField(null=True, blank=True)
    bgnbd_a = models.FloatField(null=True, blank=True)
    bgnbd_b = models.FloatField(null=True, blank=True)
    bgnbd_log_likelihood = models.FloatField(null=True, blank=True)
    bgnbd_converged = models.BooleanField(default=False)
    gg_p = models.FloatField(null=True, blank=True)
    gg_q = models.FloatField(null=True, blank=True)
    gg_v = models.FloatField(null=True, blank=True)
    gg_log_likelihood = models.FloatField(null=True, blank=True)
    gg_converged = models.BooleanField(default=False)
    #: Predicted vs actual repeat purchase days by frequency bucket on a holdout period: a list of dicts.
    calibration = models.JSONField(_("calibration"), default=dict, blank=True)
    churn_model = models.CharField(
        _("churn model in use"), max_length=20, choices=ChurnModelKind.choices, default=ChurnModelKind.BGNBD
    )
    #: AUC, precision in the top 10% and feature importances of both churn models on the time split.
    churn_evaluation = models.JSONField(_("churn model evaluation"), default=dict, blank=True)

    class Meta:
        ordering = ["-as_of", "-id"]
        constraints = [models.UniqueConstraint(fields=["organization", "as_of"], name="clv_report_org_as_of_unique")]
        verbose_name = _("lifetime-value model report")
        verbose_name_plural = _("lifetime-value model reports")

    def __str__(self) -> str:
        return f"CLV model {self.as_of} {self.status}"

    @property
    def has_bgnbd(self) -> bool:
        return self.bgnbd_r is not None


class RetentionTrend(TenantModel):
    """A year of retention history rebuilt by the nightly run (``retention/retention_trend.py``).

    The KPI snapshots only go back as many nights as have been run; this holds the same definitions evaluated
    month by month from the purchase and event history. One row per (organization, as_of): replaying a night
    replaces its row.
    """

    as_of = models.DateField(_("as of"))
    created_at = models.DateTimeField(_("computed at"), default=timezone.now)
    churn_window_days = models.PositiveIntegerField(_("churn window (days)"))
    #: Per calendar month, oldest first: month, start, end, complete, customers_at_start, churned, rate.
    churn = models.JSONField(_("monthly churn"), default=list, blank=True)
    #: Per month of first event, oldest first: month, customers, d1/d7/d30 and their retained counts.
    first_event_retention = models.JSONField(_("D1/D7/D30 retention"), default=list, blank=True)

    class Meta:
        ordering = ["-as_of", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "as_of"], name="retention_trend_org_as_of_unique")
        ]
        verbose_name = _("retention trend")
        verbose_name_plural = _("retention trends")

    def __str__(self) -> str:
        return f"retention trend {self.as_of}"
