"""Reconcile on a finished demo day: a clean run passes; each kind of tampering is named."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from bitcache.chain.faucet import faucet_transaction, mature_coin
from bitcache.core.accounts import OPERATOR_EQUITY, default_spec, payable
from bitcache.core.entries import EntryKind, EntryRequest, Posting, content_bytes
from bitcache.core.scripttype import ScriptType
from bitcache.core.utxo import Utxo
from bitcache.errors import InvalidInput, InvalidPolicy
from bitcache.reconciliation.checks import reconcile
from bitcache.reconciliation.journal_audit import ContentEncoder
from bitcache.reconciliation.report import Check
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.settlement.model import SettlementConfig
from bitcache.settlement.states import SettlementState
from bitcache.store import settlement as settlement_rows
from bitcache.store.reconcile import journal_chunks
from bitcache.tx import Payment, SpendableCoin, build_transaction, select_coins, sign_transaction
from bitcache.tx.sign import SignedTransaction
from bitcache.wallet.keys import Chain
from tests.reconcile.conftest import N, World

FOREIGN = b"\x00\x14" + hashlib.sha256(b"somebody else").digest()[:20]


def _failed(world: World) -> dict[Check, list[str]]:
    report = world.reconcile()
    assert not report.ok
    found: dict[Check, list[str]] = {}
    for d in report.discrepancies:
        found.setdefault(d.check, []).append(f"{d.subject}: {d.detail}")
    assert set(report.failed()) == set(found)
    return found


def _spend(world: World, coin: SpendableCoin, height: int | None = None) -> SignedTransaction:
    """A transaction the ledger does not know, sending a wallet coin to somebody else."""
    pays = [Payment(FOREIGN, ScriptType.P2WPKH, coin.value_sat // 2)]
    selection = select_coins([coin], pays, 2_000)
    unsigned = build_transaction(pays, selection, change_script=FOREIGN,
                                 tip_height=height or world.chain.tip().height)
    return sign_transaction(
        unsigned, lambda c: world.wallet.private_key(Chain(c.key_chain), c.key_index)
    )


def test_a_clean_day_reconciles(world: World) -> None:
    report = world.reconcile()
    assert report.ok, report.discrepancies
    assert all(c.ok is True for c in report.checks), report.checks
    assert report.entries == world.ledger.head()[0]
    assert report.wallet is not None and report.wallet.difference_sat == 0
    assert report.wallet.chain_sat * 1000 == report.wallet.books_msat
    final = [s for s in world.result.settlements if s.state == "final"]
    assert final and all(s.anchored for s in final)
    assert report.to_json()["ok"] is True


def test_ledger_only_reconcile_skips_the_chain_checks(world: World) -> None:
    report = reconcile(world.ledger)
    assert report.ok and report.wallet is None
    skipped = {c.check for c in report.checks if c.ok is None}
    assert skipped == {Check.WALLET, Check.PAYOUTS, Check.DOUBLE_PAYOUTS}
    with pytest.raises(InvalidInput):
        reconcile(world.ledger, chain=world.chain)
    with pytest.raises(InvalidPolicy):
        reconcile(world.ledger, chain=world.chain, wallet=world.wallet, confirmations=0)


def test_a_tampered_journal_row_is_named(world: World) -> None:
    with world.ledger.engine.begin() as conn:  # an attacker with DDL rights
        conn.exec_driver_sql("DROP TRIGGER trg_entries_no_update")
        conn.exec_driver_sql("DROP TRIGGER trg_postings_no_update")
        conn.execute(text("UPDATE entries SET memo = 'nothing to see' WHERE id = 150"))
        conn.execute(text("UPDATE postings SET amount = amount - 1 WHERE entry_id = 300 AND n = 1"))
    found = _failed(world)
    assert any(s.startswith("entry 150: content does not match") for s in found[Check.HASH_CHAIN])
    assert any(s.startswith("entry 300:") for s in found[Check.HASH_CHAIN])
    assert found[Check.ENTRY_BALANCE] == ["entry 300: 3 posting(s) summing to -1 msat"]
    assert len(found[Check.ACCOUNT_BALANCES]) == 1
    assert Check.WALLET not in found and Check.PAYOUTS not in found


def test_a_missing_payout_output_is_named(world: World) -> None:
    """A reorg deeper than N replaces the last settlement by a conflicting spend of its input."""
    with world.ledger.read() as conn:
        last = settlement_rows.settlements_in(conn, [SettlementState.FINAL])[-1]
    assert last.confirmed_txid is not None
    status = world.chain.tx_status(last.confirmed_txid)
    assert status.block_height is not None
    conflict = _spend(world, last.inputs[0], height=status.block_height - 1)
    depth = world.chain.tip().height - status.block_height + 1
    world.chain.reorg(depth, transactions=[conflict.raw])
    assert not world.chain.tx_status(last.confirmed_txid).known
    found = _failed(world)
    assert len(found[Check.PAYOUTS]) == len(last.payouts)
    assert all("tx unknown to the chain" in s for s in found[Check.PAYOUTS])
    assert Check.WALLET in found


def test_a_payout_booked_to_another_script_is_named(world: World) -> None:
    with world.ledger.engine.begin() as conn:
        conn.execute(
            text("UPDATE settlement_payouts SET payout_sat = payout_sat + 1 "
                 "WHERE settlement_id = 1 AND uploader = "
                 "(SELECT min(uploader) FROM settlement_payouts WHERE settlement_id = 1)")
        )
    found = _failed(world)
    assert set(found) == {Check.PAYOUTS}
    assert found[Check.PAYOUTS][0].startswith("settlement 1 payee")
    assert found[Check.PAYOUTS][0].endswith("no such output")


def test_a_utxo_spent_behind_the_ledgers_back_is_named(world: World) -> None:
    deposits = DepositService(world.ledger, world.wallet, world.chain, confirmations=N)
    scripts = {a.script_pubkey: a.index for a in deposits.addresses() if a.index > 0}
    coins: list[Utxo] = world.chain.utxos(list(scripts))
    victim = coins[0]
    coin = SpendableCoin.from_utxo(victim, is_own_change=False, key_chain=0,
                                   key_index=scripts[victim.script_pubkey])
    thief = _spend(world, coin)
    world.chain.broadcast(thief.raw)
    world.chain.mine(1)
    found = _failed(world)
    assert set(found) == {Check.WALLET}
    assert any(f"-{victim.value_sat:,}" in s or f"{-victim.value_sat:+d}" in s
               for s in found[Check.WALLET])
    assert any(s.startswith(f"coin {victim.outpoint}") and thief.txid in s
               for s in found[Check.WALLET])


def test_in_flight_settlements_and_uncredited_deposits_are_explained(world: World) -> None:
    deposits = DepositService(world.ledger, world.wallet, world.chain, confirmations=N)
    config = SettlementConfig(confirmations=N, min_input_confirmations=N)
    service = SettlementService(world.ledger, world.chain, world.wallet, config)
    world.ledger.record_many(
        [EntryRequest("earn:extra", (Posting(payable("u001"), -40_000_000),
                                     Posting(OPERATOR_EQUITY, 40_000_000)))],
        atomic=True, open_accounts=[default_spec(payable("u001"))],
    )
    created = service.run_cycle().created
    assert len(created) == 1
    flying = service.settlement(created[0])
    assert flying.state is SettlementState.BROADCAST and flying.latest is not None
    address = deposits.deposit_address("d0001")
    script = next(a.script_pubkey for a in deposits.addresses() if a.address == address)
    coin, value = mature_coin(world.chain)
    world.chain.broadcast(faucet_transaction(coin, value, [(script, 77_000)]))
    world.chain.mine(1)  # 1 confirmation: below N, not credited yet
    report = world.reconcile()
    assert report.ok, report.discrepancies
    assert report.wallet is not None
    by_kind = {a.kind: a for a in report.wallet.adjustments}
    expected = -(flying.payout_sat + flying.latest.fee_sat)
    assert by_kind["in_flight_settlement"].sat == expected
    assert by_kind["in_flight_settlement"].subject == f"settlement {flying.id}"
    assert by_kind["awaiting_credit"].sat == 77_000


def test_a_reorged_deposit_is_a_discrepancy(world: World) -> None:
    with world.ledger.engine.begin() as conn:
        conn.execute(text("UPDATE deposits SET status = 'reorged' WHERE derivation_index = 3"))
    found = _failed(world)
    assert set(found) == {Check.REORGED_DEPOSITS}
    assert "reorganised out of the best chain" in found[Check.REORGED_DEPOSITS][0]


def test_a_deposit_credited_twice_is_named(world: World) -> None:
    with world.ledger.read() as conn:
        txid, vout, value = conn.execute(
            text("SELECT txid, vout, value_sat FROM deposits WHERE derivation_index = 2")
        ).one()
    world.ledger.record(EntryRequest(
        f"funding:{txid}:{vout}",
        (Posting("asset:wallet", value * 1000), Posting(OPERATOR_EQUITY, -value * 1000)),
    ))
    found = _failed(world)
    assert Check.DEPOSITS in found
    assert any("credited 2 times" in s for s in found[Check.DEPOSITS])
    assert any("has no deposits row" in s for s in found[Check.DEPOSITS])


def test_the_fast_encoder_writes_the_core_canonical_content(world: World) -> None:
    """Stored rows read back from the engine encode as the core encodes the request: the
    largest timestamp the column holds, text with the layout's separators, a void's ref.
    (Negative and out-of-range numbers are refused before they are stored; the encoder's
    Hypothesis property in test_content_encoder.py covers them for ledgers written before.)"""
    world.ledger.open_account("liability:prepaid:zoe", limited=False)
    legs = [Posting(OPERATOR_EQUITY, 5), Posting("liability:prepaid:zoe", -5)]
    entry = world.ledger.pending("pending:encoder", legs, expires_at=2**63 - 1,
                                 memo="mémo ✓ | 3:x,")
    world.ledger.void_pending(entry.id, "void:encoder", memo="")
    core = world.ledger.entries()
    with world.ledger.read() as conn:
        encoder = ContentEncoder(world.ledger.names(conn))
        checked = 0
        for entries, postings in journal_chunks(conn, world.ledger.head()[0], chunk=997):
            legs_of: dict[int, list[tuple[object, ...]]] = {}
            for p in postings:
                legs_of.setdefault(int(p[0]), []).append(tuple(p))
            for row in entries:
                e = next(core)
                meta = row[10] if row[11] == 2 else None
                got = encoder.content(row[1], row[2], row[3], row[4], row[5], legs_of[e.id], meta)
                assert got == content_bytes(e.hashed_request())
                checked += 1
    assert checked == world.ledger.head()[0] == entry.id + 1
    assert {e.kind for e in world.ledger.entries(start=entry.id)} == {
        EntryKind.PENDING, EntryKind.VOID_PENDING}


def test_a_deposit_at_depth_is_awaiting_until_a_scan_has_seen_it_there(world: World) -> None:
    """A coin that reached N after the last deposit scan is awaiting credit (the next scan
    credits it); once a scan has seen it at N and not credited it, reconcile names it."""
    deposits = DepositService(world.ledger, world.wallet, world.chain, confirmations=N)
    address = deposits.deposit_address("d0002")
    script = next(a.script_pubkey for a in deposits.addresses() if a.address == address)
    deposits.scan()
    coin, value = mature_coin(world.chain)
    world.chain.broadcast(faucet_transaction(coin, value, [(script, 55_000)]))
    world.chain.mine(N)  # N deep, but the last scan ran before it was mined
    report = world.reconcile()
    assert report.ok, report.discrepancies
    assert report.wallet is not None
    waiting = [a for a in report.wallet.adjustments if a.kind == "awaiting_credit"]
    assert [a.sat for a in waiting] == [55_000]
    assert "the next scan credits it" in waiting[0].note
    with world.ledger.engine.begin() as conn:  # a scan that saw it at N, yet no credit
        tip = world.chain.tip()
        conn.execute(text("UPDATE deposit_scan_state SET tip_height = :h"), {"h": tip.height})
    found = _failed(world)
    assert set(found) == {Check.WALLET}
    assert any("55000 sat" in s and "not credited" in s for s in found[Check.WALLET])
