"""Recovery from a deposit reorganised away after its credit (both engines): the alarm
stays until resolved, acknowledging concerns one lost block, reversing is refused while
the transaction may still confirm, and a spent credit's shortfall is covered atomically."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import OPERATOR_EQUITY, default_spec, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.utxo import OutPoint
from bitcache.errors import (
    DepositStateError,
    InsufficientFunds,
    InvalidInput,
    ReorgTooDeep,
    UnknownDeposit,
)
from bitcache.services.deposits import DepositService
from bitcache.services.recovery import Recovery, parse_outpoint
from bitcache.store.ledger import LedgerStore
from tests.deposits.conftest import Faucet, N, assert_books_ok
from tests.deposits.test_deposit_scan import script_of

VALUE = 40_000  # sat


def credited_then_reorged(
    service: DepositService, chain: RegtestChain, faucet: Faucet, *, conflict: bool
) -> OutPoint:
    txid, coin = faucet.pay(script_of(service, "alice"), VALUE)
    chain.mine(N)
    service.scan()
    chain.reorg(N, new_blocks=N + 1, transactions=[faucet.conflict(coin)] if conflict else [])
    report = service.scan(raise_on_reorg=False)
    assert [str(d.outpoint) for d in report.reorged] == [f"{txid}:0"]
    return OutPoint(txid, 0)


def test_the_alarm_stands_until_acknowledged_and_returns_with_another_lost_block(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    op = credited_then_reorged(service, chain, faucet, conflict=False)
    recovery = Recovery(ledger, chain)
    assert [r.deposit.outpoint for r in recovery.alarms()] == [op]
    assert service.scan().reorged == () and len(recovery.alarms()) == 1  # still an alarm
    seen = recovery.acknowledge(op, "back in the mempool, waiting")
    assert seen.note == "back in the mempool, waiting" and seen.acknowledged_at is not None
    assert recovery.acknowledge(op, "again") == seen  # idempotent: the first one stays
    assert recovery.alarms() == [] and recovery.reorged() == [seen]
    chain.mine(N)
    [back] = service.scan().restored
    assert recovery.reorged() == []
    chain.reorg(N, new_blocks=N + 1)  # the block it was restored in is lost too
    with pytest.raises(ReorgTooDeep):
        service.scan()
    [alarm] = recovery.alarms()  # a new loss: the old acknowledgement does not cover it
    assert alarm.deposit.block_hash == back.block_hash and alarm.acknowledged_at is None
    assert_books_ok(ledger)


def test_reversing_waits_until_the_transaction_cannot_confirm(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    op = credited_then_reorged(service, chain, faucet, conflict=False)
    with pytest.raises(DepositStateError, match="in the mempool"):
        Recovery(ledger, chain).reverse_deposit(op)
    with pytest.raises(InvalidInput, match="needs a chain backend"):
        Recovery(ledger).reverse_deposit(op)
    with pytest.raises(UnknownDeposit):
        Recovery(ledger, chain).reverse_deposit(OutPoint("ab" * 32, 1))
    assert -ledger.balance(prepaid("alice")).posted == VALUE * 1000  # nothing written
    done = Recovery(ledger).reverse_deposit(op, force=True)  # the operator's call
    assert (done.shortfall_entry, done.replayed) == (None, False)
    assert ledger.balance(prepaid("alice")).posted == 0 and Recovery(ledger).alarms() == []
    noted = Recovery(ledger).acknowledge(op, "reversed already")  # harmless afterwards
    assert noted.reversed_by == done.reversal_entry and noted.note == "reversed already"
    assert_books_ok(ledger)


def test_a_spent_credit_is_reversed_with_its_shortfall_in_one_step(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    op = credited_then_reorged(service, chain, faucet, conflict=True)
    spent = 12_345_678
    ledger.record_many(
        [EntryRequest("spent", (Posting(prepaid("alice"), spent),
                                Posting(OPERATOR_EQUITY, -spent)))],
        atomic=True,
        open_accounts=[default_spec(OPERATOR_EQUITY)],
    )
    recovery = Recovery(ledger, chain)
    head = ledger.head()
    with pytest.raises(InsufficientFunds):
        recovery.reverse_deposit(op)
    assert ledger.head() == head
    done = recovery.reverse_deposit(op, cover_shortfall=True)
    assert done.shortfall_msat == spent and done.shortfall_entry is not None
    assert ledger.balance(prepaid("alice")).posted == 0
    assert recovery.reverse_deposit(op, cover_shortfall=True) == replace(done, replayed=True)
    assert ledger.head()[0] == head[0] + 2
    [resolved] = recovery.reorged(include_reversed=True)
    assert resolved.reversed_by == done.reversal_entry and recovery.alarms() == []
    assert_books_ok(ledger)


@pytest.mark.parametrize(
    "text",
    ["", "x", "ab:1", f"{'AB' * 32}:0", f"{'ab' * 32}:", f"{'ab' * 32}:-1", f"{'ab' * 32}:1:2",
     f"{'ab' * 32}:99999999999"],
)
def test_malformed_outpoints_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_outpoint(text)
