"""Writes of the nightly reporting steps: channel metrics, KPI snapshots, cohorts and alerts.

The maths live in pure modules (``reporting/kpis.py``, ``reporting/channel_metrics.py``,
``retention/cohorts.py``); here their frames become rows. Each step replaces what the same night wrote
before, so a replayed night leaves exactly one set of its figures.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Role
from accounts.selectors import is_member
from accounts.services import Actor, audit_record, model_snapshot
from accounts.timekeeping import date_of, day_number, local_today
from crm.models import Channel
from reporting.channel_metrics import compute_channel_metrics
from reporting.kpis import KPI_BY_CODE, compute_kpis
from reporting.models import (
    ALERT_MESSAGES,
    Alert,
    AlertKind,
    AlertRule,
    ChannelMetric,
    CohortCell,
    KpiSnapshot,
    MetricPeriod,
    Target,
)
from retention.cohorts import compute_cohorts
from segmentation.models import ScoreChange, ScoreChangeKind, Tier
from segmentation.selectors import latest_score_changes

logger = logging.getLogger(__name__)

#: Thresholds a new organization starts with (shares: 0.2 = 20%).
DEFAULT_ALERT_THRESHOLDS = {
    AlertKind.CAC_SPIKE: Decimal("0.20"),
    AlertKind.HIGH_VALUE_CHURN: Decimal("0.10"),
    AlertKind.CHANNEL_CONVERSION_DROP: Decimal("0.30"),
    AlertKind.MONTHLY_CHURN: Decimal("0.08"),
    AlertKind.NIGHTLY_FAILED: Decimal("0"),
}


def _money(value: float | None) -> Decimal | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    return Decimal(str(round(float(value), 2)))


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def channel_metrics_refresh(
    *,
    org: Organization,
    as_of: datetime.date,
    purchase_days: pd.DataFrame,
    customers: pd.DataFrame,
    spend: pd.DataFrame,
    scores: pd.DataFrame,
) -> int:
    """Recompute every channel's monthly and trailing-90-day economics; returns the rows written."""
    channel_ids = list(Channel.objects.for_org(org).order_by("id").values_list("id", flat=True))
    frame = compute_channel_metrics(
        as_of=day_number(as_of),
        purchase_days=purchase_days,
        customers=customers,
        spend=spend,
        scores=scores,
        gross_margin=float(org.gross_margin),
        channel_ids=channel_ids,
    )
    ChannelMetric.objects.for_org(org).delete()
    rows = [
        ChannelMetric(
            organization=org,
            as_of=as_of,
            channel_id=int(row.channel_id),
            period=row.period,
            period_start=date_of(row.period_start),
            period_end=date_of(row.period_end),
            spend=_money(row.spend) or Decimal("0"),
            new_customers=int(row.new_customers),
            contacts=int(row.contacts),
            converted_contacts=int(row.converted_contacts),
            conversion=_number(row.conversion),
            cac=_money(row.cac),
            mean_customer_value=_money(row.mean_customer_value),
            ltv_cac=_number(row.ltv_cac),
            roi=_number(row.roi),
            payback_months=_number(row.payback_months),
            repeat_rate_90d=_number(row.repeat_rate_90d),
        )
        for row in frame.itertuples(index=False)
    ]
    ChannelMetric.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def high_tier_at(org: Organization, day: datetime.date) -> np.ndarray | None:
    """Customers in the high tier at the end of ``day``, from the tier history; None when no run covers it."""
    if not ScoreChange.objects.for_org(org).filter(kind=ScoreChangeKind.TIER, changed_on__lte=day).exists():
        return None
    latest = latest_score_changes(org=org, kind=ScoreChangeKind.TIER, on_or_before=day)
    return np.fromiter(latest.filter(to_value=Tier.HIGH).values_list("customer_id", flat=True), dtype=np.int64)


def kpi_snapshot_refresh(
    *,
    org: Organization,
    as_of: datetime.date,
    purchase_days: pd.DataFrame,
    customers: pd.DataFrame,
    spend: pd.DataFrame,
    event_days: pd.DataFrame,
    feedback: pd.DataFrame,
    scores: pd.DataFrame,
    at_risk_customers: int,
    period_days: int = 30,
) -> KpiSnapshot:
    values = compute_kpis(
        as_of=day_number(as_of),
        purchase_days=purchase_days,
        customers=customers,
        spend=spend,
        event_days=event_days[["customer_id", "day"]],
        feedback=feedback,
        scores=scores,
        high_tier_at_start=high_tier_at(org, as_of - datetime.timedelta(days=period_days)),
        churn_window_days=int(org.churn_window_days),
        gross_margin=float(org.gross_margin),
        activation_window_days=int(org.activation_window_days),
        period_days=period_days,
    )
    values = {code: (None if value is None else _json_number(value)) for code, value in values.items()}
    values["at_risk_customers"] = int(at_risk_customers)
    snapshot, _created = KpiSnapshot.objects.update_or_create(
        organization=org, day=as_of, defaults={"values": values, "computed_at": timezone.now()}
    )
    return snapshot


def _json_number(value) -> float | int | None:
    if isinstance(value, int | np.integer):
        return int(value)
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def cohorts_refresh(
    *, org: Organization, as_of: datetime.date, purchase_days: pd.DataFrame, customers: pd.DataFrame
) -> int:
    """Monthly acquisition cohorts, all channels together and per channel; returns the cells written."""
    CohortCell.objects.for_org(org).delete()
    cells = []
    for by_channel in (False, True):
        frame = compute_cohorts(
            as_of=day_number(as_of), purchase_days=purchase_days, customers=customers, by_channel=by_channel
        )
        if by_channel:
            frame = frame[frame["channel_id"] != 0]
        cells.extend(
            CohortCell(
                organization=org,
                as_of=as_of,
                cohort_month=date_of(row.cohort_month),
                channel_id=int(row.channel_id) if by_channel else None,
                months_since=int(row.months_since),
                cohort_size=int(row.cohort_size),
                active_customers=int(row.active_customers),
                retention=float(row.retention),
                revenue=_money(row.revenue) or Decimal("0"),
                cumulative_revenue_per_customer=_money(row.cumulative_revenue_per_customer) or Decimal("0"),
            )
            for row in frame.itertuples(index=False)
        )
    CohortCell.objects.bulk_create(cells, batch_size=2000)
    return len(cells)


def alert_rules_for(org: Organization) -> dict[str, AlertRule]:
    """The organization's rules, created with the default thresholds the first time they are needed."""
    rules = {rule.kind: rule for rule in AlertRule.objects.for_org(org)}
    missing = [
        AlertRule(organization=org, kind=kind, threshold=threshold)
        for kind, threshold in DEFAULT_ALERT_THRESHOLDS.items()
        if kind not in rules
    ]
    if missing:
        AlertRule.objects.bulk_create(missing, ignore_conflicts=True)
        rules = {rule.kind: rule for rule in AlertRule.objects.for_org(org)}
    return rules


def _raise(
    org: Organization,
    kind: str,
    day: datetime.date,
    params: dict[str, str],
    *,
    firing: set[tuple[str, str]],
    subject: str = "",
    value=None,
    threshold=None,
) -> Alert | None:
    """Record that a rule fires on ``day``; returns the alert only when it is new (so it is e-mailed once).

    The message is kept as its kind's wording plus ``params`` (figures already formatted), so every reader sees it
    in their own language (:meth:`Alert.localized_message`); ``message`` stores the wording in the language of
    the run, for the e-mail and for alerts raised before the parameters were kept.
    """
    firing.add((kind, subject))
    alert, created = Alert.objects.update_or_create(
        organization=org,
        kind=kind,
        raised_on=day,
        subject=subject,
        defaults={
            "message": str(ALERT_MESSAGES[kind]) % params,
            "params": params,
            "value": value,
            "threshold": threshold,
        },
    )
    return alert if created else None


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def alerts_evaluate(*, org: Organization, as_of: datetime.date) -> list[Alert]:
    """Check the organization's rules against the night's figures; returns the alerts newly raised.

    - CAC spike: CAC of the trailing 30 days above the mean of the three 30-day periods before it by more
      than the threshold.
    - High-value churn: 1 − high-value retention of the trailing 30 days above the threshold.
    - Channel conversion drop: a channel's conversion in the latest month whose contacts have all had their 30
      days to convert, below the mean of the three months before it by more than the threshold (channels with
      at least 20 contacts that month).
    - Monthly churn: the trailing-30-day churn rate above the threshold.
    """
    rules = {kind: rule for kind, rule in alert_rules_for(org).items() if rule.enabled}
    firing: set[tuple[str, str]] = set()
    snapshots = {
        snapshot.day: snapshot.values
        for snapshot in KpiSnapshot.objects.for_org(org).filter(
            day__in=[as_of - datetime.timedelta(days=30 * k) for k in range(4)]
        )
    }
    today = snapshots.get(as_of, {})
    raised: list[Alert] = []

    rule = rules.get(AlertKind.CAC_SPIKE)
    earlier = [snapshots.get(as_of - datetime.timedelta(days=30 * k), {}).get("cac") for k in (1, 2, 3)]
    earlier = [value for value in earlier if value]
    if rule and today.get("cac") and earlier:
        baseline = sum(earlier) / len(earlier)
        change = today["cac"] / baseline - 1
        if change > float(rule.threshold):
            raised.append(
                _raise(
                    org,
                    AlertKind.CAC_SPIKE,
                    as_of,
                    {"cac": f"{today['cac']:.2f}", "change": _percent(change), "baseline": f"{baseline:.2f}"},
                    value=change,
                    threshold=float(rule.threshold),
                    firing=firing,
                )
            )

    rule = rules.get(AlertKind.HIGH_VALUE_CHURN)
    retention = today.get("high_value_retention")
    if rule and retention is not None and 1 - retention > float(rule.threshold):
        raised.append(
            _raise(
                org,
                AlertKind.HIGH_VALUE_CHURN,
                as_of,
                {"churn": _percent(1 - retention), "target": _percent(float(rule.threshold))},
                value=1 - retention,
                threshold=float(rule.threshold),
                firing=firing,
            )
        )

    rule = rules.get(AlertKind.MONTHLY_CHURN)
    churn = today.get("monthly_churn_rate")
    if rule and churn is not None and churn > float(rule.threshold):
        raised.append(
            _raise(
                org,
                AlertKind.MONTHLY_CHURN,
                as_of,
                {"churn": _percent(churn), "target": _percent(float(rule.threshold))},
                value=churn,
                threshold=float(rule.threshold),
                firing=firing,
            )
        )

    rule = rules.get(AlertKind.CHANNEL_CONVERSION_DROP)
    if rule:
        raised.extend(_channel_conversion_alerts(org, as_of, float(rule.threshold), firing))

    # A replayed night keeps the alerts that still fire (not e-mailed again) and drops the open ones that no
    # longer do; acknowledged alerts stay as the record of what someone saw.
    stale = Alert.objects.for_org(org).filter(raised_on=as_of, acknowledged_at__isnull=True)
    for alert in stale.exclude(kind=AlertKind.NIGHTLY_FAILED):
        if (alert.kind, alert.subject) not in firing:
            alert.delete()
    return [alert for alert in raised if alert is not None]


MIN_CONTACTS_FOR_CONVERSION_ALERT = 20
#: A contact converts by buying within this many days of being created (DESIGN.md §4).
CONVERSION_DAYS = 30


def _channel_conversion_alerts(
    org: Organization, as_of: datetime.date, threshold: float, firing: set[tuple[str, str]]
) -> list[Alert | None]:
    # The latest month whose contacts have all had their 30 days to convert: it ended 30 days or more ago.
    matured = (as_of - datetime.timedelta(days=CONVERSION_DAYS)).replace(day=1)
    last_complete = (matured - datetime.timedelta(days=1)).replace(day=1)
    months = [last_complete]
    for _step in range(3):
        months.append((months[-1] - datetime.timedelta(days=1)).replace(day=1))
    metrics = ChannelMetric.objects.for_org(org).filter(period=MetricPeriod.MONTH, period_start__in=months)
    by_channel: dict[int, dict[datetime.date, ChannelMetric]] = {}
    for metric in metrics.select_related("channel"):
        by_channel.setdefault(metric.channel_id, {})[metric.period_start] = metric
    alerts = []
    for periods in by_channel.values():
        latest = periods.get(last_complete)
        before = [periods[m].conversion for m in months[1:] if m in periods and periods[m].conversion is not None]
        if latest is None or latest.conversion is None or latest.contacts < MIN_CONTACTS_FOR_CONVERSION_ALERT:
            continue
        if not before or sum(before) == 0:
            continue
        baseline = sum(before) / len(before)
        drop = 1 - latest.conversion / baseline
        if drop > threshold:
            alerts.append(
                _raise(
                    org,
                    AlertKind.CHANNEL_CONVERSION_DROP,
                    as_of,
                    {
                        "channel": latest.channel.name,
                        "now": _percent(latest.conversion),
                        "month": last_complete.strftime("%Y-%m"),
                        "drop": _percent(drop),
                        "before": _percent(baseline),
                    },
                    subject=latest.channel.code,
                    value=drop,
                    threshold=threshold,
                    firing=firing,
                )
            )
    return alerts


def nightly_failure_alert(*, org: Organization, as_of: datetime.date, error: str) -> Alert | None:
    """Raised outside the failed run's transaction, so the alert survives the rollback."""
    rule = alert_rules_for(org).get(AlertKind.NIGHTLY_FAILED)
    if rule is None or not rule.enabled:
        return None
    with transaction.atomic():
        return _raise(
            org,
            AlertKind.NIGHTLY_FAILED,
            as_of,
            {"day": as_of.isoformat(), "error": error},
            firing=set(),
        )


def alert_acknowledge(*, alert: Alert, actor: Actor) -> Alert:
    """Mark an alert as seen by a member; acknowledging twice keeps the first acknowledgement."""
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor.user
        alert.acknowledged_by_label = actor.display[:200]
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledged_by_label"])
        audit_record(org=alert.organization, actor=actor, action="alert.acknowledge", instance=alert)
    return alert


def alert_recipients(org: Organization) -> list[str]:
    """The e-mail addresses of the organization's admins (active users only)."""
    return list(
        Membership.objects.filter(organization=org, role=Role.ADMIN, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def alerts_send(*, alert_ids: list[int]) -> int:
    """E-mail each alert whose rule asks for it to the organization's admins; returns the messages sent."""
    sent = 0
    for alert in Alert.objects.filter(pk__in=alert_ids).select_related("organization"):
        rule = AlertRule.objects.for_org(alert.organization).filter(kind=alert.kind).first()
        if rule is not None and not rule.notify_by_email:
            continue
        recipients = alert_recipients(alert.organization)
        if not recipients:
            continue
        subject = _("[custops] %(organization)s: %(alert)s") % {
            "organization": alert.organization.name,
            "alert": alert.get_kind_display(),
        }
        send_mail(subject, alert.message, None, recipients)
        sent += 1
    return sent


#: Largest threshold per kind, as a share: churn rates cannot exceed 100%; a CAC rise or conversion drop of
#: more than 1,000% is not a threshold anyone means.
ALERT_THRESHOLD_MAXIMUM = {
    AlertKind.CAC_SPIKE: Decimal("10"),
    AlertKind.HIGH_VALUE_CHURN: Decimal("1"),
    AlertKind.CHANNEL_CONVERSION_DROP: Decimal("1"),
    AlertKind.MONTHLY_CHURN: Decimal("1"),
    AlertKind.NIGHTLY_FAILED: Decimal("0"),
}


@transaction.atomic
def alert_rule_update(
    *, rule: AlertRule, actor: Actor, threshold: Decimal, enabled: bool, notify_by_email: bool
) -> AlertRule:
    """Change one of the organization's alert rules (threshold as a share: 0.2 = 20%)."""
    maximum = ALERT_THRESHOLD_MAXIMUM[rule.kind]
    if threshold is None or not Decimal("0") <= threshold <= maximum:
        raise ValidationError(
            {"threshold": [_("Give a threshold between 0%% and %(maximum)s%%.") % {"maximum": f"{maximum * 100:.0f}"}]}
        )
    before = {"threshold": str(rule.threshold), "enabled": rule.enabled, "notify_by_email": rule.notify_by_email}
    rule.threshold = threshold.quantize(Decimal("0.001"))
    rule.enabled = bool(enabled)
    rule.notify_by_email = bool(notify_by_email)
    rule.save(update_fields=["threshold", "enabled", "notify_by_email"])
    audit_record(
        org=rule.organization,
        actor=actor,
        action="alert_rule.update",
        instance=rule,
        before=before,
        after={"threshold": str(rule.threshold), "enabled": rule.enabled, "notify_by_email": rule.notify_by_email},
    )
    return rule


# Targets ------------------------------------------------------------------------------------------------------

TARGET_FIELDS = frozenset(
    {"metric", "name", "description", "baseline_value", "baseline_date", "target_value", "deadline", "owner"}
)
TARGET_VALUE_PLACES = Decimal("0.000001")


def _target_decimal(field: str, value, errors: dict[str, list]) -> Decimal | None:
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (ArithmeticError, ValueError, TypeError):
        number = None
    if number is None or not number.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    return number.quantize(TARGET_VALUE_PLACES)


def _target_check(target, *, changed: set[str], today: datetime.date) -> None:
    """Every rule a target must meet, with each error under the field to correct."""
    errors: dict[str, list] = {}
    kpi = KPI_BY_CODE.get(target.metric)
    if kpi is None:
        errors["metric"] = [
            _("Unknown metric %(metric)s: use one of the KPI codes (%(codes)s).")
            % {"metric": repr(target.metric), "codes": ", ".join(sorted(KPI_BY_CODE))}
        ]
    for field in ("baseline_value", "target_value"):
        value = getattr(target, field)
        if value is not None:
            setattr(target, field, _target_decimal(field, value, errors))
    baseline, goal = target.baseline_value, target.target_value
    if baseline is not None and goal is not None and "baseline_value" not in errors and "target_value" not in errors:
        if goal == baseline:
            errors["target_value"] = [_("The target value equals the baseline: a target must ask for a change.")]
        elif kpi is not None and (goal > baseline) != kpi.higher_is_better:
            message = (
                _("Higher is better for %(metric)s: set a target above the baseline (%(baseline)s).")
                if kpi.higher_is_better
                else _("Lower is better for %(metric)s: set a target below the baseline (%(baseline)s).")
            )
            errors["target_value"] = [message % {"metric": kpi.code, "baseline": f"{baseline.normalize():f}"}]
        if kpi is not None and kpi.unit == "share":
            for field, value in (("baseline_value", baseline), ("target_value", goal)):
                if not Decimal("0") <= value <= Decimal("1"):
                    errors.setdefault(field, []).append(
                        _("%(metric)s is a share from 0 to 1 (0.06 = 6%%).") % {"metric": kpi.code}
                    )
    if "deadline" in changed and target.deadline is not None and target.deadline < today:
        errors.setdefault("deadline", []).append(
            _("The deadline %(deadline)s is in the past (today is %(today)s); choose a later day.")
            % {"deadline": target.deadline.isoformat(), "today": today.isoformat()}
        )
    if target.deadline is not None and target.baseline_date is not None and target.deadline <= target.baseline_date:
        errors.setdefault("deadline", []).append(_("The deadline must come after the baseline date."))
    if (
        "owner" in changed
        and target.owner is not None
        and not is_member(org=target.organization, user_id=target.owner.pk)
    ):
        errors["owner"] = [_("This person is not a member of the organization.")]
    if "name" in changed and target.name:
        duplicate = Target.objects.for_org(target.organization).filter(name=target.name).exclude(pk=target.pk)
        if duplicate.exists():
            errors.setdefault("name", []).append(_("Another target already has this name."))
    try:
        target.full_clean(exclude=["organization", *errors], validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _target_changes(changes: dict) -> dict:
    unknown = sorted(set(changes) - TARGET_FIELDS)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in unknown})
    for name in ("metric", "name", "description"):
        if name in changes:
            value = changes[name]
            if value is not None and not isinstance(value, str):
                raise ValidationError({name: [_("Enter text.")]})
            changes[name] = (value or "").strip()
    return changes


def _target_save(target, *, actor: Actor, action: str, before: dict | None, changed: set[str], today) -> Target:
    _target_check(target, changed=changed, today=today or local_today(target.organization, timezone.now()))
    target.updated_at = timezone.now()
    try:
        with transaction.atomic():
            target.save()
            audit_record(
                org=target.organization,
                actor=actor,
                action=action,
                instance=target,
                before=before,
                after=model_snapshot(target),
            )
    except IntegrityError as exc:
        raise ValidationError({"name": [_("Another target already has this name.")]}) from exc
    return target


def target_create(*, org: Organization, actor: Actor, today: datetime.date | None = None, **fields) -> Target:
    """A new SMART target; ``today`` (the organization's, by default) decides whether the deadline is past."""
    fields = _target_changes(dict(fields))
    target = Target(organization=org)
    for name, value in fields.items():
        setattr(target, name, value)
    return _target_save(
        target, actor=actor, action="target.create", before=None, changed=set(TARGET_FIELDS), today=today
    )


def target_update(*, target: Target, actor: Actor, today: datetime.date | None = None, **changes) -> Target:
    """Change some fields of a target; on bad input the caller's instance is put back as it was."""
    changes = _target_changes(dict(changes))
    before = model_snapshot(target)
    previous = {field.attname: getattr(target, field.attname) for field in target._meta.concrete_fields}
    previous_owner = target.owner if target.owner_id else None
    changed = {name for name, value in changes.items() if getattr(target, name) != value}
    try:
        for name, value in changes.items():
            setattr(target, name, value)
        return _target_save(target, actor=actor, action="target.update", before=before, changed=changed, today=today)
    except ValidationError:
        for attname, value in previous.items():
            setattr(target, attname, value)
        target.owner = previous_owner
        raise


def target_delete(*, target: Target, actor: Actor) -> None:
    with transaction.atomic():
        before = model_snapshot(target)
        pk = target.pk
        target.delete()
        audit_record(
            org=target.organization,
            actor=actor,
            action="target.delete",
            object_type="target",
            object_id=str(pk),
            before=before,
        )
