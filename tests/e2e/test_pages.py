"""What an ops user does all day, in a real browser: log in, find a customer, follow up, clear the inbox.

Each test leaves screenshots in var/screenshots/ for a person to look at, in English and Simplified Chinese.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Role
from crm.models import Note, Task, TaskStatus
from tests.factories import (
    TEST_PASSWORD,
    ChannelFactory,
    CustomerFactory,
    EventFactory,
    FeedbackFactory,
    MembershipFactory,
    NoteFactory,
    OrderFactory,
    OrganizationFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(transactional_db):
    """Acme with a handful of customers and tasks; the ops user also belongs to Globex, the viewer only to Acme."""
    acme = OrganizationFactory(slug="acme", name="Acme Retail")
    globex = OrganizationFactory(slug="globex", name="Globex Shops")
    ops = UserFactory(email="olivia@example.com", first_name="Olivia", last_name="Chen")
    MembershipFactory(user=ops, organization=acme, role=Role.OPS)
    MembershipFactory(user=ops, organization=globex, role=Role.OPS)
    viewer = UserFactory(email="victor@example.com", first_name="Victor", last_name="Li")
    MembershipFactory(user=viewer, organization=acme, role=Role.VIEWER)
    wechat = ChannelFactory(organization=acme, code="wechat", name="WeChat ads")
    search = ChannelFactory(organization=acme, code="search", name="Search")
    now = timezone.now()
    today = timezone.localdate()
    alice = CustomerFactory(
        organization=acme,
        name="Alice Wang",
        email="alice@example.com",
        phone="+86 138 0000 0001",
        external_id="C-1001",
        channel=wechat,
        owner=ops,
        tags=["vip"],
        consent_email=True,
    )
    for days, amount in ((12, "320.00"), (80, "149.90"), (200, "89.00")):
        OrderFactory(customer=alice, amount=Decimal(amount), ordered_at=now - datetime.timedelta(days=days))
    EventFactory(customer=alice, name="app_open")
    FeedbackFactory(customer=alice, kind="nps", score=9, comment="Fast delivery, friendly support.")
    NoteFactory(customer=alice, author=ops, body="Prefers WeChat over phone calls.")
    names = ["Bob Li", "Carla Gomez", "Deng Wei", "Erik Larsen", "Fatima Noor", "Gao Yan", "Hana Sato"]
    others = [
        CustomerFactory(
            organization=acme, name=name, channel=search if i % 2 else wechat, tags=["b2b"] if i % 3 else []
        )
        for i, name in enumerate(names)
    ]
    TaskFactory(
        customer=others[0], title="Call back about the refund", owner=ops, due_date=today - datetime.timedelta(days=2)
    )
    TaskFactory(
        customer=others[1], title="Send the spring catalogue", owner=ops, due_date=today + datetime.timedelta(days=3)
    )
    TaskFactory(customer=others[2], title="Check the wholesale price list", due_date=today + datetime.timedelta(days=7))
    CustomerFactory(organization=globex, name="Globex Only Customer")
    return {"acme": acme, "globex": globex, "ops": ops, "viewer": viewer, "alice": alice}


def log_in(page, email: str, password: str = TEST_PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#current-user")).to_be_visible()
    # The page's deferred scripts (custops.js: auto-submitting selects, confirmations) run just before this.
    page.wait_for_load_state("domcontentloaded")


def mark_page(page) -> None:
    """Leave a marker in the window; it survives htmx swaps but not a full page load."""
    page.evaluate("window.__custopsMarker = 'still here'")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__custopsMarker") == "still here", "the page was reloaded"


def test_ops_user_finds_a_customer_and_adds_a_note_and_a_task(page, shop, screenshot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    screenshot("login-en")
    log_in(page, "olivia@example.com")
    expect(page.locator("h1")).to_have_text("Acme Retail")
    screenshot("home-en")

    page.locator("#main-nav").get_by_role("link", name="Customers").click()
    expect(page.locator("#customer-count")).to_have_text("8 customers")
    screenshot("customers-en")

    mark_page(page)
    page.get_by_label("Search").fill("alice")
    expect(page.locator("#customer-count")).to_have_text("1 customer")
    expect(page).to_have_url(re.compile(r"[?&]q=alice"))
    assert_not_reloaded(page)
    screenshot("customers-search-en")

    page.get_by_role("link", name="Alice Wang").click()
    expect(page.locator("#customer-name")).to_have_text("Alice Wang")
    expect(page.locator("#order-summary")).to_contain_text("558.90")
    screenshot("customer-en")

    mark_page(page)
    note_box = page.locator("#note-form textarea")
    note_box.fill("Asked for the VIP price list; sending it on Monday.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-list")).to_contain_text("Asked for the VIP price list")
    expect(page.locator("#note-saved")).to_be_visible()
    expect(page.locator("#note-form textarea")).to_have_value("")
    assert_not_reloaded(page)
    assert Note.objects.filter(customer=shop["alice"], body__startswith="Asked for the VIP").exists()

    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-error")).to_have_text("This field is required.")
    assert_not_reloaded(page)

    page.get_by_text("Add a follow-up task").click()
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("#task-form")).to_contain_text("This field is required.")
    screenshot("customer-errors-en")
    page.get_by_label("Title").fill("Send the VIP price list")
    page.get_by_label("Due date").fill((timezone.localdate() - datetime.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("#task-saved")).to_be_visible()
    new_row = page.locator("#open-tasks tr", has_text="Send the VIP price list")
    expect(new_row).to_have_class(re.compile("is-overdue"))
    expect(new_row).to_contain_text("overdue")
    assert_not_reloaded(page)
    task = Task.objects.get(title="Send the VIP price list")
    assert (task.customer, task.owner) == (shop["alice"], shop["ops"])
    screenshot("customer-followed-up-en")


def test_task_inbox_marks_a_task_done_in_place(page, shop, screenshot):
    log_in(page, "olivia@example.com")
    page.locator("#main-nav").get_by_role("link", name="Tasks").click()
    expect(page.locator("h1")).to_have_text("Task inbox")
    rows = page.locator("#task-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_class(re.compile("is-overdue"))
    screenshot("tasks-en")

    mark_page(page)
    late = page.locator("tr", has_text="Call back about the refund")
    late.get_by_role("button", name=re.compile(r"^Mark .*Call back about the refund.* done$")).click()
    expect(late.locator(".status-badge")).to_have_text("Done")
    expect(late.get_by_role("link", name="Bob Li")).to_be_visible()
    assert_not_reloaded(page)
    assert Task.objects.get(title="Call back about the refund").status == TaskStatus.DONE
    screenshot("tasks-done-en")

    page.locator("label[for=scope-unassigned]").click()
    expect(page).to_have_url(re.compile(r"scope=unassigned"))
    expect(page.locator("#task-table tbody tr")).to_have_count(1)
    expect(page.locator("#task-table")).to_contain_text("Check the wholesale price list")
    assert_not_reloaded(page)


def test_language_switch_to_simplified_chinese(page, shop, screenshot):
    log_in(page, "olivia@example.com")
    page.locator("#language-switcher").get_by_role("button", name="中文").click()
    nav = page.locator("#main-nav")
    expect(nav.get_by_role("link", name="客户")).to_be_visible()
    expect(nav.get_by_role("link", name="任务")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    screenshot("home-zh-hans")

    nav.get_by_role("link", name="客户").click()
    expect(page.locator("#customer-count")).to_have_text("8 位客户")
    screenshot("customers-zh-hans")
    page.get_by_role("link", name="Alice Wang").click()
    expect(page.locator("#profile")).to_contain_text("客户资料")
    page.get_by_text("添加跟进任务").click()
    page.get_by_role("button", name="添加任务").click()
    expect(page.locator("#task-form")).to_contain_text("该字段是必填项。")
    screenshot("customer-zh-hans")
    page.locator("#main-nav").get_by_role("link", name="任务").click()
    expect(page.locator("h1")).to_have_text("任务收件箱")
    screenshot("tasks-zh-hans")
    page.locator("#main-nav").get_by_role("link", name="报表").click()
    expect(page.locator("h1")).to_have_text("管理层总览")
    page.locator(".report-nav").get_by_role("link", name="夜间运行记录").click()
    expect(page.locator("h1")).to_have_text("夜间运行记录")
    screenshot("jobs-zh-hans")

    page.locator("#logout-form").get_by_role("button", name="退出登录").click()
    expect(page.locator("#messages")).to_have_text("你已退出登录。")
    expect(page.locator("h1")).to_have_text("登录 custops")
    screenshot("login-zh-hans")
    page.get_by_label("电子邮箱").fill("olivia@example.com")
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    page.locator("#language-switcher").get_by_role("button", name="EN").click()
    expect(page.locator("#main-nav").get_by_role("link", name="Tasks")).to_be_visible()


def test_organization_switch_shows_the_other_organizations_customers(page, shop, screenshot):
    log_in(page, "olivia@example.com")
    page.locator("#org-switcher select").select_option(label="Globex Shops")
    expect(page.locator("#messages")).to_contain_text("Switched to Globex Shops.")
    expect(page.locator("h1")).to_have_text("Globex Shops")
    screenshot("org-switched-en")

    page.locator("#main-nav").get_by_role("link", name="Customers").click()
    expect(page.locator("#customer-table")).to_contain_text("Globex Only Customer")
    expect(page.locator("#customer-table")).not_to_contain_text("Alice Wang")

    page.goto(f"/customers/{shop['alice'].pk}/")
    expect(page.locator("#error-404")).to_be_visible()
    screenshot("not-found-en")


def test_viewer_reads_but_sees_no_write_controls(page, shop, screenshot):
    log_in(page, "victor@example.com")
    expect(page.locator("#main-nav").get_by_role("link", name="Tasks")).to_have_count(0)
    page.goto(f"/customers/{shop['alice'].pk}/")
    expect(page.locator("#readonly-hint")).to_be_visible()
    expect(page.locator("#note-form")).to_have_count(0)
    expect(page.locator("#task-form")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Mark"))).to_have_count(0)
    screenshot("customer-viewer-en")


def test_password_reset_by_email(page, shop, screenshot):
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    screenshot("password-reset-en")
    page.get_by_label("E-mail").fill("olivia@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    screenshot("password-reset-sent-en")

    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[-1].body).group(0)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Choose a new password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat the new password").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator(".field-error").first).to_contain_text("too short")
    screenshot("password-set-errors-en")
    page.get_by_label("New password", exact=True).fill("spring-tea-harbour-2026")
    page.get_by_label("Repeat the new password").fill("spring-tea-harbour-2026")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("h1")).to_have_text("Password changed")

    log_in(page, "olivia@example.com", "spring-tea-harbour-2026")


def test_admin_pages_render(page, shop, screenshot):
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    MembershipFactory(user=root, organization=shop["acme"], role=Role.ADMIN)
    log_in(page, "root@example.com")
    page.locator("#main-nav").get_by_role("link", name="Admin").click()
    expect(page.locator("#site-name")).to_be_visible()
    screenshot("admin-index-en")
    page.goto("/admin/crm/customer/")
    expect(page.locator("#result_list")).to_contain_text("Alice Wang")
    screenshot("admin-customers-en")
    page.goto(f"/admin/crm/customer/{shop['alice'].pk}/change/")
    expect(page.locator("#customer_form")).to_be_visible()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_pages_fit_a_phone_screen(browser, live_server, shop, language):
    """On a 390 px wide phone the header wraps and the customer page stacks, with nothing wider than the screen."""
    from tests.e2e.conftest import SCREENSHOTS

    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    phone = context.new_page()
    try:
        phone.goto("/accounts/login/")
        phone.locator("#id_username").fill("olivia@example.com")
        phone.locator("#id_password").fill(TEST_PASSWORD)
        phone.locator("#login-form button[type=submit]").click()
        phone.wait_for_url(re.compile(r"/$"))
        for path, name in ((f"/customers/{shop['alice'].pk}/", "customer"), ("/tasks/", "tasks")):
            phone.goto(path)
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            phone.screenshot(path=str(SCREENSHOTS / f"{name}-phone-{language}.png"), full_page=True)
            assert overflow <= 0, f"{path} is {overflow}px wider than the phone screen"
    finally:
        context.close()


def test_a_write_refused_mid_session_is_explained_not_silent(page, shop):
    """If an admin makes the user read-only while the page is open, the next htmx write says why it failed."""
    log_in(page, "olivia@example.com")
    page.goto(f"/customers/{shop['alice'].pk}/")
    shop["ops"].memberships.filter(organization=shop["acme"]).update(role=Role.VIEWER)

    page.locator("#note-form textarea").fill("Written after losing the right to write")
    page.get_by_role("button", name="Add note").click()

    expect(page.locator("#htmx-error")).to_have_text("Your role does not allow this action.")
    assert not Note.objects.filter(body__startswith="Written after").exists()
