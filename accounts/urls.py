"""Sign-in, sign-out, password reset by e-mail, and the organization switcher."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import organization_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.EmailLoginView.as_view(), name="login"),
    path("logout/", views.LogoutWithMessageView.as_view(), name="logout"),
    path("switch-organization/", views.switch_organization, name="switch-organization"),
    path("organization/", organization_views.organization_settings, name="organization-settings"),
    path("organization/members/", organization_views.organization_members, name="organization-members"),
    path("organization/members/<int:pk>/role/", organization_views.member_role_change, name="membership-role"),
    path(
        "organization/members/<int:pk>/invitation/",
        organization_views.member_invitation_resend,
        name="membership-invitation",
    ),
    path(
        "organization/members/<int:pk>/weekly-digest/",
        organization_views.member_weekly_digest_change,
        name="membership-weekly-digest",
    ),
    path("organization/members/<int:pk>/remove/", organization_views.member_remove, name="membership-remove"),
    path("organization/api-keys/", organization_views.api_keys, name="organization-api-keys"),
    path("organization/api-keys/<int:pk>/revoke/", organization_views.api_key_revoke, name="apikey-revoke"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset_form.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
