"""The target form of the executive overview: rates in percent as people write them, stored as shares."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.forms import ServiceErrorsForm
from reporting.kpis import KPI_BY_CODE, KPI_DEFINITIONS
from reporting.models import Target

HUNDRED = Decimal("100")


class TargetForm(ServiceErrorsForm):
    """A SMART target as an admin writes it. For a rate (a share KPI) the values are in percent: 6 = 6%."""

    name = forms.CharField(label=_("Name"), max_length=200)
    metric = forms.ChoiceField(label=_("Metric"))
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    baseline_value = forms.DecimalField(
        label=_("Baseline value"), max_digits=20, decimal_places=6, help_text=_("Rates in percent: 8 = 8%.")
    )
    baseline_date = forms.DateField(label=_("Baseline date"), widget=forms.DateInput(attrs={"type": "date"}))
    target_value = forms.DecimalField(
        label=_("Target value"), max_digits=20, decimal_places=6, help_text=_("Rates in percent: 6 = 6%.")
    )
    deadline = forms.DateField(label=_("Deadline"), widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=None, required=False)

    def __init__(self, *args, members, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [
            (kpi.code, gettext(kpi.label) + (" (%)" if kpi.unit == "share" else "")) for kpi in KPI_DEFINITIONS
        ]
        self.fields["owner"].queryset = members
        self.fields["owner"].label_from_instance = lambda user: user.get_full_name() or user.email

    @classmethod
    def initial_for(cls, target: Target) -> dict:
        """The form's starting values for an existing target (shares shown in percent)."""
        scale = HUNDRED if _is_share(target.metric) else Decimal("1")
        return {
            "name": target.name,
            "metric": target.metric,
            "description": target.description,
            "baseline_value": (target.baseline_value * scale).normalize(),
            "baseline_date": target.baseline_date,
            "target_value": (target.target_value * scale).normalize(),
            "deadline": target.deadline,
            "owner": target.owner_id,
        }

    def clean(self) -> dict:
        data = super().clean()
        if _is_share(data.get("metric", "")):
            for field in ("baseline_value", "target_value"):
                value = data.get(field)
                if value is not None and not Decimal("0") <= value <= HUNDRED:
                    self.add_error(field, gettext("A rate is given in percent, from 0 to 100."))
        return data

    def service_fields(self) -> dict:
        """The cleaned data as the target services take it (percent turned back into shares)."""
        data = dict(self.cleaned_data)
        if _is_share(data["metric"]):
            for field in ("baseline_value", "target_value"):
                data[field] = data[field] / HUNDRED
        return data


def _is_share(code: str) -> bool:
    kpi = KPI_BY_CODE.get(code)
    return kpi is not None and kpi.unit == "share"
