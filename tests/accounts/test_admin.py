"""The Django admin: superusers only, tenant records read-only, keys revocable through the service."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.services import api_key_authenticate, api_key_create
from tests.factories import (
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    MembershipFactory,
    NoteFactory,
    OrderFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


def test_every_registered_model_has_a_working_changelist_and_change_page(client, superuser, org):
    customer = CustomerFactory(organization=org)
    for factory in (OrderFactory, EventFactory, FeedbackFactory, NoteFactory, TaskFactory):
        factory(customer=customer)
    api_key_create(org=org, name="shop", scopes=["read"])
    client.force_login(superuser)
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, f"{opts.label} changelist: {changelist.status_code}"
        row = model_admin.get_queryset(changelist.wsgi_request).first()
        if row is not None:
            change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
            assert change.status_code == 200, f"{opts.label} change page: {change.status_code}"


def test_staff_who_are_not_superusers_cannot_enter_the_admin_even_as_organization_admins(client, org):
    staff = UserFactory(is_staff=True)
    MembershipFactory(user=staff, organization=org, role=Role.ADMIN)
    CustomerFactory(organization=org, external_id="HIDDEN-1")
    client.force_login(staff)

    for url in (
        reverse("admin:index"),
        reverse("admin:crm_customer_changelist"),
        reverse("admin:accounts_membership_add"),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert reverse("admin:login") in response["Location"]


def test_tenant_records_cannot_be_edited_in_the_admin(client, superuser, org, other_org):
    order = OrderFactory(customer=CustomerFactory(organization=org))
    foreign_customer = CustomerFactory(organization=other_org)
    client.force_login(superuser)

    response = client.post(
        reverse("admin:crm_order_change", args=[order.pk]),
        {"customer": foreign_customer.pk, "external_id": order.external_id},
    )

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.customer.organization == org
    assert client.get(reverse("admin:crm_customer_add")).status_code == 403


def test_keys_are_revoked_through_the_service_and_cannot_be_unrevoked(client, superuser, org):
    key, plaintext = api_key_create(org=org, name="erp", scopes=["read"])
    client.force_login(superuser)

    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    assert api_key_authenticate(plaintext) is None
    assert AuditLog.objects.for_org(org).filter(action="api_key.revoke", actor_user=superuser).exists()

    client.post(reverse("admin:accounts_apikey_change", args=[key.pk]), {"revoked_at_0": "", "revoked_at_1": ""})
    assert api_key_authenticate(plaintext) is None


def test_audit_entries_cannot_be_deleted(client, superuser, org):
    api_key_create(org=org, name="erp", scopes=["read"])
    entry = AuditLog.objects.for_org(org).first()
    client.force_login(superuser)
    assert client.post(reverse("admin:accounts_auditlog_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditLog.objects.filter(pk=entry.pk).exists()
