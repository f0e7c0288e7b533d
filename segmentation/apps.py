from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    name = "segmentation"
    verbose_name = _("Segmentation")

    def ready(self) -> None:
        from crm.privacy import export_section_register
        from segmentation.privacy import customer_score_changes_rows, customer_scores_rows, customer_segments_rows

        export_section_register("scores", customer_scores_rows)
        export_section_register("score_changes", customer_score_changes_rows)
        export_section_register("segment_memberships", customer_segments_rows)
