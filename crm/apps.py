from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from accounts.signals import member_removed
        from crm.receivers import unassign_departing_member

        member_removed.connect(unassign_departing_member, dispatch_uid="crm.unassign_departing_member")
