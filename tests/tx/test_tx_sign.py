"""Signing: valid low-S deterministic signatures; signed sizes match the estimates."""

from __future__ import annotations

import coincurve
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tx_support import CHANGE_SCRIPT, key_for, make_coin, payment, payments, secret

from bitcache.bitcoin.script import p2wpkh_script_code
from bitcache.bitcoin.transaction import parse_transaction
from bitcache.core.scripttype import ScriptType
from bitcache.errors import TransactionError
from bitcache.tx import (
    SharedHashes,
    SpendableCoin,
    UnsignedTransaction,
    bip143_sighash,
    build_transaction,
    select_coins,
    sign_transaction,
    use_coins,
)
from bitcache.tx.outputs import Payment
from bitcache.tx.sign import der_s_value, sign_digest
from bitcache.tx.sizes import vsize_of

HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def _build(
    coins: list[SpendableCoin], pays: list[Payment], rate: int = 2_000
) -> UnsignedTransaction:
    selection = use_coins(coins, pays, rate)
    return build_transaction(pays, selection, change_script=CHANGE_SCRIPT, tip_height=200)


@settings(max_examples=60, deadline=None)
@given(
    n_inputs=st.integers(1, 5),
    first_key=st.integers(0, 10_000),
    pays=payments(),
)
def test_signatures_verify_are_low_s_and_sizes_match_estimate(
    n_inputs: int, first_key: int, pays: list[Payment]
) -> None:
    total = sum(p.value_sat for p in pays)
    coins = [make_coin(first_key + i, total // n_inputs + 50_000) for i in range(n_inputs)]
    unsigned = _build(coins, pays)
    signed = sign_transaction(unsigned, key_for)
    tx = signed.tx
    shared = SharedHashes.of(tx)
    for i, coin in enumerate(signed.coins):
        sig, pubkey = tx.witnesses[i]
        assert sig[-1] == 0x01
        assert der_s_value(sig[:-1]) <= HALF_ORDER
        digest = bip143_sighash(
            tx, i, p2wpkh_script_code(coin.script_pubkey), coin.value_sat, shared
        )
        assert coincurve.PublicKey(pubkey).verify(sig[:-1], digest, hasher=None)
    estimated = unsigned.estimated_weight
    assert estimated >= tx.weight
    assert vsize_of(estimated) >= tx.vsize
    assert vsize_of(estimated) - tx.vsize <= n_inputs
    assert estimated - tx.weight <= 4 * n_inputs
    assert parse_transaction(signed.raw) == tx
    assert signed.fee_sat == unsigned.fee_sat
    assert signed.fee_rate_sat_per_kvb >= 2_000


def test_signing_is_deterministic_and_txid_excludes_witness() -> None:
    coins = [make_coin(1, 100_000), make_coin(2, 70_000)]
    pays = [payment(ScriptType.P2WPKH, 120_000, 1)]
    unsigned = build_transaction(
        pays, use_coins(coins, pays, 1_000), change_script=CHANGE_SCRIPT, tip_height=5
    )
    a = sign_transaction(unsigned, key_for)
    b = sign_transaction(unsigned, key_for)
    assert a.raw == b.raw
    assert a.txid == unsigned.tx.txid
    assert a.tx.wtxid != a.txid


def test_wrong_key_is_refused() -> None:
    coins = [make_coin(1, 100_000)]
    pays = [payment(ScriptType.P2TR, 50_000, 2)]
    selection = use_coins(coins, pays, 1_000)
    unsigned = build_transaction(pays, selection, change_script=CHANGE_SCRIPT, tip_height=5)
    with pytest.raises(TransactionError, match="does not match its script"):
        sign_transaction(unsigned, lambda coin: secret(coin.key_index + 1))
    with pytest.raises(TransactionError, match="32 bytes"):
        sign_transaction(unsigned, lambda coin: b"")
    with pytest.raises(TransactionError, match="not a valid"):
        sign_transaction(unsigned, lambda coin: bytes(32))


def test_sign_digest_refuses_wrong_digest_length() -> None:
    with pytest.raises(TransactionError, match="32 bytes"):
        sign_digest(secret(1), b"\x01" * 31)


def test_select_then_sign_pays_what_was_selected() -> None:
    coins = [make_coin(i, 40_000 + i) for i in range(6)]
    pays = [payment(kind, 30_000, i) for i, kind in enumerate(ScriptType)]
    selection = select_coins(coins, pays, 3_000)
    signed = sign_transaction(
        build_transaction(pays, selection, change_script=CHANGE_SCRIPT, tip_height=9), key_for
    )
    assert signed.fee_sat == selection.fee_sat
    assert signed.change_sat == selection.change_sat
    assert signed.input_sat == selection.input_sat
