"""Settlements that are not moving, and why: what ``settle``, reconcile and operators see.

A settlement in flight normally moves every cycle or waits for blocks. It is
*stalled* when:

* its last broadcast was **refused** by the node (the node's reason is kept;
  the job rebroadcasts the same transaction every cycle, and a refusal such as
  ``bad-txns-premature-spend-of-coinbase`` or ``min relay fee not met`` can
  last for ever);
* its last broadcast **failed** because the backend could not be asked
  (timeout, HTTP 5xx): retried every cycle as well;
* it is still not confirmed ``after_blocks`` blocks after it was planned
  (whatever the reason: a fee below what miners take, a transaction nobody
  relays, a backend down for that long).

Pure: the settlements and the tip height come in as arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bitcache.settlement.model import BroadcastFailure, Settlement
from bitcache.settlement.states import SettlementState


class StallKind(enum.Enum):
    """Why a settlement is not moving."""

    BROADCAST_REFUSED = "broadcast_refused"
    BROADCAST_FAILED = "broadcast_failed"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class Stall:
    """A settlement in flight that is not moving: which, why, since which height."""

    settlement_id: int
    state: SettlementState
    kind: StallKind
    since_height: int
    detail: str

    def __str__(self) -> str:
        return f"settlement {self.settlement_id} ({self.state.value}): {self.detail}"


def stall_of(s: Settlement, tip_height: int | None, after_blocks: int) -> Stall | None:
    """Why ``s`` is not moving, or None. Without a tip only broadcast failures are seen."""
    if s.state.terminal:
        return None
    problem = s.broadcast_problem
    if problem is not None:
        if problem.failure is BroadcastFailure.REFUSED:
            kind, verb = StallKind.BROADCAST_REFUSED, "broadcast refused"
        else:
            kind, verb = StallKind.BROADCAST_FAILED, "broadcast failed (backend unreachable)"
        detail = (
            f"{verb} since height {problem.since_height}: {problem.reason}; "
            f"{s.attempts} failed attempt(s), retried every cycle"
        )
        return Stall(s.id, s.state, kind, problem.since_height, detail)
    waited = None if tip_height is None else tip_height - s.created_height
    if waited is not None and waited >= after_blocks and s.state is not SettlementState.CONFIRMED:
        detail = (
            f"not confirmed {waited} blocks after it was planned at height "
            f"{s.created_height} (stall limit {after_blocks} blocks)"
        )
        return Stall(s.id, s.state, StallKind.UNCONFIRMED, s.created_height, detail)
    return None


def stalls(
    settlements: Iterable[Settlement], tip_height: int | None, after_blocks: int
) -> tuple[Stall, ...]:
    """The stalled ones among ``settlements``, in their order."""
    found = (stall_of(s, tip_height, after_blocks) for s in settlements)
    return tuple(x for x in found if x is not None)
