"""Exact splits by the largest-remainder method.

The parts of a split always add up to the total, to the msat: each part gets
the floor of its exact share, and the msat left over go one each to the parts
with the largest remainders (ties to the earlier part). Deterministic, so the
same split is computed again on retry.
"""

from __future__ import annotations

from collections.abc import Sequence

from bitcache.core.checks import is_int
from bitcache.errors import InvalidAmount, InvalidPolicy

BPS_TOTAL = 10_000


def split_by_weights(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Split ``total`` (≥ 0) in proportion to non-negative integer ``weights``."""
    if not is_int(total) or total < 0:
        raise InvalidAmount(f"split total must be a non-negative int, got {total!r}")
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence) or not weights:
        raise InvalidPolicy(f"a split needs a sequence of at least one weight, got {weights!r}")
    for w in weights:
        if not is_int(w) or w < 0:
            raise InvalidPolicy(f"split weights must be non-negative ints, got {w!r}")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise InvalidPolicy("split weights sum to zero")
    floors: list[int] = []
    remainders: list[tuple[int, int]] = []
    for index, w in enumerate(weights):
        quotient, remainder = divmod(total * w, weight_sum)
        floors.append(quotient)
        remainders.append((-remainder, index))
    leftover = total - sum(floors)
    for _, index in sorted(remainders)[:leftover]:
        floors[index] += 1
    return tuple(floors)


def split_bps(total: int, shares_bps: Sequence[int]) -> tuple[int, ...]:
    """Split ``total`` into parts of the given basis points plus a last part for the rest.

    ``split_bps(1000, [1500])`` gives ``(150, 850)``: the platform's 15% and
    the uploader's remainder. The bps must sum to at most 10,000.
    """
    if isinstance(shares_bps, str | bytes) or not isinstance(shares_bps, Sequence) or not all(
        is_int(b) for b in shares_bps
    ):
        raise InvalidPolicy(f"basis points must be a sequence of ints, got {shares_bps!r}")
    used = sum(shares_bps)
    if any(b < 0 for b in shares_bps) or used > BPS_TOTAL:
        raise InvalidPolicy(f"basis points must be >= 0 and sum to <= {BPS_TOTAL}, got {used}")
    return split_by_weights(total, [*shares_bps, BPS_TOTAL - used])
