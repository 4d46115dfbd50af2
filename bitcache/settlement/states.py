"""The settlement state machine: its states and the transitions it allows.

::

    planned ──▶ signed ──▶ broadcast ──▶ confirmed(k < N) ──▶ final
       │           │        │  ▲  ▲ │          │
       └──▶ void ◀─┴────────┘  │  └─┘ bump     └─ reorg ─▶ broadcast
                               └─ (RBF, same inputs)

* ``planned``: payees reserved (pending entries), inputs and change index
  chosen; nothing signed yet.
* ``signed``: the signed raw transaction is stored; it may or may not have
  reached a node (a crash can happen right after the broadcast).
* ``broadcast``: a node accepted one of our versions; a fee bump adds a
  version and stays here.
* ``confirmed``: one of our versions is in the best chain with k < N
  confirmations; k is updated as blocks come (confirmed → confirmed).
* ``final``: N confirmations: the reservations are posted and the wallet
  outflow and network fee booked. Terminal.
* ``void``: proven conflict or operator abandon: the reservations are voided
  and the credit is back on the payable accounts. Terminal.

Every transition is committed before the side effect it leads to.
"""

from __future__ import annotations

import enum

from bitcache.errors import InvalidTransition


class SettlementState(enum.Enum):
    """Where a settlement stands."""

    PLANNED = "planned"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    CONFIRMED = "confirmed"
    FINAL = "final"
    VOID = "void"

    @property
    def terminal(self) -> bool:
        """Final and void settlements never change again."""
        return self in (SettlementState.FINAL, SettlementState.VOID)

    @property
    def in_flight(self) -> bool:
        """Reservations are held and inputs reserved."""
        return not self.terminal


_S = SettlementState

TRANSITIONS: frozenset[tuple[SettlementState, SettlementState]] = frozenset(
    {
        (_S.PLANNED, _S.SIGNED),
        (_S.PLANNED, _S.VOID),
        (_S.SIGNED, _S.BROADCAST),
        (_S.SIGNED, _S.VOID),
        (_S.BROADCAST, _S.BROADCAST),  # fee bump: a new version with the same inputs
        (_S.BROADCAST, _S.CONFIRMED),
        (_S.BROADCAST, _S.VOID),
        (_S.CONFIRMED, _S.CONFIRMED),  # one more confirmation (or another version, after a reorg)
        (_S.CONFIRMED, _S.FINAL),
        (_S.CONFIRMED, _S.BROADCAST),  # reorg: no version is in the best chain any more
    }
)


def check_transition(current: SettlementState, target: SettlementState) -> None:
    """Raise InvalidTransition unless ``current → target`` is an edge of the machine."""
    if (current, target) not in TRANSITIONS:
        raise InvalidTransition(f"a settlement cannot go from {current.value} to {target.value}")
