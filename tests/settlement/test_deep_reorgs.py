"""Reorgs deeper than N: an input that vanished with its deposit, a payout made twice."""

from __future__ import annotations

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import payable
from bitcache.errors import ReorgTooDeep
from bitcache.reconciliation.report import Check
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.settlement.reorg_support import N, Node
from tests.settlement.support import earn, payout_entries, received, register
from tests.settlement.test_chain_events import steal_input
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
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    ledger = any_ledger
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


def test_a_reversed_deposit_that_confirms_after_all_is_named_by_reconcile(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    node = Node.open(any_ledger, chain)
    txid, _ = node.deposit("bob", 40_000)
    chain.mine(N)
    [credited] = node.deposits.scan().credited
    assert node.reconcile().ok
    chain.reorg(N, new_blocks=N + 1)  # the deposit goes back to the mempool
    with pytest.raises(ReorgTooDeep):
        node.deposits.scan()
    any_ledger.reverse(credited.entry_id, f"reverse-deposit:{txid}:0")  # reversed too early
    chain.mine(N)  # …and it confirms, N deep
    assert chain.tx_status(txid).confirmations == N
    assert node.deposits.scan().credited == ()  # a deposit is never credited twice
    report = node.reconcile()
    assert not report.ok
    named = [d for d in report.discrepancies if d.subject == f"coin {txid}:0"]
    assert len(named) == 1 and "reversed by entry" in named[0].detail
    assert f"{N} confirmations" in named[0].detail
    assert report.wallet is not None
    assert not [a for a in report.wallet.adjustments if a.kind == "awaiting_credit"]
    assert report.wallet.difference_sat == 40_000  # on chain, not in the books


def test_reconcile_names_a_payout_made_twice_by_a_void_settlement(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    node = Node.open(ledger, chain)
    node.fund(50_000_000)
    script = register(node.settlement, ["alice"])["alice"]
    earn(ledger, {"alice": BALANCE})
    (first,) = node.settlement.run_cycle().created
    stolen_at = chain.tip().height + 1
    steal_input(node.settlement, chain, first, ledger)  # the operator's other wallet
    funding = node.fund(50_000_000)  # mines N blocks: the conflict is proven
    (second,) = node.settlement.run_cycle().created
    assert node.settlement.settlement(first).state is SettlementState.VOID
    run_to_final(node.settlement, chain, second)
    assert node.reconcile().ok
    # A branch from below the conflict confirms the void settlement's version instead, and
    # the funding again; the second payout goes back to the mempool and confirms: alice is
    # paid twice.
    replayed = [node.settlement.settlement(first).versions[0].raw, chain.raw_transaction(funding)]
    depth = chain.tip().height - stolen_at + 1
    chain.reorg(depth, transactions=[r for r in replayed if r is not None])
    assert node.settlement.settlement(second).confirmed_txid in chain.mempool_txids()
    chain.mine(N)
    paid = expected_payout(BALANCE)
    assert received(chain, script) == 2 * paid
    report = node.reconcile()
    assert not report.ok
    found = {d.subject: d.detail for d in report.discrepancies if d.check is Check.DOUBLE_PAYOUTS}
    assert set(found) == {f"settlement {first}", f"settlement {first} payee alice"}
    assert f"paid again by settlement {second}" in found[f"settlement {first} payee alice"]
    assert f"{paid} sat to recover" in found[f"settlement {first} payee alice"]
    assert all("not by a settlement of ours" not in d.detail for d in report.discrepancies)
