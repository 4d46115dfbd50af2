"""Deposits and the coins settlement spends: a deposit is spent only once it is credited,
and a deposit spent anyway (by any path) is still credited, and named by reconcile."""

from __future__ import annotations

import hashlib

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import OPERATOR_EQUITY, default_spec, payable
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.scripttype import ScriptType
from bitcache.core.utxo import OutPoint
from bitcache.network import Network
from bitcache.reconciliation.checks import reconcile
from bitcache.reconciliation.report import Check
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.settlement.model import SettlementConfig
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from bitcache.tx import Payment, SpendableCoin, build_transaction, select_coins, sign_transaction
from bitcache.wallet import HDWallet
from bitcache.wallet.addresses import address_for_script
from bitcache.wallet.keys import Chain
from tests.deposits.conftest import COIN, Faucet, N

FOREIGN = b"\x00\x14" + hashlib.sha256(b"the operator's other wallet").digest()[:20]
UPLOADER_SCRIPT = b"\x00\x14" + hashlib.sha256(b"uploader carol").digest()[:20]
FUNDING_SAT = COIN // 50  # the operator's coin: smaller than the deposit
DEPOSIT_SAT = COIN // 10  # so largest-first selection would pick the deposit


def script_of(service: DepositService, downloader: str) -> bytes:
    address = service.deposit_address(downloader)
    return next(a.script_pubkey for a in service.addresses() if a.address == address)


def settlement(
    ledger: LedgerStore, chain: RegtestChain, wallet: HDWallet, config: SettlementConfig
) -> SettlementService:
    """A settlement service with carol owed 1,000,000 sat and a payout address."""
    svc = SettlementService(ledger, chain, wallet, config)
    svc.register_payout_address("carol", _address(UPLOADER_SCRIPT))
    ledger.record_many(
        [EntryRequest("earn:carol", (Posting(payable("carol"), -1_000_000_000),
                                     Posting(OPERATOR_EQUITY, 1_000_000_000)))],
        atomic=True, open_accounts=[default_spec(payable("carol")), default_spec(OPERATOR_EQUITY)],
    )
    return svc


def _address(script: bytes) -> str:
    return address_for_script(script, Network.REGTEST)


def fund(service: DepositService, chain: RegtestChain, faucet: Faucet) -> None:
    """Operator funding through the funding address, credited by the scan."""
    faucet.pay(_funding_script(service), FUNDING_SAT)
    chain.mine(N)
    assert service.scan().credited_sat == FUNDING_SAT


def _funding_script(service: DepositService) -> bytes:
    address = service.funding_address()
    return next(a.script_pubkey for a in service.addresses() if a.address == address)


def settle_to_final(svc: SettlementService, chain: RegtestChain, sid: int) -> None:
    for _ in range(10):
        if svc.settlement(sid).state is SettlementState.FINAL:
            return
        chain.mine(1)
        svc.run_cycle()
    raise AssertionError(f"settlement {sid} is {svc.settlement(sid).state}")


def assert_credited_once(ledger: LedgerStore, service: DepositService, deposit: OutPoint) -> None:
    credited = [d for d in service.deposits() if d.outpoint == deposit]
    assert len(credited) == 1, f"deposit {deposit} credited {len(credited)} times"
    entry = ledger.entry_by_key(f"deposit:{deposit.txid}:{deposit.vout}")
    assert entry is not None and entry.id == credited[0].entry_id


@pytest.mark.parametrize(
    "config",
    [
        # the documented setup: deposits credited at N = 3, inputs need 1 confirmation
        SettlementConfig(confirmations=N, payout=PayoutPolicy(min_payout_sat=1_000)),
        # the CLI's setup: inputs need the deposit depth; a block arrives between scan and plan
        SettlementConfig(confirmations=N, min_input_confirmations=N,
                         payout=PayoutPolicy(min_payout_sat=1_000)),
    ],
    ids=["documented-defaults", "cli-depth"],
)
def test_an_uncredited_deposit_is_never_a_settlement_input(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet,
    wallet: HDWallet, config: SettlementConfig,
) -> None:
    fund(service, chain, faucet)
    svc = settlement(ledger, chain, wallet, config)
    txid, _ = faucet.pay(script_of(service, "bob"), DEPOSIT_SAT)
    deposit = OutPoint(txid, 0)
    chain.mine(N - 1)
    assert [w.outpoint for w in service.scan().waiting] == [deposit]  # below N: not credited
    chain.mine(1)  # a block arrives between the scan and planning: now at depth N
    assert chain.tx_status(txid).confirmations == N
    assert deposit not in {d.outpoint for d in service.deposits()}
    (sid,) = svc.run_cycle().created
    assert deposit not in {c.outpoint for c in svc.settlement(sid).inputs}
    settle_to_final(svc, chain, sid)
    service.scan()
    assert_credited_once(ledger, service, deposit)
    assert -ledger.balance("liability:prepaid:bob").posted == DEPOSIT_SAT * 1000
    report = reconcile(ledger, chain=chain, wallet=wallet, confirmations=N)
    assert report.ok, report.discrepancies


def test_a_second_deposit_to_a_credited_address_waits_for_its_own_credit(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet,
    wallet: HDWallet,
) -> None:
    """The books hold outpoints, not addresses: bob's address already holds a credited
    deposit, and his second one (larger, so largest-first would take it) is not an input
    until the scan has credited it."""
    fund(service, chain, faucet)
    config = SettlementConfig(confirmations=N, payout=PayoutPolicy(min_payout_sat=1_000))
    svc = settlement(ledger, chain, wallet, config)
    faucet.pay(script_of(service, "bob"), FUNDING_SAT)
    chain.mine(N)
    assert service.scan().credited_sat == FUNDING_SAT  # bob's first deposit, credited
    txid, _ = faucet.pay(script_of(service, "bob"), DEPOSIT_SAT)
    second = OutPoint(txid, 0)
    chain.mine(1)
    (sid,) = svc.run_cycle().created
    assert second not in {c.outpoint for c in svc.settlement(sid).inputs}
    settle_to_final(svc, chain, sid)
    service.scan()
    assert_credited_once(ledger, service, second)
    report = reconcile(ledger, chain=chain, wallet=wallet, confirmations=N)
    assert report.ok, report.discrepancies


def _sweep(wallet: HDWallet, chain: RegtestChain, index: int, coin: OutPoint, value: int) -> str:
    """Another wallet holding the same seed spends a deposit to itself."""
    [utxo] = [u for u in chain.utxos([wallet.receive_key(index).script_pubkey])
              if u.outpoint == coin]
    spendable = SpendableCoin.from_utxo(utxo, is_own_change=False, key_chain=0, key_index=index)
    pays = [Payment(FOREIGN, ScriptType.P2WPKH, value // 2)]
    unsigned = build_transaction(pays, select_coins([spendable], pays, 2_000),
                                 change_script=FOREIGN, tip_height=chain.tip().height)
    signed = sign_transaction(
        unsigned, lambda c: wallet.private_key(Chain(c.key_chain), c.key_index)
    )
    return chain.broadcast(signed.raw)


def test_a_deposit_swept_before_its_credit_is_still_credited_and_named(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet,
    wallet: HDWallet,
) -> None:
    script = script_of(service, "bob")
    index = next(a.index for a in service.addresses() if a.script_pubkey == script)
    txid, _ = faucet.pay(script, DEPOSIT_SAT)
    deposit = OutPoint(txid, 0)
    chain.mine(1)
    assert [w.outpoint for w in service.scan().waiting] == [deposit]
    sweep = _sweep(wallet, chain, index, deposit, DEPOSIT_SAT)
    chain.mine(N)
    assert chain.utxos([script]) == []  # gone from the UTXO set before the scan credits it
    report = service.scan()
    assert [d.outpoint for d in report.credited] == [deposit]  # found by its transaction
    assert_credited_once(ledger, service, deposit)
    assert -ledger.balance("liability:prepaid:bob").posted == DEPOSIT_SAT * 1000
    assert service.scan().credited == ()  # and once only
    found = reconcile(ledger, chain=chain, wallet=wallet, confirmations=N)
    assert not found.ok and found.failed() == [Check.WALLET]
    named = [d for d in found.discrepancies if d.subject == f"coin {deposit}"]
    assert named and sweep in named[0].detail  # the spend is named, with its transaction


def test_an_immature_coinbase_is_never_selected(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, wallet: HDWallet,
) -> None:
    config = SettlementConfig(confirmations=N, payout=PayoutPolicy(min_payout_sat=1_000))
    svc = settlement(ledger, chain, wallet, config)
    chain.mine(1, to_script=_funding_script(service))  # regtest mining to the wallet
    chain.mine(N - 1)
    [funding] = service.scan().credited  # credited at N confirmations, like any funding
    for _ in range(3):
        report = svc.run_cycle()
        assert report.created == () and svc.settlements() == []
        assert any("batch not sent" in note for note in report.notes), report.notes
        chain.mine(95 // 3)
    chain.mine(100 - chain.tx_status(funding.outpoint.txid).confirmations - 1)
    assert chain.tx_status(funding.outpoint.txid).confirmations == 99
    assert svc.run_cycle().created == ()  # 99 confirmations: the next block is too early
    chain.mine(1)
    (sid,) = svc.run_cycle().created  # 100: mature
    assert [c.outpoint for c in svc.settlement(sid).inputs] == [funding.outpoint]
    settle_to_final(svc, chain, sid)
    report = reconcile(ledger, chain=chain, wallet=wallet, confirmations=N)
    assert report.ok, report.discrepancies
