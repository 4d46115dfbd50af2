"""Fee bumps, reorgs and double spends: whichever version confirms is booked, once."""

from __future__ import annotations

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import NETWORK_FEES, WALLET, default_spec, payable
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.scripttype import ScriptType
from bitcache.services.settlement import SettlementService
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from bitcache.tx import Payment, build_transaction, sign_transaction, use_coins
from bitcache.wallet.keys import Chain
from tests.settlement.support import (
    check_books,
    config,
    earn,
    fund_wallet,
    payee_address,
    payout_entries,
    received,
    register,
    service,
    wallet,
)
from tests.settlement.test_cycle import expected_payout, run_to_final

BALANCE = 10_000_000
#: What a final payout's memo says reached alice on chain, and her share of the fee.
SPLIT = f" sent {expected_payout(BALANCE)} sat, fee share 31000 msat"


def broadcast_one(
    ledger: LedgerStore, chain: RegtestChain, **cfg: object
) -> tuple[SettlementService, int, bytes]:
    fund_wallet(chain, ledger)
    svc = service(ledger, chain, config(**cfg))
    script = register(svc, ["alice"])["alice"]
    earn(ledger, {"alice": BALANCE})
    (sid,) = svc.run_cycle().created
    assert svc.settlement(sid).state is SettlementState.BROADCAST
    return svc, sid, script


def bumped(ledger: LedgerStore, chain: RegtestChain) -> tuple[SettlementService, int, bytes]:
    """A settlement whose original waited two empty blocks and was replaced by RBF."""
    svc, sid, script = broadcast_one(ledger, chain, bump_after_blocks=2)
    chain.mine_transaction_directly()  # empty blocks: the original stays unconfirmed
    chain.mine_transaction_directly()
    svc.run_cycle()
    s = svc.settlement(sid)
    assert s.state is SettlementState.BROADCAST and len(s.versions) == 2
    v1, v2 = s.versions
    assert v2.fee_sat > v1.fee_sat and v2.fee_rate_sat_per_kvb > v1.fee_rate_sat_per_kvb
    assert chain.mempool_txids() == [v2.txid]  # the replacement evicted the original
    return svc, sid, script


@pytest.mark.parametrize("winner", ["original", "replacement"])
def test_whichever_version_confirms_is_booked_once(
    ledger: LedgerStore, chain: RegtestChain, winner: str
) -> None:
    svc, sid, script = bumped(ledger, chain)
    v1, v2 = svc.settlement(sid).versions
    if winner == "original":
        chain.mine_transaction_directly(v1.raw)
    else:
        chain.mine(1)
    won = v1 if winner == "original" else v2
    run_to_final(svc, chain, sid)
    s = svc.settlement(sid)
    assert s.confirmed_txid == won.txid
    assert received(chain, script) == expected_payout(BALANCE)
    assert payout_entries(ledger, "alice") == [
        (f"payout {won.txid}{SPLIT}", BALANCE - BALANCE % 1000)]
    assert ledger.balance(NETWORK_FEES).posted == won.fee_sat * 1000 - 31_000
    check_books(ledger, chain)


def test_a_reorg_that_swaps_the_original_for_the_replacement_pays_once(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    svc, sid, script = bumped(ledger, chain)
    v1, v2 = svc.settlement(sid).versions
    chain.mine_transaction_directly(v1.raw)
    svc.run_cycle()
    s = svc.settlement(sid)
    assert (s.state, s.confirmed_txid, s.confirmations) == (SettlementState.CONFIRMED, v1.txid, 1)
    chain.reorg(1, transactions=[v2.raw])  # the new branch confirms the replacement instead
    run_to_final(svc, chain, sid)
    assert svc.settlement(sid).confirmed_txid == v2.txid
    assert received(chain, script) == expected_payout(BALANCE)
    assert payout_entries(ledger, "alice") == [
        (f"payout {v2.txid}{SPLIT}", BALANCE - BALANCE % 1000)]
    check_books(ledger, chain)


@pytest.mark.parametrize("mempool", ["kept", "dropped"])
def test_a_reorg_moves_a_confirmed_payout_back_to_broadcast(
    ledger: LedgerStore, chain: RegtestChain, mempool: str
) -> None:
    svc, sid, script = broadcast_one(ledger, chain, bump_after_blocks=10)
    chain.mine(1)
    svc.run_cycle()
    s = svc.settlement(sid)
    assert (s.state, s.confirmations) == (SettlementState.CONFIRMED, 1)
    txid = s.versions[0].txid
    chain.reorg(1)  # a longer branch without it: back to the mempool
    if mempool == "dropped":
        chain.drop_from_mempool(txid)
    svc.run_cycle()
    s = svc.settlement(sid)
    assert (s.state, s.confirmations, s.confirmed_txid) == (SettlementState.BROADCAST, 0, None)
    assert txid in chain.mempool_txids()  # still there, or rebroadcast from the stored raw tx
    assert payout_entries(ledger, "alice") == []
    run_to_final(svc, chain, sid)
    assert received(chain, script) == expected_payout(BALANCE)
    assert len(payout_entries(ledger, "alice")) == 1
    check_books(ledger, chain)


def steal_input(svc: SettlementService, chain: RegtestChain, sid: int, ledger: LedgerStore) -> str:
    """Spend the settlement's first input in an outside transaction, mined directly."""
    coin = svc.settlement(sid).inputs[0]
    w = wallet()
    pay = Payment(payee_address("outsider")[1], ScriptType.P2WPKH, coin.value_sat - 1_000)
    selection = use_coins([coin], [pay], 2_000)
    unsigned = build_transaction(
        [pay],
        selection,
        change_script=w.change_key(999).script_pubkey,
        tip_height=chain.tip().height,
    )
    signed = sign_transaction(unsigned, lambda c: w.private_key(Chain(c.key_chain), c.key_index))
    chain.mine_transaction_directly(signed.raw)
    loss = coin.value_sat * 1000
    ledger.record_many(
        [
            EntryRequest(
                "outside-spend", (Posting("expense:wallet_loss", loss), Posting(WALLET, -loss))
            )
        ],
        atomic=True,
        open_accounts=[default_spec("expense:wallet_loss")],
    )
    return signed.txid


def test_an_input_double_spent_by_an_outside_tx_voids_and_pays_once_later(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    svc, sid, script = broadcast_one(ledger, chain)
    first_txid = svc.settlement(sid).versions[0].txid
    outside = steal_input(svc, chain, sid, ledger)
    assert first_txid not in chain.mempool_txids()
    report = svc.run_cycle()  # 1 confirmation of the conflict: not proven yet
    assert svc.settlement(sid).state is SettlementState.BROADCAST and report.created == ()
    chain.mine(2)
    report = svc.run_cycle()  # 3 deep = N: proven; voided, credit back, paid in a new batch
    s = svc.settlement(sid)
    assert s.state is SettlementState.VOID and outside in s.reason
    (again,) = report.created
    assert svc.settlement(again).inputs[0].outpoint != s.inputs[0].outpoint
    run_to_final(svc, chain, again)
    assert received(chain, script) == expected_payout(BALANCE)
    entries = payout_entries(ledger, "alice")
    assert entries == [
        (f"payout {svc.settlement(again).confirmed_txid}{SPLIT}", BALANCE - BALANCE % 1000)]
    assert -ledger.balance(payable("alice")).posted == BALANCE % 1000
    check_books(ledger, chain)
