"""The ops pages: customer list, customer 360, notes and tasks (htmx and plain posts), and the task inbox."""

from __future__ import annotations

import datetime
import html
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from crm.forms import NoteForm, TaskForm
from crm.models import Note, Task, TaskStatus
from crm.views import CUSTOMERS_PER_PAGE
from tests.factories import (
    ChannelFactory,
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    NoteFactory,
    OrderFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def ops_client(client, ops_user):
    client.force_login(ops_user)
    return client


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture
def customer(org):
    return CustomerFactory(organization=org, name="Alice Wang", email="alice@example.com", external_id="C-ALICE")


def _names_in_table(response) -> list[str]:
    """Customer names in the list, in display order."""
    table = re.search(r'<table[^>]*id="customer-table".*?</table>', response.content.decode(), re.S)
    if table is None:
        return []
    return re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', table.group(0))


def _list(client, **params):
    return client.get(reverse("crm:customer-list"), params)


# Customer list ----------------------------------------------------------------------------------------------


def test_customer_list_searches_name_email_phone_and_whole_external_id(ops_client, org, customer):
    CustomerFactory(organization=org, name="Bob Li", email="bob@example.com", phone="+86 138 0000 1111")

    assert _names_in_table(_list(ops_client, q="alice")) == ["Alice Wang"]
    assert _names_in_table(_list(ops_client, q="BOB@EXAMPLE")) == ["Bob Li"]
    assert _names_in_table(_list(ops_client, q="0000 1111")) == ["Bob Li"]
    assert _names_in_table(_list(ops_client, q="c-alice")) == ["Alice Wang"]
    assert _names_in_table(_list(ops_client, q="C-ALI")) == []


def test_customer_list_filters_by_channel_tag_and_owner(ops_client, ops_user, org):
    wechat = ChannelFactory(organization=org, code="wechat", name="WeChat")
    CustomerFactory(organization=org, name="Via WeChat", channel=wechat)
    CustomerFactory(organization=org, name="Tagged VIP", tags=["vip"])
    CustomerFactory(organization=org, name="Owned By Me", owner=ops_user)

    assert _names_in_table(_list(ops_client, channel="wechat")) == ["Via WeChat"]
    assert _names_in_table(_list(ops_client, tag="vip")) == ["Tagged VIP"]
    assert _names_in_table(_list(ops_client, owner="me")) == ["Owned By Me"]
    assert sorted(_names_in_table(_list(ops_client, owner="none"))) == ["Tagged VIP", "Via WeChat"]


def test_customer_list_sorts_by_name_both_ways_and_by_age(ops_client, org):
    now = timezone.now()
    for days, name in ((3, "Chen"), (1, "Adams"), (2, "Baker")):
        CustomerFactory(organization=org, name=name, created_at=now - datetime.timedelta(days=days))

    assert _names_in_table(_list(ops_client, sort="name")) == ["Adams", "Baker", "Chen"]
    assert _names_in_table(_list(ops_client, sort="-name")) == ["Chen", "Baker", "Adams"]
    assert _names_in_table(_list(ops_client)) == ["Adams", "Baker", "Chen"]
    assert _names_in_table(_list(ops_client, sort="oldest")) == ["Chen", "Baker", "Adams"]


def test_customer_list_paginates_and_keeps_the_filters_in_page_links(ops_client, org):
    for number in range(CUSTOMERS_PER_PAGE + 5):
        CustomerFactory(organization=org, name=f"Shop {number:02d}")

    first = _list(ops_client, q="shop", sort="name")
    second = _list(ops_client, q="shop", sort="name", page=2)

    assert len(_names_in_table(first)) == CUSTOMERS_PER_PAGE
    assert _names_in_table(second) == [f"Shop {n:02d}" for n in range(CUSTOMERS_PER_PAGE, CUSTOMERS_PER_PAGE + 5)]
    assert "?q=shop&amp;sort=name&amp;page=2" in first.content.decode()
    assert "Page 2 of 2" in second.content.decode()


def test_customer_list_shows_only_the_current_organizations_customers(ops_client, org, other_org):
    CustomerFactory(organization=org, name="Ours")
    CustomerFactory(organization=other_org, name="Theirs")

    assert _names_in_table(_list(ops_client)) == ["Ours"]
    assert _names_in_table(_list(ops_client, q="Theirs")) == []


def test_customer_list_htmx_request_gets_only_the_results_fragment(ops_client, customer):
    response = ops_client.get(reverse("crm:customer-list"), {"q": "alice"}, headers=HTMX)

    page = response.content.decode()
    assert "<html" not in page
    assert 'id="customer-table"' in page
    assert "HX-Request" in response["Vary"]


def test_customer_list_history_restore_gets_the_whole_page(ops_client, customer):
    response = ops_client.get(
        reverse("crm:customer-list"), {"q": "alice"}, headers={**HTMX, "HX-History-Restore-Request": "true"}
    )

    assert "<html" in response.content.decode()


def test_customer_list_tells_no_match_apart_from_no_customers(ops_client, org):
    assert "No customers yet." in _list(ops_client).content.decode()
    CustomerFactory(organization=org)

    no_match = _list(ops_client, q="zzz").content.decode()

    assert "No customer matches these filters." in no_match
    assert 'id="clear-filters"' in no_match


def test_customer_list_survives_nonsense_parameters_and_keeps_the_valid_filters(ops_client, org, customer):
    CustomerFactory(organization=org, name="Bob Li")

    response = _list(ops_client, q="alice", sort="drop table", page="last", channel="nope", owner="x" * 50)

    assert response.status_code == 200
    assert _names_in_table(response) == ["Alice Wang"]


# Customer 360 -----------------------------------------------------------------------------------------------


def test_customer_page_shows_profile_order_summary_and_history(ops_client, org, ops_user, customer):
    OrderFactory(customer=customer, external_id="O-1", amount=Decimal("100.00"))
    OrderFactory(customer=customer, external_id="O-2", amount=Decimal("50.50"))
    OrderFactory(customer=customer, external_id="O-3", amount=Decimal("999.00"), status="cancelled")
    EventFactory(customer=customer, name="app_open")
    FeedbackFactory(customer=customer, kind="nps", score=3, comment="Parcel arrived broken")
    NoteFactory(customer=customer, author=ops_user, body="Promised a call back on Friday")
    TaskFactory(customer=customer, title="Call back about the parcel", owner=ops_user)

    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    assert 'id="customer-name">Alice Wang<' in page
    assert "alice@example.com" in page
    summary = re.search(r'id="order-summary">(.*?)</section>', page, re.S).group(1)
    # Completed orders only: 100.00 + 50.50 = 150.50 over 2 orders, 75.25 on average; the cancelled one is left out.
    assert re.findall(r'class="value">([^<]+)<', summary)[:3] == ["2", "150.50", "75.25"]
    for text in ("O-1", "O-3", "Cancelled", "app_open", "Parcel arrived broken", "Promised a call back on Friday"):
        assert text in page
    assert "Call back about the parcel" in page


def test_customer_page_lists_open_tasks_before_closed_ones(ops_client, customer):
    TaskFactory(customer=customer, title="Finished long ago", status=TaskStatus.DONE, completed_at=timezone.now())
    TaskFactory(customer=customer, title="Still to do")

    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    open_table = re.search(r'id="open-tasks".*?</table>', page, re.S).group(0)
    assert "Still to do" in open_table
    assert "Finished long ago" not in open_table
    assert "1 closed task" in page


def test_customer_page_lists_open_tasks_soonest_due_first_and_undated_last(ops_client, customer):
    today = timezone.localdate()
    TaskFactory(customer=customer, title="Whenever")
    TaskFactory(customer=customer, title="Next week", due_date=today + datetime.timedelta(days=7))
    TaskFactory(customer=customer, title="Tomorrow", due_date=today + datetime.timedelta(days=1))

    response = ops_client.get(reverse("crm:customer-detail", args=[customer.pk]))

    assert _titles(response) == ["Tomorrow", "Next week", "Whenever"]


def test_customer_page_marks_overdue_tasks(ops_client, customer):
    TaskFactory(customer=customer, title="Late", due_date=timezone.localdate() - datetime.timedelta(days=2))

    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    assert re.search(r'<tr id="task-\d+" class="[^"]*is-overdue', page)
    assert "overdue" in page


def test_viewer_sees_the_customer_but_no_write_controls(viewer_client, customer):
    TaskFactory(customer=customer, title="Someone else's job")

    page = viewer_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    assert "Alice Wang" in page
    assert 'id="note-form"' not in page
    assert 'id="task-form"' not in page
    assert reverse("crm:task-complete", args=[customer.tasks.get().pk]) not in page
    assert 'id="readonly-hint"' in page


def test_ops_sees_the_note_and_task_forms(ops_client, customer):
    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    assert 'id="note-form"' in page
    assert 'id="task-form"' in page
    assert 'id="readonly-hint"' not in page


def test_another_organizations_customer_is_not_found(ops_client, other_org):
    theirs = CustomerFactory(organization=other_org)

    assert ops_client.get(reverse("crm:customer-detail", args=[theirs.pk])).status_code == 404
    assert ops_client.post(reverse("crm:customer-note-add", args=[theirs.pk]), {"body": "x"}).status_code == 404
    assert ops_client.post(reverse("crm:customer-task-add", args=[theirs.pk]), {"title": "x"}).status_code == 404
    assert not Note.objects.exists()
    assert not Task.objects.exists()


def test_customer_page_renders_in_simplified_chinese(ops_client, customer):
    ops_client.cookies["django_language"] = "zh-hans"

    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    for text in ("客户资料", "订单", "备注", "任务", "添加备注", "添加跟进任务"):
        assert text in page


def test_customer_page_shows_times_in_the_organizations_time_zone(ops_client, org, ops_user, customer):
    org.time_zone = "Asia/Shanghai"
    org.save()
    written = datetime.datetime(2026, 1, 1, 23, 30, tzinfo=datetime.UTC)
    NoteFactory(customer=customer, author=ops_user, body="Late call", created_at=written)

    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    assert "2026-01-02 07:30" in page


# Notes ------------------------------------------------------------------------------------------------------


def test_htmx_note_add_returns_the_notes_card_with_the_new_note(ops_client, ops_user, customer):
    response = ops_client.post(
        reverse("crm:customer-note-add", args=[customer.pk]), {"body": "  Asked for an invoice copy  "}, headers=HTMX
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Asked for an invoice copy" in page
    assert 'id="note-saved"' in page
    note = Note.objects.get()
    assert (note.body, note.author, note.customer) == ("Asked for an invoice copy", ops_user, customer)
    assert AuditLog.objects.filter(action="note.create", object_id=str(note.pk)).exists()


def test_plain_note_add_redirects_to_the_customer_with_a_message(ops_client, customer):
    response = ops_client.post(reverse("crm:customer-note-add", args=[customer.pk]), {"body": "Called"}, follow=True)

    assert response.redirect_chain == [(reverse("crm:customer-detail", args=[customer.pk]), 302)]
    assert "Note added." in response.content.decode()
    assert Note.objects.get().body == "Called"


def test_empty_note_shows_the_error_in_the_form_and_saves_nothing(ops_client, customer):
    response = ops_client.post(reverse("crm:customer-note-add", args=[customer.pk]), {"body": "   "}, headers=HTMX)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="note-error"' in page
    assert "This field is required." in page
    assert 'aria-invalid="true"' in page
    assert not Note.objects.exists()


def test_plain_post_of_a_too_long_note_re_shows_the_page_with_the_text_kept(ops_client, customer):
    too_long = "x" * 10001

    response = ops_client.post(reverse("crm:customer-note-add", args=[customer.pk]), {"body": too_long})

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" in page
    assert "at most 10000 characters" in page
    assert too_long in page
    assert not Note.objects.exists()


def test_marketer_may_add_notes(client, marketer_user, customer):
    client.force_login(marketer_user)

    response = client.post(reverse("crm:customer-note-add", args=[customer.pk]), {"body": "Campaign reply"})

    assert response.status_code == 302
    assert Note.objects.filter(body="Campaign reply").exists()


# Tasks on the customer page ---------------------------------------------------------------------------------


def test_htmx_task_add_returns_the_tasks_card_with_the_new_task(ops_client, org, ops_user, customer, member_factory):
    colleague = member_factory(org, Role.OPS, first_name="Wei", last_name="Zhang")
    due = timezone.localdate() + datetime.timedelta(days=3)

    response = ops_client.post(
        reverse("crm:customer-task-add", args=[customer.pk]),
        {"title": "Send the new catalogue", "due_date": due.isoformat(), "owner": colleague.pk, "description": "PDF"},
        headers=HTMX,
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Send the new catalogue" in page
    assert 'id="task-saved"' in page
    task = Task.objects.get()
    assert (task.customer, task.owner, task.due_date, task.created_by) == (customer, colleague, due, ops_user)
    assert task.status == TaskStatus.OPEN


def test_plain_task_add_redirects_to_the_customer_with_a_message(ops_client, customer):
    response = ops_client.post(
        reverse("crm:customer-task-add", args=[customer.pk]), {"title": "Check the refund"}, follow=True
    )

    assert response.redirect_chain == [(reverse("crm:customer-detail", args=[customer.pk]), 302)]
    assert "Task added." in response.content.decode()
    assert Task.objects.get().owner is None


def test_task_without_title_or_with_a_bad_date_shows_the_errors_and_keeps_the_form_open(ops_client, customer):
    response = ops_client.post(
        reverse("crm:customer-task-add", args=[customer.pk]), {"title": "", "due_date": "31/02/2026"}, headers=HTMX
    )

    page = response.content.decode()
    assert "This field is required." in page
    assert "Enter a valid date." in page
    assert '<details class="add-task" open>' in page
    assert not Task.objects.exists()


def test_task_owner_must_be_a_member_of_the_organization(ops_client, other_org, customer, member_factory):
    outsider = member_factory(other_org, Role.OPS)

    response = ops_client.post(
        reverse("crm:customer-task-add", args=[customer.pk]), {"title": "Hand over", "owner": outsider.pk}, headers=HTMX
    )

    assert "Select a valid choice" in response.content.decode()
    assert not Task.objects.exists()


def test_task_form_offers_only_members_and_preselects_me(ops_client, ops_user, other_org, customer, member_factory):
    outsider = member_factory(other_org, Role.OPS, email="outsider@example.com")
    loner = UserFactory(email="no-membership@example.com")

    page = ops_client.get(reverse("crm:customer-detail", args=[customer.pk])).content.decode()

    owner_select = re.search(r'<select name="owner".*?</select>', page, re.S).group(0)
    assert f'value="{ops_user.pk}" selected' in owner_select
    assert f'value="{outsider.pk}"' not in owner_select
    assert f'value="{loner.pk}"' not in owner_select


# Write permissions ------------------------------------------------------------------------------------------


def test_viewer_gets_403_on_every_write_and_nothing_changes(viewer_client, customer):
    task = TaskFactory(customer=customer)

    for url, data in (
        (reverse("crm:customer-note-add", args=[customer.pk]), {"body": "sneaky"}),
        (reverse("crm:customer-task-add", args=[customer.pk]), {"title": "sneaky"}),
        (reverse("crm:task-complete", args=[task.pk]), {}),
    ):
        assert viewer_client.post(url, data).status_code == 403
        assert viewer_client.post(url, data, headers=HTMX).status_code == 403

    assert not Note.objects.exists()
    assert Task.objects.get().status == TaskStatus.OPEN


def test_forbidden_page_explains_why(viewer_client, customer):
    response = viewer_client.post(reverse("crm:customer-note-add", args=[customer.pk]), {"body": "x"})

    assert "may only read here" in response.content.decode()


def test_write_urls_refuse_get(ops_client, customer):
    task = TaskFactory(customer=customer)

    assert ops_client.get(reverse("crm:customer-note-add", args=[customer.pk])).status_code == 405
    assert ops_client.get(reverse("crm:customer-task-add", args=[customer.pk])).status_code == 405
    assert ops_client.get(reverse("crm:task-complete", args=[task.pk])).status_code == 405


# Task inbox -------------------------------------------------------------------------------------------------


@pytest.fixture
def inbox_tasks(org, ops_user, member_factory, customer):
    colleague = member_factory(org, Role.OPS)
    today = timezone.localdate()
    return {
        "mine_late": TaskFactory(
            customer=customer, title="Mine, late", owner=ops_user, due_date=today - datetime.timedelta(days=1)
        ),
        "mine_later": TaskFactory(
            customer=customer, title="Mine, later", owner=ops_user, due_date=today + datetime.timedelta(days=5)
        ),
        "mine_done": TaskFactory(customer=customer, title="Mine, done", owner=ops_user, status=TaskStatus.DONE),
        "nobodys": TaskFactory(customer=customer, title="Nobody's"),
        "colleagues": TaskFactory(customer=customer, title="Colleague's", owner=colleague),
    }


def _titles(response) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<span class="task-title">([^<]+)</span>', response.content.decode())]


def test_inbox_shows_my_open_tasks_soonest_first_by_default(ops_client, inbox_tasks):
    response = ops_client.get(reverse("crm:task-inbox"))

    assert _titles(response) == ["Mine, late", "Mine, later"]


def test_inbox_scopes_to_unassigned_or_everyones_tasks(ops_client, inbox_tasks):
    assert _titles(ops_client.get(reverse("crm:task-inbox"), {"scope": "unassigned"})) == ["Nobody's"]
    assert sorted(_titles(ops_client.get(reverse("crm:task-inbox"), {"scope": "all"}))) == [
        "Colleague's",
        "Mine, late",
        "Mine, later",
        "Nobody's",
    ]


def test_inbox_filters_by_status(ops_client, inbox_tasks):
    assert _titles(ops_client.get(reverse("crm:task-inbox"), {"status": "done"})) == ["Mine, done"]
    assert len(_titles(ops_client.get(reverse("crm:task-inbox"), {"status": ""}))) == 3


def test_inbox_counts_each_scope_and_highlights_overdue_tasks(ops_client, inbox_tasks):
    page = ops_client.get(reverse("crm:task-inbox")).content.decode()

    counts = re.findall(r'<span class="count">(\d+)</span>', page)
    assert counts == ["2", "1", "4"]
    late_row = re.search(rf'<tr id="task-{inbox_tasks["mine_late"].pk}" class="([^"]*)"', page).group(1)
    later_row = re.search(rf'<tr id="task-{inbox_tasks["mine_later"].pk}" class="([^"]*)"', page).group(1)
    assert "is-overdue" in late_row
    assert "is-overdue" not in later_row


def test_inbox_htmx_filter_returns_the_fragment(ops_client, inbox_tasks):
    response = ops_client.get(reverse("crm:task-inbox"), {"scope": "all"}, headers=HTMX)

    assert "<html" not in response.content.decode()
    assert len(_titles(response)) == 4


def test_inbox_of_a_viewer_shows_everyones_tasks_read_only(viewer_client, inbox_tasks):
    response = viewer_client.get(reverse("crm:task-inbox"))

    assert len(_titles(response)) == 4
    assert "Mark done" not in response.content.decode()


def test_inbox_survives_a_bad_filter_value(ops_client, inbox_tasks):
    response = ops_client.get(reverse("crm:task-inbox"), {"scope": "boss", "status": "maybe"})

    assert response.status_code == 200
    assert _titles(response) == ["Mine, late", "Mine, later"]


def test_htmx_mark_done_returns_the_updated_row(ops_client, inbox_tasks):
    task = inbox_tasks["mine_late"]

    response = ops_client.post(reverse("crm:task-complete", args=[task.pk]), {"from": "inbox"}, headers=HTMX)

    page = response.content.decode()
    assert page.strip().startswith(f'<tr id="task-{task.pk}"')
    assert "Done" in page
    assert reverse("crm:customer-detail", args=[task.customer_id]) in page
    assert "is-overdue" not in page
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.completed_at is not None


def test_plain_mark_done_goes_back_to_the_page_it_came_from(ops_client, inbox_tasks):
    task = inbox_tasks["nobodys"]
    back = reverse("crm:task-inbox") + "?scope=unassigned"

    response = ops_client.post(reverse("crm:task-complete", args=[task.pk]), {"next": back}, follow=True)

    assert response.redirect_chain == [(back, 302)]
    assert "marked done" in response.content.decode()


def test_mark_done_never_redirects_off_site(ops_client, inbox_tasks):
    task = inbox_tasks["nobodys"]

    response = ops_client.post(reverse("crm:task-complete", args=[task.pk]), {"next": "https://evil.example/"})

    assert response.url == reverse("crm:task-inbox")


def test_another_organizations_task_is_not_found(ops_client, other_org):
    theirs = TaskFactory(customer=CustomerFactory(organization=other_org))

    assert ops_client.post(reverse("crm:task-complete", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == TaskStatus.OPEN


# Home -------------------------------------------------------------------------------------------------------
# The home page is reporting/home.py now (tests/reporting/test_home.py); these check it kept the CRM content.


def test_home_shows_counts_and_my_open_tasks_with_overdue_count(ops_client, inbox_tasks):
    page = ops_client.get(reverse("home")).content.decode()

    assert "Mine, late" in page
    assert "Colleague&#x27;s" not in page
    assert "1 overdue" in page
    assert "Acme Retail" in page


def test_home_of_a_viewer_has_no_task_list(viewer_client, inbox_tasks):
    page = viewer_client.get(reverse("home")).content.decode()

    assert 'id="my-tasks"' not in page


# Form plumbing ----------------------------------------------------------------------------------------------


def test_service_errors_land_on_their_field_or_above_the_form():
    """A service error about a field the form shows goes under it; any other field's goes above the form."""
    form = TaskForm({"title": "x"})
    assert form.is_valid()

    form.add_service_error(ValidationError({"title": ["Too vague."], "customer": ["Unknown customer."]}))

    assert form.errors["title"] == ["Too vague."]
    assert form.non_field_errors() == ["Unknown customer."]
    assert form.fields["title"].widget.attrs["aria-invalid"] == "true"


def test_a_plain_service_error_goes_above_the_form():
    form = NoteForm({"body": "x"})
    assert form.is_valid()

    form.add_service_error(ValidationError("Not now."))

    assert form.non_field_errors() == ["Not now."]
