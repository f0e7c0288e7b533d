from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from accounts.receivers import record_login_lockout

        user_locked_out.connect(record_login_lockout, dispatch_uid="accounts.record_login_lockout")
