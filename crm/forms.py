"""Forms for the CRM pages. They only shape input; the services validate and write."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from crm.models import TaskStatus


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Note"), max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    due_date = forms.DateField(label=_("Due date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        if members is not None:
            self.fields["owner"].queryset = members


class CustomerFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    tag = forms.CharField(label=_("Tag"), required=False)
    owner = forms.ChoiceField(
        label=_("Owner"), required=False, choices=[("", _("Anyone")), ("me", _("Mine")), ("none", _("Unassigned"))]
    )
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[
            ("newest", _("Newest first")),
            ("oldest", _("Oldest first")),
            ("name", _("Name A–Z")),
            ("-name", _("Name Z–A")),
            ("external_id", _("External id")),
        ],
    )

    def __init__(self, *args, channels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [("", _("All channels"))] + [(c.code, c.name) for c in channels]


class TaskFilterForm(forms.Form):
    scope = forms.ChoiceField(
        required=False,
        choices=[("mine", _("Mine")), ("unassigned", _("Unassigned")), ("all", _("Everyone's"))],
    )
    status = forms.ChoiceField(required=False, choices=[("", _("Any status")), *list(TaskStatus.choices)])
