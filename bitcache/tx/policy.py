"""Checks a signed transaction must pass before it is stored for broadcast.

Bitcoin Core's consensus engine accepts dust, oversize and zero-fee
transactions that no node would relay; these are bitcache's own policy
checks, run before the first broadcast so that a transaction we commit to is
one the network will carry:

* every output is standard and at least its type's dust threshold;
* weight ≤ ``max_weight`` (400,000 WU, the standard maximum);
* fee rate ≥ ``min_fee_rate_sat_per_kvb`` (the relay floor);
* fee ≤ ``max_fee_sat`` and fee rate ≤ ``max_fee_rate_sat_per_kvb`` (sanity
  caps against a fee-estimate or arithmetic bug burning the wallet);
* every input carries a witness.

Each failure raises :class:`~bitcache.errors.PolicyViolation` naming the
output, limit and value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.bitcoin.compact import compact_size_len
from bitcache.bitcoin.script import is_null_data, is_witness_program, script_type_of
from bitcache.bitcoin.transaction import Transaction, TxOut, check_sat
from bitcache.errors import InvalidPolicy, PolicyViolation
from bitcache.tx.fees import check_fee_rate
from bitcache.tx.sizes import MAX_STANDARD_TX_WEIGHT

DUST_RELAY_SAT_KVB = 3_000
"""Bitcoin Core's default dust relay fee (``-dustrelayfee``), sat/kvB."""


@dataclass(frozen=True, slots=True)
class PolicyLimits:
    """The knobs of the pre-broadcast checks (rates in sat/kvB, amounts in sats)."""

    min_fee_rate_sat_per_kvb: int = 1_000
    max_fee_rate_sat_per_kvb: int = 10_000_000
    max_fee_sat: int = 1_000_000
    max_weight: int = MAX_STANDARD_TX_WEIGHT

    def __post_init__(self) -> None:
        check_fee_rate(self.min_fee_rate_sat_per_kvb, "minimum fee rate")
        check_fee_rate(self.max_fee_rate_sat_per_kvb, "maximum fee rate")
        check_sat(self.max_fee_sat, "fee cap")
        if self.min_fee_rate_sat_per_kvb > self.max_fee_rate_sat_per_kvb:
            raise InvalidPolicy(
                f"minimum fee rate {self.min_fee_rate_sat_per_kvb} is above the maximum "
                f"{self.max_fee_rate_sat_per_kvb} sat/kvB"
            )
        if not 0 < self.max_weight <= MAX_STANDARD_TX_WEIGHT:
            raise InvalidPolicy(
                f"max weight must be within 1..{MAX_STANDARD_TX_WEIGHT} WU, got {self.max_weight}"
            )


def check_dust(outputs: Sequence[TxOut]) -> None:
    """Refuse non-standard outputs and outputs below their type's dust threshold.

    An OP_RETURN (null-data) output is allowed with value 0 only: it carries
    data, never money.
    """
    for i, out in enumerate(outputs):
        if is_null_data(out.script_pubkey):
            if out.value_sat != 0:
                raise PolicyViolation(
                    f"output {i} pays a non-standard script {out.script_pubkey.hex()}: "
                    f"an OP_RETURN output must carry 0 sats, not {out.value_sat}"
                )
            continue
        kind = script_type_of(out.script_pubkey)
        if kind is None:
            raise PolicyViolation(
                f"output {i} pays a non-standard script {out.script_pubkey.hex()}"
            )
        if out.value_sat < kind.dust_sat:
            raise PolicyViolation(
                f"output {i} ({kind.name}) is dust: {out.value_sat} sats < {kind.dust_sat}"
            )


def dust_threshold_sat(script: bytes, dust_relay_sat_kvb: int = DUST_RELAY_SAT_KVB) -> int:
    """Smallest relayable value for an output paying ``script`` (0 for OP_RETURN).

    Standard types use :class:`~bitcache.core.scripttype.ScriptType`'s table;
    other scripts follow Bitcoin Core's ``GetDustThreshold`` (output size plus
    the size of an input spending it, at the dust relay fee).
    """
    if is_null_data(script):
        return 0
    kind = script_type_of(script)
    if kind is not None and dust_relay_sat_kvb == DUST_RELAY_SAT_KVB:
        return kind.dust_sat
    out_size = 8 + compact_size_len(len(script)) + len(script)
    spend_size = 32 + 4 + 1 + (107 // 4 if is_witness_program(script) else 107) + 4
    return (out_size + spend_size) * dust_relay_sat_kvb // 1000


def check_transaction(
    tx: Transaction, input_values: Sequence[int], limits: PolicyLimits | None = None
) -> None:
    """Raise PolicyViolation unless the signed ``tx`` passes every check above.

    ``input_values`` are the values (sats) of the coins its inputs spend, in order.
    """
    limits = limits or PolicyLimits()
    if len(input_values) != len(tx.inputs):
        raise PolicyViolation(f"{len(input_values)} input values for {len(tx.inputs)} inputs")
    for i in range(len(tx.inputs)):
        if not tx.has_witness or not tx.witnesses[i]:
            raise PolicyViolation(f"input {i} has no witness: the transaction is not signed")
    check_dust(tx.outputs)
    weight, vsize = tx.weight, tx.vsize
    if weight > limits.max_weight:
        raise PolicyViolation(f"weight {weight} WU is above the maximum {limits.max_weight} WU")
    fee = sum(input_values) - sum(out.value_sat for out in tx.outputs)
    if fee < 0:
        raise PolicyViolation(f"outputs exceed inputs by {-fee} sats")
    if fee * 1000 < limits.min_fee_rate_sat_per_kvb * vsize:
        raise PolicyViolation(
            f"fee {fee} sats for {vsize} vB is below the floor of "
            f"{limits.min_fee_rate_sat_per_kvb} sat/kvB"
        )
    if fee > limits.max_fee_sat:
        raise PolicyViolation(f"fee {fee} sats is above the cap of {limits.max_fee_sat} sats")
    if fee * 1000 > limits.max_fee_rate_sat_per_kvb * vsize:
        raise PolicyViolation(
            f"fee {fee} sats for {vsize} vB is above the maximum rate of "
            f"{limits.max_fee_rate_sat_per_kvb} sat/kvB"
        )
