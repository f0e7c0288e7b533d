"""REST resources for the CRM: serializers validate shape and references, services do the writing.

References between resources use the keys integrations already hold: channels by ``code``, customers by
``id`` or ``customer_external_id``, people by e-mail. All are resolved inside the caller's organization, so
another organization's row is reported as unknown, never used.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.models import ApiKey, User
from accounts.permissions import (
    ADMINS,
    FOLLOW_UP_WRITERS,
    OrganizationPermission,
    may_export_customer_pii,
    role_for_request,
)
from config.api.base import (
    OrganizationModelViewSet,
    OrganizationScopedRelatedField,
    StrictSerializerMixin,
    actor_for_request,
    refuse_null_characters,
)
from config.api.errors import refused_change_as_conflict
from crm import filters, privacy, services
from crm.imports.bulk import MAX_BULK_RECORDS, bulk_upsert
from crm.models import (
    Channel,
    ChannelSpend,
    ConsentChange,
    ConsentSource,
    Customer,
    Event,
    Feedback,
    Note,
    Order,
    Task,
)


class MemberEmailField(serializers.SlugRelatedField):
    """An active member of the caller's organization, named by e-mail address."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="email", **kwargs)

    def get_queryset(self):
        org = self.context.get("organization")
        if org is None:
            return User.objects.none()
        return User.objects.filter(memberships__organization=org, is_active=True)

    def to_internal_value(self, data):
        refuse_null_characters(data)
        return super().to_internal_value(str(data).strip().lower())


def channel_field(**kwargs) -> OrganizationScopedRelatedField:
    return OrganizationScopedRelatedField(Channel, slug_field="code", **kwargs)


class CustomerReferenceMixin(serializers.Serializer):
    """Accepts ``customer`` (id) or ``customer_external_id`` and resolves either to one customer."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        external_id = attrs.pop("customer_external_id", None)
        if external_id is not None:
            org = self.context["organization"]
            customer = Customer.objects.for_org(org).filter(external_id=external_id).first()
            if customer is None:
                raise serializers.ValidationError(
                    {"customer_external_id": [_("No customer with this external id exists in your organization.")]}
                )
            attrs["customer"] = customer
        if "customer" not in attrs and not self.partial:
            raise serializers.ValidationError({"customer": [_("Give customer or customer_external_id.")]})
        return attrs


class ChannelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """An acquisition channel, referenced elsewhere by its ``code``."""

    class Meta:
        model = Channel
        fields = ["id", "code", "name", "kind", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators = []  # uniqueness is checked by the service, with the organization


class ChannelSpendSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """Money spent on a channel on one day, or in a month (``period`` "month", dated on the month's first day)."""

    channel = channel_field()

    class Meta:
        model = ChannelSpend
        fields = ["id", "channel", "date", "period", "amount"]
        read_only_fields = ["id"]
        validators = []


class CustomerSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A customer. Without ``external_id`` one is generated; ``owner`` is a member's e-mail address."""

    channel = channel_field(required=False, allow_null=True)
    owner = MemberEmailField(required=False, allow_null=True)
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=50)
    attributes = serializers.DictField(required=False)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "name",
            "email",
            "phone",
            "channel",
            "created_at",
            "updated_at",
            "owner",
            "consent_email",
            "consent_email_at",
            "consent_sms",
            "consent_sms_at",
            "tags",
            "attributes",
            "erased_at",
        ]
        read_only_fields = ["id", "updated_at", "consent_email_at", "consent_sms_at", "erased_at"]
        validators = []


class ConsentChangeSerializer(serializers.ModelSerializer):
    """One change of a customer's consent: channel, granted or withdrawn, where it came from, who, when."""

    class Meta:
        model = ConsentChange
        fields = ["id", "customer", "channel", "granted", "source", "actor_label", "at"]
        read_only_fields = fields


class CustomerEraseSerializer(StrictSerializerMixin, serializers.Serializer):
    confirm = serializers.BooleanField(
        help_text=_("Must be true: erasure removes the person's data for good and cannot be undone.")
    )


class CustomerEraserPermission(permissions.BasePermission):
    """Erasure cannot be undone: people need the admin role; API keys need the write scope (checked before)."""

    message = _("Only the organization's admins may erase customers.")

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        return role_for_request(request._request) in ADMINS


class OrderSerializer(StrictSerializerMixin, CustomerReferenceMixin, serializers.ModelSerializer):
    """An order of a customer (``customer`` id or ``customer_external_id``); ``external_id`` is unique."""

    customer = OrganizationScopedRelatedField(Customer, required=False)
    customer_external_id = serializers.CharField(max_length=100, required=False)
    channel = channel_field(required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False)

    class Meta:
        model = Order
        fields = [
            "id",
            "external_id",
            "customer",
            "customer_external_id",
            "ordered_at",
            "amount",
            "currency",
            "status",
            "channel",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators = []

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if "customer_external_id" in self.fields:  # absent from a sparse fieldset (?fields=) that left it out
            data["customer_external_id"] = instance.customer.external_id
        return data


class EventSerializer(StrictSerializerMixin, CustomerReferenceMixin, serializers.ModelSerializer):
    """Something a customer did, with free-form ``properties``."""

    customer = OrganizationScopedRelatedField(Customer, required=False)
    customer_external_id = serializers.CharField(max_length=100, required=False)
    properties = serializers.DictField(required=False)

    class Meta:
        model = Event
        fields = ["id", "customer", "customer_external_id", "name", "occurred_at", "properties"]
        read_only_fields = ["id"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if "customer_external_id" in self.fields:  # absent from a sparse fieldset (?fields=) that left it out
            data["customer_external_id"] = instance.customer.external_id
        return data


class FeedbackSerializer(StrictSerializerMixin, CustomerReferenceMixin, serializers.ModelSerializer):
    """A survey answer: NPS 0–10, or CSAT from 1 to ``scale_max`` (5 unless given)."""

    customer = OrganizationScopedRelatedField(Customer, required=False)
    customer_external_id = serializers.CharField(max_length=100, required=False)
    scale_max = serializers.IntegerField(required=False, min_value=2, max_value=100)

    class Meta:
        model = Feedback
        fields = ["id", "customer", "customer_external_id", "kind", "score", "scale_max", "comment", "answered_at"]
        read_only_fields = ["id"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if "customer_external_id" in self.fields:  # absent from a sparse fieldset (?fields=) that left it out
            data["customer_external_id"] = instance.customer.external_id
        return data


class NoteSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A note on a customer; the author is the signed-in person (none for an API key)."""

    customer = OrganizationScopedRelatedField(Customer)
    # Null when an API key wrote the note: a key belongs to the organization, not to a person.
    author = serializers.SlugRelatedField(
        slug_field="email",
        read_only=True,
        allow_null=True,
        help_text=_("E-mail of the member who wrote the note; null when it was written with an API key."),
    )

    class Meta:
        model = Note
        fields = ["id", "customer", "body", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class TaskSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A follow-up task; ``owner`` is a member's e-mail. Setting ``status`` to done stamps ``completed_at``."""

    customer = OrganizationScopedRelatedField(Customer, required=False, allow_null=True)
    owner = MemberEmailField(required=False, allow_null=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "customer",
            "title",
            "description",
            "owner",
            "due_date",
            "status",
            "created_at",
            "completed_at",
        ]
        read_only_fields = ["id", "created_at", "completed_at"]


class ChannelViewSet(OrganizationModelViewSet):
    """Acquisition channels. A channel that customers or orders refer to cannot be deleted; deactivate it."""

    model = Channel
    ordering_fields = ("code", "name", "created_at", "updated_at")
    serializer_class = ChannelSerializer
    filterset_class = filters.ChannelFilter
    create_service = services.channel_create
    update_service = services.channel_update
    delete_service = services.channel_delete
    instance_argument = "channel"


class ChannelSpendViewSet(OrganizationModelViewSet):
    """Spend per channel and day; one row per (channel, date)."""

    model = ChannelSpend
    ordering_fields = ("date", "amount", "updated_at")
    serializer_class = ChannelSpendSerializer
    filterset_class = filters.ChannelSpendFilter
    create_service = services.channel_spend_create
    update_service = services.channel_spend_update
    delete_service = services.channel_spend_delete
    instance_argument = "spend"
    select_related = ("channel",)


class BulkRecordsSerializer(StrictSerializerMixin, serializers.Serializer):
    records = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_BULK_RECORDS,
        help_text="Up to 10,000 records with the same fields as the CSV import of this kind.",
    )
    create_missing_customers = serializers.BooleanField(required=False, default=False)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    superseded = serializers.IntegerField()
    results = serializers.ListField(child=serializers.DictField())


class BulkUpsertMixin:
    """``POST …/bulk/``: upsert many records at once with the CSV import's rules and one result per record."""

    bulk_kind: str

    @extend_schema(request=BulkRecordsSerializer, responses={200: BulkResultSerializer})
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        incoming = BulkRecordsSerializer(data=request.data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        outcome = bulk_upsert(
            org=self.organization,
            actor=actor_for_request(request),
            kind=self.bulk_kind,
            records=incoming.validated_data["records"],
            create_missing_customers=incoming.validated_data["create_missing_customers"],
        )
        return Response(outcome)


INVALID_INPUT_EXAMPLE = OpenApiExample(
    "Invalid input",
    value={"detail": "Invalid input: email.", "errors": {"email": ["Enter a valid email address."]}},
    response_only=True,
    status_codes=["400"],
)
CUSTOMER_EXAMPLE = {
    "id": 4182,
    "external_id": "C-10023",
    "name": "Wang Wei",
    "email": "wang.wei@example.com",
    "phone": "+86 138 0013 8000",
    "channel": "wechat",
    "created_at": "2025-03-01T09:30:00+08:00",
    "updated_at": "2025-06-12T14:05:31.204817+08:00",
    "owner": "li.na@acme.example",
    "consent_email": True,
    "consent_email_at": "2025-03-01T09:30:00+08:00",
    "consent_sms": False,
    "consent_sms_at": None,
    "tags": ["vip", "shanghai"],
    "attributes": {"city": "Shanghai"},
    "erased_at": None,
}
ORDER_EXAMPLE = {
    "id": 99017,
    "external_id": "O-2025-000871",
    "customer": 4182,
    "customer_external_id": "C-10023",
    "ordered_at": "2025-06-12T14:05:00+08:00",
    "amount": "259.00",
    "currency": "CNY",
    "status": "completed",
    "channel": "wechat",
    "created_at": "2025-06-12T14:05:31.204817+08:00",
    "updated_at": "2025-06-12T14:05:31.204817+08:00",
}


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "New customer",
                value={
                    "external_id": "C-10023",
                    "name": "Wang Wei",
                    "email": "wang.wei@example.com",
                    "channel": "wechat",
                    "consent_email": True,
                    "tags": ["vip"],
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=CUSTOMER_EXAMPLE, response_only=True, status_codes=["201"]),
            INVALID_INPUT_EXAMPLE,
        ]
    ),
    retrieve=extend_schema(examples=[OpenApiExample("A customer", value=CUSTOMER_EXAMPLE, response_only=True)]),
    list=extend_schema(
        examples=[
            OpenApiExample(
                "Changes since the last sync",
                # drf-spectacular wraps a list example in the page (next, previous, results: [this]).
                value=CUSTOMER_EXAMPLE,
                response_only=True,
                description="GET /api/v1/customers/?updated_since=2025-06-12T14:00:00+08:00",
            ),
            OpenApiExample(
                "Unknown ordering",
                value={
                    "detail": "Invalid input: ordering.",
                    "errors": {
                        "ordering": [
                            "Sort by one of: created_at, external_id, id, updated_at (prefix '-' for descending)."
                        ]
                    },
                },
                response_only=True,
                status_codes=["400"],
            ),
        ]
    ),
)
class CustomerViewSet(BulkUpsertMixin, OrganizationModelViewSet):
    """Customers of your organization. Deleting one deletes their orders, events, answers, notes and tasks."""

    bulk_kind = "customers"
    model = Customer
    ordering_fields = ("created_at", "updated_at", "external_id")  # indexed: fast at any depth on 1M rows
    serializer_class = CustomerSerializer
    filterset_class = filters.CustomerFilter
    create_service = services.customer_create
    update_service = services.customer_update
    delete_service = services.customer_delete
    instance_argument = "customer"
    select_related = ("channel", "owner")

    def perform_create(self, serializer) -> None:
        create = type(self).create_service
        serializer.instance = create(
            org=self.organization,
            actor=actor_for_request(self.request),
            consent_source=ConsentSource.API,
            **serializer.validated_data,
        )

    def perform_update(self, serializer) -> None:
        update = type(self).update_service
        try:
            serializer.instance = update(
                customer=serializer.instance,
                actor=actor_for_request(self.request),
                consent_source=ConsentSource.API,
                **serializer.validated_data,
            )
        except services.CustomerErasedError as exc:
            # Well-formed, but the record's state refuses any change: a 409, as for a refused delete.
            raise refused_change_as_conflict(exc) from exc

    @extend_schema(
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=_(
                    "One JSON document with everything held about the person: profile, consent history, orders, "
                    "events, feedback, notes, tasks, webhook events, scores, segments and campaign deliveries."
                ),
            )
        }
    )
    @action(detail=True, methods=["get"], url_path="export", filter_backends=[], pagination_class=None)
    def export(self, request, pk=None):
        """Download everything held about this customer as JSON (streamed; the export is audit-logged)."""
        membership = getattr(request._request, "membership", None)
        if not isinstance(request.auth, ApiKey) and membership and not may_export_customer_pii(membership):
            raise PermissionDenied(_("Your organization does not let viewers export customers' personal data."))
        customer = self.get_object()
        response = StreamingHttpResponse(
            privacy.customer_export(customer=customer, actor=actor_for_request(request)),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{privacy.export_filename(customer)}"'
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=CustomerEraseSerializer, responses={200: CustomerSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="erase",
        filter_backends=[],
        pagination_class=None,
        permission_classes=[OrganizationPermission, CustomerEraserPermission],
    )
    def erase(self, request, pk=None):
        """Erase the person (admins; cannot be undone): identity removed, orders and scores kept for the figures.

        Erasing an erased customer again changes nothing and answers the same.
        """
        customer = self.get_object()
        body = CustomerEraseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        customer = privacy.customer_erase(
            customer=customer, actor=actor_for_request(request), confirm=body.validated_data["confirm"]
        )
        return Response(CustomerSerializer(customer, context=self.get_serializer_context()).data)


class ConsentChangeViewSet(OrganizationModelViewSet):
    """The consent history of customers (read-only): every grant and withdrawal, filter by ``customer``."""

    model = ConsentChange
    ordering_fields = ("at",)
    updated_field = "at"  # append-only
    serializer_class = ConsentChangeSerializer
    filterset_class = filters.ConsentChangeFilter
    http_method_names = ["get", "head", "options"]


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "New order by the customer's external id",
                value={
                    "external_id": "O-2025-000871",
                    "customer_external_id": "C-10023",
                    "ordered_at": "2025-06-12T14:05:00+08:00",
                    "amount": "259.00",
                    "channel": "wechat",
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=ORDER_EXAMPLE, response_only=True, status_codes=["201"]),
            INVALID_INPUT_EXAMPLE,
        ]
    ),
    retrieve=extend_schema(examples=[OpenApiExample("An order", value=ORDER_EXAMPLE, response_only=True)]),
)
class OrderViewSet(BulkUpsertMixin, OrganizationModelViewSet):
    """Orders. Only completed orders count towards revenue and scores."""

    bulk_kind = "orders"
    model = Order
    ordering_fields = ("ordered_at", "updated_at", "external_id")  # indexed: fast at any depth
    serializer_class = OrderSerializer
    filterset_class = filters.OrderFilter
    create_service = services.order_create
    update_service = services.order_update
    delete_service = services.order_delete
    instance_argument = "order"
    select_related = ("customer", "channel")


class EventViewSet(BulkUpsertMixin, OrganizationModelViewSet):
    """Events are facts: they can be recorded and deleted, not edited."""

    bulk_kind = "events"
    model = Event
    ordering_fields = ("updated_at",)  # the only indexed choice on the largest table besides id
    serializer_class = EventSerializer
    filterset_class = filters.EventFilter
    http_method_names = ["get", "post", "delete", "head", "options"]
    create_service = services.event_create
    delete_service = services.event_delete
    instance_argument = "event"
    select_related = ("customer",)


class FeedbackViewSet(OrganizationModelViewSet):
    """Survey answers are facts: they can be recorded and deleted, not edited."""

    model = Feedback
    ordering_fields = ("answered_at", "score", "updated_at")
    serializer_class = FeedbackSerializer
    filterset_class = filters.FeedbackFilter
    http_method_names = ["get", "post", "delete", "head", "options"]
    create_service = services.feedback_create
    delete_service = services.feedback_delete
    instance_argument = "feedback"
    select_related = ("customer",)


class NoteViewSet(OrganizationModelViewSet):
    """Notes on customers: added and deleted, not edited. Ops, marketers and admins may write them."""

    model = Note
    ordering_fields = ("created_at",)
    updated_field = "created_at"  # notes are added and deleted, never edited
    serializer_class = NoteSerializer
    filterset_class = filters.NoteFilter
    http_method_names = ["get", "post", "delete", "head", "options"]
    write_roles = FOLLOW_UP_WRITERS
    create_service = services.note_create
    delete_service = services.note_delete
    instance_argument = "note"
    select_related = ("author",)


class TaskViewSet(OrganizationModelViewSet):
    """Follow-up tasks. Ops, marketers and admins may write them."""

    model = Task
    ordering_fields = ("created_at", "updated_at", "title", "status")
    serializer_class = TaskSerializer
    filterset_class = filters.TaskFilter
    write_roles = FOLLOW_UP_WRITERS
    create_service = services.task_create
    update_service = services.task_update
    delete_service = services.task_delete
    instance_argument = "task"
    select_related = ("owner", "customer")
