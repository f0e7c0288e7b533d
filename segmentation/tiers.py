"""Value tiers (high / mid / potential) from customer value, on arrays (no Django).

The playbook (DESIGN.md §1) splits buying customers by customer value: the top 10% are "high" (an owner and
one-to-one follow-up), the next 30% "mid" (repurchase incentives) and the remaining 60% "potential" (content).
The shares are an organization's defaults and arrive here as parameters.

Decisions, and why:

- Only buying customers are ranked. A customer with no purchase gets no tier (the empty string): a contact who
  never bought has no value to rank, and counting them would shrink the high tier of every organization with a
  large mailing list.
- Customers are ordered by value descending, ties broken by customer id ascending. Tiers have fixed sizes, so a
  tie across a boundary has to be split somehow; the id makes the split deterministic and independent of row
  order, and the same customer wins the tie night after night instead of flickering between tiers.
- Tier sizes come from cumulative shares rounded half up: with n buyers, the high tier holds
  ``round_half_up(high_share * n)`` customers and high plus mid together hold
  ``round_half_up((high_share + mid_share) * n)``; potential takes the rest. Rounding the cumulative boundary
  (not each tier on its own) keeps "top 40%" true to its share: with 5 buyers the tiers are 1 / 1 / 3, not the
  1 / 2 / 2 that rounding each tier would give. Shares are read as the decimals they are written as (0.15, not
  its binary approximation), so 0.15 * 10 = 1.5 rounds up to 2.
- The high tier is never empty while there is a buyer and ``high_share > 0``: with fewer than 5 buyers,
  rounding would otherwise leave the best customer of a small organization without the high tier's service. A
  single buyer is therefore "high". ``high_share = 0`` means no high tier at all.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt

HIGH = "high"
MID = "mid"
POTENTIAL = "potential"
NO_TIER = ""

TIERS: tuple[str, ...] = (HIGH, MID, POTENTIAL)
"""Tier codes, most valuable first. Customers with no purchase get ``NO_TIER`` instead."""

DEFAULT_HIGH_SHARE = 0.10
DEFAULT_MID_SHARE = 0.30

_TIER_DTYPE = np.dtype(f"<U{max(len(code) for code in TIERS)}")


def _as_decimal(name: str, share: float) -> Decimal:
    try:
        exact = Decimal(repr(float(share)))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a number between 0 and 1, got {share!r}.") from error
    if not exact.is_finite() or exact < 0:
        raise ValueError(f"{name} must be a number between 0 and 1, got {share!r}.")
    return exact


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tier_sizes(
    buyer_count: int, *, high_share: float = DEFAULT_HIGH_SHARE, mid_share: float = DEFAULT_MID_SHARE
) -> tuple[int, int, int]:
    """Number of (high, mid, potential) customers among ``buyer_count`` buyers, by the rules in the module docstring.

    Raises ``ValueError`` naming the parameter when a share is negative or not a number, or when
    ``high_share + mid_share`` exceeds 1 (reported against ``mid_share``).
    """
    if buyer_count < 0:
        raise ValueError(f"buyer_count must not be negative, got {buyer_count}.")
    high = _as_decimal("high_share", high_share)
    mid = _as_decimal("mid_share", mid_share)
    if high > 1:
        raise ValueError(f"high_share must be a number between 0 and 1, got {high_share!r}.")
    if high + mid > 1:
        raise ValueError(
            f"mid_share must leave high_share + mid_share at most 1, got {high_share!r} + {mid_share!r} = {high + mid}."
        )
    high_count = _round_half_up(high * buyer_count)
    if high > 0 and buyer_count > 0:
        high_count = max(high_count, 1)
    high_and_mid_count = max(high_count, _round_half_up((high + mid) * buyer_count))
    return high_count, high_and_mid_count - high_count, buyer_count - high_and_mid_count


def assign_tiers(
    customer_value: npt.ArrayLike,
    has_purchase: npt.ArrayLike,
    customer_id: npt.ArrayLike,
    *,
    high_share: float = DEFAULT_HIGH_SHARE,
    mid_share: float = DEFAULT_MID_SHARE,
) -> npt.NDArray[np.str_]:
    """Tier code per customer: ``"high"``, ``"mid"``, ``"potential"``, or ``""`` for a customer with no purchase.

    The three arrays are aligned, one row per customer. Buyers are ordered by ``customer_value`` descending, ties
    by ``customer_id`` ascending, and cut into tiers of the sizes given by :func:`tier_sizes`. Raises
    ``ValueError`` for a bad share (naming the parameter), arrays of different shapes, duplicate customer ids, or
    a buyer whose value is not a finite number.
    """
    values = np.asarray(customer_value, dtype=np.float64)
    buyers = np.asarray(has_purchase, dtype=bool)
    ids = np.asarray(customer_id)
    if values.ndim != 1 or values.shape != buyers.shape or values.shape != ids.shape:
        raise ValueError(
            "customer_value, has_purchase and customer_id must be one-dimensional and of the same length, got "
            f"shapes {values.shape}, {buyers.shape} and {ids.shape}."
        )
    if np.unique(ids).size != ids.size:
        raise ValueError("customer_id must not repeat: ties are broken by customer id, which must be unique.")
    buyer_rows = np.flatnonzero(buyers)
    buyer_values = values[buyer_rows]
    if not np.all(np.isfinite(buyer_values)):
        raise ValueError("customer_value must be a finite number for every customer with a purchase.")
    high_count, mid_count, _ = tier_sizes(buyer_rows.size, high_share=high_share, mid_share=mid_share)

    # lexsort sorts by its last key first: value descending, then id ascending.
    best_first = buyer_rows[np.lexsort((ids[buyer_rows], -buyer_values))]
    tiers = np.full(values.size, NO_TIER, dtype=_TIER_DTYPE)
    tiers[best_first[:high_count]] = HIGH
    tiers[best_first[high_count : high_count + mid_count]] = MID
    tiers[best_first[high_count + mid_count :]] = POTENTIAL
    return tiers
