"""A batch built and signed by bitcache.tx is accepted by Bitcoin Core's consensus engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tx_support import CHANGE_SCRIPT, key_for, payment, secret, wallet_script

pytest.importorskip("pbk")

from bitcache.chain.regtest import RegtestChain
from bitcache.core.scripttype import ScriptType
from bitcache.errors import BlockRejected
from bitcache.tx import (
    SpendableCoin,
    TxOut,
    build_transaction,
    check_transaction,
    select_coins,
    sign_transaction,
    use_coins,
)

KEYS = (0, 1, 2)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegtestChain]:
    """A regtest chain where keys 0, 1, 2 each own one mature 50 BTC coinbase."""
    regtest = RegtestChain.open(tmp_path / "regtest", fee_rate_sat_kvb=2_000)
    try:
        for n in KEYS:
            regtest.mine(1, to_script=wallet_script(n))
        regtest.mine(100)
        yield regtest
    finally:
        regtest.close()


def _coins(chain: RegtestChain) -> list[SpendableCoin]:
    coins = []
    for n in KEYS:
        for utxo in chain.utxos([wallet_script(n)]):
            coins.append(
                SpendableCoin.from_utxo(utxo, is_own_change=False, key_chain=0, key_index=n)
            )
    return coins


def test_batch_of_50_mixed_outputs_from_3_inputs_is_mined(chain: RegtestChain) -> None:
    coins = _coins(chain)
    assert len(coins) == 3 and all(c.confirmed for c in coins)
    pays = [payment(kind, kind.dust_sat + 1_000 * i, i) for i in range(10) for kind in ScriptType]
    rate = chain.fee_rate(2)
    tip = chain.tip().height
    unsigned = build_transaction(
        pays, use_coins(coins, pays, rate), change_script=CHANGE_SCRIPT, tip_height=tip
    )
    signed = sign_transaction(unsigned, key_for)
    check_transaction(signed.tx, [c.value_sat for c in signed.coins])
    assert len(signed.tx.inputs) == 3 and len(signed.tx.outputs) == 51

    # the same transaction with one output changed after signing is refused
    outs = list(signed.tx.outputs)
    outs[0] = TxOut(outs[0].value_sat + 1, outs[0].script_pubkey)
    tampered = replace(signed.tx, outputs=tuple(outs))
    with pytest.raises(BlockRejected, match="script"):
        chain.mine_transaction_directly(tampered.serialize())

    assert chain.broadcast(signed.raw) == signed.txid
    chain.mine(1)
    status = chain.tx_status(signed.txid)
    assert status.confirmed and status.block_height == tip + 1
    assert chain.raw_transaction(signed.txid) == signed.raw
    (change,) = chain.utxos([CHANGE_SCRIPT])
    assert change.value_sat == signed.change_sat
    for n in KEYS:
        assert chain.utxos([wallet_script(n)]) == []


def test_own_unconfirmed_change_can_fund_the_next_batch(chain: RegtestChain) -> None:
    coins = _coins(chain)[:1]
    first = [payment(ScriptType.P2WPKH, 100_000, 1)]
    signed = sign_transaction(
        build_transaction(
            first, select_coins(coins, first, 2_000), change_script=CHANGE_SCRIPT, tip_height=103
        ),
        key_for,
    )
    chain.broadcast(signed.raw)
    (change_utxo,) = chain.utxos([CHANGE_SCRIPT])
    change = SpendableCoin.from_utxo(change_utxo, is_own_change=True, key_chain=1, key_index=0)
    assert not change.confirmed and change.spendable
    second = [payment(ScriptType.P2TR, 200_000, 2)]
    selection = select_coins([change], second, 2_000)
    child = sign_transaction(
        build_transaction(second, selection, change_script=CHANGE_SCRIPT, tip_height=103),
        lambda coin: key_for(coin) if coin.key_chain == 0 else secret(10_000),
    )
    check_transaction(child.tx, [c.value_sat for c in child.coins])
    chain.broadcast(child.raw)
    chain.mine(1)
    assert chain.tx_status(signed.txid).confirmed
    assert chain.tx_status(child.txid).confirmed
