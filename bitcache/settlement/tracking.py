"""Following a settlement on chain, through the spends of its inputs (pure).

Every version of a settlement spends the same inputs, so whoever spends
input 0 tells which version (if any) got in — a replacement confirmed in
place of the original is seen the same way, and watching only a txid
would miss it. What the chain shows is summed up in an :class:`Observation`;
:func:`decide` turns the stored state and the observation into the one
next :class:`Step`. A conflict is *proven* only when a transaction that is
not ours spends one of our inputs with at least N confirmations (the same
depth at which our own payouts are final), when an input was created by
a settlement that was voided, or when the transaction that created an input
left the chain and a transaction conflicting with it (spending one of its
inputs) has N confirmations — then the input no longer exists, and no
version can ever confirm; anything less is waited out.

An input nobody spends is not proof that it exists: Esplora answers
"unspent" for an outpoint of a transaction it does not know. So for each
input with no spend in sight the job asks after the transaction that
created it, and sums that up as a :class:`ParentFate`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bitcache.core.utxo import OutPoint, OutSpend
from bitcache.settlement.states import SettlementState


class Sighting(enum.Enum):
    """What the chain shows of a settlement's inputs."""

    OURS_CONFIRMED = "ours_confirmed"
    FOREIGN_CONFIRMED = "foreign_confirmed"
    PARENT_VOIDED = "parent_voided"
    PARENT_CONFLICTED = "parent_conflicted"
    OURS_MEMPOOL = "ours_mempool"
    FOREIGN_MEMPOOL = "foreign_mempool"
    UNSEEN = "unseen"


@dataclass(frozen=True, slots=True)
class Observation:
    """A sighting, the txid it concerns, and its depth (0 when unconfirmed).

    For ``PARENT_CONFLICTED``, ``txid`` is the conflicting transaction and
    ``parent`` the transaction that created our input and left the chain.
    """

    sighting: Sighting
    txid: str | None = None
    depth: int = 0
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class ParentFate:
    """What the chain shows of a transaction that created one of our inputs.

    ``known``: confirmed or in the backend's mempool (the input exists). When
    it is not, ``conflict`` is the deepest confirmed transaction spending one
    of its inputs (None if none is seen) and ``depth`` its confirmations.
    """

    txid: str
    known: bool
    conflict: str | None = None
    depth: int = 0


def observe(
    ours: frozenset[str],
    inputs: Sequence[OutPoint],
    spends: Sequence[OutSpend],
    tip_height: int,
    voided_txids: frozenset[str] = frozenset(),
    parents: Mapping[str, ParentFate] | None = None,
) -> Observation:
    """Sum up ``spends`` (one per input, in order) of a settlement whose versions are ``ours``.

    ``parents`` are the fates of the transactions that created inputs with no
    spend in sight, by txid.
    """
    found: dict[Sighting, Observation] = {}
    for outpoint, spend in zip(inputs, spends, strict=True):
        if outpoint.txid in voided_txids:
            found.setdefault(Sighting.PARENT_VOIDED, Observation(Sighting.PARENT_VOIDED))
        if not spend.spent or spend.txid is None:
            _parent_gone(found, (parents or {}).get(outpoint.txid))
            continue
        mine = spend.txid in ours
        if spend.confirmed and spend.block_height is not None:
            depth = tip_height - spend.block_height + 1
            kind = Sighting.OURS_CONFIRMED if mine else Sighting.FOREIGN_CONFIRMED
            seen = found.get(kind)
            if seen is None or depth > seen.depth:
                found[kind] = Observation(kind, spend.txid, depth)
        else:
            kind = Sighting.OURS_MEMPOOL if mine else Sighting.FOREIGN_MEMPOOL
            found.setdefault(kind, Observation(kind, spend.txid))
    return _first(found)


def _parent_gone(found: dict[Sighting, Observation], fate: ParentFate | None) -> None:
    """Note a creating transaction that left the chain for a confirmed conflict."""
    if fate is None or fate.known or fate.conflict is None:
        return
    kind = Sighting.PARENT_CONFLICTED
    seen = found.get(kind)
    if seen is None or fate.depth > seen.depth:
        found[kind] = Observation(kind, fate.conflict, fate.depth, fate.txid)


def _first(found: dict[Sighting, Observation]) -> Observation:
    """The sighting that decides: ours confirmed first, then the deepest conflict, in order."""
    foreign = found.get(Sighting.FOREIGN_CONFIRMED)
    gone = found.get(Sighting.PARENT_CONFLICTED)
    if foreign is not None and gone is not None and gone.depth > foreign.depth:
        del found[Sighting.FOREIGN_CONFIRMED]
    for kind in Sighting:
        if kind in found:
            return found[kind]
    return Observation(Sighting.UNSEEN)


class Action(enum.Enum):
    """The one thing the job does next for a settlement."""

    SIGN = "sign"  # planned → signed
    SEND = "send"  # (re)broadcast a stored version; signed → broadcast on success
    MARK_BROADCAST = "mark_broadcast"  # signed → broadcast: a node already has it
    CONFIRM = "confirm"  # broadcast/confirmed → confirmed(k)
    FINALIZE = "finalize"  # confirmed → final
    UNCONFIRM = "unconfirm"  # confirmed → broadcast (reorg)
    BUMP = "bump"  # broadcast → broadcast with a new version
    VOID = "void"  # → void (proven conflict)
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Step:
    """An action and the observation it acts on."""

    action: Action
    observation: Observation


def decide(
    state: SettlementState,
    confirmations: int,
    confirmed_txid: str | None,
    obs: Observation,
    *,
    required: int,
    bump_due: bool,
) -> Step:
    """The next step for a settlement in ``state`` given what the chain shows."""
    if state is SettlementState.PLANNED:
        return Step(Action.SIGN, obs)
    if state.terminal:
        return Step(Action.WAIT, obs)
    kind = obs.sighting
    if kind is Sighting.OURS_CONFIRMED:
        return Step(_confirmed_action(state, confirmations, confirmed_txid, obs, required), obs)
    if kind is Sighting.PARENT_VOIDED or (
        kind in (Sighting.FOREIGN_CONFIRMED, Sighting.PARENT_CONFLICTED)
        and obs.depth >= required
    ):
        if state is SettlementState.CONFIRMED:
            return Step(Action.UNCONFIRM, obs)
        return Step(Action.VOID, obs)
    if state is SettlementState.CONFIRMED:
        return Step(Action.UNCONFIRM, obs)
    if kind is Sighting.OURS_MEMPOOL:
        if state is SettlementState.SIGNED:
            return Step(Action.MARK_BROADCAST, obs)
        return Step(Action.BUMP if bump_due else Action.WAIT, obs)
    if kind is Sighting.UNSEEN:
        return Step(Action.SEND, obs)
    return Step(Action.WAIT, obs)  # a foreign spend or a conflict not yet proven: wait


def _confirmed_action(
    state: SettlementState,
    confirmations: int,
    confirmed_txid: str | None,
    obs: Observation,
    required: int,
) -> Action:
    if state is SettlementState.SIGNED:
        return Action.MARK_BROADCAST
    if state is SettlementState.BROADCAST:
        return Action.CONFIRM
    if obs.depth >= required and obs.txid == confirmed_txid:
        return Action.FINALIZE
    if obs.depth != confirmations or obs.txid != confirmed_txid:
        return Action.CONFIRM
    return Action.WAIT
