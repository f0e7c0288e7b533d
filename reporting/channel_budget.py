"""Channel portfolio: core vs testing against the 70/30 policy, and a grow / hold / cut budget recommendation.

Pure (no Django): it reads each channel's trailing-90-day economics (one ``ChannelMetric`` row per channel, as
plain :class:`ChannelFigures`) and returns plain dataclasses, so the page, the API and the tests share one answer.

The playbook (DESIGN.md §1): rank channels by CAC, conversion and customer quality; keep the top 5–8 **core**
channels on ~70% of the budget and spend ~30% **testing** new ones.

Rules, and why:

Classes
    ``unpaid``  no spend in the window (organic or idle): it holds no budget, so it is outside the 70/30 split
                and there is nothing to grow or cut with money.
    ``core``    a paid channel with *proven* economics: at least :data:`MIN_NEW_CUSTOMERS` new customers in the
                window (enough evidence), a measured LTV/CAC of at least :data:`CORE_MIN_LTV_CAC` (its customers
                are worth more than they cost), ranked by LTV/CAC (then shorter payback, then more new customers)
                and capped at :data:`CORE_MAX_CHANNELS` (the policy's "top 5–8"). Ranking by measured value per
                unit of cost is the "customer quality" ranking of the playbook: CAC alone would favour cheap
                channels whose customers are worth little.
    ``testing`` every other paid channel: too little evidence yet, losing money, or beyond the top eight.

Actions (per channel, from the measured LTV/CAC and payback of the trailing 90 days)
    ``grow``  enough evidence, LTV/CAC ≥ :data:`GROW_MIN_LTV_CAC` (3:1, the usual benchmark for a healthy
              acquisition channel) and payback ≤ :data:`GROW_MAX_PAYBACK_MONTHS` months.
    ``cut``   enough evidence and either LTV/CAC < :data:`CUT_BELOW_LTV_CAC` (each customer is worth less than
              they cost) or payback > :data:`CUT_ABOVE_PAYBACK_MONTHS` months (the money comes back too late to be
              re-spent); or spend with no new customer at all once the spend exceeds the blended CAC (it has
              already paid for a typical customer and brought none).
    ``hold``  everything else: between the thresholds, not enough evidence (fewer than
              :data:`MIN_NEW_CUSTOMERS` new customers: keep testing at the current budget), an undefined ratio,
              or no spend.

Expected effect on blended CAC (blended CAC = all channels' spend ÷ all channels' new customers in the window)
    Assumption, stated on the page: :data:`SHIFT_SHARE` of every cut channel's spend is taken away and moved to the
    grow channels in proportion to their current spend; a channel gains or loses customers at its *measured* CAC
    (constant marginal CAC: optimistic for the growing channels, whose extra customers usually cost more). With no
    grow channel the freed money is saved, not re-spent; with no cut channel nothing moves.

Undefined values are ``None``, never NaN or zero: a channel without new customers has no CAC, a channel without
spend has no LTV/CAC, and the reason text says so instead of showing a misleading number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MIN_NEW_CUSTOMERS = 10
"""New customers in the window below which a channel's ratios are not evidence enough to act on."""

CORE_MAX_CHANNELS = 8
"""At most this many core channels (the policy's "top 5–8")."""

CORE_MIN_CHANNELS = 5
"""Fewer proven channels than this: the page warns that the portfolio is thinner than the policy's 5–8."""

CORE_MIN_LTV_CAC = 1.0
"""A channel whose customers are worth less than they cost is never core."""

CORE_TARGET_SHARE = 0.70
"""The policy's share of paid spend on core channels (the rest, ~30%, on testing)."""

SHARE_TOLERANCE = 0.05
"""The split is "on policy" when the core share is within this many points of the target (65–75%)."""

GROW_MIN_LTV_CAC = 3.0
GROW_MAX_PAYBACK_MONTHS = 12.0
CUT_BELOW_LTV_CAC = 1.0
CUT_ABOVE_PAYBACK_MONTHS = 24.0

SHIFT_SHARE = 0.5
"""Share of a cut channel's spend moved to the grow channels in the blended-CAC estimate."""

ChannelClass = Literal["core", "testing", "unpaid"]
Action = Literal["grow", "hold", "cut"]
SplitStatus = Literal["on_policy", "core_under", "core_over", "no_spend"]


@dataclass(frozen=True)
class ChannelFigures:
    """One channel's trailing-window economics, as stored by the nightly run (``None`` = undefined)."""

    code: str
    name: str
    spend: float
    new_customers: int
    cac: float | None = None
    mean_customer_value: float | None = None
    ltv_cac: float | None = None
    payback_months: float | None = None
    conversion: float | None = None
    roi: float | None = None


@dataclass(frozen=True)
class Reason:
    """Why an action was chosen: a stable code plus the numbers, so each reader's language can phrase it."""

    code: str
    values: dict[str, float | int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelAdvice:
    figures: ChannelFigures
    channel_class: ChannelClass
    core_rank: int | None
    action: Action
    reason: Reason
    proposed_change: float
    """Change of spend over the window the recommendation implies (negative = less)."""
    expected_customer_change: float
    """New customers gained (or lost) by that change at the channel's measured CAC."""

    @property
    def code(self) -> str:
        return self.figures.code

    @property
    def proposed_spend(self) -> float:
        return self.figures.spend + self.proposed_change


@dataclass(frozen=True)
class Split:
    core_spend: float
    testing_spend: float
    core_share: float | None
    testing_share: float | None
    core_channels: int
    testing_channels: int
    status: SplitStatus
    target_core_share: float = CORE_TARGET_SHARE
    tolerance: float = SHARE_TOLERANCE

    @property
    def paid_spend(self) -> float:
        return self.core_spend + self.testing_spend

    @property
    def too_few_core(self) -> bool:
        return self.core_channels < CORE_MIN_CHANNELS


@dataclass(frozen=True)
class BlendedEffect:
    spend: float
    new_customers: int
    cac_before: float | None
    cac_after: float | None
    moved_spend: float
    """Spend taken from cut channels and given to grow channels."""
    saved_spend: float
    """Spend taken from cut channels and not re-spent (no grow channel)."""
    customers_lost: float
    customers_gained: float
    shift_share: float = SHIFT_SHARE

    @property
    def change(self) -> float | None:
        if self.cac_before is None or self.cac_after is None:
            return None
        return self.cac_after - self.cac_before

    @property
    def relative_change(self) -> float | None:
        if self.change is None or not self.cac_before:
            return None
        return self.change / self.cac_before


@dataclass(frozen=True)
class BudgetPlan:
    channels: list[ChannelAdvice]
    split: Split
    split_after: Split
    """The split if the recommendation is followed."""
    effect: BlendedEffect

    def advice_of(self, code: str) -> ChannelAdvice | None:
        return next((advice for advice in self.channels if advice.code == code), None)


def _has_evidence(channel: ChannelFigures) -> bool:
    return channel.spend > 0 and channel.new_customers >= MIN_NEW_CUSTOMERS and channel.ltv_cac is not None


def core_ranking(channels: Iterable[ChannelFigures]) -> list[ChannelFigures]:
    """The core channels, best first: proven, paying for themselves, ranked by LTV/CAC, at most eight."""
    proven = [c for c in channels if _has_evidence(c) and c.ltv_cac >= CORE_MIN_LTV_CAC]
    proven.sort(
        key=lambda c: (
            -c.ltv_cac,
            c.payback_months if c.payback_months is not None else float("inf"),
            -c.new_customers,
            c.code,
        )
    )
    return proven[:CORE_MAX_CHANNELS]


def blended_cac(spend: float, new_customers: float) -> float | None:
    return spend / new_customers if new_customers > 0 else None


def decide(channel: ChannelFigures, *, blended: float | None) -> tuple[Action, Reason]:
    """The action for one channel and its reason, by the thresholds of the module docstring."""
    values = {
        "ltv_cac": channel.ltv_cac,
        "payback": channel.payback_months,
        "new_customers": channel.new_customers,
        "spend": channel.spend,
        "min_new_customers": MIN_NEW_CUSTOMERS,
    }
    if channel.spend <= 0:
        return "hold", Reason("unpaid_with_customers" if channel.new_customers else "idle", values)
    if channel.new_customers == 0:
        if blended is None:
            # No channel brought anyone: nothing to compare the spend with, and more likely a tracking gap
            # (customers without their acquisition channel) than every channel failing at once.
            return "hold", Reason("no_customers_anywhere", values)
        if channel.spend > blended:
            return "cut", Reason("spend_without_customers", {**values, "blended_cac": blended})
        return "hold", Reason("too_early_no_customers", {**values, "blended_cac": blended})
    if channel.new_customers < MIN_NEW_CUSTOMERS:
        return "hold", Reason("too_few_customers", values)
    if channel.ltv_cac is None:
        return "hold", Reason("ltv_cac_undefined", values)
    if channel.ltv_cac < CUT_BELOW_LTV_CAC:
        return "cut", Reason("ltv_cac_below_cut", {**values, "threshold": CUT_BELOW_LTV_CAC})
    if channel.payback_months is None:
        return "hold", Reason("payback_undefined", values)
    if channel.payback_months > CUT_ABOVE_PAYBACK_MONTHS:
        return "cut", Reason("payback_above_cut", {**values, "threshold": CUT_ABOVE_PAYBACK_MONTHS})
    if channel.ltv_cac >= GROW_MIN_LTV_CAC and channel.payback_months <= GROW_MAX_PAYBACK_MONTHS:
        return "grow", Reason(
            "grow", {**values, "ltv_threshold": GROW_MIN_LTV_CAC, "payback_threshold": GROW_MAX_PAYBACK_MONTHS}
        )
    if channel.ltv_cac < GROW_MIN_LTV_CAC:
        return "hold", Reason("ltv_cac_between", {**values, "threshold": GROW_MIN_LTV_CAC})
    return "hold", Reason("payback_between", {**values, "threshold": GROW_MAX_PAYBACK_MONTHS})


def _split(spends: Sequence[tuple[ChannelClass, float]]) -> Split:
    core = sum(spend for cls, spend in spends if cls == "core" and spend > 0)
    testing = sum(spend for cls, spend in spends if cls == "testing" and spend > 0)
    total = core + testing
    core_count = sum(1 for cls, spend in spends if cls == "core" and spend > 0)
    testing_count = sum(1 for cls, spend in spends if cls == "testing" and spend > 0)
    if total <= 0:
        return Split(core, testing, None, None, core_count, testing_count, "no_spend")
    core_share = core / total
    if core_share < CORE_TARGET_SHARE - SHARE_TOLERANCE - 1e-12:
        status: SplitStatus = "core_under"
    elif core_share > CORE_TARGET_SHARE + SHARE_TOLERANCE + 1e-12:
        status = "core_over"
    else:
        status = "on_policy"
    return Split(core, testing, core_share, testing / total, core_count, testing_count, status)


def plan_budget(channels: Iterable[ChannelFigures], *, shift_share: float = SHIFT_SHARE) -> BudgetPlan:
    """Classify, recommend and estimate the blended-CAC effect for one organization's channels."""
    if not 0 <= shift_share <= 1:
        raise ValueError("shift_share must be between 0 and 1")
    figures = list(channels)
    core = {c.code: rank for rank, c in enumerate(core_ranking(figures), start=1)}
    total_spend = sum(max(c.spend, 0.0) for c in figures)
    total_customers = sum(c.new_customers for c in figures)
    before = blended_cac(total_spend, total_customers)

    decided = {c.code: decide(c, blended=before) for c in figures}
    freed = {c.code: c.spend * shift_share for c in figures if decided[c.code][0] == "cut"}
    growers = [c for c in figures if decided[c.code][0] == "grow"]
    grow_spend = sum(c.spend for c in growers)
    total_freed = sum(freed.values())
    moved = total_freed if growers and grow_spend > 0 else 0.0

    changes: dict[str, float] = {code: -amount for code, amount in freed.items()}
    for c in growers:
        changes[c.code] = moved * c.spend / grow_spend if moved else 0.0

    advice = []
    lost = gained = 0.0
    for c in figures:
        action, reason = decided[c.code]
        change = changes.get(c.code, 0.0)
        customers = change / c.cac if change and c.cac else 0.0
        if customers < 0:
            lost -= customers
        else:
            gained += customers
        if c.code in core:
            cls: ChannelClass = "core"
        elif c.spend > 0:
            cls = "testing"
        else:
            cls = "unpaid"
        advice.append(ChannelAdvice(c, cls, core.get(c.code), action, reason, change, customers))

    after_spend = total_spend - total_freed + moved
    after = blended_cac(after_spend, total_customers - lost + gained)
    effect = BlendedEffect(
        spend=total_spend,
        new_customers=total_customers,
        cac_before=before,
        cac_after=after,
        moved_spend=moved,
        saved_spend=total_freed - moved,
        customers_lost=lost,
        customers_gained=gained,
        shift_share=shift_share,
    )
    split = _split([(a.channel_class, a.figures.spend) for a in advice])
    split_after = _split([(a.channel_class, a.proposed_spend) for a in advice])
    order = {"grow": 0, "cut": 1, "hold": 2}
    advice.sort(key=lambda a: (order[a.action], -a.figures.spend, a.code))
    return BudgetPlan(channels=advice, split=split, split_after=split_after, effect=effect)
