"""The campaign form: campaign settings plus up to three variants, each a subject, body and offer code."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from campaigns.messages import VARIABLES
from campaigns.models import Campaign, CampaignChannel
from campaigns.services import MAX_VARIANTS
from config.forms import ServiceErrorsForm
from segmentation.models import Segment, Tier

FORM_VARIANTS = MAX_VARIANTS
_VARIANT_KEY = re.compile(r"^variants\[(\d+)\]\.(\w+)$")


class CampaignForm(ServiceErrorsForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    channel = forms.ChoiceField(label=_("Channel"), choices=CampaignChannel.choices)
    segment = forms.ModelChoiceField(
        label=_("Segment"), queryset=Segment.objects.none(), required=False, empty_label=_("No segment (tier only)")
    )
    tier = forms.ChoiceField(label=_("Tier"), choices=[("", _("Any tier")), *list(Tier.choices)], required=False)
    holdout_percent = forms.DecimalField(
        label=_("Hold-out (%)"),
        min_value=0,
        max_value=50,
        decimal_places=1,
        initial=10,
        help_text=_("Customers picked at random who receive nothing: the baseline the uplift is measured against."),
    )
    attribution_days = forms.IntegerField(
        label=_("Attribution window (days)"),
        min_value=1,
        max_value=90,
        initial=14,
        help_text=_("An order within this many days after the send counts as a conversion."),
    )
    cost = forms.DecimalField(label=_("Cost"), min_value=0, decimal_places=2, initial=0, max_digits=14)
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Leave empty to send when you launch. Your organization's time zone."),
    )
    recurring = forms.BooleanField(
        label=_("Also send to customers who enter the audience later (checked every hour)"), required=False
    )

    def __init__(self, *args, org, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.for_org(org).order_by("name")
        variables = ", ".join(f"{{{{ {name} }}}}" for name in VARIABLES)
        for index in range(FORM_VARIANTS):
            required = index == 0
            letter = chr(ord("A") + index)
            self.fields[f"variant_{index}_name"] = forms.CharField(
                label=_("Variant name"), max_length=60, required=False, initial=letter if required else ""
            )
            self.fields[f"variant_{index}_subject"] = forms.CharField(
                label=_("Subject"), max_length=200, required=False
            )
            self.fields[f"variant_{index}_body"] = forms.CharField(
                label=_("Body"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 6}),
                help_text=_("Plain text. Variables: %(variables)s. Links are tracked.") % {"variables": variables},
            )
            self.fields[f"variant_{index}_offer_code"] = forms.CharField(
                label=_("Offer code"), max_length=60, required=False
            )
            self.fields[f"variant_{index}_weight"] = forms.IntegerField(
                label=_("Weight"), min_value=1, max_value=100, initial=1, required=False
            )

    @classmethod
    def initial_for(cls, campaign: Campaign) -> dict:
        initial = {
            "name": campaign.name,
            "description": campaign.description,
            "channel": campaign.channel,
            "segment": campaign.segment_id,
            "tier": campaign.tier,
            "holdout_percent": (campaign.holdout_share * 100).quantize(Decimal("0.1")),
            "attribution_days": campaign.attribution_days,
            "cost": campaign.cost,
            "send_at": campaign.send_at,
            "recurring": campaign.recurring,
        }
        for variant in campaign.variants.order_by("position")[:FORM_VARIANTS]:
            for field in ("name", "subject", "body", "offer_code", "weight"):
                initial[f"variant_{variant.position}_{field}"] = getattr(variant, field)
        return initial

    def variant_groups(self) -> list[list]:
        return [
            [self[f"variant_{index}_{field}"] for field in ("name", "subject", "body", "offer_code", "weight")]
            for index in range(FORM_VARIANTS)
        ]

    def extra_variants_in_use(self) -> bool:
        """Variants 3 to 5 are folded away unless one of them holds something (or an error)."""
        for index in range(2, FORM_VARIANTS):
            for field in ("name", "subject", "body", "offer_code"):
                bound = self[f"variant_{index}_{field}"]
                if bound.value() or bound.errors:
                    return True
        return False

    def service_fields(self) -> dict:
        data = self.cleaned_data
        variants = []
        for index in range(FORM_VARIANTS):
            name = data.get(f"variant_{index}_name") or ""
            subject = data.get(f"variant_{index}_subject") or ""
            body = data.get(f"variant_{index}_body") or ""
            if index > 0 and not (name or subject or body.strip()):
                continue
            variants.append(
                {
                    "name": name or chr(ord("A") + index),
                    "subject": subject,
                    "body": body,
                    "offer_code": data.get(f"variant_{index}_offer_code") or "",
                    "weight": data.get(f"variant_{index}_weight") or 1,
                }
            )
        return {
            "name": data["name"],
            "description": data.get("description", ""),
            "channel": data["channel"],
            "segment": data.get("segment"),
            "tier": data.get("tier", ""),
            "holdout_share": (data["holdout_percent"] / Decimal(100)).quantize(Decimal("0.001")),
            "attribution_days": data["attribution_days"],
            "cost": data["cost"],
            "send_at": data.get("send_at"),
            "recurring": data.get("recurring", False),
            "variants": variants,
        }

    def add_service_error(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            return super().add_service_error(exc)
        renamed: dict[str, list[str]] = {}
        for key, messages in exc.message_dict.items():
            match = _VARIANT_KEY.match(key)
            if match:
                key = f"variant_{match.group(1)}_{match.group(2)}"
            elif key == "holdout_share":
                key = "holdout_percent"
            renamed.setdefault(key, []).extend(messages)
        return super().add_service_error(ValidationError(renamed))
