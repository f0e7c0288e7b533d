"""The channel portfolio rules of reporting/channel_budget.py, with hand-computed expected numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.channel_budget import (
    CORE_MAX_CHANNELS,
    MIN_NEW_CUSTOMERS,
    ChannelFigures,
    core_ranking,
    decide,
    plan_budget,
)


def channel(code: str, spend: float, new: int, *, value: float = 300.0, payback: float | None = 6.0) -> ChannelFigures:
    """A channel whose CAC, LTV/CAC follow from spend, new customers and mean value, as the nightly run stores them."""
    cac = spend / new if new else None
    ltv_cac = value / cac if cac else None
    return ChannelFigures(
        code=code,
        name=code.title(),
        spend=spend,
        new_customers=new,
        cac=cac,
        mean_customer_value=value if new else None,
        ltv_cac=ltv_cac,
        payback_months=payback if new else None,
    )


# Actions ------------------------------------------------------------------------------------------------------


def test_a_channel_with_ltv_cac_of_3_and_payback_of_12_months_grows():
    action, reason = decide(channel("a", 1000, 10, value=300, payback=12), blended=100)
    assert action == "grow"
    assert reason.code == "grow"
    assert reason.values["ltv_cac"] == pytest.approx(3.0)


def test_a_channel_with_ltv_cac_of_3_but_payback_beyond_12_months_holds():
    action, reason = decide(channel("a", 1000, 10, value=300, payback=12.5), blended=100)
    assert (action, reason.code) == ("hold", "payback_between")


def test_a_channel_between_1_and_3_holds():
    action, reason = decide(channel("a", 1000, 10, value=200, payback=6), blended=100)
    assert (action, reason.code) == ("hold", "ltv_cac_between")
    assert reason.values["threshold"] == 3.0


def test_a_channel_whose_customers_are_worth_less_than_they_cost_is_cut():
    action, reason = decide(channel("a", 1000, 10, value=99, payback=6), blended=100)
    assert (action, reason.code) == ("cut", "ltv_cac_below_cut")


def test_a_channel_of_ltv_cac_exactly_1_is_not_cut():
    action, _ = decide(channel("a", 1000, 10, value=100, payback=6), blended=100)
    assert action == "hold"


def test_a_channel_paying_back_after_more_than_24_months_is_cut_even_with_a_good_ratio():
    action, reason = decide(channel("a", 1000, 10, value=500, payback=30), blended=100)
    assert (action, reason.code) == ("cut", "payback_above_cut")


def test_too_few_new_customers_is_not_evidence_enough_to_grow_or_cut():
    great = channel("a", 90, MIN_NEW_CUSTOMERS - 1, value=5000, payback=1)
    awful = channel("b", 9000, MIN_NEW_CUSTOMERS - 1, value=1, payback=100)
    assert decide(great, blended=100)[1].code == "too_few_customers"
    assert decide(great, blended=100)[0] == "hold"
    assert decide(awful, blended=100)[0] == "hold"


def test_spend_without_any_new_customer_is_cut_once_it_exceeds_the_blended_cac():
    assert decide(channel("a", 150, 0), blended=100)[0] == "cut"
    assert decide(channel("a", 150, 0), blended=100)[1].values["blended_cac"] == 100
    assert decide(channel("a", 50, 0), blended=100)[1].code == "too_early_no_customers"
    assert decide(channel("a", 100, 0), blended=100)[1].code == "too_early_no_customers"  # not more than it


def test_spend_without_customers_anywhere_holds_with_its_own_reason():
    action, reason = decide(channel("a", 50_000, 0), blended=None)
    assert (action, reason.code) == ("hold", "no_customers_anywhere")


def test_a_channel_without_spend_holds_whether_or_not_it_brings_customers():
    assert decide(channel("organic", 0, 20), blended=100)[1].code == "unpaid_with_customers"
    assert decide(channel("idle", 0, 0), blended=100)[1].code == "idle"
    assert decide(channel("idle", 0, 0), blended=100)[0] == "hold"


def test_an_undefined_ltv_cac_or_payback_with_enough_customers_holds():
    no_value = ChannelFigures("a", "A", 1000, 20, cac=50, mean_customer_value=None, ltv_cac=None, payback_months=None)
    no_payback = ChannelFigures("b", "B", 1000, 20, cac=50, mean_customer_value=500, ltv_cac=10, payback_months=None)
    assert decide(no_value, blended=50)[1].code == "ltv_cac_undefined"
    assert decide(no_payback, blended=50)[1].code == "payback_undefined"


# Core and testing ---------------------------------------------------------------------------------------------


def test_core_is_the_proven_channels_ranked_by_ltv_cac_then_payback():
    channels = [
        channel("b", 1000, 10, value=400, payback=8),  # 4.0
        channel("a", 1000, 10, value=400, payback=5),  # 4.0, quicker payback
        channel("c", 1000, 20, value=500, payback=5),  # 10.0
        channel("few", 100, 3, value=5000),  # not enough evidence
        channel("loss", 1000, 10, value=50),  # 0.5: not core
    ]
    assert [c.code for c in core_ranking(channels)] == ["c", "a", "b"]


def test_core_is_capped_at_eight_channels():
    channels = [channel(f"c{i}", 1000, 10, value=200 + i) for i in range(12)]
    ranked = core_ranking(channels)
    assert len(ranked) == CORE_MAX_CHANNELS
    assert ranked[0].code == "c11"
    plan = plan_budget(channels)
    assert sum(1 for a in plan.channels if a.channel_class == "testing") == 4
    assert plan.advice_of("c0").channel_class == "testing"
    assert plan.advice_of("c11").core_rank == 1


def test_split_measures_core_and_testing_shares_of_paid_spend_against_70_30():
    channels = [
        channel("core1", 600, 20, value=300),
        channel("core2", 100, 10, value=300),
        channel("test1", 300, 2),
        channel("organic", 0, 50),
    ]
    plan = plan_budget(channels)
    assert plan.split.core_spend == 700
    assert plan.split.testing_spend == 300
    assert plan.split.core_share == pytest.approx(0.7)
    assert plan.split.testing_share == pytest.approx(0.3)
    assert plan.split.status == "on_policy"
    assert (plan.split.core_channels, plan.split.testing_channels) == (2, 1)
    assert plan.split.too_few_core
    assert plan.advice_of("organic").channel_class == "unpaid"


def test_split_reports_too_little_and_too_much_on_core():
    under = plan_budget([channel("core", 500, 20), channel("test", 500, 2)])
    assert under.split.status == "core_under"
    over = plan_budget([channel("core", 900, 20), channel("test", 100, 2)])
    assert over.split.status == "core_over"
    edge = plan_budget([channel("core", 750, 20), channel("test", 250, 2)])
    assert edge.split.status == "on_policy"


def test_split_without_any_spend_has_no_shares():
    plan = plan_budget([channel("organic", 0, 50), channel("idle", 0, 0)])
    assert plan.split.status == "no_spend"
    assert plan.split.core_share is None
    assert plan.effect.cac_before == 0.0
    assert plan.effect.cac_after == 0.0


def test_no_channels_at_all():
    plan = plan_budget([])
    assert plan.channels == []
    assert plan.split.status == "no_spend"
    assert plan.effect.cac_before is None
    assert plan.effect.change is None


# Blended CAC effect -------------------------------------------------------------------------------------------


def test_half_of_the_cut_spend_moves_to_the_grow_channels_at_their_measured_cac():
    """Grow: 1000 for 20 (CAC 50). Cut: 1000 for 10 (CAC 100, value 50). Hold: 1000 for 10 (CAC 100, value 200).

    Before: 3000 / 40 = 75. Cut frees 500 and loses 5 customers; grow gains 500 / 50 = 10.
    After: 3000 / 45 = 66.67.
    """
    channels = [
        channel("grow", 1000, 20, value=500, payback=4),
        channel("cut", 1000, 10, value=50, payback=30),
        channel("hold", 1000, 10, value=200, payback=6),
    ]
    plan = plan_budget(channels)
    assert [a.action for a in plan.channels] == ["grow", "cut", "hold"]
    assert plan.advice_of("cut").proposed_change == -500
    assert plan.advice_of("cut").expected_customer_change == -5
    assert plan.advice_of("grow").proposed_change == 500
    assert plan.advice_of("grow").expected_customer_change == 10
    assert plan.advice_of("hold").proposed_change == 0
    effect = plan.effect
    assert effect.cac_before == 75
    assert effect.cac_after == pytest.approx(3000 / 45)
    assert effect.change == pytest.approx(3000 / 45 - 75)
    assert effect.relative_change == pytest.approx((3000 / 45 - 75) / 75)
    assert (effect.moved_spend, effect.saved_spend) == (500, 0)
    assert (effect.customers_lost, effect.customers_gained) == (5, 10)


def test_the_moved_spend_is_shared_among_grow_channels_in_proportion_to_their_spend():
    channels = [
        channel("big", 3000, 60, value=500),
        channel("small", 1000, 20, value=500),
        channel("cut", 800, 10, value=40),
    ]
    plan = plan_budget(channels)
    assert plan.advice_of("big").proposed_change == pytest.approx(300)
    assert plan.advice_of("small").proposed_change == pytest.approx(100)
    assert plan.advice_of("big").proposed_spend == pytest.approx(3300)


def test_without_a_grow_channel_the_cut_spend_is_saved():
    """Cut: 1000 for 10. Hold: 1000 for 10 (CAC 100). Before 100; after (2000 − 500) / (20 − 5) = 100."""
    plan = plan_budget([channel("cut", 1000, 10, value=50), channel("hold", 1000, 10, value=200)])
    assert plan.effect.moved_spend == 0
    assert plan.effect.saved_spend == 500
    assert plan.effect.cac_after == pytest.approx(100)


def test_cutting_a_channel_with_no_customers_lowers_the_blended_cac_without_losing_any():
    """Spend 300 for nothing; hold 1000 for 10. Before 1300 / 10 = 130; after (1300 − 150) / 10 = 115."""
    plan = plan_budget([channel("dud", 300, 0), channel("hold", 1000, 10, value=200)])
    assert plan.advice_of("dud").action == "cut"
    assert plan.advice_of("dud").expected_customer_change == 0
    assert plan.effect.cac_before == 130
    assert plan.effect.cac_after == pytest.approx(115)


def test_with_nothing_to_cut_nothing_moves():
    plan = plan_budget([channel("grow", 1000, 20, value=500), channel("hold", 1000, 10, value=200)])
    assert plan.effect.moved_spend == 0
    assert plan.effect.cac_after == plan.effect.cac_before
    assert plan.effect.change == 0


def test_the_split_after_the_recommendation_shifts_towards_the_grow_channels():
    channels = [channel("core", 600, 20, value=500), channel("test", 400, 10, value=30)]
    plan = plan_budget(channels)
    assert plan.advice_of("test").channel_class == "testing"
    assert plan.split.core_share == pytest.approx(0.6)
    assert plan.split_after.core_share == pytest.approx(800 / 1000)


def test_shift_share_is_a_parameter_and_is_validated():
    channels = [channel("grow", 1000, 20, value=500), channel("cut", 1000, 10, value=50)]
    assert plan_budget(channels, shift_share=1.0).advice_of("cut").proposed_spend == 0
    assert plan_budget(channels, shift_share=0).effect.change == 0
    with pytest.raises(ValueError):
        plan_budget(channels, shift_share=1.5)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
            st.integers(min_value=0, max_value=500),
            st.floats(min_value=0, max_value=1e4, allow_nan=False),
            st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False)),
        ),
        max_size=15,
    )
)
def test_any_portfolio_gets_one_advice_per_channel_and_keeps_the_total_spend_when_money_moves(rows):
    channels = [
        channel(f"c{i}", spend, new, value=value, payback=payback)
        for i, (spend, new, value, payback) in enumerate(rows)
    ]
    plan = plan_budget(channels)
    assert sorted(a.code for a in plan.channels) == sorted(c.code for c in channels)
    assert sum(1 for a in plan.channels if a.channel_class == "core") <= CORE_MAX_CHANNELS
    proposed = sum(a.proposed_spend for a in plan.channels)
    assert proposed == pytest.approx(plan.effect.spend - plan.effect.saved_spend, rel=1e-9, abs=1e-6)
    for advice in plan.channels:
        assert advice.proposed_spend >= -1e-9
        if advice.channel_class == "unpaid":
            assert advice.action == "hold"
    if plan.split.core_share is not None:
        assert plan.split.core_share + plan.split.testing_share == pytest.approx(1)
