from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from config.forms import ServiceErrorsForm
from webhooks.models import EventType


class WebhookEndpointForm(ServiceErrorsForm):
    url = forms.URLField(
        label=_("URL"), max_length=500, assume_scheme="https", help_text=_("Where custops POSTs the events.")
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Event types"),
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to receive every event type."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
