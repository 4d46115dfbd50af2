"""The gap limit: how far ahead of the last funded address new addresses may go.

A wallet restored from its seed finds its coins by scanning each chain and
stopping after ``gap_limit`` consecutive unused addresses (BIP44 uses 20).
bitcache gives each downloader one deposit address of the external chain and
stores the index; if it handed out index ``k`` while no address after
``k - gap_limit - 1`` had been funded, a deposit to ``k`` would be invisible
to a restoring wallet. So the rule: never hand out an index more than
``gap_limit`` beyond the highest funded one (or beyond ``gap_limit - 1`` when
nothing is funded yet).
"""

from __future__ import annotations

from collections.abc import Set

from bitcache.core.checks import is_int
from bitcache.errors import GapLimitExceeded, InvalidInput

DEFAULT_GAP_LIMIT = 20


def _check_indices(name: str, indices: Set[int]) -> None:
    for index in indices:
        if not is_int(index) or index < 0:
            raise InvalidInput(f"{name} must hold non-negative int indices, got {index!r}")


def highest_allowed_index(funded: Set[int], *, gap_limit: int = DEFAULT_GAP_LIMIT) -> int:
    """The largest index that may be handed out given the funded indices."""
    if not is_int(gap_limit) or gap_limit < 1:
        raise InvalidInput(f"gap_limit must be a positive int, got {gap_limit!r}")
    _check_indices("funded", funded)
    return max(funded, default=-1) + gap_limit


def next_deposit_index(
    issued: Set[int], funded: Set[int], *, gap_limit: int = DEFAULT_GAP_LIMIT
) -> int:
    """The smallest external index not yet issued, if the gap limit allows it.

    ``issued`` are indices already given to someone; ``funded`` those that
    received a payment. Raises ``GapLimitExceeded`` when the next index would
    lie more than ``gap_limit`` past the highest funded one: wait for
    deposits, or raise the limit together with the rescan window of every
    wallet that must find these coins.
    """
    _check_indices("issued", issued)
    limit = highest_allowed_index(funded, gap_limit=gap_limit)
    index = next(i for i in range(len(issued) + 1) if i not in issued)
    if index > limit:
        raise GapLimitExceeded(
            f"next deposit index {index} is beyond the gap limit: highest funded index is "
            f"{max(funded, default=-1)}, gap limit {gap_limit}, so at most {limit} may be issued"
        )
    return index
