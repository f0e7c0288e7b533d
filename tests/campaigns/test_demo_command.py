"""The demo gets segments and the tier playbook's drafts, once, however often the command runs."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import Campaign
from segmentation.models import Segment
from segmentation.rules import validate_rules

pytestmark = pytest.mark.django_db


def test_seed_demo_campaigns_adds_segments_and_tier_drafts_once(org, capsys):
    call_command("seed_demo_campaigns", "--org", org.slug)
    call_command("seed_demo_campaigns", "--org", org.slug)

    segments = Segment.objects.for_org(org)
    assert segments.count() == 3 and all(validate_rules(s.rules) for s in segments)
    campaigns = Campaign.objects.for_org(org)
    assert sorted(campaigns.values_list("tier", flat=True)) == ["high", "mid", "potential"]
    assert set(campaigns.values_list("status", flat=True)) == {"draft"}
    org.refresh_from_db()
    assert org.quiet_hours_start == org.quiet_hours_end
    assert "0 segments and 0 tier campaigns" in capsys.readouterr().out


def test_seed_demo_campaigns_names_a_missing_organization():
    with pytest.raises(CommandError, match="nowhere"):
        call_command("seed_demo_campaigns", "--org", "nowhere")
