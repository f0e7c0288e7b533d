"""Forms of the segment pages. They only shape input; the services validate the rules and names and write."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from config.forms import ServiceErrorsForm

#: Longest rule JSON a form accepts; the rule language's own limits (100 conditions) fit well inside it.
MAX_RULES_TEXT = 100_000


def parse_rules_text(text: str) -> Any:
    """The JSON a person typed or the builder wrote, or a ValidationError saying where it breaks."""
    if not text.strip():
        raise ValidationError(_("Add at least one condition."), code="required")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            _("This is not valid JSON: %(error)s at line %(line)s, column %(column)s."),
            code="invalid_json",
            params={"error": exc.msg, "line": exc.lineno, "column": exc.colno},
        ) from None


def is_rule_path(key: str) -> bool:
    """Whether a service error key is a JSON path into the rules (``rules``, ``rules.all[0].op``…)."""
    return key == "rules" or key.startswith(("rules.", "rules["))


class SegmentForm(ServiceErrorsForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    rules = forms.CharField(
        label=_("Rules (JSON)"),
        max_length=MAX_RULES_TEXT,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "autocomplete": "off", "class": "rules-json"}),
    )

    def clean_rules(self) -> Any:
        return parse_rules_text(self.cleaned_data["rules"])

    def add_service_error(self, exc: ValidationError) -> dict[str, list[str]]:
        """Show the service's errors; returns the ones about the rules, keyed by JSON path, for the builder."""
        if not hasattr(exc, "error_dict"):
            super().add_service_error(exc)
            return {}
        rule_errors = {key: messages for key, messages in exc.message_dict.items() if is_rule_path(key)}
        others = {key: messages for key, messages in exc.message_dict.items() if not is_rule_path(key)}
        if others:
            super().add_service_error(ValidationError(others))
        if rule_errors:
            self.add_error("rules", _("The rules need fixing: each problem is shown next to its condition."))
        return rule_errors


class SnapshotForm(ServiceErrorsForm):
    name = forms.CharField(
        label=_("Snapshot name"),
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Audience of the spring campaign")}),
    )
