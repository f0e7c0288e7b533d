"""The night's per-customer scores: RFM, value tier, lifecycle stage, churn, written as one consistent set.

``scores_refresh`` takes the retention models' per-customer output, adds RFM (``segmentation/rfm.py``),
tiers (``segmentation/tiers.py``) and stages (``retention/lifecycle.py``), replaces the organization's
``CustomerScore`` rows and records every stage and tier change in ``ScoreChange``. It runs inside the nightly
transaction: readers see the previous night's scores until the new ones commit, never a mix.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Case, F, QuerySet, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from accounts.services import Actor, audit_record
from accounts.timekeeping import EPOCH, day_number, local_today, organization_time_zone
from crm.bulk_load import Column, Kind, bulk_insert
from crm.models import Customer
from retention.lifecycle import lifecycle_stages
from retention.selectors import copy_frame
from retention.services import RetentionOutcome
from segmentation.models import (
    CustomerScore,
    ScoreChange,
    ScoreChangeKind,
    Segment,
    SegmentChange,
    SegmentChangeKind,
    SegmentMembership,
    SegmentSize,
    SegmentSnapshot,
    SegmentSnapshotMember,
)
from segmentation.rfm import rfm_scores, rfm_segment
from segmentation.rules import segment_queryset, validate_rules
from segmentation.selectors import latest_score_changes
from segmentation.tiers import assign_tiers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoresOutcome:
    scores: pd.DataFrame  # index customer_id: every scored customer, the columns written
    stage_changes: int
    tier_changes: int


def compute_scores(
    *,
    org: Organization,
    as_of: datetime.date,
    contact_ids: np.ndarray,
    retention: pd.DataFrame,
) -> pd.DataFrame:
    """Every contact's score row (buyers and customers who never bought), indexed by customer id."""
    today = day_number(as_of)
    ids = np.union1d(np.asarray(contact_ids, dtype=np.int64), retention.index.to_numpy(dtype=np.int64))
    frame = retention.reindex(ids)
    frame.index.name = "customer_id"
    buyer = frame["purchase_days"].notna().to_numpy()
    purchase_days = frame["purchase_days"].fillna(0).to_numpy(np.int64)
    first_age = (today - frame["first_day"]).to_numpy(np.float64)
    last_age = (today - frame["last_day"]).to_numpy(np.float64)
    comeback = frame["comeback_day"].to_numpy(np.float64)
    comeback_age = np.where(buyer & (comeback >= 0), today - comeback, np.nan)

    scores = pd.DataFrame(index=frame.index)
    scores["purchase_days"] = purchase_days
    scores["first_day"] = frame["first_day"]
    scores["last_day"] = frame["last_day"]
    scores["recency_days"] = last_age
    scores["frequency"] = frame["frequency"].fillna(0).astype(np.int64)
    scores["recency_t_x"] = frame["recency_t_x"].fillna(0).astype(np.int64)
    scores["age_t"] = frame["age_t"].fillna(0).astype(np.int64)
    scores["revenue"] = frame["revenue"].fillna(0.0)
    scores["mean_repeat_value"] = frame["mean_repeat_value"]
    for column in (
        "p_alive",
        "expected_purchases_30",
        "expected_purchases_90",
        "expected_purchases_365",
        "expected_spend",
        "predicted_value",
        "churn_probability",
    ):
        scores[column] = frame[column].astype(np.float64)
    # Without a usable model the value is what the customer has spent so far.
    scores["customer_value"] = scores["revenue"] + scores["predicted_value"].fillna(0.0)

    r = np.zeros(len(ids), dtype=np.int64)
    f = np.zeros(len(ids), dtype=np.int64)
    m = np.zeros(len(ids), dtype=np.int64)
    segment = np.full(len(ids), "", dtype=object)
    if buyer.any():
        rb, fb, mb = rfm_scores(last_age[buyer], purchase_days[buyer], scores["revenue"].to_numpy()[buyer])
        r[buyer], f[buyer], m[buyer] = rb, fb, mb
        segment[buyer] = rfm_segment(rb, fb, mb)
    scores["r_score"], scores["f_score"], scores["m_score"], scores["rfm_segment"] = r, f, m, segment

    scores["tier"] = assign_tiers(
        scores["customer_value"].to_numpy(),
        buyer,
        ids,
        high_share=float(org.high_tier_share),
        mid_share=float(org.mid_tier_share),
    )
    scores["stage"] = lifecycle_stages(
        np.where(buyer, first_age, np.nan),
        np.where(buyer, last_age, np.nan),
        purchase_days,
        comeback_age,
        churn_window_days=int(org.churn_window_days),
    )
    churned = frame["churned"].fillna(False).to_numpy(bool)
    scores["churned"] = churned
    probability = scores["churn_probability"].to_numpy()
    threshold = float(org.at_risk_threshold)
    scores["at_risk"] = buyer & ~churned & ~np.isnan(probability) & (np.nan_to_num(probability) >= threshold)
    return scores


def _previous_states(org: Organization, as_of: datetime.date) -> pd.DataFrame:
    """Each customer's stage and tier before ``as_of``: from the stored scores when they are older than
    ``as_of`` (the usual night), else rebuilt from the change history (a replayed or repeated night).
    """
    stored_days = list(CustomerScore.objects.for_org(org).order_by().values_list("as_of", flat=True).distinct()[:2])
    if len(stored_days) == 1 and stored_days[0] < as_of:
        return _stored_states(org)
    day_before = as_of - datetime.timedelta(days=1)
    columns = {}
    for name, kind in (("stage", ScoreChangeKind.STAGE), ("tier", ScoreChangeKind.TIER)):
        rows = latest_score_changes(org=org, kind=kind, on_or_before=day_before).values_list("customer_id", "to_value")
        columns[name] = pd.Series(dict(rows), dtype=object)
    return pd.DataFrame(columns)


def _stored_states(org: Organization) -> pd.DataFrame:
    if connection.vendor == "postgresql":
        frame = copy_frame(
            "SELECT customer_id, stage, tier FROM segmentation_customerscore WHERE organization_id = %s",
            [org.pk],
            {"customer_id": "int64", "stage": "str", "tier": "str"},
        )
    else:
        rows = list(CustomerScore.objects.for_org(org).values_list("customer_id", "stage", "tier"))
        frame = pd.DataFrame(rows, columns=["customer_id", "stage", "tier"])
    return frame.set_index("customer_id")


def _record_changes(org: Organization, as_of: datetime.date, kind: str, before: pd.Series, after: pd.Series) -> int:
    """One ``ScoreChange`` per customer whose value differs from before (a first score counts as a change)."""
    previous = before.reindex(after.index).fillna("").astype(str).to_numpy()
    current = after.astype(str).to_numpy()
    changed = np.flatnonzero(previous != current)
    if kind == ScoreChangeKind.TIER:
        # Never having had a tier and still having none is not a change.
        changed = changed[(previous[changed] != "") | (current[changed] != "")]
    if not changed.size:
        return 0
    bulk_insert(
        ScoreChange,
        {
            "organization_id": Column(Kind.INTEGER, org.pk),
            "customer_id": Column(Kind.INTEGER, after.index.to_numpy()[changed]),
            "kind": Column(Kind.TEXT, kind),
            "changed_on": Column(Kind.DATE, np.datetime64(as_of, "D")),
            "from_value": Column(Kind.TEXT, previous[changed].astype(str)),
            "to_value": Column(Kind.TEXT, current[changed].astype(str)),
        },
        rows=int(changed.size),
    )
    return int(changed.size)


def _days_as_dates(days: pd.Series) -> np.ndarray:
    values = days.to_numpy(np.float64)
    dates = np.full(values.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    known = ~np.isnan(values)
    dates[known] = np.datetime64(EPOCH, "D") + values[known].astype(np.int64)
    return dates


def _money_cents(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    array = values.to_numpy(np.float64)
    missing = ~np.isfinite(array)
    return np.round(np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0) * 100).astype(np.int64), missing


def _write_scores(org: Organization, as_of: datetime.date, scores: pd.DataFrame) -> None:
    CustomerScore.objects.for_org(org).delete()
    if scores.empty:
        return
    # Most valuable first: the two customer-value indexes then grow at one end instead of at random places
    # (about 5 s less at a million rows), and the table's order matches the lists people read.
    scores = scores.iloc[np.lexsort((scores.index.to_numpy(), -scores["customer_value"].to_numpy()))]
    columns: dict[str, Column] = {
        "organization_id": Column(Kind.INTEGER, org.pk),
        "customer_id": Column(Kind.INTEGER, scores.index.to_numpy(np.int64)),
        "as_of": Column(Kind.DATE, np.datetime64(as_of, "D")),
        "purchase_days": Column(Kind.INTEGER, scores["purchase_days"].to_numpy(np.int64)),
        "first_purchase_on": Column(Kind.DATE, _days_as_dates(scores["first_day"])),
        "last_purchase_on": Column(Kind.DATE, _days_as_dates(scores["last_day"])),
        "recency_days": Column(
            Kind.INTEGER,
            np.nan_to_num(scores["recency_days"].to_numpy(np.float64)).astype(np.int64),
            null=scores["recency_days"].isna().to_numpy(),
        ),
        "frequency": Column(Kind.INTEGER, scores["frequency"].to_numpy(np.int64)),
        "recency_t_x": Column(Kind.INTEGER, scores["recency_t_x"].to_numpy(np.int64)),
        "age_t": Column(Kind.INTEGER, scores["age_t"].to_numpy(np.int64)),
        "r_score": Column(Kind.INTEGER, scores["r_score"].to_numpy(np.int64), null=scores["r_score"].to_numpy() == 0),
        "f_score": Column(Kind.INTEGER, scores["f_score"].to_numpy(np.int64), null=scores["f_score"].to_numpy() == 0),
        "m_score": Column(Kind.INTEGER, scores["m_score"].to_numpy(np.int64), null=scores["m_score"].to_numpy() == 0),
        "rfm_segment": Column(Kind.TEXT, scores["rfm_segment"].to_numpy().astype(str)),
        "tier": Column(Kind.TEXT, scores["tier"].to_numpy().astype(str)),
        "stage": Column(Kind.TEXT, scores["stage"].to_numpy().astype(str)),
        "churned": Column(Kind.BOOLEAN, scores["churned"].to_numpy(bool)),
        "at_risk": Column(Kind.BOOLEAN, scores["at_risk"].to_numpy(bool)),
    }
    for name in ("revenue", "customer_value"):
        cents, _missing = _money_cents(scores[name])
        columns[name] = Column(Kind.MONEY, cents)
    for name in ("mean_repeat_value", "expected_spend", "predicted_value"):
        cents, missing = _money_cents(scores[name])
        columns[name] = Column(Kind.MONEY, cents, null=missing)
    for name in (
        "p_alive",
        "expected_purchases_30",
        "expected_purchases_90",
        "expected_purchases_365",
        "churn_probability",
    ):
        columns[name] = Column(Kind.FLOAT, scores[name].to_numpy(np.float64))
    bulk_insert(CustomerScore, columns, rows=len(scores))


def scores_refresh(
    *, org: Organization, as_of: datetime.date, contact_ids: np.ndarray, retention: RetentionOutcome
) -> ScoresOutcome:
    """Replace the organization's scores with the night's and record stage and tier changes."""
    scores = compute_scores(org=org, as_of=as_of, contact_ids=contact_ids, retention=retention.customers)
    previous = _previous_states(org, as_of)
    ScoreChange.objects.for_org(org).filter(changed_on__gte=as_of).delete()
    stage_changes = _record_changes(
        org, as_of, ScoreChangeKind.STAGE, previous.get("stage", pd.Series(dtype=object)), scores["stage"]
    )
    tier_changes = _record_changes(
        org, as_of, ScoreChangeKind.TIER, previous.get("tier", pd.Series(dtype=object)), scores["tier"]
    )
    _write_scores(org, as_of, scores)
    return ScoresOutcome(scores=scores, stage_changes=stage_changes, tier_changes=tier_changes)


# Segments ----------------------------------------------------------------------------------------------------

SEGMENT_FIELDS = {"name", "description", "rules"}


def _clean_segment(org: Organization, changes: dict, *, segment: Segment | None = None) -> dict:
    unknown = sorted(set(changes) - SEGMENT_FIELDS)
    if unknown:
        raise ValidationError({field: [_("Unknown field.")] for field in unknown})
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        name = " ".join(str(changes["name"] or "").split())
        if not name:
            errors["name"] = [_("Give the segment a name.")]
        elif len(name) > 120:
            errors["name"] = [_("Keep the name to 120 characters.")]
        else:
            taken = Segment.objects.for_org(org).filter(name__iexact=name)
            if segment is not None:
                taken = taken.exclude(pk=segment.pk)
            if taken.exists():
                errors["name"] = [_("A segment with this name already exists.")]
            changes["name"] = name
    if "description" in changes:
        changes["description"] = str(changes["description"] or "")[:2000]
    if "rules" in changes:
        try:
            changes["rules"] = validate_rules(changes["rules"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return changes


@transaction.atomic
def segment_create(*, org: Organization, actor: Actor, name: str, rules: object, description: str = "") -> Segment:
    """Store a new segment; its rule is validated first, so a stored rule always compiles."""
    fields = _clean_segment(org, {"name": name, "rules": rules, "description": description})
    segment = Segment.objects.create(organization=org, created_by=actor.user, **fields)
    audit_record(org=org, actor=actor, action="segment.create", instance=segment, after=fields)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, actor: Actor, **changes) -> Segment:
    before = {"name": segment.name, "description": segment.description, "rules": segment.rules}
    fields = _clean_segment(segment.organization, changes, segment=segment)
    for name, value in fields.items():
        setattr(segment, name, value)
    segment.save()
    audit_record(
        org=segment.organization, actor=actor, action="segment.update", instance=segment, before=before, after=fields
    )
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor: Actor) -> None:
    audit_record(
        org=segment.organization, actor=actor, action="segment.delete", instance=segment, before={"name": segment.name}
    )
    segment.delete()


# Nightly membership, entry and exit events, size history -------------------------------------------------------


@dataclass(frozen=True)
class MembershipsOutcome:
    sized: int  # segments whose size was recorded for the night
    entered: int
    left: int
    skipped: list[int] = field(default_factory=list)  # ids of segments whose rules no longer validate


def _insert_from(model: type[models.Model], fixed: dict[str, Any], column: str, source: QuerySet) -> int:
    """``INSERT INTO model (fixed…, column) SELECT …, chosen.chosen_id FROM (source) AS chosen``; returns the rows.

    ``source`` is a queryset selecting one id as ``chosen_id``: the rows are chosen and written by the database
    in one statement, however many there are.
    """
    sql, params = source.order_by().query.sql_with_params()
    quote = connection.ops.quote_name
    names = [*fixed, column]
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    constants = ", ".join(["%s"] * len(fixed))
    # Only quoted identifiers of our own models are interpolated; every value is a bound parameter.
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {constants}, chosen.chosen_id FROM ({sql}) AS chosen"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*fixed.values(), *params])
        return max(cursor.rowcount, 0)


#: Scratch table holding a set of customer ids while the stored membership is compared with it: a temporary
#: table, private to the connection and (on PostgreSQL) dropped at the commit.
NIGHT_MEMBERS = "segment_night_members"


def _night_fill(source: QuerySet) -> None:
    """Replace the scratch table's ids with those ``source`` selects (as ``chosen_id``), in one statement.

    ``source`` is written at the top level of an ``INSERT ... SELECT``, never nested in another query, so a
    segment's compiled conditions read their columns exactly as ``segment_queryset`` wrote them. PostgreSQL
    never analyses temporary tables by itself; without real row counts it can pick a nested loop over two
    large sets.
    """
    sql, params = source.order_by().query.sql_with_params()
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {NIGHT_MEMBERS} (customer_id bigint PRIMARY KEY) ON COMMIT DROP"
            )
        else:
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {NIGHT_MEMBERS} (customer_id integer PRIMARY KEY)")
        cursor.execute(f"DELETE FROM {NIGHT_MEMBERS}")  # noqa: S608
        # Only our own identifiers are interpolated; the rule's values stay bound parameters.
        cursor.execute(
            f"INSERT INTO {NIGHT_MEMBERS} (customer_id) SELECT chosen.chosen_id FROM ({sql}) AS chosen",  # noqa: S608
            params,
        )
        if postgres:
            cursor.execute(f"ANALYZE {NIGHT_MEMBERS}")


def _night_execute(statement: str, org: Organization, segment: Segment, day: datetime.date) -> None:
    quote = connection.ops.quote_name
    tables = {
        "members": quote(SegmentMembership._meta.db_table),
        "changes": quote(SegmentChange._meta.db_table),
        "night": NIGHT_MEMBERS,
    }
    params = {
        "org": org.pk,
        "segment": segment.pk,
        "day": day,
        "entered": SegmentChangeKind.ENTERED.value,
        "left": SegmentChangeKind.LEFT.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(statement.format(**tables), params)


_DELETE_NIGHT_FROM_MEMBERS = """DELETE FROM {members} WHERE organization_id = %(org)s AND segment_id = %(segment)s
    AND EXISTS (SELECT 1 FROM {night} n WHERE n.customer_id = {members}.customer_id)"""
_INSERT_NIGHT_INTO_MEMBERS = """INSERT INTO {members} (organization_id, segment_id, customer_id)
    SELECT %(org)s, %(segment)s, n.customer_id FROM {night} n
    WHERE NOT EXISTS (SELECT 1 FROM {members} m WHERE m.segment_id = %(segment)s AND m.customer_id = n.customer_id)"""


def _restore_membership_before(org: Organization, segment: Segment, day: datetime.date) -> None:
    """Put the stored membership back to how the night before ``day`` left it, by undoing the changes since.

    Entries and exits alternate per customer, so the sum of +1 per entry and -1 per exit since ``day`` says
    which way a customer moved: +1 was outside before, -1 was inside, 0 is where they started. A first run
    of a new night has nothing to undo.
    """
    SegmentSize.objects.for_org(org).filter(segment=segment, day__gt=day).delete()
    changes = SegmentChange.objects.for_org(org).filter(segment=segment, day__gte=day)
    if not changes.exists():
        return
    since = (
        changes.order_by()
        .values("customer_id")
        .annotate(net=Sum(Case(When(kind=SegmentChangeKind.ENTERED, then=Value(1)), default=Value(-1))))
    )
    _night_fill(since.filter(net__gt=0).values(chosen_id=F("customer_id")))
    _night_execute(_DELETE_NIGHT_FROM_MEMBERS, org, segment, day)
    _night_fill(since.filter(net__lt=0).values(chosen_id=F("customer_id")))
    _night_execute(_INSERT_NIGHT_INTO_MEMBERS, org, segment, day)
    SegmentChange.objects.for_org(org).filter(segment=segment, day__gt=day).delete()


#: The night's comparison of the stored membership with tonight's members (in the scratch table), one
#: statement per step, each over whole sets (``EXISTS`` / ``NOT EXISTS`` on the unique (segment, customer)
#: index and the scratch table's key). Run in this order: the exits are read before the leavers are deleted,
#: the entries before the newcomers are inserted.
_NIGHT_STATEMENTS = (
    # A re-run after the data changed: drop the night's entries and exits that no longer hold.
    """DELETE FROM {changes} WHERE organization_id = %(org)s AND segment_id = %(segment)s AND day = %(day)s
       AND kind = %(entered)s AND (
         EXISTS (SELECT 1 FROM {members} m WHERE m.segment_id = %(segment)s AND m.customer_id = {changes}.customer_id)
         OR NOT EXISTS (SELECT 1 FROM {night} n WHERE n.customer_id = {changes}.customer_id))""",
    """DELETE FROM {changes} WHERE organization_id = %(org)s AND segment_id = %(segment)s AND day = %(day)s
       AND kind = %(left)s AND (
         NOT EXISTS (SELECT 1 FROM {members} m WHERE m.segment_id = %(segment)s AND m.customer_id = {changes}.customer_id)
         OR EXISTS (SELECT 1 FROM {night} n WHERE n.customer_id = {changes}.customer_id))""",
    # Entries: in tonight's set, not a member before, not already recorded tonight.
    """INSERT INTO {changes} (organization_id, segment_id, customer_id, day, kind)
       SELECT %(org)s, %(segment)s, n.customer_id, %(day)s, %(entered)s FROM {night} n
       WHERE NOT EXISTS (SELECT 1 FROM {members} m WHERE m.segment_id = %(segment)s AND m.customer_id = n.customer_id)
       AND NOT EXISTS (SELECT 1 FROM {changes} c WHERE c.segment_id = %(segment)s AND c.day = %(day)s
                       AND c.kind = %(entered)s AND c.customer_id = n.customer_id)""",
    # Exits: a member before, not in tonight's set, not already recorded tonight.
    """INSERT INTO {changes} (organization_id, segment_id, customer_id, day, kind)
       SELECT %(org)s, %(segment)s, m.customer_id, %(day)s, %(left)s FROM {members} m
       WHERE m.organization_id = %(org)s AND m.segment_id = %(segment)s
       AND NOT EXISTS (SELECT 1 FROM {night} n WHERE n.customer_id = m.customer_id)
       AND NOT EXISTS (SELECT 1 FROM {changes} c WHERE c.segment_id = %(segment)s AND c.day = %(day)s
                       AND c.kind = %(left)s AND c.customer_id = m.customer_id)""",
    """DELETE FROM {members} WHERE organization_id = %(org)s AND segment_id = %(segment)s
       AND NOT EXISTS (SELECT 1 FROM {night} n WHERE n.customer_id = {members}.customer_id)""",
    _INSERT_NIGHT_INTO_MEMBERS,
)


def _segment_membership_refresh(
    org: Organization, segment: Segment, members: QuerySet[Customer], day: datetime.date
) -> SegmentSize:
    """Bring one segment's stored membership to ``members`` and record the night's entries, exits and size.

    The rule is evaluated once, into the scratch table; the comparison is a handful of set statements
    (``_NIGHT_STATEMENTS``), never a loop over customers. A re-run of the same night keeps the change rows that
    still hold.
    """
    _restore_membership_before(org, segment, day)
    _night_fill(members.values(chosen_id=F("pk")))
    for statement in _NIGHT_STATEMENTS:
        _night_execute(statement, org, segment, day)
    changes = SegmentChange.objects.for_org(org).filter(segment=segment, day=day)
    size, _created = SegmentSize.objects.update_or_create(
        organization=org,
        segment=segment,
        day=day,
        defaults={
            "size": SegmentMembership.objects.for_org(org).filter(segment=segment).count(),
            "entered": changes.filter(kind=SegmentChangeKind.ENTERED).count(),
            "left": changes.filter(kind=SegmentChangeKind.LEFT).count(),
        },
    )
    return size


def segment_memberships_refresh(*, org: Organization, as_of: datetime.date) -> MembershipsOutcome:
    """Each segment's members as of ``as_of``, its entries and exits that night, and its size, for every segment.

    Idempotent per night: running it again for the same day gives the same membership, sizes and change rows
    (recomputed against the night before, so late data is taken into account). Running it for an earlier day
    undoes the later nights' changes first. A segment whose stored rules no longer validate is skipped with a
    warning, so one stale segment does not fail the night.
    """
    sized = entered = left = 0
    skipped: list[int] = []
    with transaction.atomic():
        for segment in Segment.objects.for_org(org).order_by("pk"):
            try:
                members = segment_queryset(segment.rules, org=org, today=as_of)
            except ValidationError as exc:
                logger.warning(
                    "segment %s (%r) of organization %s skipped as of %s: its rules no longer validate: %s",
                    segment.pk,
                    segment.name,
                    org.slug,
                    as_of,
                    "; ".join(f"{path}: {' '.join(messages)}" for path, messages in exc.message_dict.items()),
                )
                skipped.append(segment.pk)
                continue
            size = _segment_membership_refresh(org, segment, members, as_of)
            sized += 1
            entered += size.entered
            left += size.left
    return MembershipsOutcome(sized=sized, entered=entered, left=left, skipped=skipped)


SNAPSHOT_NAME_LENGTH = 120


@transaction.atomic
def segment_snapshot_take(
    *, segment: Segment, actor: Actor, name: str = "", at: datetime.datetime | None = None
) -> SegmentSnapshot:
    """Keep who is in the segment now (and its rules) as a named, unchanging list.

    ``at`` is the moment the snapshot stands for (now by default); "N days ago" conditions count from its
    day in the organization's time zone.
    """
    org = segment.organization
    taken_at = at or timezone.now()
    name = " ".join(str(name or "").split())
    if len(name) > SNAPSHOT_NAME_LENGTH:
        raise ValidationError({"name": [_("Keep the name to 120 characters.")]})
    if not name:
        name = _("%(segment)s on %(day)s") % {
            "segment": segment.name[:90],
            "day": taken_at.astimezone(organization_time_zone(org)).strftime("%Y-%m-%d %H:%M"),
        }
    members = segment_queryset(segment.rules, org=org, today=local_today(org, taken_at))
    snapshot = SegmentSnapshot.objects.create(
        organization=org,
        segment=segment,
        name=name,
        taken_at=taken_at,
        rules=segment.rules,
        taken_by_label=actor.display,
    )
    _insert_from(
        SegmentSnapshotMember,
        {"organization": org.pk, "snapshot": snapshot.pk},
        "customer",
        members.values(chosen_id=F("pk")),
    )
    snapshot.size = SegmentSnapshotMember.objects.for_org(org).filter(snapshot=snapshot).count()
    snapshot.save(update_fields=["size"])
    audit_record(
        org=org,
        actor=actor,
        action="segment.snapshot",
        instance=snapshot,
        after={"segment": segment.pk, "name": snapshot.name, "size": snapshot.size},
    )
    return snapshot
