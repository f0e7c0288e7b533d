"""SMART targets: the progress rule (hand-computed), the services' validation and audit, the API by role and
organization, and the playbook seed."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import AuditLog, Role
from accounts.services import Actor
from reporting.models import KpiSnapshot, Target
from reporting.selectors import target_progress_of, targets_with_progress
from reporting.services import target_create, target_delete, target_update
from reporting.target_progress import (
    ACHIEVED,
    AT_RISK,
    NO_DATA,
    OFF_TRACK,
    ON_TRACK,
    expected_progress,
    target_progress,
)

TODAY = datetime.date(2026, 7, 2)
YEAR_START = datetime.date(2026, 1, 1)
YEAR_END = datetime.date(2027, 1, 1)  # 365 days after YEAR_START


def churn_progress(current: float | None, as_of: datetime.date = TODAY):
    """Monthly churn from 8% to 6% over 2026; on 2 July, 182 of the 365 days have passed."""
    return target_progress(
        baseline=0.08, target=0.06, current=current, baseline_date=YEAR_START, deadline=YEAR_END, as_of=as_of
    )


# The progress rule ------------------------------------------------------------------------------------------


def test_expected_progress_is_the_share_of_time_passed_from_baseline_date_to_deadline():
    assert expected_progress(baseline_date=YEAR_START, deadline=YEAR_END, as_of=TODAY) == pytest.approx(182 / 365)
    assert expected_progress(baseline_date=YEAR_START, deadline=YEAR_END, as_of=YEAR_START) == 0.0
    assert expected_progress(baseline_date=YEAR_START, deadline=YEAR_END, as_of=datetime.date(2025, 6, 1)) == 0.0
    assert expected_progress(baseline_date=YEAR_START, deadline=YEAR_END, as_of=datetime.date(2027, 3, 1)) == 1.0


def test_churn_halfway_from_8_to_6_percent_halfway_through_the_year_is_on_track():
    """7% is half of the 2-point way down: progress 0.5 against 182/365 = 0.4986 of the time."""
    progress = churn_progress(0.07)
    assert progress.progress == pytest.approx(0.5)
    assert progress.expected == pytest.approx(0.498630, abs=1e-6)
    assert progress.status == ON_TRACK


def test_churn_a_quarter_of_the_way_halfway_through_the_year_is_at_risk():
    """7.5%: progress 0.25, 24.9 points behind 49.9% of the time (more than 10, at most 25)."""
    progress = churn_progress(0.075)
    assert progress.progress == pytest.approx(0.25)
    assert progress.status == AT_RISK


def test_churn_barely_moved_halfway_through_the_year_is_off_track():
    """7.9%: progress 0.05, 44.9 points behind."""
    progress = churn_progress(0.079)
    assert progress.progress == pytest.approx(0.05)
    assert progress.status == OFF_TRACK


def test_churn_that_got_worse_has_negative_progress():
    assert churn_progress(0.09).progress == pytest.approx(-0.5)
    assert churn_progress(0.09).status == OFF_TRACK


def test_churn_at_or_below_the_target_is_achieved_whatever_the_date():
    assert churn_progress(0.06).status == ACHIEVED
    assert churn_progress(0.055).progress == pytest.approx(1.25)
    assert churn_progress(0.055, as_of=datetime.date(2027, 2, 1)).status == ACHIEVED


def test_a_target_not_reached_by_its_deadline_is_off_track_even_when_close():
    progress = churn_progress(0.0602, as_of=datetime.date(2027, 1, 2))
    assert progress.progress == pytest.approx(0.99)
    assert progress.status == OFF_TRACK


def test_exactly_ten_points_behind_is_still_on_track_and_twenty_five_still_at_risk():
    """NPS from 40 to 70 over 100 days; on day 50 half the time has passed (expected 0.5)."""
    start, deadline, day = datetime.date(2026, 1, 1), datetime.date(2026, 4, 11), datetime.date(2026, 2, 20)

    def status(current: float) -> str:
        return target_progress(
            baseline=40, target=70, current=current, baseline_date=start, deadline=deadline, as_of=day
        ).status

    assert status(52) == ON_TRACK  # progress 0.4: 10 points behind
    assert status(51.7) == AT_RISK  # 0.39: 11 points behind
    assert status(47.5) == AT_RISK  # 0.25: 25 points behind
    assert status(47.2) == OFF_TRACK  # 0.24: 26 points behind


def test_a_kpi_without_a_current_value_has_no_data():
    progress = churn_progress(None)
    assert progress.status == NO_DATA
    assert progress.progress is None


# Services ---------------------------------------------------------------------------------------------------


def churn_fields(**overrides) -> dict:
    fields = {
        "metric": "monthly_churn_rate",
        "name": "Monthly churn down to 6%",
        "description": "Playbook target.",
        "baseline_value": Decimal("0.08"),
        "baseline_date": datetime.date(2026, 6, 1),
        "target_value": Decimal("0.06"),
        "deadline": datetime.date(2027, 6, 1),
        "owner": None,
    }
    fields.update(overrides)
    return fields


def make_target(org, **overrides) -> Target:
    return target_create(org=org, actor=Actor(label="test"), today=TODAY, **churn_fields(**overrides))


def errors_of(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.message_dict


@pytest.mark.django_db
def test_target_create_stores_the_target_and_records_it_in_the_audit_log(org, admin_user):
    target = target_create(org=org, actor=Actor(user=admin_user), today=TODAY, **churn_fields(owner=admin_user))

    assert target.organization == org
    assert target.baseline_value == Decimal("0.08")
    assert target.owner == admin_user
    entry = AuditLog.objects.get(action="target.create")
    assert entry.object_id == str(target.pk)
    assert entry.actor_user == admin_user
    assert entry.after["metric"] == "monthly_churn_rate"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"metric": "happiness"}, "metric", "Unknown metric"),
        ({"deadline": datetime.date(2026, 7, 1)}, "deadline", "in the past"),
        ({"target_value": Decimal("0.08")}, "target_value", "equals the baseline"),
        ({"target_value": Decimal("0.10")}, "target_value", "Lower is better"),
        ({"metric": "nps", "baseline_value": Decimal("40"), "target_value": Decimal("30")}, "target_value", "Higher"),
        ({"target_value": Decimal("6")}, "target_value", "share from 0 to 1"),
        ({"deadline": datetime.date(2026, 5, 1)}, "deadline", "after the baseline date"),
        ({"name": ""}, "name", "blank"),
    ],
)
def test_target_create_refuses_bad_input_naming_the_field(org, overrides, field, words):
    with pytest.raises(ValidationError) as exc:
        make_target(org, **overrides)
    assert field in errors_of(exc)
    assert words in " ".join(errors_of(exc)[field])
    assert not Target.objects.exists()


@pytest.mark.django_db
def test_target_create_refuses_an_owner_from_another_organization(org, other_org, member_factory):
    outsider = member_factory(other_org, Role.ADMIN)
    with pytest.raises(ValidationError) as exc:
        make_target(org, owner=outsider)
    assert errors_of(exc)["owner"] == ["This person is not a member of the organization."]


@pytest.mark.django_db
def test_target_names_are_unique_within_an_organization_only(org, other_org):
    make_target(org)
    make_target(other_org)
    with pytest.raises(ValidationError) as exc:
        make_target(org)
    assert "name" in errors_of(exc)


@pytest.mark.django_db
def test_target_update_changes_fields_and_audits_before_and_after(org):
    target = make_target(org)
    target_update(target=target, actor=Actor(label="test"), today=TODAY, target_value=Decimal("0.05"))

    target.refresh_from_db()
    assert target.target_value == Decimal("0.05")
    entry = AuditLog.objects.get(action="target.update")
    assert entry.before["target_value"] == "0.060000"
    assert entry.after["target_value"] == "0.050000"


@pytest.mark.django_db
def test_target_update_keeps_a_past_deadline_that_it_does_not_change(org):
    """A target whose deadline has passed can still get a better description."""
    target = make_target(org)
    later = datetime.date(2028, 1, 1)
    target_update(target=target, actor=Actor(label="test"), today=later, description="Missed; kept for the record.")
    assert Target.objects.get(pk=target.pk).description == "Missed; kept for the record."


@pytest.mark.django_db
def test_target_update_with_bad_input_leaves_the_instance_and_the_row_as_they_were(org):
    target = make_target(org)
    with pytest.raises(ValidationError):
        target_update(target=target, actor=Actor(label="test"), today=TODAY, target_value=Decimal("0.08"))
    assert target.target_value == Decimal("0.06")
    assert Target.objects.get(pk=target.pk).target_value == Decimal("0.060000")


@pytest.mark.django_db
def test_target_delete_removes_it_and_audits(org):
    target = make_target(org)
    pk = target.pk
    target_delete(target=target, actor=Actor(label="test"))
    assert not Target.objects.filter(pk=pk).exists()
    assert AuditLog.objects.get(action="target.delete").before["name"] == "Monthly churn down to 6%"


# Progress against the latest snapshot -------------------------------------------------------------------------


@pytest.mark.django_db
def test_progress_reads_the_current_value_from_the_latest_snapshot(org):
    """Baseline 8% on 1 June, 6% by 1 June 2027 (365 days); the snapshot of 31 Aug (91 days) says 7.5%."""
    target = make_target(org)
    KpiSnapshot.objects.create(organization=org, day=datetime.date(2026, 8, 1), values={"monthly_churn_rate": 0.09})
    KpiSnapshot.objects.create(organization=org, day=datetime.date(2026, 8, 31), values={"monthly_churn_rate": 0.075})

    [(row, progress)] = targets_with_progress(org=org)

    assert row == target
    assert progress.current == 0.075
    assert progress.as_of == datetime.date(2026, 8, 31)
    assert progress.progress == pytest.approx(0.25)
    assert progress.expected == pytest.approx(91 / 365)
    assert progress.status == ON_TRACK


@pytest.mark.django_db
def test_progress_without_any_snapshot_has_no_data(org):
    target = make_target(org)
    assert target_progress_of(target=target, snapshot=None).status == NO_DATA


# API ----------------------------------------------------------------------------------------------------------

URL = "/api/v1/targets/"


def api_body(**overrides) -> dict:
    body = {
        "metric": "nps",
        "name": "NPS at least 70",
        "baseline_value": "42.5",
        "baseline_date": "2026-06-01",
        "target_value": "70",
        "deadline": "2099-06-01",
    }
    body.update(overrides)
    return body


@pytest.mark.django_db
def test_api_lists_targets_with_their_read_only_progress(org, read_api):
    make_target(org)
    KpiSnapshot.objects.create(organization=org, day=datetime.date(2026, 8, 31), values={"monthly_churn_rate": 0.075})

    response = read_api.get(URL)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["metric"] == "monthly_churn_rate"
    assert row["baseline_value"] == "0.080000"
    assert row["direction"] == "lower_is_better"
    assert row["current_value"] == 0.075
    assert row["current_day"] == "2026-08-31"
    assert row["progress"] == pytest.approx(0.25)
    assert row["status"] == "on_track"


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPS, Role.MARKETER])
def test_only_admins_change_targets_through_the_api_others_read(org, member_factory, session_api, role):
    target = make_target(org)
    client = session_api(member_factory(org, role))

    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}{target.pk}/").status_code == 200
    assert client.post(URL, api_body(), format="json").status_code == 403
    assert client.patch(f"{URL}{target.pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"{URL}{target.pk}/").status_code == 403
    assert Target.objects.get(pk=target.pk).name == "Monthly churn down to 6%"


@pytest.mark.django_db
def test_an_admin_creates_updates_and_deletes_a_target_through_the_api(org, admin_user, session_api):
    client = session_api(admin_user)

    created = client.post(URL, api_body(owner=admin_user.email), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["owner"] == admin_user.email
    assert created.json()["direction"] == "higher_is_better"
    pk = created.json()["id"]

    patched = client.patch(f"{URL}{pk}/", {"target_value": "75"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["target_value"] == "75.000000"

    assert client.delete(f"{URL}{pk}/").status_code == 204
    assert list(AuditLog.objects.filter(object_type="target").values_list("action", flat=True).order_by("id")) == [
        "target.create",
        "target.update",
        "target.delete",
    ]


@pytest.mark.django_db
def test_api_refuses_bad_targets_naming_the_field(write_api):
    response = write_api.post(URL, api_body(metric="happiness", deadline="2020-01-01"), format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "metric" in errors
    assert "deadline" in errors
    assert not Target.objects.exists()


@pytest.mark.django_db
def test_api_ignores_progress_fields_sent_as_input(write_api):
    """They are computed from the latest snapshot (read-only), so a client cannot declare a target achieved."""
    response = write_api.post(URL, api_body(status="achieved", progress=1), format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "no_data"
    assert response.json()["progress"] is None


@pytest.mark.django_db
def test_a_read_only_key_cannot_create_a_target(read_api):
    assert read_api.post(URL, api_body(), format="json").status_code == 403


@pytest.mark.django_db
def test_another_organizations_targets_are_invisible_and_404(org, other_org, api_key_client):
    theirs = make_target(other_org)
    client = api_key_client(org)
    assert client.get(URL).json()["results"] == []
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert client.patch(f"{URL}{theirs.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert client.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert Target.objects.get(pk=theirs.pk).name == "Monthly churn down to 6%"


@pytest.mark.django_db
def test_api_pages_targets_with_a_cursor(org, read_api):
    for number in range(3):
        make_target(org, name=f"Churn target {number}")
    first = read_api.get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert "cursor=" in first["next"]
    second = read_api.get(first["next"]).json()
    assert len(second["results"]) == 1


# The playbook seed --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_targets_adds_the_playbook_targets_once(org):
    KpiSnapshot.objects.create(
        organization=org,
        day=datetime.date(2026, 11, 24),
        values={
            "monthly_churn_rate": 0.07,
            "high_value_retention": 0.8,
            "cac": 200.0,
            "nps": 35.0,
            "repeat_purchase_rate": 0.5,
        },
    )
    out = io.StringIO()
    call_command("seed_demo_targets", "--org", org.slug, stdout=out)
    call_command("seed_demo_targets", "--org", org.slug, stdout=out)

    targets = {t.metric: t for t in Target.objects.for_org(org)}
    assert set(targets) == {"monthly_churn_rate", "high_value_retention", "cac", "nps", "repeat_purchase_rate"}
    assert (targets["monthly_churn_rate"].baseline_value, targets["monthly_churn_rate"].target_value) == (
        Decimal("0.08"),
        Decimal("0.06"),
    )
    assert targets["cac"].target_value == Decimal("170")
    assert targets["repeat_purchase_rate"].target_value == Decimal("0.55")
    assert targets["nps"].target_value == Decimal("70")
    assert targets["cac"].baseline_date == datetime.date(2026, 11, 24)
    assert "5 targets added, 0 already there" in out.getvalue()
    assert "0 targets added, 5 already there" in out.getvalue()
    assert "not seeded, LTV +30%" in out.getvalue()


@pytest.mark.django_db
def test_seed_demo_targets_needs_a_snapshot(org):
    with pytest.raises(CommandError, match="run_nightly"):
        call_command("seed_demo_targets", "--org", org.slug, stdout=io.StringIO())
