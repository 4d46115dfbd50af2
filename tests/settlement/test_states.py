"""The state machine's edges, and the pure tracking decisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitcache.core.utxo import OutPoint, OutSpend
from bitcache.errors import InvalidTransition
from bitcache.settlement.states import TRANSITIONS, SettlementState, check_transition
from bitcache.settlement.tracking import Action, ParentFate, Sighting, decide, observe

S = SettlementState
OURS = frozenset({"a" * 64, "b" * 64})
INPUTS = [OutPoint("c" * 64, 0), OutPoint("d" * 64, 1)]


def test_terminal_states_have_no_way_out_and_void_is_never_reached_from_confirmed() -> None:
    assert not [t for t in TRANSITIONS if t[0].terminal]
    assert (S.CONFIRMED, S.VOID) not in TRANSITIONS
    assert (S.BROADCAST, S.PLANNED) not in TRANSITIONS
    with pytest.raises(InvalidTransition, match="from final to broadcast"):
        check_transition(S.FINAL, S.BROADCAST)
    check_transition(S.CONFIRMED, S.BROADCAST)


def test_observe_follows_the_spends_of_our_inputs() -> None:
    mempool = OutSpend(True, "b" * 64, 0, False)
    assert observe(OURS, INPUTS, [mempool, mempool], 100).sighting is Sighting.OURS_MEMPOOL
    mined = OutSpend(True, "b" * 64, 0, True, 98)
    seen = observe(OURS, INPUTS, [mined, mined], 100)
    assert (seen.sighting, seen.txid, seen.depth) == (Sighting.OURS_CONFIRMED, "b" * 64, 3)
    foreign = OutSpend(True, "e" * 64, 0, True, 100)
    seen = observe(OURS, INPUTS, [OutSpend(False), foreign], 100)
    assert (seen.sighting, seen.depth) == (Sighting.FOREIGN_CONFIRMED, 1)
    assert observe(OURS, INPUTS, [OutSpend(False)] * 2, 100).sighting is Sighting.UNSEEN
    parent = observe(OURS, INPUTS, [OutSpend(False)] * 2, 100, frozenset({"c" * 64}))
    assert parent.sighting is Sighting.PARENT_VOIDED


def step(
    state: S, spends: list[OutSpend], *, k: int = 0, txid: str | None = None, bump: bool = False
) -> Action:
    obs = observe(OURS, INPUTS, spends, 100)
    return decide(state, k, txid, obs, required=3, bump_due=bump).action


def test_decisions() -> None:
    unseen = [OutSpend(False)] * 2
    pool = [OutSpend(True, "a" * 64, 0, False)] * 2
    deep = [OutSpend(True, "a" * 64, 0, True, 98)] * 2
    shallow_foreign = [OutSpend(True, "e" * 64, 0, True, 99)] * 2
    deep_foreign = [OutSpend(True, "e" * 64, 0, True, 98)] * 2
    assert step(S.PLANNED, unseen) is Action.SIGN
    assert step(S.SIGNED, unseen) is Action.SEND
    assert step(S.SIGNED, pool) is Action.MARK_BROADCAST
    assert step(S.BROADCAST, unseen) is Action.SEND  # missing from the mempool: rebroadcast
    assert step(S.BROADCAST, pool) is Action.WAIT
    assert step(S.BROADCAST, pool, bump=True) is Action.BUMP
    assert step(S.BROADCAST, deep) is Action.CONFIRM
    two_deep = [OutSpend(True, "a" * 64, 0, True, 99)] * 2
    assert step(S.CONFIRMED, two_deep, k=1, txid="a" * 64) is Action.CONFIRM
    assert step(S.CONFIRMED, two_deep, k=2, txid="a" * 64) is Action.WAIT
    assert step(S.CONFIRMED, deep, k=3, txid="a" * 64) is Action.FINALIZE
    assert step(S.CONFIRMED, deep, k=3, txid="b" * 64) is Action.CONFIRM  # another version won
    assert step(S.CONFIRMED, pool, k=1, txid="a" * 64) is Action.UNCONFIRM
    assert step(S.BROADCAST, shallow_foreign) is Action.WAIT  # not proven yet
    assert step(S.SIGNED, shallow_foreign) is Action.WAIT
    assert step(S.BROADCAST, deep_foreign) is Action.VOID
    assert step(S.CONFIRMED, deep_foreign, k=1, txid="a" * 64) is Action.UNCONFIRM


def test_a_vanished_input_is_proven_by_a_deep_conflict_of_its_transaction() -> None:
    unseen = [OutSpend(False), OutSpend(True, None, None, True)]  # Esplora-like, Core-like
    parent = INPUTS[0].txid

    def fate(*parents: ParentFate) -> Action:
        obs = observe(OURS, INPUTS, unseen, 100, parents={p.txid: p for p in parents})
        return decide(S.BROADCAST, 0, None, obs, required=3, bump_due=False).action

    assert fate() is Action.SEND  # nothing known: rebroadcast
    assert fate(ParentFate(parent, known=True)) is Action.SEND  # the input exists
    assert fate(ParentFate(parent, known=False)) is Action.SEND  # gone, no conflict in sight
    assert fate(ParentFate(parent, False, "e" * 64, 2)) is Action.WAIT  # not proven yet
    assert fate(ParentFate(parent, False, "e" * 64, 3)) is Action.VOID
    def gone(depth: int) -> dict[str, ParentFate]:
        return {parent: ParentFate(parent, False, "e" * 64, depth)}

    obs = observe(OURS, INPUTS, unseen, 100, parents=gone(5))
    assert (obs.sighting, obs.txid, obs.depth, obs.parent) == (
        Sighting.PARENT_CONFLICTED, "e" * 64, 5, parent
    )
    confirmed = decide(S.CONFIRMED, 1, "a" * 64, obs, required=3, bump_due=False)
    assert confirmed.action is Action.UNCONFIRM  # confirmed → broadcast first, then void
    # a deep vanished parent wins over a shallow foreign spend of another input
    mixed = [OutSpend(False), OutSpend(True, "f" * 64, 0, True, 100)]
    obs = observe(OURS, INPUTS, mixed, 100, parents=gone(4))
    assert obs.sighting is Sighting.PARENT_CONFLICTED
    ours = [OutSpend(False), OutSpend(True, "a" * 64, 0, True, 99)]
    obs = observe(OURS, INPUTS, ours, 100, parents=gone(4))
    assert obs.sighting is Sighting.OURS_CONFIRMED


_TXIDS = st.sampled_from(["a" * 64, "b" * 64, "e" * 64, "f" * 64])  # a, b ours; e, f not
_SPEND = st.one_of(
    st.just(OutSpend(False)),  # unspent (or, on Esplora, unknown)
    st.just(OutSpend(True, None, None, True)),  # Core: spent deep, spender not found
    st.builds(lambda t: OutSpend(True, t, 0, False), _TXIDS),
    st.builds(lambda t, h: OutSpend(True, t, 0, True, h), _TXIDS, st.integers(90, 100)),
)


def _fate(txid: str) -> st.SearchStrategy[ParentFate | None]:
    conflict = st.builds(
        lambda d: ParentFate(txid, False, "e" * 64, d), st.integers(1, 10)
    )
    return st.one_of(st.none(), st.just(ParentFate(txid, True)),
                     st.just(ParentFate(txid, False)), conflict)


@given(
    spends=st.tuples(_SPEND, _SPEND),
    fates=st.tuples(_fate(INPUTS[0].txid), _fate(INPUTS[1].txid)),
    state=st.sampled_from([S.SIGNED, S.BROADCAST]),
    required=st.integers(1, 8),
)
def test_a_settlement_is_voided_exactly_when_the_chain_proves_it_cannot_confirm(
    spends: tuple[OutSpend, OutSpend],
    fates: tuple[ParentFate | None, ParentFate | None],
    state: S,
    required: int,
) -> None:
    parents = {f.txid: f for f in fates if f is not None}
    obs = observe(OURS, INPUTS, list(spends), 100, parents=parents)
    action = decide(state, 0, None, obs, required=required, bump_due=False).action
    ours_confirmed = any(s.confirmed and s.txid in OURS for s in spends)
    foreign_proof = any(
        s.confirmed and s.txid is not None and s.txid not in OURS
        and s.block_height is not None and 100 - s.block_height + 1 >= required
        for s in spends
    )
    vanished_proof = any(
        (not s.spent or s.txid is None) and f is not None and not f.known
        and f.conflict is not None and f.depth >= required
        for s, f in zip(spends, fates, strict=True)
    )
    proven = (foreign_proof or vanished_proof) and not ours_confirmed
    assert (action is Action.VOID) == proven, (obs, action)
