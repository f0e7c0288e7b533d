"""Forms for the CRM pages. They only shape input; the services validate the business rules and write."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from config.forms import ServiceErrorsForm
from crm.models import Channel, TaskStatus


class NoteForm(ServiceErrorsForm):
    body = forms.CharField(
        label=_("Note"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("What happened, what was agreed, what comes next…")}),
    )


class CustomerEraseForm(ServiceErrorsForm):
    confirm = forms.BooleanField(
        label=_("I understand that this person's data is removed for good and cannot be restored."),
        error_messages={"required": _("Tick the box to confirm the erasure.")},
    )


class TaskForm(ServiceErrorsForm):
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Call back about the refund")}),
    )
    due_date = forms.DateField(label=_("Due date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label=_("Unassigned")
    )
    description = forms.CharField(
        label=_("Details"), required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, members: QuerySet[User] | None = None, **kwargs: Any) -> None:
        """``members`` are the people a task may be given to: only members of the current organization."""
        super().__init__(*args, **kwargs)
        if members is not None:
            self.fields["owner"].queryset = members


OWNER_CHOICES = [("", _("Anyone")), ("me", _("Mine")), ("none", _("Unassigned"))]
SORT_CHOICES = [
    ("newest", _("Newest first")),
    ("oldest", _("Oldest first")),
    ("name", _("Name A–Z")),
    ("-name", _("Name Z–A")),
    ("external_id", _("External id")),
]


class CustomerFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name, e-mail, phone or external id"), "autocomplete": "off"}
        ),
    )
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=100)
    owner = forms.ChoiceField(label=_("Owner"), required=False, choices=OWNER_CHOICES)
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args: Any, channels: Iterable[Channel] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [("", _("All channels"))] + [(c.code, c.name) for c in channels]

    def has_active_filters(self) -> bool:
        """True when the list is narrowed down, so an empty result means "no match" rather than "no customers"."""
        if not self.is_bound:
            return False
        self.is_valid()
        return any(self.cleaned_data.get(name) for name in ("q", "channel", "tag", "owner"))


SCOPE_CHOICES = [("mine", _("Mine")), ("unassigned", _("Unassigned")), ("all", _("Everyone's"))]


class TaskFilterForm(forms.Form):
    """Which tasks the inbox shows. Always bound (defaults filled in by the view) so what it shows is what it filters."""

    scope = forms.ChoiceField(label=_("Whose"), required=False, choices=SCOPE_CHOICES)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Any status")), *TaskStatus.choices])
