"""Reorgs deeper than N: an input that vanished with its deposit, a payout made twice."""

from __future__ import annotations

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import payable
from bitcache.errors import ReorgTooDeep
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.settlement.reorg_support import N, Node
from tests.settlement.support import earn, payout_entries, received, register
from tests.settlement.test_cycle import expected_payout, run_to_final

BALANCE = 10_000_000  # msat owed to alice


def spending_the_deposit(
    ledger: LedgerStore, chain: RegtestChain
) -> tuple[Node, int, bytes, bytes]:
    """A settlement in flight whose only input is bob's credited deposit."""
    node = Node.open(ledger, chain)
    _, coin = node.deposit("bob", 20_000_000)
    chain.mine(N)
    [credited] = node.deposits.scan().credited
    script = register(node.settlement, ["alice"])["alice"]
    earn(ledger, {"alice": BALANCE})
    (sid,) = node.settlement.run_cycle().created
    s = node.settlement.settlement(sid)
    assert s.state is SettlementState.BROADCAST
    assert [c.outpoint for c in s.inputs] == [credited.outpoint]
    return node, sid, node.faucet.conflict(coin), script


def test_a_settlement_whose_deposit_left_the_chain_is_voided_and_paid_again(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    node, sid, conflict, script = spending_the_deposit(ledger, chain)
    deposit_txid = node.settlement.settlement(sid).inputs[0].outpoint.txid
    first = node.settlement.settlement(sid).versions[0].txid
    # A branch N + 1 blocks long takes bob's deposit away: it confirms a double spend of
    # the deposit's own input. The settlement's input no longer exists anywhere.
    chain.reorg(N, new_blocks=N + 1, transactions=[conflict])
    assert chain.tx_status(deposit_txid).known is False
    assert first not in chain.mempool_txids()
    with pytest.raises(ReorgTooDeep):
        node.deposits.scan()
    node.fund(50_000_000)  # other coins to pay with
    report = node.settlement.run_cycle()
    s = node.settlement.settlement(sid)
    assert s.state is SettlementState.VOID, (s.state, s.last_error)
    assert deposit_txid in s.reason and "left the chain" in s.reason
    (again,) = report.created  # payouts go on
    assert node.settlement.settlement(again).inputs[0].outpoint.txid != deposit_txid
    run_to_final(node.settlement, chain, again)
    assert received(chain, script) == expected_payout(BALANCE)
    assert len(payout_entries(ledger, "alice")) == 1


def test_a_vanished_input_is_voided_only_once_its_conflict_is_n_deep(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    node, sid, conflict, _ = spending_the_deposit(ledger, chain)
    chain.reorg(N, new_blocks=N + 1)  # the deposit and the settlement go back to the mempool
    chain.mine_transaction_directly(conflict)  # …and are evicted: 1 deep
    with pytest.raises(ReorgTooDeep):
        node.deposits.scan()
    for depth in range(1, N):
        node.settlement.run_cycle()
        s = node.settlement.settlement(sid)
        assert s.state is SettlementState.BROADCAST, depth  # not proven yet: wait
        chain.mine(1)
    node.settlement.run_cycle()
    assert node.settlement.settlement(sid).state is SettlementState.VOID


def test_a_settlement_with_no_copy_of_its_input_transaction_waits_for_the_operator(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    node, sid, conflict, _ = spending_the_deposit(ledger, chain)
    with ledger.engine.begin() as conn:  # a settlement planned before copies were kept
        conn.exec_driver_sql("DELETE FROM coin_parents")
    chain.reorg(N, new_blocks=N + 1, transactions=[conflict])
    node.settlement.run_cycle()
    assert node.settlement.settlement(sid).state is SettlementState.BROADCAST
    gone = node.settlement.abandon(sid, "its deposit was reorged away")
    assert gone.state is SettlementState.VOID
    owed = ledger.balance(payable("alice"))
    assert (-owed.posted, owed.pending_debits) == (BALANCE, 0)  # the credit is back
