"""Forms for the organization admin pages. They shape input; accounts.services validates and writes."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKeyScope, Organization, Role
from config.forms import ServiceErrorsForm


class OrganizationSettingsForm(ServiceErrorsForm, forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("Time zone"), choices=[(name, name) for name in sorted(zoneinfo.available_timezones())]
    )

    class Meta:
        model = Organization
        fields = [
            "name",
            "time_zone",
            "currency",
            "churn_window_days",
            "activation_window_days",
            "at_risk_threshold",
            "gross_margin",
            "annual_discount_rate",
            "high_tier_share",
            "mid_tier_share",
            "nightly_hour",
            "campaign_frequency_cap",
            "quiet_hours_start",
            "quiet_hours_end",
            "viewers_export_customer_pii",
            "event_retention_days",
        ]
        help_texts = {
            "churn_window_days": _("A customer with no purchase for longer than this counts as churned."),
            "activation_window_days": _("A first purchase within this many days of sign-up counts as activation."),
            "at_risk_threshold": _("Customers whose churn probability reaches this (0–1) are flagged at risk."),
            "gross_margin": _("Share of revenue kept as margin (0–1), used for lifetime value and ROI."),
            "annual_discount_rate": _("Yearly rate (0–1) used to discount predicted future value."),
            "high_tier_share": _(
                "Share of buying customers (0–1) with the highest value: the high tier (default 0.1)."
            ),
            "mid_tier_share": _("Share of buying customers (0–1) in the mid tier, after the high tier (default 0.3)."),
            "nightly_hour": _("Hour of the day (0–23, your time zone) when the nightly scores are computed."),
            "campaign_frequency_cap": _(
                "At most this many campaign e-mails reach one customer in any 7 days, across campaigns (0: no cap)."
            ),
            "quiet_hours_start": _("No campaign e-mail leaves from this hour (your time zone)…"),
            "quiet_hours_end": _("…until this hour. The same hour twice means no quiet hours."),
        }

    def _post_clean(self) -> None:
        # The service validates and saves; the model form must not write to the instance it was given.
        pass


class InviteMemberForm(ServiceErrorsForm):
    email = forms.EmailField(label=_("E-mail"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ApiKeyForm(ServiceErrorsForm):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("What uses the key, e.g. 'shop sync'."))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiKeyScope.choices,
        initial=[ApiKeyScope.READ],
        widget=forms.CheckboxSelectMultiple,
    )
