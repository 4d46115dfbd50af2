"""Pre-broadcast policy: each check refuses exactly what it should."""

from __future__ import annotations

import pytest
from tx_support import CHANGE_SCRIPT, key_for, make_coin, payment, script_of

from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidPolicy, PolicyViolation
from bitcache.tx import (
    PolicyLimits,
    SignedTransaction,
    Transaction,
    TxOut,
    build_transaction,
    check_dust,
    check_transaction,
    sign_transaction,
    use_coins,
)


def _signed(rate: int = 2_000, n_payments: int = 3, coin_value: int = 500_000) -> SignedTransaction:
    pays = [payment(ScriptType.P2WPKH, 10_000, i) for i in range(n_payments)]
    coins = [make_coin(0, coin_value)]
    unsigned = build_transaction(
        pays, use_coins(coins, pays, rate), change_script=CHANGE_SCRIPT, tip_height=10
    )
    return sign_transaction(unsigned, key_for)


def _values(signed: SignedTransaction) -> list[int]:
    return [c.value_sat for c in signed.coins]


def test_a_good_transaction_passes() -> None:
    signed = _signed()
    check_transaction(signed.tx, _values(signed))
    check_transaction(signed.tx, _values(signed), PolicyLimits(min_fee_rate_sat_per_kvb=2_000))


@pytest.mark.parametrize("kind", list(ScriptType))
def test_dust_threshold_of_each_type(kind: ScriptType) -> None:
    script = script_of(kind, b"dust")
    check_dust([TxOut(kind.dust_sat, script)])
    with pytest.raises(PolicyViolation, match=f"output 1 \\({kind.name}\\) is dust"):
        check_dust([TxOut(10_000, script), TxOut(kind.dust_sat - 1, script)])


def test_non_standard_output_is_refused() -> None:
    with pytest.raises(PolicyViolation, match="non-standard script 6a"):
        check_dust([TxOut(1_000, b"\x6a")])


def test_fee_below_floor_is_refused() -> None:
    signed = _signed(rate=500)
    with pytest.raises(PolicyViolation, match="below the floor of 1000 sat/kvB"):
        check_transaction(signed.tx, _values(signed))
    check_transaction(signed.tx, _values(signed), PolicyLimits(min_fee_rate_sat_per_kvb=500))


def test_fee_cap_and_max_rate_are_enforced() -> None:
    signed = _signed(rate=20_000)
    fee = signed.fee_sat
    with pytest.raises(PolicyViolation, match=f"fee {fee} sats is above the cap of {fee - 1}"):
        check_transaction(signed.tx, _values(signed), PolicyLimits(max_fee_sat=fee - 1))
    check_transaction(signed.tx, _values(signed), PolicyLimits(max_fee_sat=fee))
    with pytest.raises(PolicyViolation, match="above the maximum rate of 19000"):
        check_transaction(signed.tx, _values(signed), PolicyLimits(max_fee_rate_sat_per_kvb=19_000))


def test_overweight_transaction_is_refused() -> None:
    signed = _signed(rate=1_000, n_payments=3_300, coin_value=40_000_000)
    assert signed.tx.weight > 400_000
    with pytest.raises(PolicyViolation, match=r"weight \d+ WU is above the maximum 400000 WU"):
        check_transaction(signed.tx, _values(signed))
    small = _signed()
    limits = PolicyLimits(max_weight=small.tx.weight - 1)
    with pytest.raises(PolicyViolation, match="above the maximum"):
        check_transaction(small.tx, _values(small), limits)


def test_unsigned_and_overspending_transactions_are_refused() -> None:
    signed = _signed()
    tx = signed.tx
    bare = Transaction(tx.version, tx.inputs, tx.outputs, tx.locktime)
    with pytest.raises(PolicyViolation, match="input 0 has no witness"):
        check_transaction(bare, _values(signed))
    with pytest.raises(PolicyViolation, match="outputs exceed inputs"):
        check_transaction(tx, [sum(o.value_sat for o in tx.outputs) - 1])
    with pytest.raises(PolicyViolation, match="2 input values for 1 inputs"):
        check_transaction(tx, [1, 2])


def test_limits_must_make_sense() -> None:
    with pytest.raises(InvalidPolicy, match="above the maximum"):
        PolicyLimits(min_fee_rate_sat_per_kvb=5_000, max_fee_rate_sat_per_kvb=4_000)
    with pytest.raises(InvalidPolicy, match="max weight"):
        PolicyLimits(max_weight=400_001)
