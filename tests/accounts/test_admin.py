"""The Django admin renders every model and shows staff only the organizations they administer."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Role
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
    client.force_login(superuser)
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, f"{opts.label} changelist: {changelist.status_code}"
        row = model_admin.get_queryset(changelist.wsgi_request).first()
        if row is not None:
            change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
            assert change.status_code == 200, f"{opts.label} change page: {change.status_code}"


def test_staff_admin_of_one_org_sees_only_that_orgs_customers(client, org, other_org):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*_permissions("view_customer"))
    MembershipFactory(user=staff, organization=org, role=Role.ADMIN)
    CustomerFactory(organization=org, external_id="MINE-1")
    CustomerFactory(organization=other_org, external_id="THEIRS-1")
    client.force_login(staff)

    body = client.get(reverse("admin:crm_customer_changelist")).content.decode()

    assert "MINE-1" in body
    assert "THEIRS-1" not in body


def test_staff_member_without_admin_role_sees_no_customers(client, org):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*_permissions("view_customer"))
    MembershipFactory(user=staff, organization=org, role=Role.OPS)
    CustomerFactory(organization=org, external_id="HIDDEN-1")
    client.force_login(staff)

    assert "HIDDEN-1" not in client.get(reverse("admin:crm_customer_changelist")).content.decode()


def _permissions(codename: str):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename=codename)
