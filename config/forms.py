"""Form plumbing shared by every app's pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError


class ServiceErrorsForm(forms.Form):
    """A form that can show a service's ``ValidationError`` and marks invalid inputs for Pico CSS.

    Services raise errors keyed by model field; the ones the form has go under their input, the rest
    (``__all__``, fields the form does not show) above the form, so no error is ever lost or turns into a 500.
    """

    def add_service_error(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, exc.messages)

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._mark_invalid_inputs()

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid_inputs()

    def _mark_invalid_inputs(self) -> None:
        # Pico outlines inputs with aria-invalid="true" in red; screen readers announce them as invalid.
        for name in getattr(self, "_errors", None) or {}:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-invalid"] = "true"
