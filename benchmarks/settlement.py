"""Settlement benchmark: build and sign one batch of 1,000 payouts from 20 P2WPKH inputs.

Measured in the same run:

* ``total_ms``: planning (who is paid how much, from 1,000 payable
  balances) + coin selection + building + signing the batch; ``plan_ms``:
  planning alone; ``sign_ms``: signing alone (BIP143 with the shared hashes
  computed once);
* ``baseline_sign_ms``: signing the same transaction with python-bitcoinlib's
  ``SignatureHash`` per input (it recomputes hashPrevouts/hashSequence/
  hashOutputs each time); the ECDSA step (coincurve) is the same code for
  both, so ``speedup`` is the sighash difference;
* ``vbytes_per_payout``: marginal size of a P2WPKH payout, (vsize of a
  1,000-payout batch − vsize of a 1-payout batch with the same inputs) / 999;
  ``vbytes_per_payout_mixed``: the same for the mixed batch;
* ``fee_saving``: 1 − fee of the mixed batch / sum of the fees of 1,000
  single-payout transactions (1 P2WPKH input, payout + change).

Usage: ``python benchmarks/settlement.py [--quick]``. The last line printed
is one JSON object. Keys and coins are synthetic and deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import coincurve
from bitcoin.core import CMutableTransaction, CTxInWitness, CTxWitness
from bitcoin.core.script import SIGHASH_ALL, SIGVERSION_WITNESS_V0, CScript, CScriptWitness
from bitcoin.core.script import SignatureHash as LibSignatureHash

from bitcache.bitcoin.hashes import hash160
from bitcache.bitcoin.script import p2wpkh_script_code
from bitcache.core.scripttype import ScriptType
from bitcache.core.utxo import OutPoint
from bitcache.settlement.payouts import Payable, PayoutPolicy, marginal_fee_msat, plan_payouts
from bitcache.tx import (
    Payment,
    SignedTransaction,
    SpendableCoin,
    UnsignedTransaction,
    build_transaction,
    check_transaction,
    p2wpkh_script,
    select_coins,
    sign_transaction,
    use_coins,
)
from bitcache.tx.sign import sign_digest

N_PAYOUTS = 1_000
N_INPUTS = 20
FEE_RATE = 5_000  # sat/kvB
TIP_HEIGHT = 100_000
MIX = (
    (ScriptType.P2WPKH, 16),
    (ScriptType.P2TR, 1),
    (ScriptType.P2WSH, 1),
    (ScriptType.P2PKH, 1),
    (ScriptType.P2SH, 1),
)
"""Payout types in proportion: 80 % P2WPKH, 5 % each of the others."""


def _secret(n: int) -> bytes:
    return hashlib.sha256(b"bitcache benchmark key" + n.to_bytes(4, "big")).digest()


def _script(n: int) -> bytes:
    pubkey = coincurve.PrivateKey(_secret(n)).public_key.format(compressed=True)
    return p2wpkh_script(hash160(pubkey))


def _key_for(coin: SpendableCoin) -> bytes:
    return _secret(coin.key_index)


def _payout_script(kind: ScriptType, n: int) -> bytes:
    h = hashlib.sha256(b"payee" + n.to_bytes(4, "big")).digest()
    return {
        ScriptType.P2PKH: b"\x76\xa9\x14" + h[:20] + b"\x88\xac",
        ScriptType.P2SH: b"\xa9\x14" + h[:20] + b"\x87",
        ScriptType.P2WPKH: b"\x00\x14" + h[:20],
        ScriptType.P2WSH: b"\x00\x20" + h,
        ScriptType.P2TR: b"\x51\x20" + h,
    }[kind]


def make_payouts(n: int, *, mixed: bool = True) -> list[Payment]:
    """``n`` payouts of 1,000..50,999 sats; mixed types per :data:`MIX`, or all P2WPKH."""
    cycle = [kind for kind, weight in MIX for _ in range(weight)] if mixed else [ScriptType.P2WPKH]
    return [
        Payment(
            _payout_script(cycle[i % len(cycle)], i), cycle[i % len(cycle)], 1_000 + i * 37 % 50_000
        )
        for i in range(n)
    ]


def make_coins(n: int, total_sat: int) -> list[SpendableCoin]:
    """``n`` confirmed wallet coins, each just over ``total_sat / n``, so all are needed."""
    share = total_sat // n + 1
    return [
        SpendableCoin(
            outpoint=OutPoint(hashlib.sha256(b"funding" + bytes([i])).hexdigest(), i % 3),
            value_sat=share + 10 * i,
            script_pubkey=_script(i),
            confirmed=True,
            is_own_change=False,
            key_chain=0,
            key_index=i,
        )
        for i in range(n)
    ]


def _funding_total(payouts: Sequence[Payment]) -> int:
    """Payouts plus a generous fee allowance, spread over the coins."""
    return sum(p.value_sat for p in payouts) + 60 * len(payouts) * FEE_RATE // 1000 + 50_000


PLAN_POLICY = PayoutPolicy(
    min_payout_sat=1_000, max_fee_ratio_bps=10_000, fee_ceiling_sat_per_kvb=FEE_RATE
)
"""Planning knobs of the benchmark: every synthetic payee is worth paying."""


def make_payables(payouts: Sequence[Payment]) -> list[Payable]:
    """Payable balances (msat) that plan to exactly ``payouts``: payout, fee share, remainder."""
    return [
        Payable(
            f"uploader{i:05}",
            p.value_sat * 1000 + marginal_fee_msat(p.script_type, FEE_RATE) + i % 1000,
            p.script_pubkey,
            p.script_type,
        )
        for i, p in enumerate(payouts)
    ]


def plan(payables: Sequence[Payable]) -> list[Payment]:
    """Plan the cycle: one batch of every payable at the benchmark's fee rate."""
    (batch,) = plan_payouts(payables, PLAN_POLICY, FEE_RATE).batches
    return batch.payments()


def build(payouts: Sequence[Payment], coins: Sequence[SpendableCoin]) -> UnsignedTransaction:
    selection = select_coins(coins, payouts, FEE_RATE)
    return build_transaction(payouts, selection, change_script=_script(999), tip_height=TIP_HEIGHT)


def baseline_sign(unsigned: UnsignedTransaction) -> CMutableTransaction:
    """Sign through python-bitcoinlib's per-input SignatureHash (O(inputs × outputs))."""
    tx = CMutableTransaction.deserialize(unsigned.tx.serialize())
    witnesses = []
    for i, coin in enumerate(unsigned.coins):
        code = CScript(p2wpkh_script_code(coin.script_pubkey))
        digest = LibSignatureHash(code, tx, i, SIGHASH_ALL, coin.value_sat, SIGVERSION_WITNESS_V0)
        der, pubkey = sign_digest(_key_for(coin), digest)
        witnesses.append(CTxInWitness(CScriptWitness([der + bytes([SIGHASH_ALL]), pubkey])))
    tx.wit = CTxWitness(witnesses)
    return tx


def _ms(fn: Callable[[], object], reps: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def _marginal_vbytes(payouts: list[Payment]) -> float:
    """(vsize with all payouts − vsize with the first one) / (n − 1), same 20 inputs."""
    coins = make_coins(N_INPUTS, _funding_total(payouts))

    def vsize(pays: list[Payment]) -> int:
        selection = use_coins(coins, pays, FEE_RATE)
        unsigned = build_transaction(pays, selection, change_script=_script(999), tip_height=1)
        return sign_transaction(unsigned, _key_for).tx.vsize

    return (vsize(payouts) - vsize(payouts[:1])) / (len(payouts) - 1)


def _single_fees(payouts: Sequence[Payment]) -> int:
    """Sum of fees if each payout went out alone: 1 P2WPKH input, payout + change."""
    coin = make_coins(1, 10_000_000)
    return sum(use_coins(coin, [p], FEE_RATE).fee_sat for p in payouts)


@dataclass(frozen=True)
class Result:
    total_ms: float
    plan_ms: float
    sign_ms: float
    baseline_sign_ms: float
    speedup: float
    vbytes_per_payout: float
    vbytes_per_payout_mixed: float
    fee_saving: float
    batch_vsize: int
    batch_fee_sat: int
    single_fees_sat: int
    payouts: int
    inputs: int
    reps: int


def run(reps: int) -> Result:
    payouts = make_payouts(N_PAYOUTS)
    coins = make_coins(N_INPUTS, _funding_total(payouts))
    payables = make_payables(payouts)
    plan_ms, planned = _ms(lambda: plan(payables), reps)
    assert isinstance(planned, list)
    if sorted(p.value_sat for p in planned) != sorted(p.value_sat for p in payouts):
        raise RuntimeError("the planner did not reproduce the benchmark's payouts")
    build_ms, unsigned = _ms(lambda: build(planned, coins), reps)
    assert isinstance(unsigned, UnsignedTransaction) and len(unsigned.coins) == N_INPUTS
    sign_ms, signed = _ms(lambda: sign_transaction(unsigned, _key_for), reps)
    base_ms, lib_tx = _ms(lambda: baseline_sign(unsigned), reps)
    assert isinstance(signed, SignedTransaction) and isinstance(lib_tx, CMutableTransaction)
    if lib_tx.serialize() != signed.raw:
        raise RuntimeError("baseline and bitcache signatures differ")
    check_transaction(signed.tx, [c.value_sat for c in signed.coins])
    singles = _single_fees(payouts)
    return Result(
        total_ms=round(plan_ms + build_ms + sign_ms, 3),
        plan_ms=round(plan_ms, 3),
        sign_ms=round(sign_ms, 3),
        baseline_sign_ms=round(base_ms, 3),
        speedup=round(base_ms / sign_ms, 2),
        vbytes_per_payout=round(_marginal_vbytes(make_payouts(N_PAYOUTS, mixed=False)), 3),
        vbytes_per_payout_mixed=round(_marginal_vbytes(payouts), 3),
        fee_saving=round(1 - signed.fee_sat / singles, 4),
        batch_vsize=signed.tx.vsize,
        batch_fee_sat=signed.fee_sat,
        single_fees_sat=singles,
        payouts=N_PAYOUTS,
        inputs=N_INPUTS,
        reps=reps,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 60 s)")
    args = parser.parse_args(argv)
    r = run(reps=5 if args.quick else 25)
    print(f"batch: {r.payouts} payouts from {r.inputs} P2WPKH inputs, {FEE_RATE} sat/kvB")
    print(f"  plan+build+sign  {r.total_ms:9.2f} ms (median of {r.reps})")
    print(f"  plan             {r.plan_ms:9.2f} ms")
    print(f"  sign (BIP143 x1) {r.sign_ms:9.2f} ms")
    print(f"  sign (baseline)  {r.baseline_sign_ms:9.2f} ms  -> speedup {r.speedup}x")
    print(f"  vsize {r.batch_vsize} vB, fee {r.batch_fee_sat} sats")
    print(f"  marginal vB/payout: P2WPKH {r.vbytes_per_payout}, mixed {r.vbytes_per_payout_mixed}")
    print(f"  fee saving vs {r.payouts} single txs ({r.single_fees_sat} sats): {r.fee_saving:.1%}")
    print(json.dumps(r.__dict__, sort_keys=True))


if __name__ == "__main__":
    main()
