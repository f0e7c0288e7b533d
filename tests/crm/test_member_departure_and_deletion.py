"""When a member leaves, their work returns to the team; a deleted customer leaves no personal data behind."""

from __future__ import annotations

import pytest

from accounts.models import AuditLog, Membership
from accounts.services import Actor, membership_remove
from crm.models import Customer, Task, TaskStatus
from crm.services import customer_delete
from tests.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_removing_a_member_unassigns_their_open_tasks_and_customers_in_that_org_only(
    org, other_org, admin_user, ops_user, member_factory
):
    Membership.objects.create(user=ops_user, organization=other_org, role="ops")
    mine = CustomerFactory(organization=org, owner=ops_user)
    open_task = TaskFactory(customer=mine, owner=ops_user, status=TaskStatus.OPEN)
    done_task = TaskFactory(customer=mine, owner=ops_user, status=TaskStatus.DONE)
    elsewhere = CustomerFactory(organization=other_org, owner=ops_user)

    membership_remove(membership=Membership.objects.get(organization=org, user=ops_user), actor=Actor(user=admin_user))

    assert Customer.objects.get(pk=mine.pk).owner is None
    assert Task.objects.get(pk=open_task.pk).owner is None
    assert Task.objects.get(pk=done_task.pk).owner == ops_user  # history keeps who did the work
    assert Customer.objects.get(pk=elsewhere.pk).owner == ops_user
    entry = AuditLog.objects.for_org(org).get(action="owner.unassign")
    assert entry.after == {"open_tasks": 1, "customers": 1}


def test_deleting_a_customer_keeps_no_personal_data_in_the_audit_log(org, admin_user):
    customer = CustomerFactory(
        organization=org,
        external_id="C-9",
        name="Wang Wei",
        email="wang@example.com",
        phone="+86 1",
        attributes={"vip": 1},
    )
    customer_delete(customer=customer, actor=Actor(user=admin_user))

    entry = AuditLog.objects.for_org(org).get(action="customer.delete")
    assert set(entry.before) == {"id", "external_id", "channel_id", "created_at"}
    assert "wang" not in str(entry.before).lower()
