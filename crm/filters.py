"""Query-parameter filters for the CRM resources of the API.

A filter value that does not parse is a 400 naming the parameter (django-filter's strict mode), never an
empty page that looks like "no data".
"""

import django_filters
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.api.base import as_utc
from crm.models import Channel, ChannelSpend, ConsentChange, Customer, Event, Feedback, Note, Order, Task
from crm.selectors import customer_text_match, with_tag

#: Ids are bigint columns; a larger number would overflow inside the database driver.
MAX_ID = 2**63 - 1


class IdFilter(django_filters.Filter):
    """A row id: a whole number in the id column's range (``NumberFilter`` would pass 1e30 to the driver)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.NullBooleanField):
    """``true``/``false`` (or ``1``/``0``); any other value is an error, not a silently dropped filter.

    ``NullBooleanField``'s select widget maps an unknown value to "no filter", so ``at_risk=maybe`` would list
    every customer; a plain text widget hands the raw value to the field, which refuses it.
    """

    widget = forms.TextInput
    default_error_messages = {"invalid": _("Use true or false.")}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        result = super().to_python(value)
        if result is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return result


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class BoundedIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO date-time between the years 1900 and 2200 (farther ones overflow date arithmetic in SQLite), in
    UTC: an offset beyond ±15:59 (``+22:42``, valid ISO 8601) would be refused by PostgreSQL (``as_utc``)."""

    def clean(self, value):
        result = super().clean(value)
        if result is not None and not 1900 <= result.year <= 2200:
            raise forms.ValidationError(_("Give a date between the years 1900 and 2200."), code="out_of_range")
        return as_utc(result) if result is not None and timezone.is_aware(result) else result


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search name, e-mail, phone or exact external id")
    external_id = django_filters.CharFilter()
    email = django_filters.CharFilter(lookup_expr="iexact")
    channel = django_filters.CharFilter(field_name="channel__code")
    tag = django_filters.CharFilter(method="filter_tag")
    owner = django_filters.CharFilter(field_name="owner__email", lookup_expr="iexact")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    consent_email = StrictBooleanFilter()

    class Meta:
        model = Customer
        fields = []

    def filter_q(self, queryset, name, value):
        return queryset.filter(customer_text_match(value.strip())) if value.strip() else queryset

    def filter_tag(self, queryset, name, value):
        return with_tag(queryset, value)


class OrderFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    customer_external_id = django_filters.CharFilter(field_name="customer__external_id")
    external_id = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=Order._meta.get_field("status").choices)
    channel = django_filters.CharFilter(field_name="channel__code")
    ordered_after = DateTimeFilter(field_name="ordered_at", lookup_expr="gte")
    ordered_before = DateTimeFilter(field_name="ordered_at", lookup_expr="lt")
    min_amount = django_filters.NumberFilter(field_name="amount", lookup_expr="gte")

    class Meta:
        model = Order
        fields = []


class ChannelFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Channel._meta.get_field("kind").choices)
    is_active = StrictBooleanFilter()
    code = django_filters.CharFilter()

    class Meta:
        model = Channel
        fields = []


class ChannelSpendFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = ChannelSpend
        fields = []


class EventFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    customer_external_id = django_filters.CharFilter(field_name="customer__external_id")
    name = django_filters.CharFilter()
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = []


class FeedbackFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    customer_external_id = django_filters.CharFilter(field_name="customer__external_id")
    kind = django_filters.ChoiceFilter(choices=Feedback._meta.get_field("kind").choices)
    answered_after = DateTimeFilter(field_name="answered_at", lookup_expr="gte")
    answered_before = DateTimeFilter(field_name="answered_at", lookup_expr="lt")

    class Meta:
        model = Feedback
        fields = []


class ConsentChangeFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    channel = django_filters.ChoiceFilter(choices=ConsentChange._meta.get_field("channel").choices)
    source = django_filters.ChoiceFilter(choices=ConsentChange._meta.get_field("source").choices)

    class Meta:
        model = ConsentChange
        fields = []


class NoteFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")

    class Meta:
        model = Note
        fields = []


class TaskFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    status = django_filters.ChoiceFilter(choices=Task._meta.get_field("status").choices)
    owner = django_filters.CharFilter(field_name="owner__email", lookup_expr="iexact")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = Task
        fields = []
