"""Sign-in, sign-out, password reset by e-mail, the organization switcher and the language switch."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from accounts.middleware import SESSION_KEY
from accounts.models import Role
from tests.factories import TEST_PASSWORD, CustomerFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-longer-new-secret-42"


def _login(client, email: str, password: str = TEST_PASSWORD):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


# Sign-in and sign-out ---------------------------------------------------------------------------------------


def test_login_with_email_and_password_signs_in_and_lands_on_home(client, ops_user):
    response = _login(client, ops_user.email)

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).wsgi_request.user == ops_user


def test_login_accepts_the_email_in_any_case(client, ops_user):
    response = _login(client, ops_user.email.upper())

    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(ops_user.pk)


def test_login_with_a_wrong_password_says_so_and_stays_signed_out(client, ops_user):
    response = _login(client, ops_user.email, "not-the-password")

    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_returns_to_the_page_asked_for(client, ops_user):
    wanted = reverse("crm:customer-list") + "?q=alice"
    response = client.post(
        reverse("accounts:login"), {"username": ops_user.email, "password": TEST_PASSWORD, "next": wanted}
    )

    assert response.url == wanted


def test_pages_send_a_signed_out_visitor_to_login_and_back(client):
    response = client.get(reverse("crm:customer-list"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:login") + "?next=" + reverse("crm:customer-list")


def test_htmx_request_of_a_signed_out_visitor_redirects_the_whole_window(client, org):
    customer = CustomerFactory(organization=org)
    detail = reverse("crm:customer-detail", args=[customer.pk])

    response = client.post(
        reverse("crm:customer-note-add", args=[customer.pk]),
        {"body": "hello"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver" + detail},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("accounts:login") + "?next=" + detail


def test_logout_ends_the_session_and_says_so(client, ops_user):
    client.force_login(ops_user)

    response = client.post(reverse("accounts:logout"), follow=True)

    assert "_auth_user_id" not in client.session
    assert response.redirect_chain[-1][0] == reverse("accounts:login")
    assert "You are logged out." in response.content.decode()


def test_logout_by_get_is_refused_so_a_link_cannot_log_people_out(client, ops_user):
    client.force_login(ops_user)

    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.session.get("_auth_user_id") == str(ops_user.pk)


def test_user_without_any_membership_is_told_to_ask_an_admin(client):
    client.force_login(UserFactory())

    response = client.get(reverse("home"))

    assert response.status_code == 403
    assert "ask an admin to add you" in response.content.decode()


# Password reset ---------------------------------------------------------------------------------------------


def _reset_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_password_reset_sends_an_email_whose_link_sets_a_new_password(client, ops_user):
    response = client.post(reverse("accounts:password_reset"), {"email": ops_user.email})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [ops_user.email]
    assert message.subject == "Reset your custops password"

    form_page = client.get(_reset_link(message), follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done.url == reverse("accounts:password_reset_complete")

    ops_user.refresh_from_db()
    assert ops_user.check_password(NEW_PASSWORD)
    client.logout()
    assert _login(client, ops_user.email, NEW_PASSWORD).status_code == 302


def test_password_reset_link_works_only_once(client, ops_user):
    client.post(reverse("accounts:password_reset"), {"email": ops_user.email})
    link = _reset_link(mail.outbox[0])
    form_page = client.get(link, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = client.get(link, follow=True)

    assert again.context["validlink"] is False
    assert "This link no longer works" in again.content.decode()


def test_password_reset_rejects_a_weak_new_password_with_the_reason(client, ops_user):
    client.post(reverse("accounts:password_reset"), {"email": ops_user.email})
    form_page = client.get(_reset_link(mail.outbox[0]), follow=True)

    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": "12345", "new_password2": "12345"})

    assert response.status_code == 200
    assert "too short" in response.content.decode()
    ops_user.refresh_from_db()
    assert ops_user.check_password(TEST_PASSWORD)


def test_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(client, ops_user):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_reset_email_is_written_in_the_users_language(client, ops_user):
    client.cookies["django_language"] = "zh-hans"

    client.post(reverse("accounts:password_reset"), {"email": ops_user.email})

    assert mail.outbox[0].subject == "重置你的 custops 密码"
    assert "设置新密码" in mail.outbox[0].body


# Organization switcher --------------------------------------------------------------------------------------


def test_org_switcher_switches_to_an_org_where_the_user_is_a_member(client, org, other_org):
    user = UserFactory()
    MembershipFactory(user=user, organization=org, role=Role.OPS)
    MembershipFactory(user=user, organization=other_org, role=Role.VIEWER)
    CustomerFactory(organization=other_org, name="Only In Globex")
    client.force_login(user)

    response = client.post(reverse("accounts:switch-organization"), {"organization": other_org.pk}, follow=True)

    assert client.session[SESSION_KEY] == other_org.pk
    assert response.wsgi_request.organization == other_org
    assert "Switched to Globex Shops." in response.content.decode()
    assert "Only In Globex" in client.get(reverse("crm:customer-list")).content.decode()


def test_org_switcher_refuses_an_org_where_the_user_is_not_a_member(client, ops_user, org, other_org):
    CustomerFactory(organization=other_org, name="Secret Globex Customer")
    client.force_login(ops_user)

    response = client.post(reverse("accounts:switch-organization"), {"organization": other_org.pk}, follow=True)

    assert SESSION_KEY not in client.session
    assert response.wsgi_request.organization == org
    assert "You are not a member of that organization." in response.content.decode()
    assert "Secret Globex Customer" not in client.get(reverse("crm:customer-list")).content.decode()


def test_org_switcher_ignores_garbage(client, ops_user, org):
    client.force_login(ops_user)

    response = client.post(reverse("accounts:switch-organization"), {"organization": "acme"}, follow=True)

    assert response.status_code == 200
    assert response.wsgi_request.organization == org


def test_org_switcher_lists_only_the_users_organizations(client, org, other_org):
    OrganizationFactory(slug="initech", name="Initech")
    user = UserFactory()
    MembershipFactory(user=user, organization=org)
    MembershipFactory(user=user, organization=other_org)
    client.force_login(user)

    page = client.get(reverse("home")).content.decode()

    assert 'id="org-switcher"' in page
    assert "Globex Shops" in page
    assert "Initech" not in page


def test_a_single_membership_shows_the_org_name_without_a_switcher(client, ops_user):
    client.force_login(ops_user)

    page = client.get(reverse("home")).content.decode()

    assert 'id="org-switcher"' not in page
    assert 'id="org-name">Acme Retail<' in page


def test_a_membership_removed_after_switching_falls_back_to_a_remaining_org(client, org, other_org):
    user = UserFactory()
    MembershipFactory(user=user, organization=org)
    gone = MembershipFactory(user=user, organization=other_org)
    client.force_login(user)
    client.post(reverse("accounts:switch-organization"), {"organization": other_org.pk})
    gone.delete()

    assert client.get(reverse("home")).wsgi_request.organization == org


# Navigation and language ------------------------------------------------------------------------------------


def _main_nav(response) -> str:
    match = re.search(r'<ul id="main-nav">(.*?)</ul>', response.content.decode(), re.S)
    assert match, "no main navigation on the page"
    return match.group(1)


def test_navigation_follows_the_role(client, ops_user, viewer_user):
    client.force_login(ops_user)
    ops_nav = _main_nav(client.get(reverse("home")))
    client.force_login(viewer_user)
    viewer_nav = _main_nav(client.get(reverse("home")))

    assert reverse("crm:task-inbox") in ops_nav
    assert reverse("crm:task-inbox") not in viewer_nav
    assert reverse("crm:customer-list") in viewer_nav
    assert reverse("admin:index") not in ops_nav


def test_staff_see_the_admin_link_and_the_admin_renders_in_chinese(client, org):
    staff = UserFactory(is_staff=True, is_superuser=True)
    MembershipFactory(user=staff, organization=org, role=Role.ADMIN)
    client.force_login(staff)
    client.cookies["django_language"] = "zh-hans"

    home = client.get(reverse("home")).content.decode()
    admin_index = client.get(reverse("admin:index"))

    assert reverse("admin:index") in home
    assert "后台管理" in home
    assert admin_index.status_code == 200
    assert "客户" in admin_index.content.decode()


def test_language_switch_to_simplified_chinese_translates_the_pages(client, ops_user):
    client.force_login(ops_user)

    response = client.post(
        reverse("set_language"), {"language": "zh-hans", "next": reverse("crm:customer-list")}, follow=True
    )

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("crm:customer-list")
    assert '<html lang="zh-hans"' in page
    assert ">客户</a>" in page
    assert ">任务</a>" in page
    assert "退出登录" in page


def test_login_page_is_translated(client):
    client.cookies["django_language"] = "zh-hans"

    page = client.get(reverse("accounts:login")).content.decode()

    assert "登录 custops" in page
    assert "忘记密码？" in page


CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"


def _po_entries(path: Path) -> list[dict]:
    """The entries of a .po file: context, id, plural id, translations and flags (enough for these checks)."""
    entries: list[dict] = []
    entry: dict = {}
    field = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry:
                entries.append(entry)
            entry, field = {}, ""
        elif line.startswith("#,"):
            entry.setdefault("flags", []).extend(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[field] += ast.literal_eval(line)
        else:
            field, _, value = line.partition(" ")
            entry[field] = ast.literal_eval(value)
    return entries


def test_chinese_catalogue_is_complete_and_its_compiled_file_is_current():
    """Every message is translated (nothing empty or fuzzy), and the committed .mo matches the .po.

    Newcomers run without gettext installed, so the compiled catalogue is committed; a stale one would
    silently show English. Refresh both with ``make messages``.
    """
    entries = [e for e in _po_entries(CATALOGUE / "django.po") if e.get("msgid")]
    untranslated = [
        e["msgid"]
        for e in entries
        if "fuzzy" in e.get("flags", []) or not all(v for k, v in e.items() if k.startswith("msgstr"))
    ]
    assert untranslated == []
    with (CATALOGUE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    stale = []
    for e in entries:
        key = e["msgid"] if "msgctxt" not in e else e["msgctxt"] + "\x04" + e["msgid"]
        if "msgid_plural" in e:
            if catalogue.ngettext(key, e["msgid_plural"], 1) != e["msgstr[0]"]:
                stale.append(e["msgid"])
        elif catalogue.gettext(key) != e["msgstr"]:
            stale.append(e["msgid"])
    assert stale == []
