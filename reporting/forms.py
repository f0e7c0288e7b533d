"""Forms of the report pages."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from config.forms import ServiceErrorsForm


class AlertRuleForm(ServiceErrorsForm):
    """An alert rule as an admin edits it: the threshold in percent (20 = 20%), stored as a share."""

    threshold_percent = forms.DecimalField(
        label=_("Threshold (%)"), min_value=Decimal("0"), max_value=Decimal("1000"), decimal_places=1
    )
    enabled = forms.BooleanField(label=_("On"), required=False)
    notify_by_email = forms.BooleanField(label=_("E-mail the admins"), required=False)
