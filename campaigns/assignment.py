"""Who gets which variant of a campaign, and who is held out: decided by a hash, so it never changes.

Each (campaign, customer) pair maps to a number u in [0, 1) through SplitMix64 (a well-mixed 64-bit hash,
vectorised in numpy). The first ``holdout_share`` of the unit interval is the hold-out group; the rest is cut
by the variants' allocation weights. Because u depends only on the two ids, a re-run, a retry or a second
worker assigns every customer exactly as before, and assignments of different campaigns are independent
(the campaign id is mixed into the seed), so the same customers are not always the ones held out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

HOLDOUT = -1
"""The variant index of hold-out customers."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX_1
        z = (z ^ (z >> np.uint64(27))) * _MIX_2
        return z ^ (z >> np.uint64(31))


def unit_draws(campaign_id: int, customer_ids: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A number in [0, 1) per customer, fixed for this campaign: the top 53 bits of the mixed hash."""
    ids = np.asarray(customer_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        seed = _splitmix64(np.array([campaign_id], dtype=np.int64).astype(np.uint64))[0]
        mixed = _splitmix64(ids ^ seed)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign(
    campaign_id: int, customer_ids: npt.ArrayLike, *, allocation: Sequence[float], holdout_share: float
) -> npt.NDArray[np.int64]:
    """The variant index of each customer (0, 1, ... in ``allocation`` order), or ``HOLDOUT`` (-1).

    ``allocation`` gives the variants' relative weights (e.g. [50, 50]); ``holdout_share`` is the share of all
    customers who receive nothing (0 <= share < 1). Raises ``ValueError`` naming the bad argument.
    """
    weights = np.asarray(allocation, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("allocation must be a non-empty list of non-negative weights, one per variant.")
    if weights.sum() <= 0:
        raise ValueError("allocation must give at least one variant a positive weight.")
    if not 0 <= holdout_share < 1:
        raise ValueError(f"holdout_share must be at least 0 and below 1, got {holdout_share!r}.")
    draws = unit_draws(campaign_id, customer_ids)
    in_holdout = draws < holdout_share
    rescaled = (draws - holdout_share) / (1 - holdout_share)
    bounds = np.cumsum(weights) / weights.sum()
    variant = np.minimum(np.searchsorted(bounds, rescaled, side="right"), weights.size - 1)
    return np.where(in_holdout, HOLDOUT, variant).astype(np.int64)
