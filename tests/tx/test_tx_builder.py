"""Builder: RBF, locktime, BIP69 order, change; size and fee arithmetic."""

from __future__ import annotations

import pytest
from tx_support import CHANGE_SCRIPT, key_for, make_coin, payment, script_of

from bitcache.bitcoin.compact import compact_size_len
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidAmount, InvalidInput, InvalidPolicy, PolicyViolation
from bitcache.tx import (
    RBF_SEQUENCE,
    Payment,
    UnsignedTransaction,
    anti_fee_sniping_locktime,
    build_transaction,
    clamp_fee_rate,
    fee_for_weight,
    fee_rate_of,
    select_coins,
    sign_transaction,
    use_coins,
)
from bitcache.tx.sizes import (
    P2WPKH_INPUT_WU,
    overhead_wu,
    script_output_wu,
    tx_weight,
    vsize_of,
)


def test_size_constants() -> None:
    assert overhead_wu(1, 2) == 42  # 10.5 vB
    assert P2WPKH_INPUT_WU == 272  # 68 vB
    assert overhead_wu(1, 253) - overhead_wu(1, 252) == 8  # count grows to 3 bytes
    assert [compact_size_len(n) for n in (252, 253, 65535, 65536)] == [1, 3, 3, 5]
    for kind in ScriptType:
        assert script_output_wu(script_of(kind, b"x")) == kind.output_vbytes * 4
    # one P2WPKH payment with change: about 141 vB (Optech's figure)
    assert vsize_of(tx_weight(1, [ScriptType.P2WPKH] * 2)) == 141


def test_fee_arithmetic_rounds_up() -> None:
    assert fee_for_weight(561, 1_000) == 141  # 140.25 vB -> 141 vB
    assert fee_for_weight(4, 1) == 1  # 0.001 sat rounds up to 1
    assert fee_for_weight(400, 2_500) == 250
    assert fee_rate_of(141, 141) == 1_000
    assert clamp_fee_rate(500, 1_000, 50_000) == 1_000
    assert clamp_fee_rate(90_000, 1_000, 50_000) == 50_000
    assert clamp_fee_rate(7_000, 1_000, 50_000) == 7_000
    with pytest.raises(InvalidPolicy, match="above the ceiling"):
        clamp_fee_rate(1, 5_000, 1_000)
    with pytest.raises(InvalidAmount, match="sat/kvB"):
        fee_for_weight(100, 1.5)  # type: ignore[arg-type]


def _batch(tip: int = 800, offset: int = 0) -> tuple[list[Payment], UnsignedTransaction]:
    pays = [payment(kind, 10_000 + 1_000 * i, i) for i, kind in enumerate(ScriptType)]
    pays.append(payment(ScriptType.P2WPKH, 10_000, 99))  # same value as the first
    coins = [make_coin(i, 30_000) for i in range(4)]
    selection = select_coins(coins, pays, 2_000)
    return pays, build_transaction(
        pays, selection, change_script=CHANGE_SCRIPT, tip_height=tip, locktime_offset=offset
    )


def test_rbf_version_locktime_and_bip69_order() -> None:
    pays, unsigned = _batch(tip=800, offset=3)
    tx = unsigned.tx
    assert tx.version == 2
    assert tx.locktime == 797
    assert all(txin.sequence == RBF_SEQUENCE for txin in tx.inputs)
    keys = [(o.value_sat, o.script_pubkey) for o in tx.outputs]
    assert keys == sorted(keys)
    ins = [(i.outpoint.txid, i.outpoint.vout) for i in tx.inputs]
    assert ins == sorted(ins)
    assert len(tx.outputs) == len(pays) + 1
    assert unsigned.change_index is not None
    change = tx.outputs[unsigned.change_index]
    assert change.script_pubkey == CHANGE_SCRIPT
    assert change.value_sat == unsigned.change_sat > 0
    _, again = _batch(tip=800, offset=3)
    assert again.tx.serialize() == tx.serialize()


def test_order_does_not_depend_on_payment_order() -> None:
    pays = [payment(ScriptType.P2WPKH, 5_000 + i, i) for i in range(10)]
    coins = [make_coin(0, 200_000)]
    a = build_transaction(
        pays, use_coins(coins, pays, 1_000), change_script=CHANGE_SCRIPT, tip_height=1
    )
    rev = list(reversed(pays))
    b = build_transaction(
        rev, use_coins(coins, rev, 1_000), change_script=CHANGE_SCRIPT, tip_height=1
    )
    assert a.tx == b.tx


def test_changeless_batch_has_no_change_index() -> None:
    pays = [payment(ScriptType.P2WPKH, 50_000, 1)]
    need = 50_000 + fee_for_weight(tx_weight(1, [ScriptType.P2WPKH]), 1_000)
    sel = select_coins([make_coin(0, need)], pays, 1_000)
    unsigned = build_transaction(pays, sel, change_script=CHANGE_SCRIPT, tip_height=1)
    assert unsigned.change_index is None and unsigned.change_sat == 0
    assert len(unsigned.tx.outputs) == 1


def test_locktime_arguments_are_checked() -> None:
    assert anti_fee_sniping_locktime(100) == 100
    with pytest.raises(InvalidInput, match="above the tip height"):
        anti_fee_sniping_locktime(5, 6)
    with pytest.raises(InvalidInput, match="not a block height"):
        anti_fee_sniping_locktime(500_000_000)
    with pytest.raises(InvalidInput, match="tip height"):
        anti_fee_sniping_locktime(-1)


def test_selection_must_match_payments_and_change_type() -> None:
    pays = [payment(ScriptType.P2WPKH, 50_000, 1)]
    sel = use_coins([make_coin(0, 100_000)], pays, 1_000)
    other = [payment(ScriptType.P2WPKH, 50_001, 1)]
    with pytest.raises(InvalidInput, match="other payments"):
        build_transaction(other, sel, change_script=CHANGE_SCRIPT, tip_height=1)
    taproot_change = b"\x51\x20" + bytes(32)
    with pytest.raises(InvalidInput, match="another change type"):
        build_transaction(pays, sel, change_script=taproot_change, tip_height=1)
    with pytest.raises(InvalidInput, match="not a standard script"):
        build_transaction(pays, sel, change_script=b"\x6a", tip_height=1)


def test_dust_payment_is_refused_by_the_builder() -> None:
    pays = [payment(ScriptType.P2PKH, 545, 1)]
    sel = use_coins([make_coin(0, 100_000)], pays, 1_000)
    with pytest.raises(PolicyViolation, match=r"P2PKH\) is dust: 545 sats < 546"):
        build_transaction(pays, sel, change_script=CHANGE_SCRIPT, tip_height=1)


def test_payment_script_must_match_its_type() -> None:
    with pytest.raises(InvalidInput, match="is not P2TR"):
        Payment(b"\x00\x20" + bytes(32), ScriptType.P2TR, 1_000)
    with pytest.raises(InvalidAmount):
        Payment(b"\x00\x14" + bytes(20), ScriptType.P2WPKH, 0)


def test_many_outputs_varint_growth_matches_signed_size() -> None:
    pays = [payment(ScriptType.P2WPKH, 1_000, i) for i in range(300)]
    coins = [make_coin(i, 200_000) for i in range(2)]
    unsigned = build_transaction(
        pays, use_coins(coins, pays, 1_000), change_script=CHANGE_SCRIPT, tip_height=1
    )
    signed = sign_transaction(unsigned, key_for)
    assert 0 <= unsigned.estimated_weight - signed.tx.weight <= 8
