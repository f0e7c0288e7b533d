from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns.privacy import customer_deliveries_rows, scrub_erased_customer
        from crm.privacy import customer_erased, export_section_register

        export_section_register("campaign_deliveries", customer_deliveries_rows)
        customer_erased.connect(scrub_erased_customer, dispatch_uid="campaigns.scrub_erased_customer")
