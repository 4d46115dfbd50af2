"""OP_RETURN anchors in bitcache.tx: sized, built, policy-checked, and accepted by consensus."""

from __future__ import annotations

import pytest

from bitcache.bitcoin.transaction import TxOut
from bitcache.chain.regtest import RegtestChain
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput, PolicyViolation
from bitcache.tx import (
    Payment,
    SpendableCoin,
    build_transaction,
    check_transaction,
    null_data_script,
    select_coins,
    sign_transaction,
)
from bitcache.tx.policy import check_dust
from bitcache.wallet.keys import Chain
from tests.settlement.support import payee_address, wallet


def test_null_data_script_encoding_and_limits() -> None:
    assert null_data_script(b"\xab" * 75) == b"\x6a\x4b" + b"\xab" * 75
    assert null_data_script(b"\xab" * 80) == b"\x6a\x4c\x50" + b"\xab" * 80
    for bad in (b"", b"\x00" * 81):
        with pytest.raises(InvalidInput, match="anchor payload"):
            null_data_script(bad)
    check_dust([TxOut(0, null_data_script(b"x"))])
    with pytest.raises(PolicyViolation, match="must carry 0 sats"):
        check_dust([TxOut(1, null_data_script(b"x"))])


@pytest.mark.parametrize("size", [1, 32, 80])
def test_an_anchored_batch_is_sized_exactly_and_mined(chain: RegtestChain, size: int) -> None:
    w = wallet()
    key = w.receive_key(0)
    chain.mine(1, to_script=key.script_pubkey)
    chain.mine(100)
    (utxo,) = chain.utxos([key.script_pubkey])
    coin = SpendableCoin.from_utxo(utxo, is_own_change=False, key_chain=0, key_index=0)
    pays = [Payment(payee_address("alice")[1], ScriptType.P2WPKH, 50_000)]
    anchor = bytes(range(size))
    selection = select_coins([coin], pays, 1_000, anchor=anchor)
    unsigned = build_transaction(
        pays, selection, change_script=w.change_key(0).script_pubkey, tip_height=chain.tip().height
    )
    signed = sign_transaction(unsigned, lambda c: w.private_key(Chain(c.key_chain), c.key_index))
    assert signed.tx.weight <= selection.weight <= signed.tx.weight + 4
    assert [o for o in signed.tx.outputs if o.value_sat == 0] == [
        TxOut(0, null_data_script(anchor))
    ]
    check_transaction(signed.tx, [coin.value_sat])
    chain.broadcast(signed.raw)
    chain.mine(1)
    assert chain.tx_status(signed.txid).confirmed
