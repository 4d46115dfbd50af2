"""Reject reasons as Bitcoin Core words them, with the error bitcache must raise."""

from __future__ import annotations

from bitcache.errors import (
    BroadcastRejected,
    FeeTooLow,
    InputsMissingOrSpent,
    InvalidTransaction,
    NonStandardTransaction,
)

#: (JSON-RPC code, message, expected class)
REJECTIONS: list[tuple[int, str, type[BroadcastRejected]]] = [
    (-26, "min relay fee not met, 110 < 141", FeeTooLow),
    (-26, "mempool min fee not met, 150 < 1000", FeeTooLow),
    (
        -26,
        "insufficient fee, rejecting replacement 5c1b…; new feerate 0.00001 <= old feerate 0.00002",
        FeeTooLow,
    ),
    (-25, "bad-txns-inputs-missingorspent", InputsMissingOrSpent),
    (-25, "missing-inputs", InputsMissingOrSpent),
    (-26, "txn-mempool-conflict", InputsMissingOrSpent),
    (-26, "dust", NonStandardTransaction),
    (-26, "tx-size", NonStandardTransaction),
    (-26, "non-final", NonStandardTransaction),
    (
        -26,
        "non-mandatory-script-verify-flag (Witness program hash mismatch)",
        NonStandardTransaction,
    ),
    (-26, "bad-txns-in-belowout, value in (0.0001) < value out (0.0002)", InvalidTransaction),
    (
        -26,
        "mandatory-script-verify-flag-failed (Script evaluated without error but finished "
        "with a false/empty top stack element)",
        InvalidTransaction,
    ),
    (-26, "66: min relay fee not met", FeeTooLow),
    (-26, "something-new-and-unknown", BroadcastRejected),
]

#: (code, message) answers that mean the node already has the transaction
ALREADY_KNOWN: list[tuple[int, str]] = [
    (-27, "Transaction already in block chain"),
    (-27, "Transaction outputs already in utxo set"),
    (-26, "txn-already-in-mempool"),
    (-26, "txn-already-known"),
]
